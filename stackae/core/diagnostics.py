"""Training diagnostics reduced inside the compiled epoch, and the vanishing/exploding-gradient warning read from
them.

On every optimiser step: the L2 norm of each parameter's gradient and the ratio of its update's norm to its
norm (averaged over the epoch's steps). On held-out data after the epoch, per hidden layer: activation mean and
std, the fraction of exactly zero activations, the fraction of dead units (relu only: pre-activation never positive
on any held-out example) and, for sigmoid/tanh, the fraction of outputs within 0.01 of the bounds. Metric names are
"<statistic>/<parameter or layer>", e.g. "grad_norm/encoders.0.kernel" or "dead_fraction/layer2".
"""

import jax
import jax.numpy as jnp
import numpy as np

GRADIENT_STATS = ("grad_norm", "update_ratio")
ACTIVATION_STATS = ("act_mean", "act_std", "zero_fraction", "dead_fraction", "saturated_fraction")
SATURATION_BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
SATURATION_MARGIN = 0.01
DYING = {"relu"}  # units whose gradient is exactly zero below zero: only these can die
# The bottom layer's kernel-gradient norm over the top layer's: below VANISHING or above EXPLODING is warned of.
VANISHING, EXPLODING = 1e-4, 1e4


def parameter_name(path) -> str:
    """'encoders.0.kernel' for the pytree path of an nnx parameter."""
    parts = [str(getattr(k, "key", getattr(k, "idx", ""))) for k in path if not hasattr(k, "name")]
    return ".".join(parts)


def _norm(a):
    return jnp.sqrt(jnp.sum(jnp.square(a.astype(jnp.float32))))


def gradient_stats(grads, updates, params) -> dict:
    """Per parameter: the gradient's L2 norm and the update-to-weight norm ratio (0 for an all-zero weight)."""
    out = {}
    leaves = zip(jax.tree_util.tree_leaves_with_path(grads), jax.tree.leaves(updates), jax.tree.leaves(params))
    for (path, g), u, w in leaves:
        name, w_norm = parameter_name(path), _norm(w)
        out[f"grad_norm/{name}"] = _norm(g)
        out[f"update_ratio/{name}"] = jnp.where(w_norm > 0, _norm(u) / jnp.where(w_norm > 0, w_norm, 1.0), 0.0)
    return out


def activation_stats(preactivations, outputs, activation_names) -> dict:
    """Per hidden layer (layer1 = bottom) of held-out activations [examples, units]: mean, std, fraction of
    exact zeros, fraction of dead units (relu only: pre-activation never positive), fraction of saturated
    outputs (sigmoid/tanh; 0 for the others)."""
    out = {}
    for k, (z, h, name) in enumerate(zip(preactivations, outputs, activation_names)):
        layer = f"layer{k + 1}"
        out[f"act_mean/{layer}"] = jnp.mean(h)
        out[f"act_std/{layer}"] = jnp.std(h)
        out[f"zero_fraction/{layer}"] = jnp.mean(h == 0)
        out[f"dead_fraction/{layer}"] = (jnp.mean(~jnp.any(z > 0, axis=0)) if name in DYING
                                         else jnp.zeros((), jnp.float32))
        if name in SATURATION_BOUNDS:
            low, high = SATURATION_BOUNDS[name]
            saturated = (h <= low + SATURATION_MARGIN) | (h >= high - SATURATION_MARGIN)
            out[f"saturated_fraction/{layer}"] = jnp.mean(saturated)
        else:
            out[f"saturated_fraction/{layer}"] = jnp.zeros((), jnp.float32)
    return out


def gradient_warnings(bottom: str, top: str, where: str):
    """check(epoch, metrics) -> {kind: warning line}, for EpochLog: a non-finite gradient norm, or a ratio of the
    `bottom` kernel's gradient norm to the `top` kernel's below VANISHING or above EXPLODING, naming the layers,
    the epoch and the seeds (members)."""

    def check(epoch: int, metrics: dict) -> dict:
        if f"grad_norm/{bottom}" not in metrics:
            return {}
        lines = {}
        norms = {k[len("grad_norm/"):]: np.atleast_1d(v) for k, v in metrics.items() if k.startswith("grad_norm/")}
        bad = sorted({name for name, v in norms.items() if not np.all(np.isfinite(v))})
        if bad:
            lines["non-finite"] = f"warning: {where} epoch {epoch + 1}: non-finite gradient norm in {', '.join(bad)}."
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = norms[bottom] / norms[top]
        for kind, members in (("vanishing", np.flatnonzero(ratio < VANISHING)),
                              ("exploding", np.flatnonzero(ratio > EXPLODING))):
            if len(members):
                lines[kind] = (
                    f"warning: {where} epoch {epoch + 1}: gradients are {kind}: the bottom layer's gradient norm "
                    f"({bottom}) is {np.min(ratio[members]) if kind == 'vanishing' else np.max(ratio[members]):.1e} "
                    f"of the top layer's ({top}) for member(s) {', '.join(map(str, members))} (warned below "
                    f"{VANISHING:g} or above {EXPLODING:g}); try batch norm, residual connections, LSUV or "
                    "pretraining.")
        return lines

    return check
