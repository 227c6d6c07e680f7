"""stackae: greedy layer-wise pretraining of deep networks (stacked denoising autoencoders) in JAX.

The in-memory API works on arrays and returns results; the scripts add workdirs, resume and exit codes:

    data = stackae.load_dataset(cfg)                    # or stackae.dataset_from_arrays("mine", x, y)
    stack = stackae.pretrain_stack(cfg, data)           # per-layer DAE parameters, stacked over seeds
    run = stackae.finetune(cfg, data, init=stack)       # or init="he", "lsuv", "dae+batch_norm", ...
    ae = stackae.finetune_reconstruction(cfg, data, stack)  # the stack unrolled into a deep autoencoder
"""

from stackae.config import base_config, load_config
from stackae.data import Dataset, dataset_from_arrays, load_dataset
from stackae.experiments.sweep import run_grid, summarize, to_markdown
from stackae.methods import parse_method
from stackae.procedures.autoencoder import AutoencoderRun, finetune_reconstruction, pca_baseline
from stackae.procedures.finetune import FinetuneRun, Plan, finetune
from stackae.procedures.pretrain import Stack, pretrain_stack
from stackae.workdir.autoencoder import load_autoencoder
from stackae.workdir.finetune import load_classifier
from stackae.workdir.pretrain import load_pretrained

__version__ = "0.2.0"
__all__ = ["AutoencoderRun", "Dataset", "FinetuneRun", "Plan", "Stack", "base_config", "dataset_from_arrays",
           "finetune", "finetune_reconstruction", "load_autoencoder", "load_classifier", "load_config", "load_dataset",
           "load_pretrained", "parse_method", "pca_baseline", "pretrain_stack", "run_grid", "summarize", "to_markdown"]
