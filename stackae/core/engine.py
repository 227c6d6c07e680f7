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
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from stackae.core.diagnostics import gradient_stats
from stackae.errors import ConfigError

DATA_AXIS = "data"
UNLABELLED_STREAM = 0x0A11  # folded into a seed's key: the unlabelled minibatch order, apart from the labelled one


def device_mesh() -> Mesh | None:
    """A 1-D data-parallel mesh over all devices (of every process after jax.distributed.initialize),
    or None on a single device."""
    devices = jax.devices()
    return Mesh(np.array(devices), (DATA_AXIS,)) if len(devices) > 1 else None


def replicate(tree, mesh: Mesh | None):
    """Put `tree` on the device(s): replicated over `mesh` if given, else committed to the default device, as
    the outputs of a compiled epoch are (an uncommitted first input would compile the epoch a second time)."""
    if mesh is None:
        return jax.device_put(tree, jax.devices()[0])
    return jax.device_put(tree, NamedSharding(mesh, P()))


def init_train_state(params, optimizer: optax.GradientTransformation, extra=None) -> dict:
    """A plain train state for one seed: parameters, optimiser state and run flags; `extra` holds model state
    that is not trained by gradient (e.g. batch-norm running statistics)."""
    state = {
        "params": params,
        "opt": optimizer.init(params),
        "active": jnp.array(True),
        "diverged": jnp.array(False),
    }
    return state if extra is None else dict(state, extra=extra)


def seed_keys(seed: int, n_seeds: int):
    """One root key per seed: seed, seed + 1, ... (a seed's numbers never depend on how many run beside it)."""
    return jax.vmap(jax.random.key)(jnp.arange(seed, seed + n_seeds))


