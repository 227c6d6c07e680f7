"""Supervised fine-tuning of a stacked classifier from any initialisation method, with early stopping on a
validation set and best-evaluation restore; every seed and every learning rate of a grid in one program.

`finetune(cfg, data, init, ...)` works on arrays and returns a `FinetuneRun`; `stackae.workdir.finetune.finetune_run`
wraps it with the workdir layer (resume, refusal of mismatched runs, results.json).
"""

import dataclasses
import hashlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stackae.config import activations_of, check_ladder, layer_config
from stackae.core.diagnostics import activation_stats, gradient_warnings
from stackae.core.engine import check_batches, device_mesh, init_train_state, make_epoch, replicate, seed_keys
from stackae.core.inits import INITS
from stackae.core.ladder import LadderNetwork, LadderSpec, ladder_loss
from stackae.core.losses import classification_error, softmax_cross_entropy, weight_penalty
from stackae.core.models import StackedClassifier
from stackae.core.optim import make_optimizer
from stackae.core.semisupervised import SemiSupervised, teacher_after_step, unlabelled_costs
from stackae.core.stats import finite_mean
from stackae.core.training import EpochLog, resume_states, train_epochs
from stackae.data import labelled_subset
from stackae.errors import ConfigError
from stackae.methods import Method, initialise_hidden, parse_method
from stackae.procedures.pretrain import Stack, reconstruction_of

