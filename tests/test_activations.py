"""The ReLU family with slopes that are not fixed: prelu learns a slope per unit, rrelu draws one in training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import stackae
from conftest import tiny_config
from stackae.core.activations import PRELU_INIT, RRELU_LOWER, RRELU_MEAN, RRELU_UPPER, apply_activation
from stackae.core.models import StackedClassifier
from stackae.errors import ConfigError
from stackae.methods import parse_method
from stackae.procedures.autoencoder import autoencoder, unroll
from stackae.procedures.finetune import initial_members

QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def digits():
    return stackae.load_dataset(tiny_config())


def test_rrelu_is_random_in_training_and_its_mean_at_evaluation():
    z = -jnp.linspace(0.1, 3.0, 2000)
    a, b = (apply_activation("rrelu", z, key=jax.random.key(s)) for s in (0, 1))
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    slopes = np.asarray(a / z)
    assert slopes.min() >= RRELU_LOWER - 1e-6 and slopes.max() <= RRELU_UPPER + 1e-6 and slopes.std() > 0.03
    np.testing.assert_allclose(np.asarray(apply_activation("rrelu", z)), np.asarray(RRELU_MEAN * z), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(apply_activation("rrelu", -z, key=jax.random.key(0))), np.asarray(-z))
    model = StackedClassifier((8, 6), 3, activation_names=("rrelu",), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(2), (50, 8))
    train = [np.asarray(model.hidden(x, train=True, key=jax.random.key(s))[0]) for s in (3, 4)]
    assert not np.array_equal(*train)
    np.testing.assert_array_equal(np.asarray(model.hidden(x)[0]), np.asarray(model.hidden(x)[0]))


def test_prelu_slope_gets_a_gradient_and_changes_in_fine_tuning(digits):
    cfg = tiny_config(activation="prelu")
    cfg.finetune.epochs = 5
    model = StackedClassifier((64, 32, 16), 10, activation_names=("prelu", "prelu"), rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    x, y = jnp.asarray(digits.train_x[:200]), jnp.asarray(digits.train_y[:200])
    grads = jax.grad(lambda p: jnp.mean(optax_ce(nnx.merge(graphdef, p)(x), y)))(params)
    assert float(jnp.abs(grads["slopes"][0][...]).sum()) > 0
    run = stackae.finetune(cfg, digits, "he", **QUIET)
    slopes = np.asarray(nnx.to_pure_dict(run.params)["slopes"][0])
    assert slopes.shape == (1, 32) and np.abs(slopes - PRELU_INIT).max() > 1e-3


def optax_ce(logits, labels):
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


@pytest.mark.parametrize("name", ["prelu", "rrelu"])
def test_pretrained_layers_carry_their_activation_into_the_classifier_and_the_deep_autoencoder(digits, name):
    cfg = tiny_config(activation=name)
    cfg.seeds = 2
    stack = stackae.pretrain_stack(cfg, digits, **QUIET)
    slopes = stack.slopes()
    if name == "prelu":
        assert all(s is not None and s.shape == (2, n) for s, n in zip(slopes, cfg.layers))
        assert np.abs(np.asarray(slopes[0]) - PRELU_INIT).max() > 1e-4  # learned in pretraining
    else:
        assert slopes == [None, None]
    codes = np.asarray(stack.encode(digits.test_x, 1))
    model = autoencoder(cfg, digits.n_features, jax.random.key(0))
    unroll(model, stack, 1)
    np.testing.assert_array_equal(np.asarray(model.encode(digits.test_x)), codes)
    _, params, _, _ = initial_members(cfg, digits, parse_method("dae"), stack, (0, 1))
    classifier_codes = StackedClassifier((digits.n_features, *cfg.layers), 10, activation_names=(name, name),
                                         rngs=nnx.Rngs(0))
    nnx.update(classifier_codes, jax.tree.map(lambda a: a[1], params))
    np.testing.assert_array_equal(np.asarray(classifier_codes.hidden(jnp.asarray(digits.test_x))[-1]), codes)


def test_pre_activation_noise_above_a_self_applied_activation_is_refused():
    cfg = tiny_config(activation="prelu", preact_noise=0.1)
    with pytest.raises(ConfigError, match="applies its own"):
        stackae.config.validate(cfg)
    stackae.config.validate(tiny_config(activation="prelu"))
