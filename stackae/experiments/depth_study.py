"""Depth study (Erhan et al. 2010; Glorot & Bengio 2010): the same classifier at several depths, per hidden
activation, from a small-Gaussian init (std 0.01, the failure case of Hinton & Salakhutdinov 2006), from the
activation's standard init (Glorot for sigmoid and tanh, He for rectifiers) and from the pretrained stack; then
remedies on the deepest network of the first activation.

`run_depth_cell` is the library call (arrays in, a result dict out); `depth_study` is the workdir layer behind
`scripts/depth_study.py` (pretraining per activation, one saved result per cell, resumable cell by cell).
"""

import copy
import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from stackae.config import PER_LAYER_KEYS, validate
from stackae.core.diagnostics import parameter_name
from stackae.core.engine import seed_keys
from stackae.core.stats import mean_interval
from stackae.data import load_dataset
from stackae.errors import ConfigError, DivergedError
from stackae.methods import parse_method
from stackae.procedures.finetune import classifier_loss, finetune, initial_members
from stackae.procedures.pretrain import Stack
from stackae.workdir.pretrain import load_stack, pretrain
from stackae.workdir.runs import run_study

DEPTHS = (2, 4, 6, 8)
ACTIVATIONS = ("sigmoid", "relu")
INITS = ("small_gaussian", "standard", "pretrained")
REMEDIES = ("small_gaussian+batch_norm", "small_gaussian+residual", "small_gaussian+clip", "lsuv")
STANDARD_INIT = {"sigmoid": "glorot", "tanh": "glorot"}  # every other activation: he
GRADIENT_EXAMPLES = 1000  # labelled training examples the gradient norms at initialisation are measured on


@dataclasses.dataclass(frozen=True)
class DepthCell:
    """One network of the study: `depth` hidden layers of `activation`, initialised (and remedied) by `method`."""

    depth: int
    activation: str
    method: str  # a stackae.methods name; "dae" = the first `depth` layers of the pretrained stack

    @property
    def name(self) -> str:
        return f"{self.activation}-{self.depth}-{self.method}"


def method_for(init: str, activation: str) -> str:
    """The method name of a study init: pretrained -> dae, standard -> glorot or he for the activation."""
    return {"pretrained": "dae", "standard": STANDARD_INIT.get(activation, "he")}.get(init, init)


def depth_cells(depths=DEPTHS, activations=ACTIVATIONS, remedies=REMEDIES) -> list[DepthCell]:
    """Every depth x activation x init, then each remedy on the deepest network of the first activation."""
    cells = [DepthCell(d, a, method_for(i, a)) for a in activations for d in depths for i in INITS]
    return cells + [DepthCell(max(depths), activations[0], r) for r in remedies]


def cell_config(cfg, cell: DepthCell):
    """`cfg` for one cell: the first `depth` layers of cfg.layers (per-layer pretraining values cut to match),
    every hidden layer of `activation`."""
    if cell.depth > len(cfg.layers):
        raise ConfigError(f"depth {cell.depth} needs at least {cell.depth} entries in layers, which has "
                          f"{len(cfg.layers)}; lengthen --config.layers or drop the depth.")
    c = copy.deepcopy(cfg)
    with c.ignore_type():
        c.layers = tuple(cfg.layers[:cell.depth])
        for key in PER_LAYER_KEYS:
            if isinstance(cfg.pretrain[key], (tuple, list)):
                c.pretrain[key] = tuple(cfg.pretrain[key][:cell.depth])
        c.pretrain.activation = cell.activation
    validate(c)
    return c


def truncated(stack: Stack, depth: int) -> Stack:
    """The bottom `depth` layers of a greedily pretrained stack (each layer was trained on the one below only,
    so these are exactly the stack a `depth`-layer pretraining would give)."""
    return Stack(stack.seeds, stack.layers[:depth], stack.records[:depth], stack.graphdefs[:depth])


def initial_gradient_norms(cfg, data, method: str, stack: Stack | None = None,
                           examples: int = GRADIENT_EXAMPLES) -> dict[str, list[float]]:
    """Per kernel ("encoders.0.kernel", ..., "head.kernel"): the norm of the training loss's gradient at
    initialisation on the first `examples` training examples, one value per seed."""
    seeds = tuple(cfg.seed + s for s in range(cfg.seeds))
    graphdef, params, extra, _ = initial_members(cfg, data, parse_method(method), stack, seeds)
    loss_fn, _ = classifier_loss(graphdef, cfg.finetune.l2_weight, extra is not None)
    batch = {"x": jnp.asarray(data.train_x[:examples]), "y": jnp.asarray(data.train_y[:examples])}

    def norms(p, e, key):
        grads = jax.grad(lambda q: loss_fn(q, batch, key, e)[0])(p)
        return {parameter_name(path): jnp.sqrt(jnp.sum(jnp.square(g)))
                for path, g in jax.tree_util.tree_leaves_with_path(grads) if parameter_name(path).endswith("kernel")}

    out = jax.jit(jax.vmap(norms))(params, extra, seed_keys(seeds[0], len(seeds)))
    return {k: np.asarray(v, np.float64).tolist() for k, v in sorted(out.items())}


