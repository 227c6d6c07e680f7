"""Where an epoch's device time goes: one pretraining epoch of benchmarks/run.py's DAE layer for S seeds, traced
with jax.profiler, its device kernels summed by name (accelerators only; on CPU the trace holds no kernels).

    .venv/bin/python benchmarks/profile_epoch.py [--seeds 1,16] [--examples 60000] [--top 25]

Prints, per S, the steady epoch time and the kernels taking the most device time (total ms, launches, name).
"""

import argparse
import collections
import gzip
import json
import pathlib
import sys
import tempfile

import jax
import jax.numpy as jnp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run as bench  # noqa: E402


def kernel_times(trace_file) -> dict:
    """{kernel name: [total microseconds, launches]} of the device events of a perfetto trace."""
    events = json.load(gzip.open(trace_file))
    events = events["traceEvents"] if isinstance(events, dict) else events
    devices = {e["pid"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"
               and "/device:" in e["args"].get("name", "")}
    totals = collections.defaultdict(lambda: [0.0, 0])
    for e in events:
        if e.get("ph") == "X" and e["pid"] in devices:
            totals[e["name"]][0] += e.get("dur", 0)
            totals[e["name"]][1] += 1
    return totals


def profile(n_seeds: int, x, xv) -> tuple[float, dict]:
    """Steady epoch seconds (the third epoch) and the kernel totals of a fourth, traced, epoch."""
    w = bench.dae_workload(n_seeds)
    box = [w.states]

    def epoch(i):
        box[0], metrics = w.epoch(box[0], x, xv, w.keys, i)
        return box[0], metrics

    seconds = [bench.timed(lambda: epoch(i)) for i in range(3)]
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            bench.timed(lambda: epoch(3))
        trace = next(pathlib.Path(folder).rglob("*.trace.json.gz"))
        return seconds[-1], kernel_times(trace)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="1,16", help="comma-separated seed counts")
    p.add_argument("--examples", type=int, default=60000, help="training examples per seed and epoch")
    p.add_argument("--top", type=int, default=25, help="kernels listed per seed count")
    args = p.parse_args()
    x, xv = jnp.asarray(bench.uniform(args.examples, 0)), jnp.asarray(bench.uniform(1000, 1))
    print(f"profiling on {bench.device_name()} (jax {jax.__version__})")
    for s in (int(v) for v in args.seeds.split(",")):
        seconds, totals = profile(s, x, xv)
        device_ms = sum(t for t, _ in totals.values()) / 1e3
        print(f"S={s}: epoch {seconds * 1e3:.1f} ms; device kernels {device_ms:.1f} ms in "
              f"{sum(n for _, n in totals.values())} launches")
        for name, (us, n) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:args.top]:
            print(f"  {us / 1e3:9.2f} ms {n:6d}x  {name[:110]}")


if __name__ == "__main__":
    main()
