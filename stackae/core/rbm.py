"""Restricted Boltzmann machines trained by contrastive divergence (Hinton 2002; Hinton, Osindero & Teh 2006;
Hinton's "practical guide", 2010), on the weights of a tied autoencoder layer: kernel W (visible x hidden),
hidden bias c (the encoder's bias) and visible bias b (the decoder's bias).

Visible units: Bernoulli (probabilities in [0, 1], e.g. pixel intensities) or Gaussian with unit variance
(real values). Hidden units by activation: sigmoid = Bernoulli, linear = Gaussian with unit variance (the code
layer of Hinton & Salakhutdinov 2006), relu = noisy rectified (Nair & Hinton 2010: max(0, z + N(0, sigmoid(z)))).
As in Hinton's rbm.m, hidden states are sampled, reconstructions and the statistics use probabilities (means).
Persistent CD (Tieleman 2008) keeps its negative chains between minibatches instead: `persistent_chain`.
"""

import itertools

import jax
import jax.numpy as jnp

from stackae.core.noise import bernoulli

HIDDEN_UNITS = {"sigmoid": "Bernoulli", "linear": "Gaussian", "relu": "noisy rectified"}


def hidden_mean(units: str, z):
    """E[h | v] given the hidden pre-activation z = v W + c (the noisy rectifier: its noise-free max(0, z))."""
    return {"sigmoid": jax.nn.sigmoid, "linear": lambda a: a, "relu": jax.nn.relu}[units](z)


def hidden_sample(units: str, z, key):
    """A sample of h | v."""
    if units == "sigmoid":
        return bernoulli(key, jax.nn.sigmoid(z), z.shape).astype(z.dtype)
    noise = jax.random.normal(key, z.shape, z.dtype)
    if units == "linear":
        return z + noise
    return jax.nn.relu(z + noise * jnp.sqrt(jax.nn.sigmoid(z)))


def visible_mean(gaussian: bool, a):
    """E[v | h] given the visible pre-activation a = h W^T + b."""
    return a if gaussian else jax.nn.sigmoid(a)


def gibbs_chain(v0, preactivate_hidden, preactivate_visible, units: str, gaussian: bool, steps: int, key):
    """CD-k's chain from the data `v0`. Returns (z0, h0, v1, vk, zk, hk): the data's hidden pre-activations and
    means, the first and the k-th reconstructions (means, held fixed) and the k-th hidden pre-activations and
    means; every hidden state in between is sampled. The pre-activations z0, zk carry the gradient to the
    parameters (see `cd_objective`); nothing else does."""
    sg = jax.lax.stop_gradient
    z0 = preactivate_hidden(v0)
    h0, z, reconstructions = sg(hidden_mean(units, z0)), z0, []
    for key_i in jax.random.split(key, steps):
        reconstructions.append(sg(visible_mean(gaussian, preactivate_visible(hidden_sample(units, sg(z), key_i)))))
        z = preactivate_hidden(reconstructions[-1])
    return z0, h0, reconstructions[0], reconstructions[-1], z, sg(hidden_mean(units, z))


def visible_sample(gaussian: bool, a, key):
    """A sample of v | h: Bernoulli, or Gaussian with unit variance around a."""
    if gaussian:
        return a + jax.random.normal(key, a.shape, a.dtype)
    return bernoulli(key, jax.nn.sigmoid(a), a.shape).astype(a.dtype)


def persistent_chain(v, preactivate_hidden, preactivate_visible, units: str, gaussian: bool, steps: int, key):
    """Persistent CD's negative phase: `steps` full Gibbs steps from the chains' visible states `v` (one chain
    per row, carried over from the last minibatch). Returns (vk, zk, hk): the new visible states (sampled: they
    are the chains' states to carry on), their hidden pre-activations (carrying the gradient) and means."""
    sg = jax.lax.stop_gradient
    v = sg(v)
    for key_i in jax.random.split(key, steps):
        hidden_key, visible_key = jax.random.split(key_i)
        h = hidden_sample(units, sg(preactivate_hidden(v)), hidden_key)
        v = sg(visible_sample(gaussian, preactivate_visible(h), visible_key))
    zk = preactivate_hidden(v)
    return v, zk, sg(hidden_mean(units, zk))


def cd_objective(v0, z0, h0, vk, zk, hk, visible_bias):
    """Mean of E(data) - E(reconstruction), the energy E(v, h) = -v W h - b.v - c.h = -z.h - b.v (z = v W + c)
    taken at the fixed states: descending it is the CD update dW = <v h>_data - <v h>_recon (likewise for the
    biases). A Gaussian visible term |v|^2 / 2 does not depend on the parameters and is left out."""
    def energy(v, z, h):
        return -jnp.sum(z * h, axis=-1) - v @ visible_bias
    return jnp.mean(energy(v0, z0, h0) - energy(vk, zk, hk))


def free_energy(v, kernel, visible_bias, hidden_bias):
    """F(v) = -b.v - sum_j softplus(c_j + v W_j) of a Bernoulli-Bernoulli RBM (p(v) = exp(-F(v)) / Z)."""
    return -v @ visible_bias - jnp.sum(jax.nn.softplus(v @ kernel + hidden_bias), axis=-1)


def pseudo_likelihood(v, kernel, visible_bias, hidden_bias, key):
    """Stochastic log pseudo-likelihood per example of a Bernoulli-Bernoulli RBM: n_visible x log
    sigmoid(F(v~) - F(v)) with one random unit of each example flipped (v~_i = 1 - v_i)."""
    n, d = v.shape
    flip = jax.nn.one_hot(jax.random.randint(key, (n,), 0, d), d, dtype=v.dtype)
    flipped = v + flip * (1 - 2 * v)
    return d * jax.nn.log_sigmoid(free_energy(flipped, kernel, visible_bias, hidden_bias)
                                  - free_energy(v, kernel, visible_bias, hidden_bias))


def exact_log_likelihood(v, kernel, visible_bias, hidden_bias):
    """Mean exact log p(v) of a Bernoulli-Bernoulli RBM, its partition function summed over every visible
    state (2^n_visible of them: tiny RBMs only, for tests and checks)."""
    d = kernel.shape[0]
    if d > 20:
        raise ValueError(f"exact_log_likelihood enumerates 2^{d} visible states; use at most 20 visible units.")
    states = jnp.asarray(list(itertools.product((0.0, 1.0), repeat=d)), dtype=kernel.dtype)
    log_z = jax.nn.logsumexp(-free_energy(states, kernel, visible_bias, hidden_bias))
    return jnp.mean(-free_energy(v, kernel, visible_bias, hidden_bias)) - log_z