UNLABELLED_KEY = 0x5E31  # folded into a step's key for everything drawn on its unlabelled batch
INIT_BATCH = 1000  # unlabelled training examples seen by the data-driven inits (LSUV, data-dependent)
VALID_SEED_OFFSET = 7919  # the validation subset of seed s is drawn with seed s + this offset


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one fine-tuning run trains: seeds, label budget, validation set, learning-rate grid, step budget.

    labels_per_class 0 = every training label; valid_per_class None = the whole validation split;
    steps None = `finetune.epochs` whole epochs, evaluated after each; otherwise `steps` optimiser steps,
    evaluated every `eval_every` steps.
    """

    seeds: tuple[int, ...]
    labels_per_class: int = 0
    valid_per_class: int | None = None
    learning_rates: tuple[float, ...] = (0.05,)
    steps: int | None = None
    eval_every: int = 0
    batch_size: int = 32


def plan_from_config(cfg, method: Method | None = None) -> Plan:
    """The plan of a plain run: the config's seeds, labels and learning rate (a ladder's: `ladder.learning_rate`),
    epochs, the whole validation split."""
    rate = cfg.ladder.learning_rate if method is not None and method.ladder_network else cfg.finetune.learning_rate
    return Plan(tuple(cfg.seed + s for s in range(cfg.seeds)), cfg.labels_per_class, None, (rate,), None, 0,
                cfg.finetune.batch_size)


@dataclasses.dataclass
class FinetuneRun:
    """The outcome of `finetune`: one row per member (seed x learning rate) and the best parameters, stacked
    over members in the same order."""

    method: str
    rows: list[dict]
    graphdef: object
    params: object
    extra: object
    history: list[dict]
    seconds: float
    labels_used: int
    valid_used: int

    def predict(self, x_nd, member: int = 0) -> np.ndarray:
        """Class predictions of member `member` for `x_nd` (evaluation mode: running batch-norm statistics)."""
        return np.asarray(jnp.argmax(self.logits(x_nd, member), axis=-1))

    def logits(self, x_nd, member: int = 0):
        return self._model(member)(jnp.asarray(x_nd))

    def encode(self, x_nd, member: int = 0) -> np.ndarray:
        """Top hidden-layer activations of member `member` (the fine-tuned features)."""
        return self.hidden(x_nd, member)[-1]

    def hidden(self, x_nd, member: int = 0) -> list[np.ndarray]:
        """Every hidden layer's activations of member `member`, bottom to top (e.g. their fraction of exact
        zeros)."""
        return [np.asarray(h) for h in self._model(member).hidden(jnp.asarray(x_nd))]

    def _model(self, member: int):
        take = lambda tree: jax.tree.map(lambda a: a[member], tree)  # noqa: E731
        return _merge(self.graphdef, take(self.params), None if self.extra is None else take(self.extra))


def best_tree(run: FinetuneRun) -> dict:
    """What a workdir keeps of a run: the best parameters (and batch-norm statistics) of every member."""
    return {"params": nnx.to_pure_dict(run.params),
            "extra": {} if run.extra is None else nnx.to_pure_dict(run.extra)}


def classifier(cfg, n_features: int, n_classes: int, key, method: Method | None = None):
    """The config's network for `method` (random kernels of the method's scheme, else He; its remedies on): a
    StackedClassifier, or a LadderNetwork for the ladder methods."""
    method = method or parse_method(cfg.finetune.random_init)
    f = cfg.finetune
    if method.ladder_network:
        top = len(cfg.layers) + 1
        return LadderNetwork((n_features, *cfg.layers), n_classes, activation_names=activations_of(cfg),
                             init=method.init if method.init in INITS else "lecun",
                             decoded=(top,) if method.gamma else None, rngs=nnx.Rngs(key))
    decoders = tuple(layer_config(cfg, k).tied for k in range(len(cfg.layers))) if method.reconstruction else None
    return StackedClassifier((n_features, *cfg.layers), n_classes, activation_names=activations_of(cfg),
                             init=method.init if method.init in INITS else "he", batch_norm=method.batch_norm,
                             dropout=f.dropout if method.dropout else 0.0, residual=method.residual,
                             bn_momentum=f.bn_momentum, decoders=decoders, rngs=nnx.Rngs(key))


def semi_supervised_spec(cfg, method: Method) -> SemiSupervised | None:
    """The unlabelled costs of `method` with the config's weights and ramps (None: a supervised method)."""
    if not method.semi_supervised:
        return None
    f, n = cfg.finetune, len(cfg.layers)
    weights = f.reconstruction_weight
    weights = tuple(weights) if isinstance(weights, (tuple, list)) else (weights,) * n
    noises = tuple((layer_config(cfg, k).noise, layer_config(cfg, k).noise_level) for k in range(n))
    return SemiSupervised(
        pseudo_label=method.pseudo_label, alpha_final=f.pseudo_label_alpha_final,
        ramp_start=f.pseudo_label_ramp_start, ramp_end=f.pseudo_label_ramp_end,
        mean_teacher=method.mean_teacher, consistency=f.mean_teacher_weight, consistency_ramp=f.mean_teacher_ramp,
        ema_decay=f.mean_teacher_ema, teacher_noise=f.mean_teacher_noise,
        reconstruction=method.reconstruction, layer_weights=weights, layer_noises=noises,
        layer_losses=tuple(reconstruction_of(cfg, k) for k in range(n)))


def ladder_spec(cfg, method: Method) -> LadderSpec:
    """The ladder's decoded layers and lambdas (the Gamma model: the top only), noise and statistics decay."""
    check_ladder(cfg)
    top, d = len(cfg.layers) + 1, cfg.ladder
    if method.gamma:
        return LadderSpec((top,), (d.gamma_weight,), d.noise_std, cfg.finetune.bn_momentum)
    return LadderSpec(tuple(range(top + 1)), tuple(d.denoising_weights), d.noise_std, cfg.finetune.bn_momentum)


def split_classifier(model, method: Method):
    """(graphdef, parameters, batch-norm statistics or None) of a classifier built for `method`."""
    if method.stateful:
        return nnx.split(model, nnx.Param, nnx.BatchStat)
    return (*nnx.split(model, nnx.Param), None)


def _merge(graphdef, params, extra):
    """The model from its state; the variables are rebuilt here so batch norm may update them under this trace."""
    fresh = lambda tree: jax.tree.map(lambda a: a, tree)  # noqa: E731
    return nnx.merge(graphdef, fresh(params)) if extra is None else nnx.merge(graphdef, fresh(params), fresh(extra))


