"""The benchmark's bookkeeping: FLOP counts and the roofline fraction from adjacent GEMM probes."""

import importlib.util
import pathlib

import jax.numpy as jnp
import pytest

spec = importlib.util.spec_from_file_location("bench", pathlib.Path(__file__).parents[1] / "benchmarks" / "run.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_flop_counts_match_the_documented_workloads():
    assert bench.train_flop(((784, 1000), (1000, 784))) == 7_840_000  # 5 matmuls of the tied DAE
    assert bench.train_flop(((784, 1000), (1000, 1000), (1000, 1000), (1000, 10))) == 15_196_000
    assert bench.forward_flop(((784, 1000), (1000, 784))) == 2 * 2 * 784 * 1000


def test_roofline_fraction_pairs_each_epoch_with_the_probe_after_it():
    probes = iter([1e12, 2e12, 4e12])  # one per timed epoch, after the WARMUP ones
    w = bench.dae_workload(1)
    n, nv = 256, 16
    x, xv = jnp.asarray(bench.uniform(n, 0)), jnp.asarray(bench.uniform(nv, 1))
    m = bench.measure(w, x, xv, n, nv, repeats=3, gemm=lambda: next(probes))
    assert m["gemm_probes"] == [1e12, 2e12, 4e12]
    flop = bench.epoch_flop(w.shapes, 256, nv)
    fractions = sorted(flop / s / g for s, g in zip(m["epoch_seconds"][bench.WARMUP:], m["gemm_probes"]))
    assert m["roofline_fraction"] == pytest.approx(fractions[1])
    assert m["examples"] == 256 and m["examples_per_s"] == pytest.approx(256 / m["seconds"])


def test_diagnostics_cost_is_the_ratio_of_median_alternating_epochs():
    sizes = bench.Sizes(256, 16, 3, {}, None)
    x, xv = jnp.asarray(bench.uniform(256, 0)), jnp.asarray(bench.uniform(16, 1))
    d = bench.bench_diagnostics(sizes, x, xv)
    assert len(d["epoch_seconds_on"]) == len(d["epoch_seconds_off"]) == max(3, bench.DIAGNOSTICS_PAIRS)
    import statistics
    assert d["on_over_off"] == pytest.approx(statistics.median(d["epoch_seconds_on"]) /
                                             statistics.median(d["epoch_seconds_off"]))
