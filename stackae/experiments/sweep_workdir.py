"""The workdir side of a sweep: one file per finished cell (so a killed sweep resumes at the first unfinished
cell, and shards of one grid can share a folder), checkpoints within a cell (`sweep.cell_checkpoint_every`:
a killed cell of hours resumes from its last one), the shared pretrained stack, and the merged report
(sweep.csv, sweep.md, sweep.png)."""

import pathlib
import shutil
import time

from stackae.config import LAYER_KINDS, config_from_json, with_layer_kind
from stackae.data import labelled_subset, load_dataset
from stackae.errors import ConfigError
from stackae.experiments.sweep import cells, from_csv, plan_for, pretraining_seeds, run_cell, shard, summarize, \
                                      to_csv, to_markdown
from stackae.methods import parse_method
from stackae.procedures.finetune import check_unlabelled
from stackae.procedures.pretrain import reconstruction_of
from stackae.workdir.checkpoints import ResumeCheckpoints, read_json, write_json
from stackae.workdir.locks import RunInUseError, lock_run_dir
from stackae.workdir.pretrain import load_stack, pretrain
from stackae.workdir.runs import config_differences

GRID_SHAPE_KEYS = ("sweep.methods", "sweep.labels_per_class")  # growing the grid keeps finished cells
RESULT_NEUTRAL_KEYS = ("sweep.cell_checkpoint_every",)  # how often a cell saves changes none of its numbers
WAIT_SECONDS = 30


def parse_shard(spec: str | None) -> tuple[int, int]:
    """'I/N' (0 <= I < N) -> (I, N); None -> (0, 1)."""
    if not spec:
        return 0, 1
    try:
        index, count = (int(v) for v in spec.split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise ConfigError(f"--shard {spec} is not I/N with 0 <= I < N (e.g. 0/4 ... 3/4 for four machines).")
    return index, count


def check_budgets(cfg, data):
    """One sentence, before anything is written, for a budget or validation size a class cannot supply, or an
    unlabelled minibatch larger than the pool."""
    for method in cfg.sweep.methods:
        check_unlabelled(cfg, data, parse_method(method))
    for budget in cfg.sweep.labels_per_class:
        plan = plan_for(cfg, budget)
        for s in plan.seeds:
            labelled_subset(data.train_x, data.train_y, budget, data.n_classes, s)
            if plan.valid_per_class:
                labelled_subset(data.valid_x, data.valid_y, plan.valid_per_class, data.n_classes, s, "validation")


def check_saved_config(out: pathlib.Path, cfg):
    """Refuse a sweep folder made with a different config (growing the grid of methods or budgets is fine)."""
    saved = out / "config.json"
    if not saved.exists():
        return
    diffs = [d for d in config_differences(config_from_json(saved.read_text()), cfg)
             if not d.startswith(GRID_SHAPE_KEYS + RESULT_NEUTRAL_KEYS)]
    if diffs:
        raise ConfigError(f"{out} holds a sweep with a different config ({'; '.join(diffs[:5])}); pass "
                          f"--config={saved} to continue it, or another --workdir.")


def pretraining_config(cfg):
    pcfg = cfg.copy_and_resolve_references()
    pcfg.seeds = pretraining_seeds(cfg)
    return pcfg


def stack_folder(kind: str) -> str:
    """The workdir folder of the shared stack of one layer kind: pretrain (dae), pretrain-cae, pretrain-rbm."""
    return "pretrain" if kind == "dae" else f"pretrain-{kind}"


def shared_stack(cfg, out: pathlib.Path, data, log, kind: str = "dae"):
    """The pretrained stack of every seed with `kind` layers, from DIR/<stack_folder(kind)>: trained (resumably)
    here unless another process (another shard) is training it, in which case None."""
    pcfg = with_layer_kind(pretraining_config(cfg), kind)
    name = stack_folder(kind)
    if not (out / name / "summary.json").exists():
        try:
            pretrain(pcfg, out, log=log, name=name)
        except RunInUseError:
            return None
    return load_stack(out, pcfg, data.n_features, name=name)


def run_sweep(cfg, workdir, *, shard_spec: str | None = None, log=print) -> list[dict]:
    """Run this shard's unfinished cells of the grid in `cfg`, then write the merged report; returns its rows."""
    index, count = parse_shard(shard_spec)
    out = pathlib.Path(workdir)
    check_saved_config(out, cfg)
    data = load_dataset(cfg, unit_range=reconstruction_of(cfg, 0) == "sigmoid_cross_entropy")
    check_budgets(cfg, data)
    lock_run_dir(out / "shards" / f"{index}-of-{count}")
    if not (out / "config.json").exists():
        write_json(out / "config.json", cfg.to_dict())
    mine = shard(cells(cfg), index, count)
    todo = [c for c in mine if not (out / "cells" / f"{c.name}.csv").exists()]
    log(f"sweep on {data.name}: {len(cells(cfg))} cells in the grid, {len(mine)} in shard {index}/{count}, "
        f"{len(todo)} to run")
    stacks, waiting = {}, False
    while todo:
        for kind in sorted({parse_method(c.method).stack_kind for c in todo} - {None} - set(stacks)):
            stack = shared_stack(cfg, out, data, log, kind)
            if stack is not None:
                stacks[kind] = stack
        runnable = [c for c in todo if parse_method(c.method).stack_kind in (None, *stacks)]
        if not runnable:
            if not waiting:
                log(f"another process is pretraining in {out}; waiting for it")
            waiting = True
            time.sleep(WAIT_SECONDS)
            continue
        cell = runnable[0]
        state = out / "state" / cell.name  # within-cell checkpoints, with sweep.cell_checkpoint_every
        resume = ResumeCheckpoints(state) if cfg.sweep.cell_checkpoint_every else None
        rows = run_cell(cfg, data, cell, stacks, log=log, resume=resume)
        write_text(out / "cells" / f"{cell.name}.csv", to_csv(rows))
        if resume is not None:
            resume.close()
            shutil.rmtree(state, ignore_errors=True)
        write_report(out, cfg)
        todo.remove(cell)
    return write_report(out, cfg)


def write_text(path: pathlib.Path, text: str):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text)
    tmp.replace(path)


