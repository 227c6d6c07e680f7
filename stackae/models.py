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
    """Encoders stacked under a softmax (logits) head, with the remedies a method can switch on: batch
    normalisation after each hidden matmul (running statistics at evaluation), dropout on hidden units, and
    residual connections between hidden layers of equal width."""

    def __init__(self, sizes, n_classes, *, activation_names, init="he", batch_norm=False, dropout=0.0,
                 residual=False, bn_momentum=0.9, rngs):
        self.encoders = nnx.List(
            [nnx.Linear(a, b, kernel_init=kernel_init(init), dot_general=dense_dot_general, rngs=rngs)
             for a, b in zip(sizes[:-1], sizes[1:])]
        )
        self.norms = nnx.List([nnx.BatchNorm(b, momentum=bn_momentum, rngs=rngs) for b in sizes[1:]]) \
            if batch_norm else None
        self.head = nnx.Linear(sizes[-1], n_classes, kernel_init=kernel_init("glorot"), dot_general=dense_dot_general,
                               rngs=rngs)
        self.activation_names = tuple(activation_names)
        self.dropout = dropout
        self.skips = tuple(residual and k > 0 and a == b for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))

    def hidden(self, x_bd, *, train=False, key=None):
        """Activations of every hidden layer, bottom to top."""
        out = []
        for k, (encoder, name) in enumerate(zip(self.encoders, self.activation_names)):
            z = encoder(x_bd)
            if self.norms is not None:
                z = self.norms[k](z, use_running_average=not train)
            h = activation(name)(z)
            if train and self.dropout > 0:
                keep = jax.random.bernoulli(jax.random.fold_in(key, k), 1.0 - self.dropout, h.shape)
                h = jnp.where(keep, h / (1.0 - self.dropout), 0.0)
            x_bd = h + x_bd if self.skips[k] else h
            out.append(x_bd)
        return out

    def __call__(self, x_bd, *, train=False, key=None):
        return self.head(self.hidden(x_bd, train=train, key=key)[-1])


def split_params(module):
    """Static graph definition and parameter state of `module` (nnx.split once, at the edge)."""
    return nnx.split(module)


def stack_states(states):
    """Stack per-seed states along a new leading axis."""
    return jax.tree.map(lambda *a: jnp.stack(a), *states)
