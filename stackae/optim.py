"""optax optimisers by name."""

import optax


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.9) -> optax.GradientTransformation:
    """SGD with (heavy-ball) momentum, or Adam."""
    if name == "sgd":
        return optax.sgd(learning_rate, momentum=momentum or None)
    if name == "adam":
        return optax.adam(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}")
