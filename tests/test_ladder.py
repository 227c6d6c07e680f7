"""The ladder network: the combinator's formula, the supervised network it reduces to, a falling denoising cost,
a clean path without noise, the DAE init, and bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import stackae
from conftest import run_script_here, tiny_config, tree_snapshot
from stackae.config import load_config
from stackae.core.ladder import BN_EPSILON, gauss_combinator, ladder_loss, ladder_paths
from stackae.errors import ConfigError
from stackae.methods import parse_method
from stackae.procedures.finetune import initial_members, ladder_spec

QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def digits():
    cfg = tiny_config()
    cfg.seeds = 2
    cfg.finetune.unlabelled_batch_size = 64
    data = stackae.load_dataset(cfg)
    return cfg, data


def members(cfg, data, name, stack=None, seeds=(0,)):
    method = parse_method(name)
    return method, initial_members(cfg, data, method, stack, seeds)


def first(tree):
    return jax.tree.map(lambda a: a[0], tree)


def test_the_combinator_is_the_papers_formula_on_a_hand_computed_example():
    a = jnp.arange(1.0, 11.0)[:, None] / 10  # a1..a10 = 0.1 .. 1.0, one unit
    z, u = 0.5, -2.0
    sigmoid = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    mu = 0.1 * sigmoid(0.2 * u + 0.3) + 0.4 * u + 0.5
    v = 0.6 * sigmoid(0.7 * u + 0.8) + 0.9 * u + 1.0
    expected = (z - mu) * v + mu
    got = float(gauss_combinator(jnp.array([[z]]), jnp.array([[u]]), a)[0, 0])
    assert got == pytest.approx(expected, rel=1e-6)


def _reference_loss(params, x, y):
    """The batch-normalised supervised network written out by hand: normalise each pre-activation over the batch,
    shift by beta, ReLU; the top scaled and shifted, softmax cross-entropy."""
    kernels = [params["encoders"][k]["kernel"] for k in sorted(params["encoders"])] + [params["head"]["kernel"]]
    betas = [params["betas"][k] for k in sorted(params["betas"])]
    h = x
    for k, (w, beta) in enumerate(zip(kernels, betas)):
        pre = h @ w
        z = (pre - pre.mean(0)) / jnp.sqrt(pre.var(0) + BN_EPSILON) + beta
        h = jax.nn.relu(z) if k < len(kernels) - 1 else params["top_scale"] * z
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(h, y))


def test_with_every_lambda_and_the_noise_zero_it_is_the_batch_normalised_network(digits):
    cfg, data = digits
    cfg = cfg.copy_and_resolve_references()
    cfg.ladder.denoising_weights, cfg.ladder.noise_std = (0.0, 0.0, 0.0, 0.0), 0.0
    method, (graphdef, params, stats, _) = members(cfg, data, "ladder")
    params, stats = first(params), first(stats)
    nnx.replace_by_pure_dict(params, jax.tree.map(lambda a: a + 0.1, nnx.to_pure_dict(params)))  # not at init
    loss_fn, _ = ladder_loss(graphdef, ladder_spec(cfg, method))
    batch = {"x": jnp.asarray(data.train_x[:40]), "y": jnp.asarray(data.train_y[:40]),
             "u": jnp.asarray(data.train_x[100:164]), "step": 0}
    (loss, _), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params, batch, jax.random.key(0), stats)
    pure = nnx.to_pure_dict(params)
    reference = {k: v for k, v in pure.items() if k in ("encoders", "head", "betas", "top_scale")}
    ref_loss, ref_grads = jax.jit(jax.value_and_grad(_reference_loss))(reference, batch["x"], batch["y"])
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-5)
    got = nnx.to_pure_dict(grads)
    for (path, g), r in zip(jax.tree.leaves_with_path({k: got[k] for k in reference}), jax.tree.leaves(ref_grads)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=2e-4, atol=1e-6, err_msg=str(path))
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves({k: got[k] for k in ("combinators", "vertical")}))


def test_the_clean_paths_draw_no_noise_and_the_corrupted_ones_do(digits):
    cfg, data = digits
    method, (graphdef, params, stats, _) = members(cfg, data, "ladder")
    model = nnx.merge(graphdef, first(params), first(stats))
    x, u = jnp.asarray(data.train_x[:30]), jnp.asarray(data.train_x[30:94])
    a, b = (ladder_paths(model, x, u, 0.3, jax.random.key(k)) for k in (0, 1))
    silent = ladder_paths(model, x, u, 0.0, jax.random.key(0))
    for name in ("clean_labelled", "clean_unlabelled"):
        for p, q, r in zip(jax.tree.leaves(a[name]), jax.tree.leaves(b[name]), jax.tree.leaves(silent[name])):
            assert np.array_equal(p, q) and np.array_equal(p, r)
    for name in ("corrupted_labelled", "corrupted_unlabelled"):
        assert not np.allclose(a[name][0][0], b[name][0][0])  # the noisy input
        assert not np.allclose(a[name][0][-1], silent[name][0][-1])  # the noisy top


@pytest.fixture(scope="module")
def trained(digits):
    cfg, data = digits
    stack = stackae.pretrain_stack(cfg, data, **QUIET)
    plan = stackae.Plan(seeds=(0, 1), labels_per_class=5, valid_per_class=10, learning_rates=(0.002,), steps=120,
                        eval_every=30, batch_size=50)
    return stack, {m: stackae.finetune(cfg, data, m, stack=stack if m.startswith("dae") else None, plan=plan,
                                       **QUIET) for m in ("ladder", "gamma", "dae+ladder")}


def test_the_denoising_cost_falls_and_the_gamma_model_decodes_the_top_only(trained):
    runs = trained[1]
    ladder = runs["ladder"].history
    for layer in range(4):
        assert np.all(np.asarray(ladder[-1][f"denoising_{layer}"]) < np.asarray(ladder[0][f"denoising_{layer}"]))
    gamma = runs["gamma"].history
    assert [k for k in gamma[0] if k.startswith("denoising")] == ["denoising_3"]
    assert np.all(np.asarray(gamma[-1]["denoising_3"]) < np.asarray(gamma[0]["denoising_3"]))


def test_a_ladder_run_predicts_what_it_reports_and_learns(digits, trained):
    _, data = digits
    for name, run in trained[1].items():
        errors = [np.mean(run.predict(data.test_x, member=m) != data.test_y) for m in range(2)]
        assert errors == pytest.approx([r["test_error"] for r in run.rows]), name
        assert max(errors) < 0.5, name  # ten classes: chance is 0.9


def test_dae_ladder_starts_from_the_stacks_kernels(digits, trained):
    cfg, data = digits
    stack = trained[0]
    _, (_, params, _, _) = members(cfg, data, "dae+ladder", stack, seeds=(0, 1))
    for k, (w, _) in enumerate(stack.encoders()):
        np.testing.assert_array_equal(np.asarray(params["encoders"][k]["kernel"]), np.asarray(w))


def test_ladder_names_and_combinations_are_checked_in_one_sentence():
    assert parse_method("ladder").init == "lecun" and parse_method("ladder").ladder
    assert parse_method("gamma").gamma and parse_method("dae+ladder").pretrained
    assert parse_method("ladder").remedies == parse_method("dae+ladder").remedies == "ladder"
    for name, phrase in (("ladder+dropout", "takes \\+clip only"), ("dae+ladder+gamma", "takes \\+clip only"),
                         ("lsuv+ladder", "use a random init")):
        with pytest.raises(ConfigError, match=phrase):
            parse_method(name)
    with pytest.raises(ConfigError, match="4 values, one per layer of the ladder"):
        load_config(None, {"sweep.methods": "(he,ladder)", "ladder.denoising_weights": "(1.0,1.0)"})
    with pytest.raises(ConfigError, match="'ladder.noise_std' is -0.1 but must be >= 0"):
        load_config(None, {"ladder.noise_std": "-0.1"})


@pytest.mark.parametrize("override, phrase", [
    ("--config.ladder.denoising_weights=(1000.0,10.0)", "one per layer of the ladder"),
    ("--config.ladder.noise_std=-0.3", "must be >= 0"),
])
def test_bad_ladder_input_is_one_sentence_exit_2_and_keeps_files(tmp_path, override, phrase):
    (tmp_path / "finetune-ladder").mkdir()
    (tmp_path / "finetune-ladder" / "keep.json").write_text("{}")
    before = tree_snapshot(tmp_path)
    proc = run_script_here("finetune", "--workdir", str(tmp_path), "--config.layers=(16,8)", "--init=ladder",
                           override)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and phrase in last and "Traceback" not in proc.stderr
    assert tree_snapshot(tmp_path) == before


def test_a_ladder_records_the_training_diagnostics_of_every_method(digits):
    cfg, data = digits
    cfg = cfg.copy_and_resolve_references()
    cfg.diagnostics = True
    plan = stackae.Plan(seeds=(0,), labels_per_class=5, valid_per_class=10, learning_rates=(0.002,), steps=20,
                        eval_every=10, batch_size=50)
    last = stackae.finetune(cfg, data, "ladder", plan=plan, **QUIET).history[-1]
    for name in ("grad_norm/encoders.0.kernel", "grad_norm/head.kernel", "grad_norm/combinators.0",
                 "dead_fraction/layer1", "dead_fraction/layer2", "zero_fraction/layer2"):
        assert name in last and np.all(np.isfinite(last[name])), name
    assert np.all(np.asarray(last["grad_norm/encoders.0.kernel"]) > 0)