def write_report(out: pathlib.Path, cfg=None) -> list[dict]:
    """Merge every finished cell in `out` into sweep.csv, sweep.md and sweep.png (grid order); returns rows."""
    from stackae.plots import plot_sweep

    out = pathlib.Path(out)
    if cfg is None:
        if not (out / "config.json").exists():
            raise ConfigError(f"{out} holds no sweep (no config.json); pass the folder given as --workdir.")
        cfg = config_from_json((out / "config.json").read_text())
    order = [c.name for c in cells(cfg)]
    found = {p.stem: p for p in (out / "cells").glob("*.csv")}
    names = [n for n in order if n in found] + sorted(n for n in found if n not in order)
    rows = [r for n in names for r in from_csv(found[n].read_text())]
    write_text(out / "sweep.csv", to_csv(rows))
    summary = summarize(rows)
    write_text(out / "sweep.md", report_header(cfg, out, rows, len(order)) + to_markdown(summary))
    if summary:
        plot_sweep(summary, path=out / "sweep.png", title=f"{cfg.dataset}: {'-'.join(map(str, cfg.layers))}")
    return rows


def report_header(cfg, out: pathlib.Path, rows: list[dict], n_cells: int) -> str:
    s = cfg.sweep
    kinds = sorted({parse_method(m).stack_kind for m in s.methods} - {None}, key=LAYER_KINDS.index)
    stacks = {k: out / stack_folder(k) / "summary.json" for k in kinds}
    pre_seconds = {k: read_json(p)["seconds"] for k, p in stacks.items() if p.exists()}
    pretraining = ", ".join(f"{k} {v:.0f} s" if len(kinds) > 1 else f"{v:.0f} s" for k, v in pre_seconds.items())
    per_budget = {}
    for r in rows:
        per_budget.setdefault(r["labels_per_class"], {})[r["method"]] = r["cell_seconds"]
    timing = ", ".join(f"{f'{b} per class' if b else 'all labels'} {sum(v.values()):.0f} s"
                       for b, v in per_budget.items())
    done = len({(r["method"], r["labels_per_class"]) for r in rows})
    semi = next((m for m in s.methods if parse_method(m).semi_supervised), None)
    ladder = next((m for m in s.methods if parse_method(m).ladder_network), None)

    def steps(b):
        others = [f"{what} {plan_for(cfg, b, m).steps}" for what, m in
                  (("semi-supervised methods", semi), ("ladder networks", ladder)) if m is not None]
        return f"{plan_for(cfg, b).steps}" + (f" ({', '.join(others)})" if others else "")

    budgets = "; ".join(f"{f'{b} per class' if b else 'all labels'}: {steps(b)} steps of batch {p.batch_size}, "
                        f"evaluated every {p.eval_every}" for b, p in ((b, plan_for(cfg, b)) for b in s.labels_per_class))
    if semi or ladder:
        budgets += f" ({cfg.finetune.unlabelled_batch_size} unlabelled examples per step of those)"
    if ladder:
        budgets += (f". Ladder networks: Adam, grid {', '.join(f'{v:g}' for v in s.ladder_learning_rates)}, "
                    f"decaying linearly to 0 after {cfg.ladder.decay_start:g} of their steps")
    with_all = 0 in s.labels_per_class  # the all-labels budget is in the grid
    all_seeds = f" ({s.seeds_all_labels} with all labels)" if with_all else ""
    all_valid = " (the whole validation split with all labels)" if with_all else ""
    return "\n".join([
        f"# Sweep: {cfg.dataset}, network {'-'.join(map(str, cfg.layers))}", "",
        f"{done} of {n_cells} cells finished. Seeds {s.seeds} per budget{all_seeds}; "
        f"learning-rate grid {', '.join(f'{v:g}' for v in s.learning_rates)} chosen per seed on the validation "
        f"set. {budgets}. Validation set: {s.valid_per_class or 'as many per class as the budget, at least 10'} "
        f"per class{all_valid}. The test set is never used for any choice.", "",
        "Seconds: pretraining " + (pretraining or "(not run)") +
        f"; fine-tuning by budget: {timing or 'none yet'}.", "", ""])
