"""Diagnostics inside the compiled epoch: gradient norms against jax.grad, activation statistics against hand-made
activations, the vanishing-gradient warning, and results unchanged by switching diagnostics on."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import stackae
from conftest import tiny_config
from stackae.core.diagnostics import activation_stats, gradient_warnings, parameter_name
from stackae.core.engine import init_train_state, make_epoch
from stackae.core.models import StackedClassifier
from stackae.core.optim import make_optimizer
from stackae.procedures.finetune import classifier_loss


@pytest.fixture(scope="module")
def digits():
    cfg = tiny_config()
    return cfg, stackae.load_dataset(cfg)


def test_gradient_norms_and_update_ratios_equal_a_direct_computation(digits):
    _, data = digits
    model = StackedClassifier((64, 16, 8), 10, activation_names=("relu", "tanh"), rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    loss_fn, eval_fn = classifier_loss(graphdef, 0.0, False)
    n, rate = 256, 0.05
    batch = {"x": jnp.asarray(data.train_x[:n]), "y": jnp.asarray(data.train_y[:n])}
    optimizer = make_optimizer("sgd", rate, momentum=0.0)
    epoch = make_epoch(loss_fn, optimizer, n, eval_fn, gradient_diagnostics=True)  # one step per epoch
    states = jax.vmap(lambda p: init_train_state(p, optimizer))(jax.tree.map(lambda a: a[None], params))
    _, metrics = epoch(states, batch, batch, jax.random.key(0)[None], 0)
    grads = jax.grad(lambda p: loss_fn(p, batch, jax.random.key(1))[0])(params)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        name = parameter_name(path)
        w = dict((parameter_name(q), v) for q, v in jax.tree_util.tree_leaves_with_path(params))[name]
        assert float(metrics[f"grad_norm/{name}"][0]) == pytest.approx(float(jnp.linalg.norm(g)), rel=1e-4)
        assert float(metrics[f"update_ratio/{name}"][0]) == pytest.approx(
            rate * float(jnp.linalg.norm(g)) / float(jnp.linalg.norm(w)) if float(jnp.linalg.norm(w)) else 0.0,
            rel=1e-4)
    assert {"grad_norm/encoders.0.kernel", "grad_norm/head.bias", "act_mean/layer1"} - set(metrics) == \
        {"act_mean/layer1"}  # activations only with a probe


def test_activation_statistics_match_hand_made_activations():
    z = jnp.array([[-1.0, 2.0, -0.5], [-3.0, 0.5, 1.0]])
    relu = activation_stats([z], [jax.nn.relu(z)], ["relu"])
    assert float(relu["zero_fraction/layer1"]) == pytest.approx(3 / 6)
    assert float(relu["dead_fraction/layer1"]) == pytest.approx(1 / 3)  # unit 0 never positive
    assert float(relu["act_mean/layer1"]) == pytest.approx(3.5 / 6)
    assert float(relu["act_std/layer1"]) == pytest.approx(float(np.std(np.maximum(np.asarray(z), 0))))
    assert float(relu["saturated_fraction/layer1"]) == 0.0
    h = jnp.array([[0.005, 0.5, 0.995], [0.999, 0.3, 0.02]])
    sig = activation_stats([z], [h], ["sigmoid"])
    assert float(sig["saturated_fraction/layer1"]) == pytest.approx(3 / 6)  # within 0.01 of 0 or 1
    assert float(sig["dead_fraction/layer1"]) == 0.0  # a sigmoid unit still has a gradient below zero
    t = jnp.array([[-0.995, 0.0, 0.98], [1.0, -0.5, 0.2]])
    assert float(activation_stats([z], [t], ["tanh"])["saturated_fraction/layer1"]) == pytest.approx(2 / 6)


def quiet_finetune(cfg, data, init):
    lines = []
    run = stackae.finetune(cfg, data, init, log=lines.append)
    return run, [line for line in lines if line.startswith("warning")]


def test_vanishing_gradient_warning_fires_on_deep_small_gaussian_sigmoid_and_not_on_he_relu(digits):
    _, data = digits
    cfg = tiny_config()
    cfg.layers = (48,) * 8
    cfg.finetune.epochs = 2
    cfg.diagnostics = True
    cfg.pretrain.activation = "sigmoid"
    _, warnings = quiet_finetune(cfg, data, "small_gaussian")
    assert len(warnings) == 1 and "gradients are vanishing" in warnings[0] and "encoders.0.kernel" in warnings[0]
    assert "epoch 1" in warnings[0]
    cfg.pretrain.activation = "relu"
    _, warnings = quiet_finetune(cfg, data, "he")
    assert warnings == []


def test_warning_checks_name_non_finite_and_exploding_gradients():
    check = gradient_warnings("a.kernel", "b.kernel", "somewhere")
    out = check(2, {"grad_norm/a.kernel": np.array([1e5, 1.0]), "grad_norm/b.kernel": np.array([1.0, np.nan])})
    assert set(out) == {"non-finite", "exploding"}
    assert "somewhere epoch 3" in out["exploding"] and "member(s) 0" in out["exploding"]
    assert "b.kernel" in out["non-finite"]
    assert check(0, {"loss": np.array([1.0])}) == {}


def test_switching_diagnostics_on_changes_no_number(digits):
    cfg, data = digits
    cfg = tiny_config()
    cfg.finetune.epochs = 4
    results = []
    for on in (True, False):
        cfg.diagnostics = on
        stack = stackae.pretrain_stack(cfg, data, log=lambda *_: None)
        run = stackae.finetune(cfg, data, stack, log=lambda *_: None)
        results.append((stack.layers, run.params, run.rows))
        assert any("grad_norm/head.kernel" in h for h in run.history) == on
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), results[0][:2],
                 results[1][:2])
    assert results[0][2] == results[1][2]


def test_diagnostics_plots_draw_one_series_per_layer(digits):
    from stackae import plots

    cfg, data = digits
    cfg = tiny_config()
    cfg.finetune.epochs = 3
    cfg.diagnostics = True
    run = stackae.finetune(cfg, data, "he", log=lambda *_: None)
    fig = plots.plot_gradient_norms(run.history)
    assert [l.get_label() for l in fig.axes[0].get_lines()] == ["encoders.0.kernel", "encoders.1.kernel", "head.kernel"]
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == len(run.history)
    fig = plots.plot_unit_fractions(run.history)
    assert len(fig.axes[0].patches) == 3 * len(cfg.layers)
    fig = plots.activation_histograms(run._model(0).hidden(jnp.asarray(data.test_x)))
    assert len(fig.axes) == len(cfg.layers)
