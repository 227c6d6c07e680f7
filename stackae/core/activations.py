"""Hidden-unit nonlinearities, by name, including the two of the ReLU family with a slope that is not fixed:
prelu (a learned slope per unit, He et al. 2015) and rrelu (a random slope in training, Xu et al. 2015)."""

import jax
import jax.numpy as jnp

PRELU_INIT = 0.25  # initial learned slope of prelu units
RRELU_LOWER, RRELU_UPPER = 1 / 8, 1 / 3  # rrelu's training slopes are uniform in this range
RRELU_MEAN = (RRELU_LOWER + RRELU_UPPER) / 2  # ... and fixed to their mean at evaluation


def leaky(x, slope):
    """x for x >= 0, slope * x below (slope a number or one per unit)."""
    return jnp.where(x >= 0, x, slope * x)


ACTIVATIONS = {
    "relu": jax.nn.relu,
    "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "linear": lambda x: x,
    "prelu": lambda x: leaky(x, PRELU_INIT),  # at its initial slope; layers apply their learned one
    "rrelu": lambda x: leaky(x, RRELU_MEAN),  # evaluation mode
}

# Activations whose output is never negative: codes a softplus reconstruction can match.
NON_NEGATIVE = {"relu", "softplus", "sigmoid"}
# Activations a layer applies itself (learned or random slope): pretraining caches their outputs, not the
# pre-activations, for the layer above.
SELF_APPLIED = {"prelu", "rrelu"}


def activation(name: str):
    """The activation function called `name` (prelu at its initial slope, rrelu in evaluation mode)."""
    return ACTIVATIONS[name]


def apply_activation(name: str, z, slope=None, key=None):
    """`name` on pre-activations z: prelu with its learned per-unit `slope`; rrelu with a slope drawn per element
    from [1/8, 1/3] when given a training `key`, else their mean; the others as `activation(name)`."""
    if name == "prelu" and slope is not None:
        return leaky(z, slope)
    if name == "rrelu" and key is not None:
        return leaky(z, jax.random.uniform(key, z.shape, z.dtype, RRELU_LOWER, RRELU_UPPER))
    return ACTIVATIONS[name](z)


def prelu_slope(name: str, n_units: int):
    """The learned slope parameter of a layer of `n_units` `name` units: prelu only, else None."""
    from flax import nnx

    return nnx.Param(jnp.full((n_units,), PRELU_INIT, jnp.float32)) if name == "prelu" else None
