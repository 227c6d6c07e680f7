import jax
import jax.numpy as jnp
import numpy as np

from stackae.core import losses

rng = np.random.default_rng(0)
Z = rng.normal(size=(4, 6)).astype(np.float32) * 3
T = rng.uniform(size=(4, 6)).astype(np.float32)


def sigmoid(z):
    return 1 / (1 + np.exp(-z.astype(np.float64)))


def test_sigmoid_cross_entropy_matches_hand_computation():
    p = sigmoid(Z)
    want = np.mean(np.sum(-(T * np.log(p) + (1 - T) * np.log(1 - p)), axis=1))
    np.testing.assert_allclose(losses.sigmoid_cross_entropy(jnp.asarray(Z), jnp.asarray(T)), want, rtol=1e-5)


def test_softplus_squared_error_matches_hand_computation():
    want = np.mean(np.sum((np.log1p(np.exp(Z.astype(np.float64))) - T) ** 2, axis=1))
    np.testing.assert_allclose(losses.softplus_squared_error(jnp.asarray(Z), jnp.asarray(T)), want, rtol=1e-5)


def test_linear_squared_error_matches_hand_computation():
    want = np.mean(np.sum((Z.astype(np.float64) - T) ** 2, axis=1))
    np.testing.assert_allclose(losses.linear_squared_error(jnp.asarray(Z), jnp.asarray(T)), want, rtol=1e-5)


def test_l1_activation_penalty_matches_hand_computation():
    want = np.mean(np.sum(np.abs(Z), axis=1))
    np.testing.assert_allclose(losses.l1_activation_penalty(jnp.asarray(Z)), want, rtol=1e-6)


def test_softmax_cross_entropy_and_error_match_hand_computation():
    labels = np.array([0, 5, 2, 3])
    z = Z.astype(np.float64)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    want = -np.mean(logp[np.arange(4), labels])
    np.testing.assert_allclose(losses.softmax_cross_entropy(jnp.asarray(Z), jnp.asarray(labels)), want, rtol=1e-5)
    np.testing.assert_allclose(losses.classification_error(jnp.asarray(Z), jnp.asarray(labels)),
                               np.mean(np.argmax(Z, 1) != labels))


def test_weight_penalty_matches_hand_computation():
    w1, w2 = Z, T
    want = sum(0.3 * np.abs(w).sum() + 0.7 * np.square(w.astype(np.float64)).sum() for w in (w1, w2))
    got = losses.weight_penalty([jnp.asarray(w1), jnp.asarray(w2)], 0.3, 0.7)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_zero_weight_penalty_adds_no_work():
    jaxpr = jax.make_jaxpr(lambda w: losses.weight_penalty([w], 0.0, 0.0))(jnp.asarray(Z))
    assert not jaxpr.eqns
    only_l2 = jax.make_jaxpr(lambda w: losses.weight_penalty([w], 0.0, 0.5))(jnp.asarray(Z))
    assert "abs" not in {e.primitive.name for e in only_l2.eqns}


def test_sigmoid_cross_entropy_gradients_match_autodiff_of_the_definition():
    z = jnp.asarray(np.concatenate([Z, [[-80.0, -20.0, 0.0, 1e-3, 20.0, 80.0]]]), jnp.float32)
    t = jnp.asarray(np.concatenate([T, [[1.0, 0.0, 0.5, 1.0, 0.0, 1.0]]]), jnp.float32)

    def reference(z, t):
        return jnp.mean(jnp.sum(-t * jax.nn.log_sigmoid(z) - (1 - t) * jax.nn.log_sigmoid(-z), axis=-1))

    want = jax.value_and_grad(reference, argnums=(0, 1))(z, t)
    got = jax.value_and_grad(losses.sigmoid_cross_entropy, argnums=(0, 1))(z, t)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(got[1][0]))
