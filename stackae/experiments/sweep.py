"""The label-scarce comparison: a grid of methods x label budgets x seeds, paired and tuned alike.

For a (budget, seed) every method sees the same labelled subset, the same validation subset and the same head
init; each picks its fine-tuning learning rate from the same grid on that validation set only (all seeds and
rates of a cell train in one program). Pretraining runs once per seed on the whole unlabelled pool and serves
every budget. The result is one tidy table, a row per method x budget x seed x learning rate, from which the
markdown summary and the plot are derived.
"""

import csv
import dataclasses
import io

import numpy as np

from stackae.core.stats import mean_interval
from stackae.errors import ConfigError
from stackae.methods import parse_method
from stackae.procedures.finetune import Plan, finetune
from stackae.provenance import data_fingerprint

COLUMNS = ("dataset", "data_hash", "method", "labels_per_class", "labels", "valid_examples", "seed", "learning_rate",
           "selected", "valid_error", "test_error", "best_step", "steps", "diverged", "subset_hash", "head_hash",
           "cell_seconds")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One unit of work: every seed and learning rate of one method at one label budget."""

    method: str
    labels_per_class: int

    @property
    def name(self) -> str:
        return f"{self.labels_per_class or 'all'}-{self.method}"


def cells(cfg) -> list[Cell]:
    """Every cell of the grid, budget by budget."""
    return [Cell(m, b) for b in cfg.sweep.labels_per_class for m in cfg.sweep.methods]


def shard(all_cells: list[Cell], index: int, count: int) -> list[Cell]:
    """Every `count`-th cell starting at `index` (0-based): `count` shards partition the grid."""
    return all_cells[index::count]


def seeds_for(cfg, labels_per_class: int) -> tuple[int, ...]:
    n = cfg.sweep.seeds if labels_per_class else cfg.sweep.seeds_all_labels
    return tuple(cfg.seed + s for s in range(n))


def pretraining_seeds(cfg) -> int:
    """How many seeds the shared pretrained stack needs (the most any budget uses)."""
    return max(len(seeds_for(cfg, b)) for b in cfg.sweep.labels_per_class)


def plan_for(cfg, labels_per_class: int, method: str | None = None) -> Plan:
    """The fine-tuning plan of a budget (and method): its seeds, the realistic validation set, the grid and the
    step budget of the method's family (semi-supervised remedies: `sweep.semi_supervised_steps`; ladder
    networks: `sweep.ladder_steps` and their own Adam grid `sweep.ladder_learning_rates`)."""
    s = cfg.sweep
    at = list(s.labels_per_class).index(labels_per_class)
    per_budget = lambda v: v if isinstance(v, int) else v[at]  # noqa: E731
    m = parse_method(method) if method is not None else None
    family = "ladder" if m and m.ladder_network else "semi" if m and m.semi_supervised else "supervised"
    steps = per_budget({"ladder": s.ladder_steps, "semi": s.semi_supervised_steps, "supervised": s.steps}[family])
    rates = s.ladder_learning_rates if family == "ladder" else s.learning_rates
    valid = (s.valid_per_class or max(labels_per_class, 10)) if labels_per_class else None
    return Plan(seeds_for(cfg, labels_per_class), labels_per_class, valid, tuple(rates), steps,
                min(per_budget(s.eval_every), steps), per_budget(s.batch_size))


def stack_for(method: str, stacks):
    """The pretrained stack `method` starts from: `stacks` is {layer kind: Stack}, or one Stack (the notebooks'
    DAE stack), which serves only the methods of its own layer kind; None for a method that is not pretrained."""
    kind = parse_method(method).stack_kind
    if kind is None:
        return None
    if isinstance(stacks, dict):
        return stacks[kind]
    own = stacks.records[0].get("layer_kind", "dae") if stacks is not None else None
    if own != kind:
        raise ConfigError(f"method '{method}' starts from a stack pretrained with pretrain.layer={kind}, but "
                          f"{'no stack' if stacks is None else f'a {own} stack'} was given; pass stacks as a "
                          f"dict {{layer kind: stack}} with a '{kind}' stack.")
    return stacks


def run_cell(cfg, data, cell: Cell, stack=None, log=print, resume=None) -> list[dict]:
    """Fine-tune one cell (resumably, given a `resume` checkpointer: every `sweep.cell_checkpoint_every`
    evaluations); its rows, with the learning rate each seed selects on validation marked. `stack`: see
    `stack_for`."""
    run = finetune(cfg, data, cell.method, stack=stack_for(cell.method, stack),
                   plan=plan_for(cfg, cell.labels_per_class, cell.method), log=log, desc=cell.name, resume=resume,
                   checkpoint_every=cfg.sweep.cell_checkpoint_every or None)
    fingerprint = data_fingerprint(data)
    rows = [{"dataset": data.name, "data_hash": fingerprint.get("sha256", ""), "method": cell.method,
             "labels_per_class": cell.labels_per_class, "labels": run.labels_used, "valid_examples": run.valid_used,
             "seed": r["seed"], "learning_rate": r["learning_rate"], "selected": False,
             "valid_error": r["valid_error"], "test_error": r["test_error"], "best_step": r["best_step"],
             "steps": r["steps"], "diverged": r["diverged"], "subset_hash": r["subset_hash"],
             "head_hash": r["head_hash"], "cell_seconds": round(run.seconds, 2)} for r in run.rows]
    return mark_selected(rows)


def run_grid(cfg, data, stack=None, log=print) -> list[dict]:
    """Every cell of the grid in memory (notebooks); the rows of the tidy table. `stack`: one Stack, or
    {layer kind: Stack} when the methods start from several (see `stack_for`)."""
    return [row for cell in cells(cfg) for row in run_cell(cfg, data, cell, stack, log=log)]


def mark_selected(rows: list[dict]) -> list[dict]:
    """Per (method, budget, seed), select the learning rate with the lowest validation error (ties: the first
    in grid order); diverged members are never selected unless all diverged."""
    groups = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["method"], r["labels_per_class"], r["seed"]), []).append(i)
    out = [dict(r, selected=False) for r in rows]
    for members in groups.values():
        best = min(members, key=lambda i: (bool(rows[i]["diverged"]), rows[i]["valid_error"], i))
        out[best]["selected"] = True
    return out


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r[k] for k in COLUMNS})
    return buf.getvalue()


def from_csv(text: str) -> list[dict]:
    """Rows read back with their types."""
    ints = ("labels_per_class", "labels", "valid_examples", "seed", "best_step", "steps")
    floats = ("learning_rate", "valid_error", "test_error", "cell_seconds")
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        r.update({k: int(r[k]) for k in ints})
        r.update({k: float(r[k]) for k in floats})
        r.update({k: r[k] == "True" for k in ("selected", "diverged")})
        rows.append(r)
    return rows


def remedies_of(method: str) -> str:
    """The remedies of a method in a canonical order ("" for a bare init; `ladder` has the remedy ladder)."""
    return parse_method(method).remedies


def random_counterpart(method: str, methods) -> str | None:
    """For a pretrained method, the first method of `methods` with the same remedies from a random or
    data-driven init (dae+pseudo_label -> he+pseudo_label), else None."""
    if not parse_method(method).pretrained:
        return None
    return next((m for m in methods if not parse_method(m).pretrained and remedies_of(m) == remedies_of(method)),
                None)


def paired_difference(by_seed: dict, method: str, other: str) -> dict:
    """Test error of `method` minus `other` on their common seeds: mean, 95% interval, wins (seeds where
    `method` is lower)."""
    common = sorted(by_seed[method].keys() & by_seed[other].keys())
    diffs = [by_seed[method][s]["test_error"] - by_seed[other][s]["test_error"] for s in common]
    if not diffs:
        return {"diff": None, "diff_ci95": None, "wins": None}
    d = mean_interval(diffs)
    return {"diff": d["mean"], "diff_ci95": d["ci95"], "wins": sum(x < 0 for x in diffs)}


def summarize(rows: list[dict]) -> list[dict]:
    """Per budget and method, over seeds (selected learning rate only): test error mean and 95% interval, the
    paired difference to the reference, the non-pretrained method with the lowest mean validation error, and
    for a pretrained method the paired difference to the same remedies from a random init (`random_counterpart`):
    does pretraining still pay on top of them?"""
    chosen = [r for r in rows if r["selected"]]
    out = []
    for budget in sorted({r["labels_per_class"] for r in chosen}, key=lambda b: b or float("inf")):
        at = [r for r in chosen if r["labels_per_class"] == budget]
        methods = list(dict.fromkeys(r["method"] for r in at))
        by_seed = {m: {r["seed"]: r for r in at if r["method"] == m} for m in methods}
        baselines = [m for m in methods if not parse_method(m).pretrained]
        reference = min(baselines, key=lambda m: np.mean([r["valid_error"] for r in by_seed[m].values()]),
                        default=None)
        for m in methods:
            test = mean_interval([r["test_error"] for r in by_seed[m].values()])
            first = next(iter(by_seed[m].values()))
            entry = {"labels_per_class": budget, "labels": first["labels"], "valid_examples": first["valid_examples"],
                "method": m, "test_error": test["mean"], "test_ci95": test["ci95"],
                "seeds": test["n"], "valid_error": float(np.mean([r["valid_error"] for r in by_seed[m].values()])),
                "learning_rates": sorted({r["learning_rate"] for r in by_seed[m].values()}),
                "reference": reference, "diff": None, "diff_ci95": None, "wins": None, "counterpart": None,
                "counterpart_diff": None, "counterpart_ci95": None, "counterpart_wins": None}
            if reference is not None and m != reference:
                entry.update(paired_difference(by_seed, m, reference))
            counterpart = random_counterpart(m, methods)
            if counterpart is not None:
                d = paired_difference(by_seed, m, counterpart)
                entry.update(counterpart=counterpart, counterpart_diff=d["diff"], counterpart_ci95=d["diff_ci95"],
                             counterpart_wins=d["wins"])
            out.append(entry)
    return out


def _pct(x, ci=None):
    if x is None:
        return ""
    return f"{100 * x:.2f}%" + ("" if ci is None else f" ± {100 * ci:.2f}")


def to_markdown(summary: list[dict]) -> str:
    """Per budget: test error per method (mean ± 95% t-interval over seeds) and its paired difference to the
    reference method (negative: better), with wins out of seeds."""
    lines = []
    for budget in dict.fromkeys(e["labels_per_class"] for e in summary):
        at = [e for e in summary if e["labels_per_class"] == budget]
        ref = at[0]["reference"]
        lines += [f"### {at[0]['labels']} labels ({budget or 'all'} per class), "
                  f"{at[0]['valid_examples']} validation examples", "",
                  f"Reference (non-pretrained method with the lowest validation error): **{ref}**.", "",
                  "| method | test error (mean ± 95% CI) | seeds | difference to reference (paired) | wins |"
                  " valid error | learning rates chosen |",
                  "|---|---|---|---|---|---|---|"]
        for e in sorted(at, key=lambda e: e["test_error"]):
            diff = "reference" if e["method"] == ref else (
                f"{100 * e['diff']:+.2f} ± {100 * e['diff_ci95']:.2f} points" if e["diff_ci95"] is not None
                else "" if e["diff"] is None else f"{100 * e['diff']:+.2f} points")
            wins = "" if e["wins"] is None else f"{e['wins']}/{e['seeds']}"
            lines.append(f"| {e['method']} | {_pct(e['test_error'], e['test_ci95'])} | {e['seeds']} | {diff} | "
                         f"{wins} | {_pct(e['valid_error'])} | {', '.join(f'{r:g}' for r in e['learning_rates'])} |")
        lines.append("")
        pairs = [e for e in at if e["counterpart_diff"] is not None]
        if pairs:
            lines += ["Does pretraining still pay on top of the same remedies? Pretrained minus the same method from "
                      "a random init, paired by seed (negative: pretraining better):", "",
                      "| pretrained method | against | difference (paired) | wins |", "|---|---|---|---|"]
            for e in pairs:
                ci = "" if e["counterpart_ci95"] is None else f" ± {100 * e['counterpart_ci95']:.2f}"
                lines.append(f"| {e['method']} | {e['counterpart']} | {100 * e['counterpart_diff']:+.2f}{ci} points | "
                             f"{e['counterpart_wins']}/{e['seeds']} |")
            lines.append("")
    return "\n".join(lines)
