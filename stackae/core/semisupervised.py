"""The semi-supervised remedies of fine-tuning, as array functions: each adds a cost on an unlabelled minibatch
to the labelled cross-entropy.

- pseudo-labels (Lee 2013): cross-entropy of the unlabelled batch against the model's own argmax, weighted by
  alpha(t), 0 before `ramp_start`, rising linearly to `alpha_final` at `ramp_end`;
- mean teacher (Tarvainen & Valpola 2017): squared difference of the student's and an exponential-moving-
  average teacher's softmax outputs on differently corrupted unlabelled inputs, weighted by a sigmoid-shaped
  ramp-up; the teacher is what is evaluated and kept;
- joint reconstruction: each layer's DAE reconstruction cost on the unlabelled batch's codes, so the features
  keep modelling their inputs while they learn the labels.
"""

import dataclasses

import jax
import jax.numpy as jnp

from stackae.core.losses import RECONSTRUCTIONS, softmax_cross_entropy
from stackae.core.noise import corrupt, gaussian_noise


@dataclasses.dataclass(frozen=True)
class SemiSupervised:
    """Which unlabelled costs a method adds, and their weights and ramps (steps are global optimiser steps)."""

    pseudo_label: bool
    alpha_final: float
    ramp_start: int
    ramp_end: int
    mean_teacher: bool
    consistency: float
    consistency_ramp: int
    ema_decay: float
    teacher_noise: float
    reconstruction: bool
    layer_weights: tuple[float, ...]
    layer_noises: tuple[tuple[str, float], ...]  # (noise kind, level) per layer, as pretrained
    layer_losses: tuple[str, ...]  # each layer's reconstruction loss, as pretrained

    @property
    def ramp_steps(self) -> int:
        """Steps before every weight reached its final value (early stopping waits for them)."""
        return max(self.ramp_end if self.pseudo_label else 0, self.consistency_ramp if self.mean_teacher else 0)


def linear_ramp(step, start: int, end: int, final: float):
    """Lee's alpha(t): 0 before `start`, `final` from `end` on, linear in between."""
    return final * jnp.clip((step - start) / max(end - start, 1), 0.0, 1.0)


def sigmoid_rampup(step, length: int):
    """exp(-5 (1 - t)^2) with t = step / length clipped to [0, 1] (Laine & Aila 2017; 1 when length is 0)."""
    if length <= 0:
        return jnp.asarray(1.0, jnp.float32)
    t = jnp.clip(step / length, 0.0, 1.0)
    return jnp.exp(-5.0 * (1.0 - t) ** 2)


def pseudo_label_cost(logits_uc):
    """Cross-entropy of unlabelled logits against their own argmax (no gradient through the target)."""
    return softmax_cross_entropy(logits_uc, jax.lax.stop_gradient(jnp.argmax(logits_uc, axis=-1)))


def consistency_cost(student_logits_uc, teacher_logits_uc):
    """Mean squared difference of the two softmax outputs (over examples and classes); the teacher is a target."""
    teacher = jax.lax.stop_gradient(jax.nn.softmax(teacher_logits_uc))
    return jnp.mean((jax.nn.softmax(student_logits_uc) - teacher) ** 2)


def ema_decay(step, decay: float):
    """The teacher's decay after optimiser step `step` (0-based): min(1 - 1/(n + 1), decay) with n steps done,
    so the early teacher is the plain average of the students so far (as the authors' code does)."""
    return jnp.minimum(1.0 - 1.0 / (step + 2.0), decay)


def ema_update(teacher, student, decay):
    """decay x teacher + (1 - decay) x student, leaf by leaf."""
    return jax.tree.map(lambda t, s: decay * t + (1.0 - decay) * s, teacher, student)


def teacher_after_step(decay: float):
    """The engine's after_step hook of a mean teacher: the teacher in `extra` follows the updated student."""
    def after_step(params, extra, step):
        return dict(extra, teacher=ema_update(extra["teacher"], params, ema_decay(step, decay)))
    return after_step


def reconstruction_cost(model, inputs, spec: SemiSupervised, key):
    """Sum over layers of weight_k x layer k's DAE reconstruction cost of its clean input `inputs[k]` (pixels,
    then the codes below), corrupted as in pretraining; the inputs are targets, so each layer's cost trains its
    own encoder and decoder only (the classification cost trains the layers below)."""
    total, per_layer = 0.0, []
    for k, (weight, (noise, level), loss) in enumerate(zip(spec.layer_weights, spec.layer_noises,
                                                           spec.layer_losses)):
        clean = jax.lax.stop_gradient(inputs[k])
        layer_key = jax.random.fold_in(key, k)
        h = model.encode_layer(k, corrupt(noise, layer_key, clean, level), jax.random.fold_in(layer_key, 1))
        cost = RECONSTRUCTIONS[loss](model.decode_preactivation(k, h), clean)
        per_layer.append(cost)
        total = total + weight * cost
    return total, per_layer


def unlabelled_costs(student, teacher, u_bd, step, spec: SemiSupervised, key):
    """(weighted sum of the unlabelled costs, metrics) for one step: `student` and `teacher` are classifiers
    (teacher None without a mean teacher; its batch-norm statistics, if any, are updated in place by its forward
    pass), `u_bd` the unlabelled batch."""
    student_key, teacher_key, noise_key, recon_key = jax.random.split(key, 4)
    u_student = gaussian_noise(noise_key, u_bd, spec.teacher_noise) if spec.mean_teacher else u_bd
    _, outputs = student.hidden_trace(u_student, train=True, key=student_key)
    logits = student.head(outputs[-1])
    total, metrics = 0.0, {}
    if spec.pseudo_label:
        cost = pseudo_label_cost(logits)
        weight = linear_ramp(step, spec.ramp_start, spec.ramp_end, spec.alpha_final)
        total, metrics = total + weight * cost, dict(metrics, pseudo_label_cost=cost, pseudo_label_weight=weight)
    if spec.mean_teacher:
        u_teacher = gaussian_noise(jax.random.fold_in(noise_key, 1), u_bd, spec.teacher_noise)
        cost = consistency_cost(logits, teacher(u_teacher, train=True, key=teacher_key))
        weight = spec.consistency * sigmoid_rampup(step, spec.consistency_ramp)
        total, metrics = total + weight * cost, dict(metrics, consistency_cost=cost, consistency_weight=weight)
    if spec.reconstruction:
        cost, per_layer = reconstruction_cost(student, [u_student, *outputs[:-1]], spec, recon_key)
        total = total + cost
        metrics.update({f"reconstruction_{k + 1}": c for k, c in enumerate(per_layer)})
    return total, metrics
