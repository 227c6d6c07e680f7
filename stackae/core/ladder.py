"""The ladder network (Rasmus, Valpola, Honkala, Berglund & Raiko 2015) and its Gamma model, as an NNX model and
its cost on arrays.

The encoder batch-normalises every layer's pre-activation; on its corrupted path Gaussian noise is added to
the input and to every normalised layer, and a clean path sharing the weights gives the denoising targets. A
top-down decoder estimates each clean layer from its corrupted one and the estimate above with the "vanilla"
(gauss) combinator. Cost: cross-entropy of the corrupted path on the labelled batch + sum over layers of
lambda_l x the mean squared error between the clean and the denoised (batch-normalised) layer on the unlabelled
batch. The Gamma model decodes the top layer only. Labelled and unlabelled batches are normalised apart, and
the running statistics used at evaluation follow the clean labelled path, as the authors' code does.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stackae.core.inits import kernel_init
from stackae.core.losses import classification_error, softmax_cross_entropy, weight_penalty
from stackae.core.matmul import dense_dot_general
from stackae.core.models import activate_layer, layer_slopes

BN_EPSILON = 1e-10  # as the authors' code
# The combinator's ten parameters per unit start at the authors' values: a2 = a7 = 1, the others 0.
COMBINATOR_INIT = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


@dataclasses.dataclass(frozen=True)
class LadderSpec:
    """What a ladder's cost adds to the labelled cross-entropy: the decoded layers (0 = the input, L = the
    top) with their lambdas, the noise of the corrupted path and the decay of the running statistics."""

    decoded: tuple[int, ...]
    weights: tuple[float, ...]
    noise_std: float
    bn_momentum: float


def normalise(x_bd, mean, var):
    return (x_bd - mean) * jax.lax.rsqrt(var + BN_EPSILON)


def batch_normalise(x_bd):
    """Normalise every unit over the batch (no learned scale or shift)."""
    return normalise(x_bd, jnp.mean(x_bd, axis=0), jnp.var(x_bd, axis=0))


def gauss_combinator(z_corrupted, u, a):
    """The vanilla combinator: z_hat = (z~ - mu(u)) v(u) + mu(u), with mu(u) = a1 sigmoid(a2 u + a3) + a4 u + a5
    and v(u) = a6 sigmoid(a7 u + a8) + a9 u + a10, every a_i one value per unit (`a` is [10, units])."""
    mu = a[0] * jax.nn.sigmoid(a[1] * u + a[2]) + a[3] * u + a[4]
    v = a[5] * jax.nn.sigmoid(a[6] * u + a[7]) + a[8] * u + a[9]
    return (z_corrupted - mu) * v + mu


class LadderNetwork(nnx.Module):
    """Encoders (no bias: batch normalisation follows) with a shift beta per layer and a scale on the softmax
    layer, the running statistics of every normalised layer, and the decoder of the `decoded` layers: one
    combinator each and, between consecutive decoded layers, a vertical kernel from the layer above."""

    def __init__(self, sizes, n_classes, *, activation_names, init="lecun", decoded=None, rngs):
        widths = (*sizes, n_classes)
        top = len(widths) - 1
        dense = lambda a, b: nnx.Linear(a, b, use_bias=False, kernel_init=kernel_init(init),  # noqa: E731
                                        dot_general=dense_dot_general, rngs=rngs)
        self.encoders = nnx.List([dense(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.head = dense(sizes[-1], n_classes)
        self.betas = nnx.List([nnx.Param(jnp.zeros((w,))) for w in widths[1:]])
        self.top_scale = nnx.Param(jnp.ones((n_classes,)))
        self.means = nnx.List([nnx.BatchStat(jnp.zeros((w,))) for w in widths[1:]])
        self.vars = nnx.List([nnx.BatchStat(jnp.ones((w,))) for w in widths[1:]])
        self.activation_names = tuple(activation_names)
        self.slopes = layer_slopes(self.activation_names, sizes[1:])
        self.decoded = tuple(range(top + 1) if decoded is None else decoded)
        self.combinators = nnx.List([nnx.Param(jnp.tile(jnp.asarray(COMBINATOR_INIT)[:, None], (1, widths[l])))
                                     for l in self.decoded])
        self.vertical = nnx.List([dense(widths[l + 1], widths[l]) for l in self.decoded if l + 1 in self.decoded])

    def encoder_path(self, x_bd, noise_std: float = 0.0, key=None, running: bool = False):
        """(z per layer 0..L, (mean, var) per normalised layer 1..L, hidden outputs, logits). z_0 is the input,
        z_l the normalised pre-activation; both get noise of std `noise_std` (drawn from `key`). `running`
        normalises with the running statistics (evaluation), else with the batch's own."""
        widths = [x_bd.shape[-1], *(layer.kernel.shape[1] for layer in [*self.encoders, self.head])]
        if noise_std:  # one draw for every layer: one random-bit generator in the program, not one per layer
            draws = jnp.split(jax.random.normal(key, (x_bd.shape[0], sum(widths)), x_bd.dtype),
                              np.cumsum(widths)[:-1], axis=1)
        noisy = lambda z, l: z + noise_std * draws[l] if noise_std else z  # noqa: E731
        h = noisy(x_bd, 0)
        zs, stats, outputs = [h], [], []
        for l, layer in enumerate([*self.encoders, self.head], start=1):
            pre = layer(h)
            mean, var = (self.means[l - 1][...], self.vars[l - 1][...]) if running else \
                (jnp.mean(pre, axis=0), jnp.var(pre, axis=0))
            z = noisy(normalise(pre, mean, var), l)
            zs.append(z)
            stats.append((mean, var))
            if l <= len(self.encoders):
                h = activate_layer(self.activation_names, self.slopes, l - 1, z + self.betas[l - 1][...],
                                   None if key is None else jax.random.fold_in(key, 1000 + l))
                outputs.append(h)
        logits = self.top_scale[...] * (z + self.betas[-1][...])
        return zs, stats, outputs, logits

    def denoise(self, zs_corrupted, top_probabilities):
        """The decoder's estimates {layer: z_hat}, top-down from u = the normalised corrupted softmax output."""
        u, estimates = batch_normalise(top_probabilities), {}
        vertical = iter(reversed(list(self.vertical)))
        for i, l in reversed(list(enumerate(self.decoded))):
            if l + 1 in estimates:
                u = batch_normalise(next(vertical)(estimates[l + 1]))
            estimates[l] = gauss_combinator(zs_corrupted[l], u, self.combinators[i][...])
        return estimates

    def hidden_trace(self, x_bd):
        """(pre-activations, outputs) of every hidden layer on the clean path at evaluation."""
        zs, _, outputs, _ = self.encoder_path(x_bd, running=True)
        return [z + b[...] for z, b in zip(zs[1:-1], self.betas)], outputs

    def hidden(self, x_bd):
        return self.encoder_path(x_bd, running=True)[2]

    def __call__(self, x_bd):
        """Logits of the clean path at evaluation (running statistics)."""
        return self.encoder_path(x_bd, running=True)[3]

    def hidden_layers(self):
        return list(self.encoders)


