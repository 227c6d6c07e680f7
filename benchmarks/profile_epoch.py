"""Where an epoch's time goes: one epoch of benchmarks/run.py's DAE layer (S seeds) or classifier, traced with
jax.profiler, its operations summed by name: the device kernels on an accelerator; on a CPU, the compiled
program's own operations (HLO instruction names, e.g. `ynn_fusion.3`, `dot.21`, `multiply_add_fusion`), which XLA
traces when XLA_FLAGS holds --xla_cpu_enable_xprof_traceme=true (this script sets it before JAX starts).

    .venv/bin/python benchmarks/profile_epoch.py [--workload dae|classifier] [--seeds 1,16] [--examples 60000]
        [--top 25] [--hlo FILE]

Prints, per S, the steady epoch time and the operations taking the most time (total ms, count, name); --hlo
writes the compiled program's text, to look the names up. On a CPU, XLA runs independent operations at the same
time on different cores, so the times of operations that overlap are not additive (the list can sum to more
than the epoch, and two matmuls sharing the cores each look slower).
"""

import os

CPU_TRACE_FLAG = "--xla_cpu_enable_xprof_traceme=true"
if CPU_TRACE_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {CPU_TRACE_FLAG}".strip()

import argparse
import collections
import gzip
import json
import pathlib
import re
import sys
import tempfile

import jax
import jax.numpy as jnp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run as bench  # noqa: E402


def kernel_times(trace_file, ops=frozenset()) -> dict:
    """{name: [total microseconds, count]} of the device events of a perfetto trace, and of the events on any
    thread whose name is in `ops` (a CPU program's operation names)."""
    events = json.load(gzip.open(trace_file))
    events = events["traceEvents"] if isinstance(events, dict) else events
    devices = {e["pid"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"
               and "/device:" in e["args"].get("name", "")}
    totals = collections.defaultdict(lambda: [0.0, 0])
    for e in events:
        if e.get("ph") == "X" and (e["pid"] in devices or e["name"] in ops):
            totals[e["name"]][0] += e.get("dur", 0)
            totals[e["name"]][1] += 1
    return totals


def operation_names(hlo_text: str) -> frozenset:
    """The instruction names of a compiled XLA program's text."""
    return frozenset(re.findall(r"^\s*(?:ROOT )?%([\w.\-]+) = ", hlo_text, re.MULTILINE))


def workload(kind: str, n_seeds: int, x, xv):
    """(workload, training data, held-out data) of benchmarks/run.py: the DAE layer for `n_seeds` seeds, or the
    classifier (one seed) on random labels."""
    if kind == "dae":
        return bench.dae_workload(n_seeds), x, xv
    labelled = lambda a, seed: {"x": a, "y": jnp.asarray(bench.labels(len(a), seed))}  # noqa: E731
    return bench.classifier_workload(), labelled(x, 0), labelled(xv, 1)


def profile(n_seeds: int, x, xv, kind: str = "dae") -> tuple[float, dict, str]:
    """Steady epoch seconds (the third epoch), the operation totals of a fourth, traced, epoch, and the compiled
    program's text."""
    w, train, held_out = workload(kind, n_seeds, x, xv)
    hlo = w.epoch.lower(w.states, train, held_out, w.keys, 0).compile().as_text()
    box = [w.states]

    def epoch(i):
        box[0], metrics = w.epoch(box[0], train, held_out, w.keys, i)
        return box[0], metrics

    seconds = [bench.timed(lambda: epoch(i)) for i in range(3)]
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            bench.timed(lambda: epoch(3))
        trace = next(pathlib.Path(folder).rglob("*.trace.json.gz"))
        ops = operation_names(hlo) if jax.devices()[0].platform == "cpu" else frozenset()
        return seconds[-1], kernel_times(trace, ops), hlo


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", choices=("dae", "classifier"), default="dae")
    p.add_argument("--seeds", default="1,16", help="comma-separated seed counts (the DAE layer only)")
    p.add_argument("--examples", type=int, default=60000, help="training examples per seed and epoch")
    p.add_argument("--top", type=int, default=25, help="operations listed per seed count")
    p.add_argument("--hlo", help="write the (last) compiled program's text here")
    args = p.parse_args()
    x, xv = jnp.asarray(bench.uniform(args.examples, 0)), jnp.asarray(bench.uniform(1000, 1))
    print(f"profiling the {args.workload} on {bench.device_name()} (jax {jax.__version__})")
    for s in (int(v) for v in args.seeds.split(",")) if args.workload == "dae" else (1,):
        seconds, totals, hlo = profile(s, x, xv, args.workload)
        traced_ms = sum(t for t, _ in totals.values()) / 1e3
        print(f"S={s}: epoch {seconds * 1e3:.1f} ms; traced operations {traced_ms:.1f} ms in "
              f"{sum(n for _, n in totals.values())} runs")
        for name, (us, n) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:args.top]:
            print(f"  {us / 1e3:9.2f} ms {n:6d}x  {name[:110]}")
        if args.hlo:
            pathlib.Path(args.hlo).write_text(hlo)


if __name__ == "__main__":
    main()
