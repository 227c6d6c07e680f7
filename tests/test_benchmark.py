"""The benchmark's bookkeeping: FLOP counts and the roofline fraction from adjacent GEMM probes."""

import gzip
import importlib.util
import json
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import script_env

spec = importlib.util.spec_from_file_location("bench", pathlib.Path(__file__).parents[1] / "benchmarks" / "run.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_flop_counts_match_the_documented_workloads():
    assert bench.train_flop(((784, 1000), (1000, 784))) == 7_840_000  # 5 matmuls of the tied DAE
    assert bench.train_flop(((784, 1000), (1000, 1000), (1000, 1000), (1000, 10))) == 15_196_000
    assert bench.forward_flop(((784, 1000), (1000, 784))) == 2 * 2 * 784 * 1000


@pytest.mark.parametrize("shapes, count", [(((784, 1000), (1000, 784)), 5),
                                           (((784, 1000), (1000, 1000), (1000, 1000), (1000, 10)), 11)])
def test_the_matmul_floor_times_the_matmuls_the_flop_count_counts(shapes, count, monkeypatch):
    dots = bench.step_matmuls(shapes, 128)
    assert len(dots) == count and sum(2 * m * k * n for m, k, n in dots) == 128 * bench.train_flop(shapes)
    monkeypatch.setattr(bench, "matmul_seconds", lambda m, k, n: m * k * n * 1e-12)
    floor = bench.matmul_floor(bench.epoch_matmuls(shapes, 128, steps=7, n_held_out=50))
    assert floor == pytest.approx(bench.epoch_flop(shapes, 7 * 128, 50) / 2 * 1e-12)


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
    assert m["floor_seconds"] > 0 and m["floor_examples_per_s"] == pytest.approx(256 / m["floor_seconds"])


def test_diagnostics_cost_is_the_ratio_of_median_alternating_epochs():
    sizes = bench.Sizes(256, 16, 3, {}, None)
    x, xv = jnp.asarray(bench.uniform(256, 0)), jnp.asarray(bench.uniform(16, 1))
    d = bench.bench_diagnostics(sizes, x, xv)
    assert len(d["epoch_seconds_on"]) == len(d["epoch_seconds_off"]) == max(3, bench.DIAGNOSTICS_PAIRS)
    import statistics
    assert d["on_over_off"] == pytest.approx(statistics.median(d["epoch_seconds_on"]) /
                                             statistics.median(d["epoch_seconds_off"]))


def test_rounds_give_medians_with_their_spread_and_ratios_within_a_round():
    def measured(rate, fraction, probes, floor=None):
        return {"examples_per_s": rate, "flops_per_s": rate * 10, "roofline_fraction": fraction,
                "gemm_probes": probes, "flop_per_example": 10, "floor_examples_per_s": floor}

    rounds = [{"pretrain": measured(100.0, 0.8, [1.0], floor=125.0), "finetune": measured(50.0, 0.7, [2.0]),
               "torch": {"pretrain_examples_per_s": 50.0, "finetune_examples_per_s": 25.0, "gemm_flops_per_s": 3.0,
                         "pretrain_compiled_examples_per_s": None, "finetune_compiled_examples_per_s": 40.0}},
              {"pretrain": measured(300.0, 0.9, [3.0], floor=400.0), "finetune": measured(60.0, 0.6, [4.0]),
               "torch": {"pretrain_examples_per_s": 200.0, "finetune_examples_per_s": 60.0, "gemm_flops_per_s": 5.0,
                         "pretrain_floor_examples_per_s": 320.0}},
              {"pretrain": measured(200.0, 0.85, [5.0]), "finetune": measured(70.0, 0.65, [6.0]), "torch": None}]
    r = bench.summarize_rounds(rounds)
    assert r["rounds"] == 3 and r["gemm_flops_per_s"] == 3.5
    assert r["pretrain_examples_per_s"] == 200.0
    assert r["pretrain_examples_per_s_spread"] == {"median": 200.0, "min": 100.0, "max": 300.0, "n": 3}
    assert r["pretrain_vs_torch"] == pytest.approx((2.0 + 1.5) / 2)  # per round 2.0, 1.5; round 3 had no torch
    assert r["pretrain_vs_torch_spread"]["n"] == 2
    assert r["finetune_vs_torch_compiled"] == pytest.approx(50.0 / 40.0)
    assert r["pretrain_vs_torch_compiled"] is None and r["pretrain_vs_torch_compiled_spread"]["n"] == 0
    assert r["pretrain_floor_fraction"] == pytest.approx((0.8 + 0.75) / 2)  # per round 100/125, 300/400
    assert r["pretrain_floor_vs_torch"] == pytest.approx((2.5 + 2.0) / 2)  # per round 125/50, 400/200
    assert r["pretrain_floor_vs_torch_floor"] == pytest.approx(400.0 / 320.0)  # only round 2 timed both floors
    assert r["finetune_floor_fraction"] is None and r["finetune_floor_vs_torch_floor"] is None
    assert "n/a" in bench.table(dict(r, device="cpu: x", jax_version="0", date="d", quick=True, cpu={}, gemm_size=8,
                                     diagnostics={"on_over_off": 1.0}, seeds_examples_per_s={},
                                     mnist_pipeline_data=None, mnist_pipeline_seconds=None, compile_seconds={}))


def test_the_torch_reference_times_its_matmul_floor_at_the_shapes_it_is_given():
    """torch_reference.py --floor: an epoch of nothing but the given matmuls (examples / summed seconds)."""
    python = bench.find_torch_python(None)
    if python is None:
        pytest.skip("no Python with torch (benchmarks/.torch-venv); the reference is optional")
    matmuls = {"pretrain": [[128, 784, 1000, 6], [16, 784, 1000, 1]]}
    done = subprocess.run([python, str(pathlib.Path(bench.__file__).parent / "torch_reference.py"), "--examples",
                           "300", "--valid", "16", "--workloads", "pretrain", "--floor", json.dumps(matmuls)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["pretrain_floor_examples_per_s"] > 0 and "finetune_floor_examples_per_s" not in out


def test_cpu_facts_name_the_model_and_the_matmul_isa():
    facts = bench.cpu_facts()
    if facts:  # Linux
        assert facts["model"] and {"avx512f", "avx2", "fma"} <= facts.keys()
        assert all(isinstance(facts[k], bool) for k in ("avx512f", "avx2", "fma"))


def test_the_pipeline_benchmark_patches_and_calls_the_workdir_modules_that_load_data():
    for module in (bench.stackae.workdir.pretrain, bench.stackae.workdir.finetune):
        assert callable(module.load_dataset)
    assert callable(bench.stackae.workdir.pretrain.pretrain) and callable(bench.stackae.workdir.finetune.finetune_run)


choices_spec = importlib.util.spec_from_file_location(
    "step_choices", pathlib.Path(__file__).parents[1] / "benchmarks" / "step_choices.py")
step_choices = importlib.util.module_from_spec(choices_spec)
choices_spec.loader.exec_module(step_choices)
workloads = step_choices.bench


def test_every_step_choice_variant_changes_the_traced_program():
    """A variant whose patch or config tweak did not reach the traced epoch would time the library against
    itself."""
    n = 256
    x = jnp.asarray(bench.uniform(n, 0))
    data = {"dae": (x, x[:16]), "classifier": ({"x": x, "y": jnp.asarray(bench.labels(n, 0))},
                                               {"x": x[:16], "y": jnp.asarray(bench.labels(16, 0))})}

    def traced(kind, context, tweak):
        with context:  # step_choices patches the workloads of its own import of benchmarks/run.py
            w = workloads.dae_workload(1, tweak=tweak) if kind == "dae" else workloads.classifier_workload(tweak=tweak)
            return w.epoch.lower(w.states, *data[kind], w.keys, 0).as_text()

    library = {kind: traced(kind, step_choices.patches(), None) for kind in data}
    for name, (kind, make, tweak, n_held_out) in step_choices.VARIANTS.items():
        if n_held_out is None:  # the held-out variants change the data, not the program
            assert traced(kind, make(), tweak) != library[kind], name


def test_step_choices_reports_a_ratio_per_variant(monkeypatch, tmp_path):
    keep = ("dae: masks from 32-bit uniforms", "classifier: without momentum")
    monkeypatch.setattr(step_choices, "VARIANTS", {k: step_choices.VARIANTS[k] for k in keep})
    r = step_choices.main(["--rounds", "1", "--examples", "256", "--out", str(tmp_path / "r.json")])
    assert set(r["ratios"]) == set(keep) and all(v["median"] > 0 for v in r["ratios"].values())
    s = r["epoch_seconds"]
    assert r["ratios"][keep[1]]["median"] == pytest.approx(s[keep[1]][0] / s["classifier"][0])
    assert (tmp_path / "r.json").exists() and r["cpu"] == bench.cpu_facts()


def library_and_variant_classifier_epochs(name: str) -> list:
    """(params, metrics) after one classifier epoch of the library's step and of step_choices variant `name`."""
    n = 256
    x = jnp.asarray(bench.uniform(n, 0))
    _, make, _, _ = step_choices.VARIANTS[name]
    train = {"x": x, "y": jnp.asarray(bench.labels(n, 0))}
    held_out = {"x": x[:16], "y": jnp.asarray(bench.labels(16, 0))}
    results = []
    for context in (step_choices.patches(), make()):
        with context:
            w = workloads.classifier_workload()
        states, metrics = w.epoch(w.states, train, held_out, w.keys, 0)
        results.append(jax.device_get((states["params"], metrics)))
    return results


def test_the_variant_without_a_seed_axis_trains_the_same_numbers():
    """The size-1 seed axis is only a layout: one seed traced without it must train the same parameters."""
    results = library_and_variant_classifier_epochs("classifier: no size-1 seed axis")
    assert jax.tree.map(jnp.shape, results[0]) == jax.tree.map(jnp.shape, results[1])
    for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-4, atol=1e-5)


def test_the_gradient_barrier_changes_no_number():
    """The barrier only orders the backward pass: without it (XLA copies the weights) the numbers are bitwise the
    same."""
    results = library_and_variant_classifier_epochs("classifier: weight copies (no gradient barrier)")
    assert jax.tree.all(jax.tree.map(np.array_equal, *results))


profile_spec = importlib.util.spec_from_file_location(
    "profile_epoch", pathlib.Path(__file__).parents[1] / "benchmarks" / "profile_epoch.py")
profile_epoch = importlib.util.module_from_spec(profile_spec)
profile_spec.loader.exec_module(profile_epoch)


def test_the_profile_sums_device_kernels_by_name_and_leaves_host_events_out(tmp_path):
    events = [{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/device:GPU:0"}},
              {"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/host:CPU"}},
              {"ph": "X", "pid": 1, "name": "gemm", "dur": 3.0}, {"ph": "X", "pid": 1, "name": "gemm", "dur": 4.0},
              {"ph": "X", "pid": 1, "name": "add", "dur": 1.5}, {"ph": "X", "pid": 2, "name": "python", "dur": 99.0}]
    trace = tmp_path / "t.trace.json.gz"
    trace.write_bytes(gzip.compress(json.dumps({"traceEvents": events}).encode()))
    assert dict(profile_epoch.kernel_times(trace)) == {"gemm": [7.0, 2], "add": [1.5, 1]}


def test_the_profile_counts_a_cpu_programs_operations_on_any_thread(tmp_path):
    events = [{"ph": "X", "pid": 2, "name": "ynn_fusion.3", "dur": 5.0}, {"ph": "X", "pid": 3, "name": "ynn_fusion.3",
              "dur": 1.0}, {"ph": "X", "pid": 2, "name": "ThunkExecutor::Execute", "dur": 9.0}]
    trace = tmp_path / "t.trace.json.gz"
    trace.write_bytes(gzip.compress(json.dumps(events).encode()))
    hlo = "ENTRY %main {\n  %ynn_fusion.3 = f32[2]{0} fusion(%p), kind=kCustom\n  ROOT %t = (f32[2]) tuple(%x)\n}"
    ops = profile_epoch.operation_names(hlo)
    assert ops == {"ynn_fusion.3", "t"}
    assert dict(profile_epoch.kernel_times(trace, ops)) == {"ynn_fusion.3": [6.0, 2]}


def test_the_profile_traces_a_real_epoch():
    x = jnp.asarray(bench.uniform(256, 0))
    seconds, totals, hlo = profile_epoch.profile(1, x, x[:16], "classifier")
    assert seconds > 0 and "while" in hlo and all(us >= 0 and n > 0 for us, n in totals.values())


def test_the_profile_script_names_the_cpu_programs_own_operations(tmp_path):
    """On a CPU the script turns XLA's operation tracing on before JAX starts: what it lists are the compiled
    program's instructions."""
    out = subprocess.run([sys.executable, str(pathlib.Path(__file__).parents[1] / "benchmarks" / "profile_epoch.py"),
                          "--workload", "classifier", "--examples", "512", "--top", "5", "--hlo", str(tmp_path / "p")],
                         capture_output=True, text=True, env=script_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    listed = [line.split()[-1] for line in out.stdout.splitlines() if line.startswith("  ")]
    assert len(listed) == 5 and set(listed) <= profile_epoch.operation_names((tmp_path / "p").read_text())

revisions_spec = importlib.util.spec_from_file_location(
    "compare_revisions", pathlib.Path(__file__).parents[1] / "benchmarks" / "compare_revisions.py")
compare_revisions = importlib.util.module_from_spec(revisions_spec)
revisions_spec.loader.exec_module(compare_revisions)


def test_two_revisions_are_timed_side_by_side_with_their_own_code(tmp_path):
    modules = set(sys.modules.items())
    r = compare_revisions.main(["HEAD~1", "HEAD", "--rounds", "2", "--examples", "256", "--held-out", "16",
                                "--out", str(tmp_path / "r.json")])
    head = subprocess.run(["git", "rev-parse", "HEAD", "HEAD~1"], capture_output=True, text=True,
                          cwd=compare_revisions.REPO).stdout.split()
    assert [r["commits"]["after"], r["commits"]["before"]] == head
    for name in compare_revisions.WORKLOADS:
        after, before = r["epoch_seconds"]["after"][name], r["epoch_seconds"]["before"][name]
        assert len(after) == len(before) == 2 and min(after + before) > 0
        assert r["summary"][name]["ratio"] == pytest.approx((after[0] / before[0] + after[1] / before[1]) / 2)
    assert json.loads((tmp_path / "r.json").read_text())["summary"] == r["summary"]
    assert {m for m in sys.modules.items() if compare_revisions._ours(m[0])} == \
        {m for m in modules if compare_revisions._ours(m[0])}  # this checkout's modules are back


def test_a_revision_that_is_no_commit_is_refused_in_one_sentence():
    with pytest.raises(SystemExit, match="'no-such-revision' is not a commit"):
        compare_revisions.main(["no-such-revision", "HEAD"])


def test_a_revision_older_than_the_benchmark_workloads_is_refused_in_one_sentence():
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", "benchmarks/run.py"],
                           capture_output=True, text=True, cwd=compare_revisions.REPO).stdout.split()[-1]
    modules = {m for m in sys.modules.items() if compare_revisions._ours(m[0])}
    with pytest.raises(SystemExit, match=f"revision '{added}~1' cannot be timed"):
        compare_revisions.main([f"{added}~1", "HEAD", "--rounds", "1", "--examples", "256", "--held-out", "16"])
    assert {m for m in sys.modules.items() if compare_revisions._ours(m[0])} == modules
