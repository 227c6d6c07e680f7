"""Flax NNX models: a denoising autoencoder layer and the stacked classifier built from its encoders."""

import jax
import jax.numpy as jnp
from flax import nnx

from stackae.core.activations import activation, apply_activation, prelu_slope
from stackae.core.inits import kernel_init
from stackae.core.matmul import dense_dot_general, dense_matmul, matmul_transposed
from stackae.core.noise import bernoulli


class DenoisingAutoencoder(nnx.Module):
    """One DAE layer: encoder Dense + activation; decoder tied (encoder kernel transposed) or untied."""

    def __init__(self, n_in, n_hidden, *, activation_name="relu", tied=True, init="glorot", rngs):
        self.encoder = nnx.Linear(n_in, n_hidden, kernel_init=kernel_init(init), dot_general=dense_dot_general,
                                  rngs=rngs)
        self.decoder_bias = nnx.Param(jnp.zeros((n_in,)))
        self.decoder_kernel = None if tied else nnx.Param(kernel_init(init)(rngs.params(), (n_hidden, n_in)))
        self.slope = prelu_slope(activation_name, n_hidden)
        self.activation_name = activation_name

    def encode_preactivation(self, x_bd):
        return self.encoder(x_bd)

    def activate(self, z_bh, key=None):
        """The hidden nonlinearity (prelu: the learned slope; rrelu: random slopes given a training key)."""
        return apply_activation(self.activation_name, z_bh, None if self.slope is None else self.slope[...], key)

    def encode(self, x_bd, key=None):
        return self.activate(self.encoder(x_bd), key)

    def decode_preactivation(self, h_bh):
        """Pre-activation of the reconstruction units; tied layers reuse the one encoder matrix."""
        return decode_preactivation(h_bh, self.encoder.kernel, self.decoder_kernel, self.decoder_bias)


def decode_preactivation(h_bh, encoder_kernel, decoder_kernel, decoder_bias):
    """A DAE decoder's pre-activation: untied, its own kernel; tied (decoder_kernel None), the encoder's
    transposed without a copy."""
    if decoder_kernel is None:
        return matmul_transposed(h_bh, encoder_kernel[...]) + decoder_bias[...]
    return dense_matmul(h_bh, decoder_kernel[...]) + decoder_bias[...]


class StackedClassifier(nnx.Module):
    """Encoders stacked under a softmax (logits) head, with the remedies a method can switch on: batch
    normalisation after each hidden matmul (running statistics at evaluation), dropout on hidden units, and
    residual connections between hidden layers of equal width. `decoders` (one tied flag per layer) adds each
    layer's DAE decoder, trained jointly on reconstruction (the +reconstruction remedy)."""

    def __init__(self, sizes, n_classes, *, activation_names, init="he", batch_norm=False, dropout=0.0,
                 residual=False, bn_momentum=0.9, decoders=None, rngs):
        self.encoders = nnx.List(
            [nnx.Linear(a, b, kernel_init=kernel_init(init), dot_general=dense_dot_general, rngs=rngs)
             for a, b in zip(sizes[:-1], sizes[1:])]
        )
        self.norms = nnx.List([nnx.BatchNorm(b, momentum=bn_momentum, rngs=rngs) for b in sizes[1:]]) \
            if batch_norm else None
        self.head = nnx.Linear(sizes[-1], n_classes, kernel_init=kernel_init("glorot"), dot_general=dense_dot_general,
                               rngs=rngs)
        self.activation_names = tuple(activation_names)
        self.slopes = layer_slopes(self.activation_names, sizes[1:])
        self.dropout = dropout
        self.skips = tuple(residual and k > 0 and a == b for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))
        self.decoder_biases = nnx.data(None if decoders is None else
                                       nnx.List([nnx.Param(jnp.zeros((a,))) for a in sizes[:-1]]))
        self.decoder_kernels = nnx.data(None if decoders is None else nnx.List(
            [None if tied else nnx.Param(kernel_init(init)(rngs.params(), (b, a)))
             for tied, a, b in zip(decoders, sizes[:-1], sizes[1:])]))

    def activate(self, k: int, z_bh, key=None):
        """Layer k's nonlinearity; a training key draws rrelu's random slopes."""
        return activate_layer(self.activation_names, self.slopes, k, z_bh,
                              None if key is None else jax.random.fold_in(key, 1000 + k))

    def encode_layer(self, k: int, x_bd, key=None):
        """Layer k's DAE encoding of its input: the matmul and the nonlinearity (no batch norm, dropout or skip)."""
        return self.activate(k, self.encoders[k](x_bd), key)

    def decode_preactivation(self, k: int, h_bh):
        """Pre-activation of layer k's reconstruction units (tied: the encoder's kernel transposed)."""
        return decode_preactivation(h_bh, self.encoders[k].kernel, self.decoder_kernels[k], self.decoder_biases[k])

    def hidden_trace(self, x_bd, *, train=False, key=None):
        """(pre-activations, outputs) of every hidden layer, bottom to top; a pre-activation is what the
        nonlinearity gets (after batch norm), an output what the next layer gets (after dropout and skip)."""
        preactivations, outputs = [], []
        for k, encoder in enumerate(self.encoders):
            z = encoder(x_bd)
            if self.norms is not None:
                z = self.norms[k](z, use_running_average=not train)
            h = self.activate(k, z, key if train else None)
            if train and self.dropout > 0:
                keep = bernoulli(jax.random.fold_in(key, k), 1.0 - self.dropout, h.shape)
                h = jnp.where(keep, h / (1.0 - self.dropout), 0.0)
            x_bd = h + x_bd if self.skips[k] else h
            preactivations.append(z)
            outputs.append(x_bd)
        return preactivations, outputs

    def hidden(self, x_bd, *, train=False, key=None):
        """Activations of every hidden layer, bottom to top."""
        return self.hidden_trace(x_bd, train=train, key=key)[1]

    def __call__(self, x_bd, *, train=False, key=None):
        return self.head(self.hidden(x_bd, train=train, key=key)[-1])

    def hidden_layers(self):
        """The dense layers under the head (what LSUV calibrates), bottom to top."""
        return list(self.encoders)