def evaluated_model(graphdef, params, extra, mean_teacher: bool = False):
    """The classifier a member is evaluated and kept as: itself, or its mean teacher (held in `extra`)."""
    if mean_teacher:
        return _merge(graphdef, extra["teacher"], extra.get("teacher_stats"))
    return _merge(graphdef, params, extra)


def classifier_loss(graphdef, l2_weight: float, stateful: bool, semi: SemiSupervised | None = None):
    """Softmax cross-entropy (+ L2 on kernels) and validation error/loss for one member. `stateful`: the model
    carries batch-norm statistics, updated in training and read at evaluation. `semi`: the batch also holds an
    unlabelled minibatch "u" and the step index, whose costs are added; with a mean teacher, `extra` is
    {"teacher", ["stats", "teacher_stats"]} and the teacher is what eval_fn evaluates. Batch-norm statistics
    follow the labelled batches only (as in plain fine-tuning)."""
    mean_teacher = semi is not None and semi.mean_teacher

    def loss_fn(params, batch, key, extra=None):
        stats = extra.get("stats") if mean_teacher else extra
        model = _merge(graphdef, params, stats)
        logits = model(batch["x"], train=True, key=key)
        loss = softmax_cross_entropy(logits, batch["y"])
        kernels = [p for path, p in jax.tree.leaves_with_path(params) if "kernel" in jax.tree_util.keystr(path)]
        loss += weight_penalty(kernels, 0.0, l2_weight)
        metrics = {"error": classification_error(logits, batch["y"])}
        new_stats = nnx.state(model, nnx.BatchStat) if stats is not None else None
        if semi is not None:
            teacher = _merge(graphdef, extra["teacher"], extra.get("teacher_stats")) if mean_teacher else None
            cost, semi_metrics = unlabelled_costs(model, teacher, batch["u"], batch["step"], semi,
                                                  jax.random.fold_in(key, UNLABELLED_KEY))
            loss += cost
            metrics.update(semi_metrics)
            if mean_teacher:
                extra = dict(extra)
                if "teacher_stats" in extra:
                    extra["teacher_stats"] = nnx.state(teacher, nnx.BatchStat)
                if stats is not None:
                    extra["stats"] = new_stats
                return loss, (metrics, extra)
        return (loss, (metrics, new_stats)) if stateful else (loss, metrics)

    def eval_fn(params, held_out, extra=None):
        logits = evaluated_model(graphdef, params, extra, mean_teacher)(held_out["x"])
        return {"error": classification_error(logits, held_out["y"]),
                "loss": softmax_cross_entropy(logits, held_out["y"])}

    return loss_fn, eval_fn


def classifier_probe(graphdef, activation_names, mean_teacher: bool = False):
    """probe_fn(params, held_out[, extra]): activation statistics of every hidden layer on held-out inputs."""
    def probe_fn(params, held_out, extra=None):
        preactivations, outputs = evaluated_model(graphdef, params, extra, mean_teacher).hidden_trace(held_out["x"])
        return activation_stats(preactivations, outputs, activation_names)
    return probe_fn


def early_stopping(patience: int, not_before: int = 0):
    """after_epoch hook: keep the best parameters by validation error; stop a member after `patience` bad
    evaluations, counted from evaluation `not_before` on (e.g. once a semi-supervised ramp is complete)."""

    def after_epoch(state, metrics, epoch_index):
        improved = state["active"] & (metrics["valid_error"] < state["best_error"])
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(improved, a, b), new, old)  # noqa: E731
        counted = (state["active"] & (epoch_index >= not_before)).astype(jnp.int32)
        bad = jnp.where(improved, 0, state["bad_epochs"] + counted)
        out = dict(
            state,
            best_params=keep(state["params"], state["best_params"]),
            best_error=jnp.where(improved, metrics["valid_error"], state["best_error"]),
            best_epoch=jnp.where(improved, epoch_index, state["best_epoch"]),
            bad_epochs=bad,
            active=state["active"] & (bad < patience),
            epochs_run=state["epochs_run"] + state["active"].astype(jnp.int32),
        )
        if "extra" in state:
            out["best_extra"] = keep(state["extra"], state["best_extra"])
        return out

    return after_epoch


