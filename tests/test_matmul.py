import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from stackae.core.matmul import dense_dot_general, dense_matmul, matmul_transposed

rng = np.random.default_rng(0)
W = jnp.asarray(rng.normal(size=(7, 5)), jnp.float32)


def loss(matmul, x, w):
    return jnp.sum(jnp.sin(matmul(x, w)))


@pytest.mark.parametrize("shape", [(6, 7), (3, 4, 7)])
def test_value_and_gradients_match_plain_matmul(shape):
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    want = jax.value_and_grad(lambda x, w: loss(jnp.matmul, x, w), argnums=(0, 1))(x, W)
    got = jax.value_and_grad(lambda x, w: loss(dense_matmul, x, w), argnums=(0, 1))(x, W)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    for g, w in zip(got[1], want[1]):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_no_weight_sized_transpose_in_a_training_step():
    x = jnp.asarray(rng.normal(size=(6, 7)), jnp.float32)

    def step(w):
        h = jax.nn.relu(dense_matmul(x, w))
        return jnp.sum(jnp.square(matmul_transposed(h, w) - x))  # a tied autoencoder

    jaxpr = jax.make_jaxpr(jax.grad(step))(W)
    transposed = [e.invars[0].aval.shape for e in jaxpr.jaxpr.eqns if e.primitive.name == "transpose"]
    assert W.shape not in transposed and W.T.shape not in transposed
    plain = jax.make_jaxpr(jax.grad(lambda w: jnp.sum(jnp.square(jax.nn.relu(x @ w) @ w.T - x))))(W)
    assert any(e.primitive.name == "transpose" and e.invars[0].aval.shape in (W.shape, W.T.shape)
               for e in plain.jaxpr.eqns)


def test_gradients_under_vmap_over_seeds():
    xs = jnp.asarray(rng.normal(size=(3, 6, 7)), jnp.float32)
    ws = jnp.stack([W, 2 * W, -W])
    grad = lambda matmul: jax.vmap(jax.grad(lambda x, w: loss(matmul, x, w), argnums=1))(xs, ws)  # noqa: E731
    np.testing.assert_allclose(grad(dense_matmul), grad(jnp.matmul), rtol=1e-5, atol=1e-6)


def test_dot_general_falls_back_for_other_contractions():
    a = jnp.asarray(rng.normal(size=(7, 6)), jnp.float32)
    dims = (((0,), (0,)), ((), ()))
    np.testing.assert_array_equal(dense_dot_general(a, W, dims), jax.lax.dot_general(a, W, dims))


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5)])
def test_matmul_transposed_matches_plain(shape):
    a = jnp.asarray(rng.normal(size=shape), jnp.float32)
    np.testing.assert_allclose(matmul_transposed(a, W), a @ W.T, rtol=1e-5, atol=1e-6)


def test_a_training_loop_updates_weights_in_place():
    """Every weight of a stacked net is read by the backward pass (grad_x) after its own gradient is known; the
    gradient barrier makes that read come first, so XLA updates the weight in place instead of copying it on
    every step."""
    x = jnp.asarray(rng.normal(size=(8, 7)), jnp.float32)
    optimizer = optax.sgd(0.1, momentum=0.9)

    def loss(ws):
        h = x
        for w in ws:
            h = jax.nn.relu(dense_matmul(h, w))
        return jnp.sum(jnp.square(h))

    def train(ws):
        def step(carry, _):
            ws, opt = carry
            updates, opt = optimizer.update(jax.grad(loss)(ws), opt, ws)
            return (optax.apply_updates(ws, updates), opt), None
        return jax.lax.scan(step, (ws, optimizer.init(ws)), None, length=50)[0][0]

    ws = [jnp.asarray(rng.normal(size=s), jnp.float32) for s in ((7, 9), (9, 11), (11, 5))]
    hlo = jax.jit(train, donate_argnums=0).lower(ws).compile().as_text()  # donated: no copy on entry
    copied = [s for s in ("f32[9,11]", "f32[11,5]") if re.search(re.escape(s) + r"\{[0-9,]*\} copy\(", hlo)]
    assert not copied, f"weights copied on every step: {copied}"
