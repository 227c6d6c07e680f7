"""A/B of two git revisions of stackae: each one's epoch time, alternated in one process on the same CPU.

    .venv/bin/python benchmarks/compare_revisions.py BEFORE AFTER [--rounds 5] [--examples 60000] [--out FILE.json]

Both revisions are exported with `git archive` into a temporary folder. Each in turn is imported afresh (its
own `stackae` and `benchmarks/run.py`) to build and compile its pretraining workload (the MNIST config's 784-1000
DAE layer, one seed) and its fine-tuning workload (the 784-1000-1000-1000-10 classifier), warmed up as run.py
does. Then every round times one epoch of each workload for each revision, in alternating order, so that a
drift in machine speed hits both. A round's ratio is AFTER's epoch seconds over BEFORE's (below 1: AFTER is
faster); the median over rounds is printed with the min-max. Both revisions run under this interpreter, so they
see the same jax, flax and optax. A revision needs run.py's `dae_workload`, `classifier_workload`, `uniform` and
`labels` (any since 2026-11-23); the epochs are timed by this checkout's `run.epoch_timer`.
"""

import argparse
import contextlib
import importlib
import json
import pathlib
import statistics
import subprocess
import sys
import tarfile
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
WORKLOADS = ("pretrain", "finetune")
SIDES = ("before", "after")


def export(revision: str, folder: pathlib.Path) -> str:
    """Write `revision`'s tree into `folder`; its full commit hash."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{revision}^{{commit}}"],
                            capture_output=True, text=True)
    if commit.returncode:
        raise SystemExit(f"error: {revision!r} is not a commit of {REPO}; name a branch, tag or commit hash.")
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit.stdout.strip()],
                             capture_output=True, check=True)
    with tempfile.TemporaryFile() as f:
        f.write(archive.stdout)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(folder, filter="data")
    return commit.stdout.strip()


def _ours(module: str) -> bool:
    return module in ("run", "stackae") or module.startswith("stackae.")


@contextlib.contextmanager
def imported_from(tree: pathlib.Path):
    """run.py imported afresh from `tree`, with its own stackae; the modules imported before come back after."""
    saved = {m: sys.modules.pop(m) for m in list(sys.modules) if _ours(m)}
    sys.path[:0] = [str(tree), str(tree / "benchmarks")]
    try:
        run, stackae = importlib.import_module("run"), importlib.import_module("stackae")
        for module in (run, stackae):  # not this checkout's, found further along sys.path
            if not pathlib.Path(module.__file__).is_relative_to(tree):
                raise ImportError(f"the revision has no {module.__name__} of its own")
        yield run
    finally:
        del sys.path[:2]
        for m in [m for m in sys.modules if _ours(m)]:
            del sys.modules[m]
        sys.modules.update(saved)


def warmed_epochs(tree: pathlib.Path, examples: int, held_out: int, epoch_timer) -> dict:
    """{workload: a function timing one more epoch}, built, compiled and warmed up with `tree`'s code; the timing
    is this checkout's `epoch_timer`, the same for both revisions."""
    import jax.numpy as jnp

    with imported_from(tree) as run:
        x, xv = jnp.asarray(run.uniform(examples, 0)), jnp.asarray(run.uniform(held_out, 1))
        labelled = ({"x": x, "y": jnp.asarray(run.labels(examples, 0))},
                    {"x": xv, "y": jnp.asarray(run.labels(held_out, 1))})
        return {"pretrain": epoch_timer(run.dae_workload(1), x, xv),
                "finetune": epoch_timer(run.classifier_workload(), *labelled)}


def summarize(seconds: dict) -> dict:
    """Per workload: AFTER / BEFORE epoch seconds within each round, their median and min-max."""
    out = {}
    for name in WORKLOADS:
        ratios = [a / b for a, b in zip(seconds["after"][name], seconds["before"][name])]
        out[name] = {"ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "ratios": ratios,
                     **{f"{side}_seconds": statistics.median(seconds[side][name]) for side in SIDES}}
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="the baseline revision (a branch, tag or commit)")
    parser.add_argument("after", help="the revision to compare with it")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds (default: 5)")
    parser.add_argument("--examples", type=int, default=60000, help="training examples per epoch (default: 60000)")
    parser.add_argument("--held-out", type=int, default=1000,
                        help="held-out examples evaluated per epoch (default: 1000)")
    parser.add_argument("--out", help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if min(args.rounds, args.examples, args.held_out) < 1:
        raise SystemExit("error: --rounds, --examples and --held-out must be at least 1.")
    sys.path.insert(0, str(REPO / "benchmarks"))
    import run

    with tempfile.TemporaryDirectory() as tmp:
        trees = {side: pathlib.Path(tmp, side) for side in SIDES}
        commits = {side: export(getattr(args, side), trees[side]) for side in SIDES}
        epochs = {}
        for side in SIDES:
            try:
                epochs[side] = warmed_epochs(trees[side], args.examples, args.held_out, run.epoch_timer)
            except (ImportError, AttributeError, TypeError) as e:  # a revision older than run.py's workloads
                raise SystemExit(f"error: revision {getattr(args, side)!r} cannot be timed ({type(e).__name__}: {e}); "
                                 "compare revisions whose benchmarks/run.py has dae_workload and classifier_workload "
                                 "(2026-11-23 on).") from None
    seconds = {side: {name: [] for name in WORKLOADS} for side in SIDES}
    for i in range(args.rounds):
        for name in WORKLOADS:
            for side in SIDES if i % 2 == 0 else SIDES[::-1]:
                seconds[side][name].append(epochs[side][name](run.WARMUP + i))
        print(f"round {i + 1}: " + ", ".join(f"{n} {seconds['after'][n][-1] / seconds['before'][n][-1]:.3f}"
                                             for n in WORKLOADS), flush=True)
    result = {**run.header(), "commits": commits, "examples": args.examples, "held_out": args.held_out,
              "rounds": args.rounds, "epoch_seconds": seconds, "summary": summarize(seconds)}
    for name, s in result["summary"].items():
        print(f"{name}: {args.after} / {args.before} epoch seconds {s['ratio']:.3f} ({s['min']:.3f}-{s['max']:.3f}), "
              f"{s['before_seconds']:.2f} s -> {s['after_seconds']:.2f} s")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
