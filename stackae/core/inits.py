"""Initialisations: random kernel schemes by name, and the data-driven calibrations of a network's hidden
layers, LSUV (Mishkin & Matas 2015) and data-dependent init (Kraehenbuehl et al. 2015).

The calibrations change the hidden layers of an `nnx` model in place (a StackedClassifier's encoders; LSUV also
a DeepAutoencoder's layers up to its output) and leave the output layer alone, so every method of a comparison
shares one head init.
"""

import jax
import jax.numpy as jnp
from flax import nnx
from jax.nn import initializers

INITS = {
    "glorot": initializers.glorot_uniform(),  # Glorot & Bengio 2010, uniform
    "he": initializers.he_normal(),  # He et al. 2015, fan-in, normal
    "lecun": initializers.lecun_normal(),
    "orthogonal": initializers.orthogonal(),  # Saxe et al. 2014
    "small_gaussian": initializers.normal(0.01),  # N(0, 0.01^2): the deep-net failure case of Hinton & Salakhutdinov
}


def kernel_init(name: str):
    """The kernel initializer called `name`."""
    return INITS[name]


def _preactivation(model, k: int, x_bd):
    """Pre-activation of hidden layer k (before any batch norm) on `x_bd`, with the current parameters."""
    inputs = x_bd if k == 0 else model.hidden(x_bd)[k - 1]
    return model.hidden_layers()[k](inputs)


def lsuv(model, x_bd, key, tolerance: float = 0.02, max_iterations: int = 20) -> list[int]:
    """Layer-sequential unit variance: orthonormal kernels and zero biases, then, bottom-up, divide each kernel
    by the standard deviation of its pre-activation on `x_bd` until that variance is 1 within `tolerance`
    (at most `max_iterations` times per layer). Returns the iterations used per layer."""
    used = []
    for k, encoder in enumerate(model.hidden_layers()):
        encoder.kernel[...] = INITS["orthogonal"](jax.random.fold_in(key, k), encoder.kernel.shape)
        encoder.bias[...] = jnp.zeros_like(encoder.bias[...])
        for it in range(max_iterations):
            var = jnp.var(_preactivation(model, k, x_bd))
            if abs(float(var) - 1.0) < tolerance:
                break
            encoder.kernel[...] = encoder.kernel[...] / jnp.sqrt(var)
        used.append(it)
    return used


def normalise_units(model, x_bd, key):
    """Within-layer step: Gaussian kernels, then per unit a scale and bias giving its pre-activation zero mean
    and unit variance on `x_bd`, bottom-up."""
    for k, encoder in enumerate(model.encoders):
        encoder.kernel[...] = jax.random.normal(jax.random.fold_in(key, k), encoder.kernel.shape)
        encoder.bias[...] = jnp.zeros_like(encoder.bias[...])
        z = _preactivation(model, k, x_bd)
        mean, std = jnp.mean(z, axis=0), jnp.std(z, axis=0) + 1e-8
        encoder.kernel[...] = encoder.kernel[...] / std
        encoder.bias[...] = -mean / std


def gradient_weight_ratios(model, x_bd, key) -> jnp.ndarray:
    """Per hidden layer, the RMS of the kernel gradient over the RMS of the kernel, for a random Gaussian
    gradient arriving at the top hidden layer (the magic_init measure)."""
    graphdef, state = nnx.split(model)
    out, pullback = jax.vjp(lambda s: nnx.merge(graphdef, s).hidden(x_bd)[-1], state)
    (grad_state,) = pullback(jax.random.normal(key, out.shape, out.dtype))
    grads = [g["kernel"][...] for g in grad_state["encoders"].values()]
    kernels = [e.kernel[...] for e in model.encoders]
    return jnp.array([jnp.sqrt(jnp.mean(g ** 2) / jnp.mean(w ** 2)) for g, w in zip(grads, kernels)])


def data_dependent(model, x_bd, key, max_iterations: int = 10) -> int:
    """Kraehenbuehl et al. 2015: per-unit zero-mean, unit-variance pre-activations on data, then between-layer
    calibration rescaling each layer so that its gradient/weight ratio approaches the geometric mean of all
    layers (at most `max_iterations` rounds; a layer's bias follows the change of scale of its input).
    Returns the rounds used."""
    normalise_units(model, x_bd, key)
    n = len(model.encoders)
    input_scale = [jnp.mean(jnp.abs(h)) for h in [x_bd, *model.hidden(x_bd)[:-1]]]
    output_std = float(jnp.mean(jnp.std(model.hidden(x_bd)[-1], axis=0)))
    for it in range(max_iterations):
        ratios = gradient_weight_ratios(model, x_bd, jax.random.fold_in(key, 1000 + it))
        target = float(jnp.exp(jnp.mean(jnp.log(ratios)))) * output_std ** (1.0 / n)
        if bool(jnp.all(jnp.abs(jnp.log(ratios) / jnp.log(target) - 1.0) < 0.01)):
            return it
        for k, encoder in enumerate(model.encoders):
            inputs = x_bd if k == 0 else model.hidden(x_bd)[k - 1]
            scale = jnp.mean(jnp.abs(inputs))
            encoder.bias[...] = encoder.bias[...] * scale / input_scale[k]
            input_scale[k] = scale
            factor = jnp.sqrt(ratios[k] / target)
            encoder.kernel[...] = encoder.kernel[...] * factor
            encoder.bias[...] = encoder.bias[...] * factor
        output_std = float(jnp.mean(jnp.std(model.hidden(x_bd)[-1], axis=0)))
    return max_iterations
