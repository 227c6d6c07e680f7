"""optax optimisers and learning-rate schedules by name."""

import optax

SCHEDULES = ("constant", "cosine")


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.9, schedule: str = "constant",
                   total_steps: int = 0) -> optax.GradientTransformation:
    """SGD with (heavy-ball) momentum, or Adam; "cosine" decays the rate to 0 over `total_steps`."""
    rate = learning_rate
    if schedule == "cosine":
        rate = optax.cosine_decay_schedule(learning_rate, max(total_steps, 1))
    if name == "sgd":
        return optax.sgd(rate, momentum=momentum or None)
    if name == "adam":
        return optax.adam(rate)
    raise ValueError(f"unknown optimizer {name!r}")
