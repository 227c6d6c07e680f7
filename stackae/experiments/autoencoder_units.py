"""Which units can an autoencoder use? (notebook 04) The config's small autoencoder (784-128-64-2 on MNIST)
trained from a random init (Glorot for sigmoid, He otherwise) with mirrored decoders: hidden units x code units x
output units and loss. Then this toolkit's recipe beside it: rectifier hidden units, a linear code, sigmoid
cross-entropy for the pixels, softplus reconstruction of rectifier codes, the L1 activation penalty, greedy
pretraining; and the same network and decoders from He init.

`run_unit_cell` is the library call (arrays in, a result dict out); `autoencoder_units` is the workdir layer
behind `scripts/autoencoder_units.py` (one saved result per cell, resumable cell by cell).
"""

import copy
import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from stackae.config import validate
from stackae.core.stats import mean_interval
from stackae.data import load_dataset
from stackae.errors import DivergedError
from stackae.experiments.depth_study import STANDARD_INIT
from stackae.procedures.autoencoder import autoencoder_probe, finetune_reconstruction
from stackae.procedures.pretrain import Stack
from stackae.workdir.pretrain import load_stack, pretrain
from stackae.workdir.runs import run_study

HIDDEN = ("sigmoid", "relu", "leaky_relu", "elu")
CODES = ("linear", "relu")
OUTPUTS = ("sigmoid_cross_entropy", "relu_squared_error", "linear_squared_error")
CODE_EXAMPLES = 2000  # test images whose codes a result keeps (for the scatter plots)


@dataclasses.dataclass(frozen=True)
class UnitCell:
    """One autoencoder: its hidden, code and output units, its decoders ("mirror" or "recipe") and its init."""

    hidden: str
    code: str
    output: str
    decoders: str = "mirror"
    init: str = ""  # "" = the standard init of `hidden`; "dae" = unrolled from the pretrained stack

    @property
    def name(self) -> str:
        if self.decoders == "recipe":
            return f"recipe-{'pretrained' if self.init == 'dae' else self.init}"
        return f"{self.hidden}-{self.code}-{self.output}"

    @property
    def method(self) -> str:
        return self.init or STANDARD_INIT.get(self.hidden, "he")


def unit_cells(hidden=HIDDEN, codes=CODES, outputs=OUTPUTS) -> list[UnitCell]:
    """Every hidden x code x output with mirrored decoders, then the recipe: pretrained, and from He."""
    grid = [UnitCell(h, c, o) for h in hidden for c in codes for o in outputs]
    recipe = dict(hidden="relu", code="linear", output="sigmoid_cross_entropy", decoders="recipe")
    return grid + [UnitCell(**recipe, init="dae"), UnitCell(**recipe, init="he")]


def cell_config(cfg, cell: UnitCell):
    """`cfg` for one cell. Grid cells: every hidden layer `hidden`, the top one `code`, layer 1 reconstructing
    with `output`, no activation penalty. Recipe cells keep the config's pretraining settings."""
    c = copy.deepcopy(cfg)
    c.autoencoder.decoders = cell.decoders
    if cell.decoders == "mirror":
        depth = len(cfg.layers)
        with c.ignore_type():
            c.pretrain.activation = (cell.hidden,) * (depth - 1) + (cell.code,)
            c.pretrain.reconstruction = (cell.output,) + ("auto",) * (depth - 1)
            c.pretrain.l1_activation = 0.0
    validate(c)
    return c


def run_unit_cell(cfg, data, cell: UnitCell, stack: Stack | None = None, log=print) -> dict:
    """Train one cell's autoencoder for every seed of `cfg` (`stack`: the pretrained stack, for init dae); test
    squared error per image over seeds, the dead-unit fraction of each hidden layer on the validation images,
    and the codes of the first test images (seed 0)."""
    c = cell_config(cfg, cell)
    try:
        run = finetune_reconstruction(c, data, stack if cell.init == "dae" else cell.method, log=log, desc=cell.name)
    except DivergedError as e:  # every seed diverged: a result of the study, not a reason to stop it
        return {**dataclasses.asdict(cell), "name": cell.name, "method": cell.method, "test_squared_error": None,
                "test_squared_error_ci95": None, "diverged": cfg.seeds, "diverged_message": str(e)}
    test = mean_interval([r["test_squared_error"] for r in run.rows])
    probe = jax.jit(jax.vmap(autoencoder_probe(run.graphdef), in_axes=(0, None)))
    stats = jax.device_get(probe(run.params, {"x": jnp.asarray(data.valid_x)}))
    dead = {k.split("/")[1]: np.asarray(v, np.float64).tolist() for k, v in sorted(stats.items())
            if k.startswith("dead_fraction/")}
    return {**dataclasses.asdict(cell), "name": cell.name, "method": run.method,
            "test_squared_error": test["mean"], "test_squared_error_ci95": test["ci95"],
            "diverged": sum(r["diverged"] for r in run.rows), "per_seed": run.rows,
            "dead_fraction": dead, "mean_dead_fraction": float(np.mean([np.mean(v) for v in dead.values()])),
            "codes": run.encode(data.test_x[:CODE_EXAMPLES]).tolist(),
            "code_labels": np.asarray(data.test_y[:CODE_EXAMPLES]).tolist(),
            "history": run.history, "seconds": run.seconds}


def units_table(results: dict) -> str:
    """Markdown: test squared error per image and the mean dead-unit fraction of every cell."""
    lines = ["| hidden | code | output | decoders | init | test squared error | dead units (%) |",
             "|---|---|---|---|---|---|---|"]
    for r in results.values():
        if r["test_squared_error"] is None:
            lines.append(f"| {r['hidden']} | {r['code']} | {r['output']} | {r['decoders']} | {r['method']} | "
                         "diverged | |")
            continue
        ci = f" ± {r['test_squared_error_ci95']:.2f}" if r["test_squared_error_ci95"] is not None else ""
        lines.append(f"| {r['hidden']} | {r['code']} | {r['output']} | {r['decoders']} | {r['method']} | "
                     f"{r['test_squared_error']:.2f}{ci} | {100 * r['mean_dead_fraction']:.1f} |")
    return "\n".join(lines)


def autoencoder_units(cfg, workdir, *, hidden=HIDDEN, codes=CODES, outputs=OUTPUTS, overwrite=False,
                      log=print) -> dict:
    """Run every cell into DIR (DIR/recipe/pretrain for the recipe's stack, DIR/cells/<name>.json per cell,
    resumable cell by cell); write DIR/autoencoder_units.json with every cell's result and the table."""
    out = pathlib.Path(workdir)

    def run_cell(data, cell):
        stack = None
        if cell.init == "dae":
            recipe = cell_config(cfg, cell)
            pretrain(recipe, out / "recipe", overwrite=overwrite, log=log)
            stack = load_stack(out / "recipe", recipe, data.n_features)
        return run_unit_cell(cfg, data, cell, stack, log)

    return run_study(out, cfg, unit_cells(hidden, codes, outputs), lambda cell: cell_config(cfg, cell),
                     lambda: load_dataset(cfg, unit_range=True), run_cell, units_table, "autoencoder_units.json",
                     overwrite, log)