def _select(ok, new, old):
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def round_indices(key, round_index, n: int, batch_size: int, steps: int | None):
    """Minibatch indices of one round: a whole epoch (steps None) or `steps` consecutive steps of the stream of
    epochs, each epoch a fresh permutation; returns (indices [steps, batch], index of the round's first step,
    key for the steps)."""
    n_batches = n // batch_size
    if steps is None:
        perm_key, step_key = jax.random.split(jax.random.fold_in(key, round_index))
        idx = jax.random.permutation(perm_key, n)[: n_batches * batch_size].reshape(n_batches, batch_size)
        return idx, 0, step_key
    first = round_index * steps
    n_epochs = -(-steps // n_batches) + 1  # epochs a round can touch

    def epoch_order(e):
        return jax.random.permutation(jax.random.split(jax.random.fold_in(key, e))[0], n)[: n_batches * batch_size]

    flat = jax.vmap(epoch_order)(first // n_batches + jnp.arange(n_epochs)).reshape(-1)
    idx = jax.lax.dynamic_slice(flat, ((first % n_batches) * batch_size,), (steps * batch_size,))
    return idx.reshape(steps, batch_size), first, jax.random.fold_in(key, 0x7FFFFFFF)


def make_epoch(
    loss_fn: Callable,
    optimizer: optax.GradientTransformation,
    batch_size: int,
    eval_fn: Callable | None = None,
    after_epoch: Callable | None = None,
    data_axes: tuple = (None, None),
    mesh: Mesh | None = None,
    steps_per_round: int | None = None,
    gradient_diagnostics: bool = False,
    probe_fn: Callable | None = None,
    rate_scale: np.ndarray | None = None,
    unlabelled_batch_size: int = 0,
    after_step: Callable | None = None,
):
    """Compile one epoch for S seeds: `epoch(states, train, held_out, keys, epoch_index[, unlabelled]) ->
    (states, metrics)`.

    loss_fn(params, batch, key) -> (loss, metrics); eval_fn(params, held_out) -> metrics (prefixed
    "valid_"); after_epoch(state, metrics, epoch_index) -> state (e.g. early stopping). `train` and
    `held_out` are pytrees of arrays whose leading axis is examples; data_axes says, for each, whether a
    leading seed axis comes first (0) or all seeds share it (None). A state holding "extra" (model state not
    trained by gradient) calls loss_fn(params, batch, key, extra) -> (loss, (metrics, extra)) and
    eval_fn(params, held_out, extra). With `steps_per_round`, one call runs that many optimiser steps of the
    stream of epochs (round `epoch_index`) instead of one whole epoch: small labelled sets get evaluated on a
    step cadence. `gradient_diagnostics` adds each parameter's gradient norm and update-to-weight ratio (mean
    over the steps) to the metrics; probe_fn(params, held_out[, extra]) -> metrics (e.g. activation statistics)
    is evaluated on the held-out data after the epoch, in the same program. `rate_scale[epoch_index]` (e.g.
    from `stackae.core.optim.rate_factors`) multiplies every update of that epoch: a drop of the learning rate that
    leaves the optimiser state as it is.

    Semi-supervised steps: with `unlabelled_batch_size` U > 0, the epoch takes an `unlabelled` array (examples
    first, shared by every seed; no labels) and each step's batch also holds "u", U of its rows from a stream of
    permutations of its own, and "step", the global index of the optimiser step (for ramps).
    after_step(params, extra, step) -> extra updates the untrained state after each optimiser step (e.g. a mean
    teacher's moving average).
    """
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def constrain(batch):
        if mesh is None:
            return batch
        return jax.lax.with_sharding_constraint(batch, NamedSharding(mesh, P(DATA_AXIS)))

    def one_seed(state, train, held_out, key, epoch_index, unlabelled=None):
        n = jax.tree.leaves(train)[0].shape[0]
        idx, first, step_key = round_indices(key, epoch_index, n, batch_size, steps_per_round)
        stateful = "extra" in state
        scale = None if rate_scale is None else jnp.asarray(rate_scale)[epoch_index]
        global_first = epoch_index * idx.shape[0]
        if unlabelled_batch_size:
            u_idx = round_indices(jax.random.fold_in(key, UNLABELLED_STREAM), epoch_index, unlabelled.shape[0],
                                  unlabelled_batch_size, idx.shape[0])[0]
        else:
            u_idx = jnp.zeros((idx.shape[0], 0), jnp.int32)

        def step(carry, xs):
            params, opt, extra = carry
            i, idx_b, u_idx_b = xs
            batch = jax.tree.map(lambda a: a[idx_b], train)
            if unlabelled_batch_size:
                batch = dict(constrain(dict(batch, u=unlabelled[u_idx_b])), step=global_first + i)
            else:
                batch = constrain(batch)
            step_rng = jax.random.fold_in(step_key, first + i)
            if stateful:
                (loss, (metrics, extra)), grads = grad_fn(params, batch, step_rng, extra)
            else:
                (loss, metrics), grads = grad_fn(params, batch, step_rng)
            updates, opt = optimizer.update(grads, opt, params)
            if scale is not None:
                updates = jax.tree.map(lambda u: u * scale, updates)
            metrics = dict(metrics, loss=loss)
            if gradient_diagnostics:
                metrics.update(gradient_stats(grads, updates, params))
            params = optax.apply_updates(params, updates)
            if after_step is not None:
                extra = after_step(params, extra, global_first + i)
            return (params, opt, extra), metrics

        carry = (state["params"], state["opt"], state.get("extra"))
        (params, opt, extra), metrics = jax.lax.scan(step, carry, (jnp.arange(idx.shape[0]), idx, u_idx))
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
        if stateful:
            new["extra"] = _select(ok, extra, state["extra"])
        if eval_fn is not None:
            held = eval_fn(new["params"], held_out, new["extra"]) if stateful else eval_fn(new["params"], held_out)
            metrics.update({f"valid_{k}": v for k, v in held.items()})
        if probe_fn is not None:
            metrics.update(probe_fn(new["params"], held_out, new["extra"]) if stateful
                           else probe_fn(new["params"], held_out))
        if after_epoch is not None:
            new = after_epoch(new, metrics, epoch_index)
        return new, metrics

    batched = jax.vmap(one_seed, in_axes=(0, *data_axes, 0, None, None))

    def compiled_epoch(states, train, held_out, keys, epoch_index, unlabelled=None):
        return batched(states, train, held_out, keys, epoch_index, unlabelled)

    return jax.jit(compiled_epoch, donate_argnums=(0,))


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