def run_depth_cell(cfg, data, cell: DepthCell, stack: Stack | None = None, log=print) -> dict:
    """Fine-tune one cell's network for every seed of `cfg` (`stack`: the pretrained stack, at least `depth`
    layers deep, for method dae); the test error over seeds, per-seed rows, gradient norms at initialisation
    and the history (with diagnostics when cfg.diagnostics)."""
    c = cell_config(cfg, cell)
    stack = truncated(stack, cell.depth) if parse_method(cell.method).pretrained else None
    initial = initial_gradient_norms(c, data, cell.method, stack)
    try:
        run = finetune(c, data, cell.method, stack=stack, log=log, desc=cell.name)
    except DivergedError as e:  # every seed diverged: a result of the study, not a reason to stop it
        return {**dataclasses.asdict(cell), "name": cell.name, "test_error": None, "test_error_ci95": None,
                "diverged": cfg.seeds, "diverged_message": str(e), "initial_grad_norm": initial}
    test = mean_interval([r["test_error"] for r in run.rows])
    return {**dataclasses.asdict(cell), "name": cell.name, "test_error": test["mean"], "test_error_ci95": test["ci95"],
            "diverged": sum(r["diverged"] for r in run.rows), "per_seed": run.rows, "initial_grad_norm": initial,
            "history": run.history, "seconds": run.seconds, "labels_used": run.labels_used}


def paired(results: dict, name: str, other: str) -> dict:
    """Test error of cell `name` minus cell `other`, paired by seed (same labelled subset and head)."""
    diffs = [a["test_error"] - b["test_error"] for a, b in zip(results[name]["per_seed"], results[other]["per_seed"])]
    return mean_interval(diffs)


def _pct(mean, ci):
    if mean is None:
        return "diverged"
    return f"{100 * mean:.2f}" + (f" ± {100 * ci:.2f}" if ci is not None else "")


def depth_table(results: dict) -> str:
    """Markdown: test error (%) per activation and depth for each init (standard = Glorot or He), pretrained
    minus standard paired by seed; then the remedies."""
    cells = list(results.values())
    lines = ["| activation | depth | small Gaussian | standard (Glorot/He) | pretrained | pretrained − standard |",
             "|---|---|---|---|---|---|"]
    for activation, depth in dict.fromkeys((c["activation"], c["depth"]) for c in cells):
        row = {c["method"]: c for c in cells if (c["activation"], c["depth"]) == (activation, depth)}
        methods = [method_for(i, activation) for i in INITS]
        shown = [_pct(row[m]["test_error"], row[m]["test_error_ci95"]) if m in row else "" for m in methods]
        standard, pretrained = methods[1], methods[2]
        diff = ""
        if standard in row and pretrained in row and None not in (row[standard]["test_error"],
                                                                  row[pretrained]["test_error"]):
            d = paired(results, row[pretrained]["name"], row[standard]["name"])
            diff = _pct(d["mean"], d["ci95"])
        lines.append(f"| {activation} | {depth} | " + " | ".join(shown) + f" | {diff} |")
    remedies = [c for c in cells if c["method"] not in {method_for(i, c["activation"]) for i in INITS}]
    if remedies:
        lines += ["", "| remedy (deepest network) | test error (%) |", "|---|---|"]
        lines += [f"| {c['activation']}-{c['depth']} {c['method']} | {_pct(c['test_error'], c['test_error_ci95'])} |"
                  for c in remedies]
    return "\n".join(lines)


def depth_study(cfg, workdir, *, depths=DEPTHS, activations=ACTIVATIONS, remedies=REMEDIES, overwrite=False,
                log=print) -> dict:
    """Run every cell of the study into DIR (DIR/<activation>/pretrain for the pretrained stacks,
    DIR/cells/<name>.json per cell, resumable cell by cell); write DIR/depth_study.json with every cell's result
    and the table."""
    out = pathlib.Path(workdir)
    stacks = {}

    def run_cell(data, cell):
        stack = None
        if parse_method(cell.method).pretrained:
            if cell.activation not in stacks:
                deepest = cell_config(cfg, DepthCell(max(depths), cell.activation, "dae"))
                pretrain(deepest, out / cell.activation, overwrite=overwrite, log=log)
                stacks[cell.activation] = load_stack(out / cell.activation, deepest, data.n_features)
            stack = stacks[cell.activation]
        return run_depth_cell(cfg, data, cell, stack, log)

    return run_study(out, cfg, depth_cells(depths, activations, remedies), lambda cell: cell_config(cfg, cell),
                     lambda: load_dataset(cfg, unit_range=False), run_cell, depth_table, "depth_study.json",
                     overwrite, log)
