"""Flax NNX models: a denoising autoencoder layer and the stacked classifier built from its encoders."""

import jax
import jax.numpy as jnp
from flax import nnx

from stackae.activations import activation
from stackae.inits import kernel_init
from stackae.matmul import dense_dot_general, dense_matmul, matmul_transposed


class DenoisingAutoencoder(nnx.Module):
    """One DAE layer: encoder Dense + activation; decoder tied (encoder kernel transposed) or untied."""

    def __init__(self, n_in, n_hidden, *, activation_name="relu", tied=True, init="glorot", rngs):
        self.encoder = nnx.Linear(n_in, n_hidden, kernel_init=kernel_init(init), dot_general=dense_dot_general,
                                  rngs=rngs)
        self.decoder_bias = nnx.Param(jnp.zeros((n_in,)))
        self.decoder_kernel = None if tied else nnx.Param(kernel_init(init)(rngs.params(), (n_hidden, n_in)))
        self.activation_name = activation_name

    def encode_preactivation(self, x_bd):
        return self.encoder(x_bd)

    def encode(self, x_bd):
        return activation(self.activation_name)(self.encoder(x_bd))

    def decode_preactivation(self, h_bh):
        """Pre-activation of the reconstruction units; tied layers reuse the one encoder matrix."""
        if self.decoder_kernel is None:
            return matmul_transposed(h_bh, self.encoder.kernel[...]) + self.decoder_bias[...]
        return dense_matmul(h_bh, self.decoder_kernel[...]) + self.decoder_bias[...]


class StackedClassifier(nnx.Module):
    """Encoders stacked under a softmax (logits) head."""

    def __init__(self, sizes, n_classes, *, activation_names, init="he", rngs):
        self.encoders = nnx.List(
            [nnx.Linear(a, b, kernel_init=kernel_init(init), dot_general=dense_dot_general, rngs=rngs)
             for a, b in zip(sizes[:-1], sizes[1:])]
        )
        self.head = nnx.Linear(sizes[-1], n_classes, kernel_init=kernel_init("glorot"), dot_general=dense_dot_general,
                               rngs=rngs)
        self.activation_names = tuple(activation_names)

    def __call__(self, x_bd):
        for encoder, name in zip(self.encoders, self.activation_names):
            x_bd = activation(name)(encoder(x_bd))
        return self.head(x_bd)


def split_params(module):
    """Static graph definition and parameter state of `module` (nnx.split once, at the edge)."""
    return nnx.split(module)


def stack_states(states):
    """Stack per-seed states along a new leading axis."""
    return jax.tree.map(lambda *a: jnp.stack(a), *states)