def denoising_costs(estimates, zs_clean, stats_clean):
    """{layer: mean squared error} between each clean layer and its estimate, normalised with the clean batch's
    statistics (the input is not normalised)."""
    costs = {}
    for l, z_hat in estimates.items():
        z_bn = z_hat if l == 0 else normalise(z_hat, *stats_clean[l - 1])
        costs[l] = jnp.mean((z_bn - zs_clean[l]) ** 2)
    return costs


def running_update(model, stats, step, n: int, momentum: float):
    """Fold a labelled batch's statistics (n examples; unbiased variance) into the running ones with weight
    max(1 / (step + 1), 1 - momentum), so the first steps average the batches seen so far."""
    weight = jnp.maximum(1.0 / (step + 1.0), 1.0 - momentum)
    for k, (mean, var) in enumerate(stats):
        model.means[k][...] = weight * mean + (1 - weight) * model.means[k][...]
        model.vars[k][...] = weight * var * n / max(n - 1, 1) + (1 - weight) * model.vars[k][...]


def ladder_paths(model, x_bd, u_bd, noise_std: float, key) -> dict:
    """The four encoder passes of a training step, each `encoder_path`'s tuple: clean and corrupted, on the
    labelled batch `x_bd` and on the unlabelled batch `u_bd`; only the corrupted ones draw noise."""
    labelled_key, unlabelled_key = jax.random.split(key)
    return {"clean_labelled": model.encoder_path(x_bd),
            "corrupted_labelled": model.encoder_path(x_bd, noise_std, labelled_key),
            "clean_unlabelled": model.encoder_path(u_bd),
            "corrupted_unlabelled": model.encoder_path(u_bd, noise_std, unlabelled_key)}


def ladder_loss(graphdef, spec: LadderSpec, l2_weight: float = 0.0):
    """loss_fn(params, batch, key, stats) -> (loss, (metrics, stats)) and eval_fn(params, held_out, stats) for
    the engine: the batch holds the labelled "x", "y", the unlabelled "u" and the optimiser "step"."""

    def loss_fn(params, batch, key, stats):
        model = nnx.merge(graphdef, jax.tree.map(lambda a: a, params), jax.tree.map(lambda a: a, stats))
        paths = ladder_paths(model, batch["x"], batch["u"], spec.noise_std, key)
        (_, clean_stats, _, clean_logits), (_, _, _, logits) = paths["clean_labelled"], paths["corrupted_labelled"]
        loss = softmax_cross_entropy(logits, batch["y"])
        zs_clean, stats_clean, _, _ = paths["clean_unlabelled"]
        zs_corrupted, _, _, logits_u = paths["corrupted_unlabelled"]
        costs = denoising_costs(model.denoise(zs_corrupted, jax.nn.softmax(logits_u)), zs_clean, stats_clean)
        for l, weight in zip(spec.decoded, spec.weights):
            loss += weight * costs[l]
        kernels = [p for path, p in jax.tree.leaves_with_path(params) if "kernel" in jax.tree_util.keystr(path)]
        loss += weight_penalty(kernels, 0.0, l2_weight)
        running_update(model, jax.lax.stop_gradient(clean_stats), batch["step"], batch["x"].shape[0],
                       spec.bn_momentum)
        metrics = {"error": classification_error(clean_logits, batch["y"]),
                   **{f"denoising_{l}": c for l, c in costs.items()}}
        return loss, (metrics, nnx.state(model, nnx.BatchStat))

    def eval_fn(params, held_out, stats):
        logits = nnx.merge(graphdef, params, stats)(held_out["x"])
        return {"error": classification_error(logits, held_out["y"]),
                "loss": softmax_cross_entropy(logits, held_out["y"])}

    return loss_fn, eval_fn