def finetune_state(params, optimizer, extra=None):
    state = dict(init_train_state(params, optimizer, extra), best_params=jax.tree.map(jnp.copy, params),
                 best_error=jnp.array(jnp.inf, jnp.float32), best_epoch=jnp.array(-1, jnp.int32),
                 bad_epochs=jnp.array(0, jnp.int32), epochs_run=jnp.array(0, jnp.int32))  # dtypes: compile once
    return state if extra is None else dict(state, best_extra=jax.tree.map(jnp.copy, extra))


def initial_members(cfg, data, method: Method, stack: Stack | None, seeds):
    """(graphdef, parameters, batch-norm statistics or None, head hashes), stacked over seeds: the method's
    hidden layers over a head that depends on the seed only."""
    keys = jax.vmap(lambda key: jax.random.fold_in(key, 1000))(seed_keys(seeds[0], len(seeds)))
    graphdef, params, extras, head_hashes = None, [], [], []
    for i, seed in enumerate(seeds):
        hidden_key, head_key, data_key = jax.random.split(keys[i], 3)
        model = classifier(cfg, data.n_features, data.n_classes, hidden_key, method)
        pick = np.random.default_rng(seed).choice(len(data.train_x), min(INIT_BATCH, len(data.train_x)), False)
        stack_index = None
        if stack is not None:
            if seed not in stack.seeds:
                raise ConfigError(f"the pretrained stack holds seeds {stack.seeds} but seed {seed} was asked for; "
                                  "pretrain with at least as many seeds.")
            stack_index = stack.seeds.index(seed)
        initialise_hidden(method, model, jnp.asarray(data.train_x[np.sort(pick)]), data_key, stack, stack_index)
        model.head.kernel[...] = INITS["glorot"](head_key, model.head.kernel.shape)
        head_hashes.append(array_hash(model.head.kernel[...]))
        graphdef, p, e = split_classifier(model, method)
        params.append(p)
        extras.append(e)
    stack_trees = jax.jit(lambda trees: jax.tree.map(lambda *a: jnp.stack(a), *trees))
    return graphdef, stack_trees(params), (stack_trees(extras) if method.stateful else None), head_hashes


def check_unlabelled(cfg, data, method: Method, mesh=None):
    """One sentence when a semi-supervised method's unlabelled minibatch is larger than the pool."""
    if method.unlabelled:
        check_batches(len(data.train_x), cfg.finetune.unlabelled_batch_size,
                      f"the unlabelled pool of {method.name} (finetune.unlabelled_batch_size)", mesh)


