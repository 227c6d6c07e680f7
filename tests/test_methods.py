"""Initialisation methods and remedies: LSUV, data-dependent init, batch norm, linear probe, head pairing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import stackae
from conftest import tiny_config
from stackae.core.engine import round_indices
from stackae.core.inits import _preactivation, data_dependent, gradient_weight_ratios, lsuv, normalise_units
from stackae.core.models import StackedClassifier
from stackae.errors import ConfigError
from stackae.methods import parse_method

QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def digits():
    cfg = tiny_config()
    cfg.seeds = 2
    data = stackae.load_dataset(cfg)
    return cfg, data, stackae.pretrain_stack(cfg, data, **QUIET)


def network(activation="relu"):
    return StackedClassifier((64, 48, 48, 48), 10, activation_names=(activation,) * 3, rngs=nnx.Rngs(3))


def pixels(digits):
    return jnp.asarray(digits[1].train_x[:400])


def test_lsuv_leaves_every_pre_activation_with_unit_variance(digits):
    x = pixels(digits)
    for act in ("relu", "tanh"):
        model = network(act)
        lsuv(model, x, jax.random.key(0))
        for k in range(3):
            assert abs(float(jnp.var(_preactivation(model, k, x))) - 1.0) < 0.02
            assert float(jnp.abs(model.encoders[k].bias[...]).max()) == 0.0


def test_data_dependent_units_are_standardised_and_layers_share_one_gradient_ratio(digits):
    x = pixels(digits)
    model = network()
    normalise_units(model, x, jax.random.key(0))
    for k in range(3):
        z = _preactivation(model, k, x)
        np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
        np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-3)
    before = gradient_weight_ratios(model, x, jax.random.key(9))
    model = network()
    data_dependent(model, x, jax.random.key(0))
    after = gradient_weight_ratios(model, x, jax.random.key(9))
    assert float(after.max() / after.min()) < 1.1 < float(before.max() / before.min())


def test_batch_norm_trains_its_statistics_and_evaluates_with_them(digits):
    cfg, data, _ = digits
    plan = stackae.Plan((0,), 5, 10, (0.05,), 40, 20, 16)
    run = stackae.finetune(cfg, data, "he+batch_norm", plan=plan, **QUIET)
    mean = run.extra["norms"][0]["mean"][...][0]
    assert float(jnp.abs(mean).max()) > 0  # running statistics moved away from their init
    model = nnx.merge(run.graphdef, jax.tree.map(lambda a: a[0], run.params), jax.tree.map(lambda a: a[0], run.extra))
    x = jnp.asarray(data.test_x[:50])
    z = model.encoders[0](x)
    norm = model.norms[0]
    want = (z - norm.mean[...]) / jnp.sqrt(norm.var[...] + norm.epsilon) * norm.scale[...] + norm.bias[...]
    h = model.hidden(x)[0]
    np.testing.assert_allclose(h, jax.nn.relu(want), rtol=1e-4, atol=1e-5)  # evaluation uses running statistics
    train_h = model.hidden(x, train=True)[0]
    assert not np.allclose(train_h, h, atol=1e-3)  # training uses the batch's own statistics


def test_linear_probe_leaves_the_pretrained_encoders_bitwise_unchanged(digits):
    cfg, data, stack = digits
    plan = stackae.Plan((0, 1), 5, 10, (0.05, 0.1), 40, 20, 16)
    run = stackae.finetune(cfg, data, "dae_linear_probe", stack=stack, plan=plan, **QUIET)
    for k, (w, b) in enumerate(stack.encoders()):
        for m, seed in enumerate([0, 0, 1, 1]):  # members: seed-major, then learning rate
            np.testing.assert_array_equal(np.asarray(run.params["encoders"][k]["kernel"][...][m]), np.asarray(w[seed]))
            np.testing.assert_array_equal(np.asarray(run.params["encoders"][k]["bias"][...][m]), np.asarray(b[seed]))
    tuned = stackae.finetune(cfg, data, "dae", stack=stack, plan=plan, **QUIET)
    assert not np.array_equal(tuned.params["encoders"][0]["kernel"][...][0], stack.encoders()[0][0][0])


def test_every_method_shares_subsets_and_head_init_for_a_seed(digits):
    cfg, data, stack = digits
    plan = stackae.Plan((0, 1), 5, 10, (0.05,), 20, 20, 16)
    rows = {m: stackae.finetune(cfg, data, m, stack=stack, plan=plan, **QUIET).rows
            for m in ("glorot", "data_dependent", "dae+batch_norm")}
    for key in ("subset_hash", "head_hash"):
        per_method = {m: [r[key] for r in rs] for m, rs in rows.items()}
        first = per_method["glorot"]
        assert all(v == first for v in per_method.values()), key
        assert first[0] != first[1], key  # but each seed has its own


def test_method_names_parse_and_unknown_ones_are_one_sentence():
    m = parse_method("dae+batch_norm+clip")
    assert m.init == "dae" and m.batch_norm and m.clip and m.pretrained and not m.dropout
    with pytest.raises(ConfigError, match="'hee' is not an init"):
        parse_method("hee")
    with pytest.raises(ConfigError, match="'bn' is not a remedy"):
        parse_method("he+bn")


def test_step_rounds_walk_through_whole_epochs_in_order():
    key, n, batch, steps = jax.random.key(0), 10, 3, 4
    rounds = [np.asarray(round_indices(key, r, n, batch, steps)[0]).ravel() for r in range(3)]
    stream = np.concatenate(rounds)  # 3 rounds x 4 steps x 3 = 36 indices = 4 epochs of 3 batches
    for e in range(4):
        epoch = stream[e * 9:(e + 1) * 9]
        assert len(set(epoch.tolist())) == 9  # a permutation's first 3 batches: no repeats within an epoch
        want = np.asarray(jax.random.permutation(jax.random.split(jax.random.fold_in(key, e))[0], n))[:9]
        np.testing.assert_array_equal(epoch, want)
