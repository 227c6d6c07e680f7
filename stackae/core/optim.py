"""optax optimisers and learning-rate schedules by name."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

SCHEDULES = ("constant", "cosine")  # the config's choices; the ladder's "linear_tail" is its own


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.9, schedule: str = "constant",
                   total_steps: int = 0, clip_norm: float = 0.0, frozen=None,
                   decay_start: float = 0.0, initial_momentum: float | None = None,
                   momentum_steps: int = 0) -> optax.GradientTransformation:
    """SGD with (heavy-ball) momentum, or Adam; "cosine" decays the rate to 0 over `total_steps`, "linear_tail"
    keeps it until the fraction `decay_start` of them, then decays it linearly to 0 (the ladder's schedule).

    The learning rate lives in the optimiser state (optax.inject_hyperparams), so states initialised under
    `jax.vmap` with different rates train side by side in one program. `clip_norm` > 0
    clips the gradient's global norm first; `frozen(path) -> bool` names parameters that never change.
    SGD's momentum is `initial_momentum` for the first `momentum_steps` steps, then `momentum` (Hinton's
    practical guide for RBMs: 0.5, then 0.9).
    """
    if name == "sgd" and initial_momentum is not None and momentum_steps > 0:
        warm, steps = float(initial_momentum), int(momentum_steps)
        direction = optax.inject_hyperparams(optax.trace)(
            decay=lambda count: jnp.where(count < steps, warm, momentum))
    elif name == "sgd":
        direction = optax.trace(decay=momentum) if momentum else optax.identity()
    elif name == "adam":
        direction = optax.scale_by_adam()
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm else []
    parts.append(direction)
    if schedule == "cosine":
        parts.append(optax.scale_by_schedule(optax.cosine_decay_schedule(1.0, max(total_steps, 1))))
    elif schedule == "linear_tail":
        start = int(round(decay_start * total_steps))
        parts.append(optax.scale_by_schedule(optax.linear_schedule(1.0, 0.0, max(total_steps - start, 1), start)))
    parts.append(optax.inject_hyperparams(optax.scale)(step_size=-learning_rate))
    optimizer = optax.chain(*parts)
    if frozen is None:
        return optimizer
    labels = lambda params: jax.tree_util.tree_map_with_path(  # noqa: E731
        lambda path, _: "frozen" if frozen(jax.tree_util.keystr(path)) else "trained", params)
    return optax.multi_transform({"trained": optimizer, "frozen": optax.set_to_zero()}, labels)


def rate_factors(epochs: int, drop_epochs=(), factor: float = 0.1) -> np.ndarray:
    """The learning-rate multiplier of every epoch: `factor` once for each drop epoch D <= the epoch's 0-based
    index, so drop_epochs=(80,) trains epochs 81, 82, ... at `factor` times the rate."""
    return np.array([factor ** sum(e >= d for d in drop_epochs) for e in range(epochs)], np.float32)
