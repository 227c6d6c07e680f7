"""Reconstruction and classification losses, and the contractive penalty: per-example sums, averaged over the
batch."""

import jax
import jax.numpy as jnp
import optax


@jax.custom_vjp
def _sigmoid_cross_entropy_sum(z, t):
    """Per-example sum over units of -t log(sigmoid(z)) - (1 - t) log(1 - sigmoid(z)) = softplus(z) - t z."""
    return _sigmoid_cross_entropy_forward(z, t)[0]


def _sigmoid_cross_entropy_forward(z, t):
    e = jnp.exp(-jnp.abs(z))  # one exp serves the loss and its gradient
    loss = jnp.sum(jnp.maximum(z, 0) + jnp.log1p(e) - t * z, axis=-1)
    return loss, (jnp.where(z >= 0, 1.0, e) / (1.0 + e), z, t)  # sigmoid(z), stable for either sign


def _sigmoid_cross_entropy_backward(residuals, g):
    sigmoid_z, z, t = residuals
    g = g[..., None]
    return g * (sigmoid_z - t), -g * z


_sigmoid_cross_entropy_sum.defvjp(_sigmoid_cross_entropy_forward, _sigmoid_cross_entropy_backward)


def sigmoid_cross_entropy(logits_bd, target_bd):
    """Cross-entropy of sigmoid reconstruction units against targets in [0, 1]. The gradient is written out
    (sigmoid(z) - t) rather than differentiated through two log-sigmoids: the same function, fewer transcendental
    passes on the step's largest elementwise array."""
    return jnp.mean(_sigmoid_cross_entropy_sum(logits_bd, target_bd))


def squared_error(output_bd, target_bd):
    """Per-example sum of squared differences, averaged over the batch (for MNIST images: the squared error per
    image of Hinton & Salakhutdinov 2006)."""
    return jnp.mean(jnp.sum(jnp.square(output_bd - target_bd), axis=-1))


def softplus_squared_error(preact_bd, target_bd):
    """Squared error of softplus reconstruction units (non-negative codes; Glorot/Gulcehre)."""
    return squared_error(jax.nn.softplus(preact_bd), target_bd)


def relu_squared_error(preact_bd, target_bd):
    """Squared error of rectifier reconstruction units (the naive choice for pixels: a unit stuck below zero
    outputs 0 and gets no gradient)."""
    return squared_error(jax.nn.relu(preact_bd), target_bd)


def linear_squared_error(preact_bd, target_bd):
    """Squared error of linear reconstruction units."""
    return squared_error(preact_bd, target_bd)


RECONSTRUCTIONS = {
    "sigmoid_cross_entropy": sigmoid_cross_entropy,
    "softplus_squared_error": softplus_squared_error,
    "relu_squared_error": relu_squared_error,
    "linear_squared_error": linear_squared_error,
}

# Output units each reconstruction applies to its pre-activation, for showing reconstructions.
RECONSTRUCTION_UNITS = {
    "sigmoid_cross_entropy": jax.nn.sigmoid,
    "softplus_squared_error": jax.nn.softplus,
    "relu_squared_error": jax.nn.relu,
    "linear_squared_error": lambda x: x,
}


def l1_activation_penalty(h_bh):
    """Mean over the batch of the L1 norm of the hidden activations (Glorot et al. 2011)."""
    return jnp.mean(jnp.sum(jnp.abs(h_bh), axis=-1))


def weight_penalty(weights, l1: float, l2: float):
    """l1 * sum|w| + l2 * sum w^2 over the matrices `weights`; a zero coefficient adds no work to the program."""
    total = 0.0
    for w in weights:
        if l1:
            total += l1 * jnp.sum(jnp.abs(w))
        if l2:
            total += l2 * jnp.sum(jnp.square(w))
    return total


def softmax_cross_entropy(logits_bc, labels_b):
    """Mean softmax cross-entropy against integer labels."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_bc, labels_b))


def classification_error(logits_bc, labels_b):
    """Fraction of examples whose arg-max class is wrong."""
    return jnp.mean(jnp.argmax(logits_bc, axis=-1) != labels_b)


def contraction_penalty(z_bh, activate, kernel_dh):
    """The contractive autoencoder's penalty (Rifai et al. 2011): the squared Frobenius norm of the encoder's
    Jacobian dh/dx = diag(f'(z)) W^T, per example, averaged. In closed form, sum_j f'(z_j)^2 sum_i W_ij^2: the
    elementwise derivative f' comes from one forward-mode pass of the activation over the batch (no Jacobian
    per example)."""
    slope = jax.jvp(activate, (z_bh,), (jnp.ones_like(z_bh),))[1]
    return jnp.mean(jnp.square(slope) @ jnp.sum(jnp.square(kernel_dh), axis=0))