def array_hash(*arrays) -> str:
    """A short sha256 of arrays' bytes: equal hashes mean equal inputs (the sweep's pairing evidence)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
    return h.hexdigest()[:12]


def _subsets(data, plan: Plan):
    """Per seed: the labelled training subset and the validation subset (the same for every method)."""
    train, valid = [], []
    for s in plan.seeds:
        train.append(labelled_subset(data.train_x, data.train_y, plan.labels_per_class, data.n_classes, s))
        if plan.valid_per_class is None:
            valid.append((data.valid_x, data.valid_y))
        else:
            valid.append(labelled_subset(data.valid_x, data.valid_y, plan.valid_per_class, data.n_classes,
                                         s + VALID_SEED_OFFSET, what="validation"))
    return train, valid


def _member_data(pairs, n_rates: int, shared: bool):
    """Arrays for every member (seed-major, then learning rate): one shared copy, or stacked per member."""
    if shared:
        return {"x": jnp.asarray(pairs[0][0]), "y": jnp.asarray(pairs[0][1])}, None
    return {"x": jnp.asarray(np.repeat(np.stack([x for x, _ in pairs]), n_rates, axis=0)),
            "y": jnp.asarray(np.repeat(np.stack([y for _, y in pairs]), n_rates, axis=0))}, 0


def finetune(cfg, data, init="he", *, stack: Stack | None = None, plan: Plan | None = None, resume=None,
             log=print, desc: str | None = None, checkpoint_every: int | None = None) -> FinetuneRun:
    """Fine-tune the config's network from `init` (a method name such as "he", "lsuv", "dae+batch_norm", or a
    pretrained Stack) on `data`, for every seed and learning rate of `plan` (default: the config's); nothing is
    written unless a `resume` checkpointer is given (every `checkpoint_every` evaluations, default the config's
    `checkpoint_every`)."""
    if isinstance(init, Stack):
        init, stack = "dae", init
    method = parse_method(init)
    if method.pretrained and stack is None:
        raise ConfigError(f"method '{method.name}' fine-tunes a pretrained stack; pass stack=pretrain_stack(...).")
    plan = plan or plan_from_config(cfg, method)
    f = cfg.finetune
    mesh = device_mesh()
    train_pairs, valid_pairs = _subsets(data, plan)
    n_labels = len(train_pairs[0][0])
    batch_size = min(plan.batch_size, n_labels)
    check_batches(n_labels, batch_size, "the labelled fine-tuning set", mesh)
    rates = tuple(plan.learning_rates)
    train, train_axis = _member_data(train_pairs, len(rates), shared=plan.labels_per_class == 0)
    valid, valid_axis = _member_data(valid_pairs, len(rates), shared=plan.valid_per_class is None)
    train, valid = replicate(train, mesh), replicate(valid, mesh)

    semi = semi_supervised_spec(cfg, method)
    check_unlabelled(cfg, data, method, mesh)
    ladder = ladder_spec(cfg, method) if method.ladder_network else None
    unlabelled_batch = f.unlabelled_batch_size if method.unlabelled else 0
    graphdef, params, extra, head_hashes = initial_members(cfg, data, method, stack, plan.seeds)
    if method.mean_teacher:  # the teacher starts as the student
        extra = {"teacher": params} if extra is None else {"teacher": params, "stats": extra, "teacher_stats": extra}
    subset_hashes = [array_hash(*t, *v) for t, v in zip(train_pairs, valid_pairs)]
    repeat = lambda tree: jax.tree.map(lambda a: jnp.repeat(a, len(rates), axis=0), tree)  # noqa: E731
    member_rates = jnp.asarray(np.tile(rates, len(plan.seeds)), jnp.float32)
    steps_per_epoch = n_labels // batch_size
    rounds = f.epochs if plan.steps is None else -(-plan.steps // plan.eval_every)
    total_steps = f.epochs * steps_per_epoch if plan.steps is None else rounds * plan.eval_every
    frozen = (lambda path: not path.startswith("['head']")) if method.frozen_encoders else None
    clip = f.clip_norm if method.clip else 0.0
    make = (lambda rate: make_optimizer("adam", rate, 0.0, "linear_tail", total_steps, clip,  # noqa: E731
                                        decay_start=cfg.ladder.decay_start)) if ladder is not None else \
        (lambda rate: make_optimizer(f.optimizer, rate, f.momentum, f.schedule, total_steps, clip, frozen))  # noqa: E731

    @jax.jit  # one program, not one per operation
    def member_states(params, extra):
        params, extra = repeat(params), (None if extra is None else jax.tree.map(jnp.copy, repeat(extra)))
        return jax.vmap(lambda p, r, e: finetune_state(p, make(r), e))(params, member_rates, extra)

    states = member_states(params, extra)
    train_keys = repeat(jax.vmap(lambda key: jax.random.fold_in(key, 2000))(seed_keys(plan.seeds[0],
                                                                                       len(plan.seeds))))
    states, start, history = resume_states(resume, states, log, f"{desc or method.name} at evaluation")
    states = replicate(states, mesh)
    loss_fn, eval_fn = ladder_loss(graphdef, ladder, f.l2_weight) if ladder is not None else \
        classifier_loss(graphdef, f.l2_weight, extra is not None, semi)
    every = steps_per_epoch if plan.steps is None else plan.eval_every
    not_before = 0 if semi is None else -(-semi.ramp_steps // every)
    epoch_fn = make_epoch(loss_fn, make(rates[0]), batch_size, eval_fn, early_stopping(f.patience, not_before),
                          data_axes=(train_axis, valid_axis), mesh=mesh,
                          steps_per_round=None if plan.steps is None else plan.eval_every,
                          gradient_diagnostics=cfg.diagnostics,
                          probe_fn=classifier_probe(graphdef, activations_of(cfg), method.mean_teacher)
                          if cfg.diagnostics else None, unlabelled_batch_size=unlabelled_batch,
                          after_step=teacher_after_step(f.mean_teacher_ema) if method.mean_teacher else None)
    unlabelled = replicate(jnp.asarray(data.train_x), mesh) if unlabelled_batch else None
    where = desc or f"finetune-{method.name}"
    named = "" if where == f"finetune-{method.name}" else f" (method {method.name})"
    log(f"{where}{named} on {data.name}: {n_labels} labelled examples and {len(valid_pairs[0][0])} "
        f"validation examples per seed, {len(plan.seeds)} seed(s) x {len(rates)} learning rate(s)"
        + ("" if not unlabelled_batch else f"; unlabelled batches of {unlabelled_batch} from all "
                                           f"{len(data.train_x)} training examples"))
    check = gradient_warnings("encoders.0.kernel", "head.kernel", where) if cfg.diagnostics else None
    epoch_log = EpochLog(where, start, rounds, _fmt(where, rounds, None if plan.steps is None else plan.eval_every),
                         history, log, check)
    t0 = time.perf_counter()
    states = train_epochs(epoch_fn, states, train, valid, train_keys, epoch_log, resume, start=start,
                          epochs=rounds, every=checkpoint_every or cfg.checkpoint_every, step0=0, position={}, where=where,
                          learning_rate=rates if len(rates) > 1 else rates[0], rate_key="finetune.learning_rate",
                          seed=[f"seed {s} (learning_rate={r})" for s in plan.seeds for r in rates], log=log,
                          unlabelled=unlabelled)
    test = replicate({"x": jnp.asarray(data.test_x), "y": jnp.asarray(data.test_y)}, mesh)
    best_extra = states.get("best_extra")
    if best_extra is None:
        test_metrics = jax.jit(jax.vmap(eval_fn, in_axes=(0, None)))(states["best_params"], test)
    else:
        test_metrics = jax.jit(jax.vmap(eval_fn, in_axes=(0, None, 0)))(states["best_params"], test, best_extra)
    host = jax.device_get({k: states[k] for k in ("best_error", "best_epoch", "epochs_run", "diverged")})
    test_error = np.asarray(test_metrics["error"], dtype=np.float64)
    best_params = states["best_params"]
    if method.mean_teacher:  # the teacher is what is kept
        best_params, best_extra = best_extra["teacher"], best_extra.get("teacher_stats")
    rows = [{"seed": int(seed), "learning_rate": float(rate), "valid_error": float(host["best_error"][m]),
             "test_error": float(test_error[m]), "best_eval": int(host["best_epoch"][m]) + 1,
             "evals": int(host["epochs_run"][m]), "best_step": (int(host["best_epoch"][m]) + 1) * every,
             "steps": int(host["epochs_run"][m]) * every, "diverged": bool(host["diverged"][m]),
             "subset_hash": subset_hashes[m // len(rates)], "head_hash": head_hashes[m // len(rates)]}
            for m, (seed, rate) in enumerate((s, r) for s in plan.seeds for r in rates)]
    return FinetuneRun(method.name, rows, graphdef, best_params, best_extra, epoch_log.history,
                       time.perf_counter() - t0, n_labels, len(valid_pairs[0][0]))


def _fmt(where, total, every=None):
    """One log line per epoch (every None) or per evaluation, numbered by optimiser step."""
    def fmt(epoch, m, seconds):
        at = f"epoch {epoch + 1}/{total}" if every is None else f"step {(epoch + 1) * every}/{total * every}"
        return (f"{where} {at}: train loss {finite_mean(m['loss']):.4f} "
                f"error {finite_mean(m['error']):.4f}  valid error {finite_mean(m['valid_error']):.4f}  {seconds:.1f}s")
    return fmt
