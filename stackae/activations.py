"""Hidden-unit nonlinearities, by name."""

import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "linear": lambda x: x,
}

# Activations whose output is never negative: codes a softplus reconstruction can match.
NON_NEGATIVE = {"relu", "softplus", "sigmoid"}


def activation(name: str):
    """The activation function called `name`."""
    return ACTIVATIONS[name]
