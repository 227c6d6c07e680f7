"""The workdir layer of pretraining: DIR/pretrain holds one checkpoint per finished layer (resumed after a
kill), the config and summary.json; `load_pretrained` reads the stack back."""

import pathlib
import shutil

import jax

from stackae.config import config_from_json, layer_config
from stackae.core.engine import device_mesh, seed_keys
from stackae.data import load_dataset
from stackae.errors import CheckpointError
from stackae.procedures.pretrain import Stack, check_pretraining_data, dae_graphdef, dae_params, pretrain_stack, \
                                        reconstruction_of, stack_summary
from stackae.workdir.checkpoints import ResumeCheckpoints, read_json, restore_tree, save_tree, write_json
from stackae.workdir.runs import prepare_run_dir, record_config


def restore_layer(out: pathlib.Path, k: int, n_in: int, cfg):
    """Parameters of finished layer k (0-based), stacked over seeds, from out/layer_<k+1>."""
    lc = layer_config(cfg, k)
    shapes = jax.eval_shape(lambda: dae_params(n_in, cfg.layers[k], lc, seed_keys(cfg.seed, cfg.seeds)))  # no draws
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return restore_tree(out / f"layer_{k + 1}",
                        jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device), shapes))


class LayerStore:
    """The workdir side of pretraining: finished layers on disk (orbax) and resumable epoch checkpoints."""

    def __init__(self, out: pathlib.Path, cfg):
        self.out, self.cfg = out, cfg
        self.resume = ResumeCheckpoints(out / "state")

    def load(self, k: int, n_in: int):
        """(record, params) of finished layer k, or None."""
        if not (self.out / f"layer_{k + 1}.json").exists():
            return None
        return read_json(self.out / f"layer_{k + 1}.json"), restore_layer(self.out, k, n_in, self.cfg)

    def save(self, k: int, params, record):
        layer_dir = self.out / f"layer_{k + 1}"
        if layer_dir.exists():  # saved just before a kill, without its .json marker: save it again
            shutil.rmtree(layer_dir)
        save_tree(layer_dir, params)
        write_json(self.out / f"layer_{k + 1}.json", record)


PRETRAINING_KEYS = ("dataset", "valid_fraction", "test_fraction", "seed", "seeds", "layers", "pretrain.")


def pretrain(cfg, workdir, *, overwrite: bool = False, log=print, name: str = "pretrain") -> dict:
    """Pretrain every layer of `cfg.layers` greedily; write checkpoints and DIR/<name>/summary.json (a sweep
    keeps the stacks of other layer kinds beside DIR/pretrain as DIR/pretrain-cae, DIR/pretrain-rbm)."""
    out = pathlib.Path(workdir) / name
    finished = prepare_run_dir(out, cfg, "summary.json", overwrite, log, compared_keys=PRETRAINING_KEYS)
    if finished is not None:
        return finished
    data = load_dataset(cfg, unit_range=reconstruction_of(cfg, 0) == "sigmoid_cross_entropy")
    check_pretraining_data(cfg, data, device_mesh())
    record_config(out, cfg)
    stale = pathlib.Path(workdir) / "finetune-pretrained"
    if stale.exists() and overwrite:
        shutil.rmtree(stale)  # fine-tuned from the stack this run replaces
        log(f"removed {stale}: it was fine-tuned from the discarded pretrained stack")
    stack = pretrain_stack(cfg, data, store=LayerStore(out, cfg), log=log)
    summary = stack_summary(stack, data)
    write_json(out / "summary.json", summary)
    return summary


def load_stack(workdir, cfg, n_features: int, name: str = "pretrain") -> Stack:
    """The finished pretrained stack saved in DIR/<name>."""
    out = pathlib.Path(workdir) / name
    sizes = (n_features, *cfg.layers[:-1])
    return Stack([cfg.seed + s for s in range(cfg.seeds)], [restore_layer(out, k, n, cfg) for k, n in enumerate(sizes)],
                 [read_json(out / f"layer_{k + 1}.json") for k in range(len(cfg.layers))],
                 [dae_graphdef(n, cfg.layers[k], layer_config(cfg, k)) for k, n in enumerate(sizes)])


def load_pretrained(workdir) -> Stack:
    """The stack saved by `scripts/pretrain.py` in `workdir`, with the config it was trained with."""
    out = pathlib.Path(workdir) / "pretrain"
    if not (out / "summary.json").exists():
        raise CheckpointError(f"no finished pretraining in {out}; run `python scripts/pretrain.py --workdir "
                              f"{workdir}` first.")
    cfg = config_from_json((out / "config.json").read_text())
    return load_stack(workdir, cfg, read_json(out / "summary.json")["n_features"])