def activate_layer(names, slopes, k: int, z_bh, key=None):
    """Hidden layer k's nonlinearity `names[k]` (prelu: its learned slope in `slopes`; rrelu: random slopes
    drawn from a training `key`)."""
    return apply_activation(names[k], z_bh, _slope(slopes, k), key if names[k] == "rrelu" else None)


def layer_slopes(names, widths):
    """Learned prelu slopes per layer (None for the other activations), or None when no layer is prelu."""
    return nnx.List([prelu_slope(n, w) for n, w in zip(names, widths)]) if "prelu" in names else None


def _slope(slopes, k: int):
    return None if slopes is None or slopes[k] is None else slopes[k][...]


class DeepAutoencoder(nnx.Module):
    """An encoder-decoder (Hinton & Salakhutdinov 2006): dense encoders up to the code layer, then untied dense
    decoders back down to the input. `decoder_activations[k]` are the output units of decoder k (top-down);
    the last, the reconstruction units, is applied by `reconstruct`, not by `__call__` (the loss takes the
    pre-activation)."""

    def __init__(self, sizes, *, encoder_activations, decoder_activations, init="he", rngs):
        down = tuple(reversed(sizes))
        dense = lambda a, b: nnx.Linear(a, b, kernel_init=kernel_init(init), dot_general=dense_dot_general,  # noqa: E731
                                        rngs=rngs)
        self.encoders = nnx.List([dense(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.decoders = nnx.List([dense(a, b) for a, b in zip(down[:-1], down[1:])])
        self.encoder_activations = tuple(encoder_activations)
        self.decoder_activations = tuple(decoder_activations)
        self.slopes = layer_slopes(self.encoder_activations, sizes[1:])  # decoders use reconstruction units

    def hidden_layers(self):
        """Every dense layer but the output one, input to code to last hidden decoder (what LSUV calibrates)."""
        return [*self.encoders, *list(self.decoders)[:-1]]

    def hidden_activation_names(self) -> tuple[str, ...]:
        return (*self.encoder_activations, *self.decoder_activations[:-1])

    def hidden_trace(self, x_bd, key=None):
        """(pre-activations, outputs) of every hidden layer in the order of `hidden_layers`; a `key` means
        training (rrelu draws its slopes)."""
        preactivations, outputs = [], []
        for k, (layer, name) in enumerate(zip(self.hidden_layers(), self.hidden_activation_names())):
            z = layer(x_bd)
            x_bd = apply_activation(name, z, _slope(self.slopes, k) if k < len(self.encoders) else None,
                                    None if key is None or name != "rrelu" else jax.random.fold_in(key, k))
            preactivations.append(z)
            outputs.append(x_bd)
        return preactivations, outputs

    def hidden(self, x_bd, key=None):
        """Outputs of every hidden layer in the order of `hidden_layers`; the code is at index depth - 1."""
        return self.hidden_trace(x_bd, key)[1]

    def encode(self, x_bd):
        """The code layer's activations."""
        for k, (layer, name) in enumerate(zip(self.encoders, self.encoder_activations)):
            x_bd = apply_activation(name, layer(x_bd), _slope(self.slopes, k))
        return x_bd

    def __call__(self, x_bd, key=None):
        """Pre-activation of the reconstruction units."""
        return self.decoders[-1](self.hidden(x_bd, key)[-1])

    def reconstruct(self, x_bd):
        return activation(self.decoder_activations[-1])(self(x_bd))


def split_params(module):
    """Static graph definition and parameter state of `module` (nnx.split once, at the edge)."""
    return nnx.split(module)


def stack_states(states):
    """Stack per-seed states along a new leading axis."""
    return jax.tree.map(lambda *a: jnp.stack(a), *states)
