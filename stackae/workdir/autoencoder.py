"""The workdir layer of the deep autoencoder: DIR/autoencoder-<name> (resume, refusal, the best parameters,
results.json); `load_autoencoder` reads a finished run back."""

import pathlib

import jax
import jax.numpy as jnp
from flax import nnx

from stackae.core.stats import mean_interval
from stackae.data import load_dataset
from stackae.procedures.autoencoder import AutoencoderRun, autoencoder, check_init, finetune_reconstruction
from stackae.procedures.pretrain import reconstruction_of
from stackae.provenance import data_fingerprint
from stackae.workdir.checkpoints import ResumeCheckpoints, restore_tree, save_tree, write_json
from stackae.workdir.finetune import check_pretrained, pretrained_method
from stackae.workdir.pretrain import PRETRAINING_KEYS, load_stack
from stackae.workdir.runs import prepare_run_dir, read_finished_run, record_config


def run_name(init: str, cfg) -> str:
    """Folder of a reconstruction run: autoencoder-<init>, suffixed with the optimiser when it is not SGD."""
    optimizer = cfg.autoencoder.optimizer
    return f"autoencoder-{init}" + ("" if optimizer == "sgd" else f"-{optimizer}")


def method_of(init: str, cfg) -> str:
    """The init a script's --init names: pretrained = the unrolled stack, random = finetune.random_init."""
    method = "dae" if init == "pretrained" else cfg.finetune.random_init if init == "random" else init
    check_init(method)
    return method


def reconstruction_results(run: AutoencoderRun, data, cfg, init: str) -> dict:
    """results.json of a reconstruction run: test squared error per example, mean and 95% interval over seeds."""
    ok = [r for r in run.rows if not r["diverged"]] or run.rows
    test = mean_interval([r["test_squared_error"] for r in ok])
    a = cfg.autoencoder
    method = pretrained_method(cfg) if run.method == "dae" else run.method  # the unrolled stack's layer kind
    return {
        "dataset": data.name, "init": init, "method": method, "objective": "reconstruction",
        "architecture": [data.n_features, *cfg.layers], "optimizer": a.optimizer, "learning_rate": a.learning_rate,
        "seeds": [r["seed"] for r in run.rows], "data": data_fingerprint(data),
        "test_squared_error": test["mean"], "test_squared_error_ci95": test["ci95"],
        "valid_squared_error": mean_interval([r["valid_squared_error"] for r in ok])["mean"],
        "epochs": max(r["epochs"] for r in run.rows), "seconds": run.seconds, "per_seed": run.rows,
        "history": run.history,
    }


def reconstruction_run(cfg, workdir, *, init: str = "pretrained", overwrite: bool = False, log=print) -> dict:
    """Fine-tune the deep autoencoder from `init` ("pretrained", "random" or an init name); write
    DIR/<run_name>/results.json and the best parameters."""
    method = method_of(init, cfg)
    if method == "dae":
        check_pretrained(cfg, workdir)
    out = pathlib.Path(workdir) / run_name(init, cfg)
    finished = prepare_run_dir(out, cfg, "results.json", overwrite, log, compared_keys=AUTOENCODER_KEYS,
                               extendable="autoencoder")
    if finished is not None:
        return finished
    data = load_dataset(cfg, unit_range=reconstruction_of(cfg, 0) == "sigmoid_cross_entropy")
    stack = load_stack(workdir, cfg, data.n_features) if method == "dae" else None
    record_config(out, cfg)
    resume = ResumeCheckpoints(out / "state")
    run = finetune_reconstruction(cfg, data, method, stack=stack, resume=resume, log=log, desc=out.name)
    resume.close()
    save_tree(out / "best", {"params": nnx.to_pure_dict(run.params)})
    results = reconstruction_results(run, data, cfg, init)
    write_json(out / "results.json", results)
    return results


def load_autoencoder(workdir, name: str = "pretrained") -> AutoencoderRun:
    """The deep autoencoders saved in DIR/autoencoder-<name> (e.g. pretrained, random, random-adam), one member
    per seed, ready to `encode(x, member)` or `reconstruct(x, member)`."""
    out = pathlib.Path(workdir) / f"autoencoder-{name}"
    results, cfg = read_finished_run(out, "deep-autoencoder run", "python scripts/finetune.py --objective "
                                     f"reconstruction --workdir {workdir} --init ...")
    graphdef, params = nnx.split(autoencoder(cfg, results["data"]["n_features"], jax.random.key(0)), nnx.Param)
    params = jax.tree.map(lambda a: jnp.stack([a] * len(results["seeds"])), params)
    nnx.replace_by_pure_dict(params, restore_tree(out / "best")["params"])
    return AutoencoderRun(results["method"], results["per_seed"], graphdef, params, results["history"],
                          results["seconds"])


# Keys a reconstruction run depends on: a saved run differing in any other key is still this run.
AUTOENCODER_KEYS = (*PRETRAINING_KEYS, "autoencoder.", "finetune.random_init")
