"""The compiled training epoch shared by pretraining and fine-tuning.

One epoch is one XLA program: permute example indices, `lax.scan` over minibatches gathered from on-device
data, then evaluate on held-out data. Several seeds train at once through `jax.vmap` over the train state;
over several devices the minibatch is sharded along a Mesh axis while parameters stay replicated.
A seed whose loss turns non-finite is reverted to its state at the start of the epoch, marked diverged and
frozen; the others continue.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from stackae.errors import ConfigError

DATA_AXIS = "data"


def device_mesh() -> Mesh | None:
    """A 1-D data-parallel mesh over all devices (of every process after jax.distributed.initialize),
    or None on a single device."""
    devices = jax.devices()
    return Mesh(np.array(devices), (DATA_AXIS,)) if len(devices) > 1 else None


def replicate(tree, mesh: Mesh | None):
    """Put `tree` on the device(s): replicated over `mesh` if given."""
    if mesh is None:
        return jax.device_put(tree)
    return jax.device_put(tree, NamedSharding(mesh, P()))


def init_train_state(params, optimizer: optax.GradientTransformation) -> dict:
    """A plain train state for one seed: parameters, optimiser state and run flags."""
    return {
        "params": params,
        "opt": optimizer.init(params),
        "active": jnp.array(True),
        "diverged": jnp.array(False),
    }


def seed_keys(seed: int, n_seeds: int):
    """One root key per seed: seed, seed + 1, ... (a seed's numbers never depend on how many run beside it)."""
    return jax.vmap(jax.random.key)(jnp.arange(seed, seed + n_seeds))


def _select(ok, new, old):
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def make_epoch(
    loss_fn: Callable,
    optimizer: optax.GradientTransformation,
    batch_size: int,
    eval_fn: Callable | None = None,
    after_epoch: Callable | None = None,
    data_axes: tuple = (None, None),
    mesh: Mesh | None = None,
):
    """Compile one epoch for S seeds: `epoch(states, train, held_out, keys, epoch_index) -> (states, metrics)`.

    loss_fn(params, batch, key) -> (loss, metrics); eval_fn(params, held_out) -> metrics (prefixed
    "valid_"); after_epoch(state, metrics, epoch_index) -> state (e.g. early stopping). `train` and
    `held_out` are pytrees of arrays whose leading axis is examples; data_axes says, for each, whether a
    leading seed axis comes first (0) or all seeds share it (None).
    """
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def constrain(batch):
        if mesh is None:
            return batch
        return jax.lax.with_sharding_constraint(batch, NamedSharding(mesh, P(DATA_AXIS)))

    def one_seed(state, train, held_out, key, epoch_index):
        n = jax.tree.leaves(train)[0].shape[0]
        n_batches = n // batch_size
        epoch_key = jax.random.fold_in(key, epoch_index)
        perm_key, step_key = jax.random.split(epoch_key)
        idx = jax.random.permutation(perm_key, n)[: n_batches * batch_size].reshape(n_batches, batch_size)

        def step(carry, xs):
            params, opt = carry
            i, idx_b = xs
            batch = constrain(jax.tree.map(lambda a: a[idx_b], train))
            (loss, metrics), grads = grad_fn(params, batch, jax.random.fold_in(step_key, i))
            updates, opt = optimizer.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), dict(metrics, loss=loss)

        (params, opt), metrics = jax.lax.scan(step, (state["params"], state["opt"]), (jnp.arange(n_batches), idx))
        metrics = jax.tree.map(jnp.mean, metrics)
        finite = jnp.isfinite(metrics["loss"])
        ok = state["active"] & finite
        new = dict(
            state,
            params=_select(ok, params, state["params"]),
            opt=_select(ok, opt, state["opt"]),
            diverged=state["diverged"] | (state["active"] & ~finite),
            active=ok,
        )
        if eval_fn is not None:
            metrics.update({f"valid_{k}": v for k, v in eval_fn(new["params"], held_out).items()})
        if after_epoch is not None:
            new = after_epoch(new, metrics, epoch_index)
        return new, metrics

    batched = jax.vmap(one_seed, in_axes=(0, *data_axes, 0, None))
    return jax.jit(batched, donate_argnums=(0,))


def check_batches(n_examples: int, batch_size: int, what: str, mesh: Mesh | None = None):
    """A clear error when an epoch would hold no full minibatch, or a minibatch cannot split over devices."""
    if n_examples < batch_size:
        raise ConfigError(
            f"{what} has {n_examples} examples, fewer than batch_size={batch_size}; lower the batch size."
        )
    if mesh is not None and batch_size % mesh.size:
        raise ConfigError(
            f"batch_size={batch_size} does not split evenly over {mesh.size} devices; use a multiple of {mesh.size}."
        )
