"""Supervised fine-tuning of the stacked encoders under a softmax head, from the pretrained stack or from a
random init, with early stopping on validation error and best-epoch restore; all seeds at once."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stackae.checkpoints import ResumeCheckpoints, save_tree, write_json
from stackae.config import activations_of, config_from_json
from stackae.data import labelled_subset, load_dataset
from stackae.engine import check_batches, init_train_state, device_mesh, make_epoch, replicate, seed_keys
from stackae.errors import CheckpointError
from stackae.losses import classification_error, softmax_cross_entropy, weight_penalty
from stackae.models import StackedClassifier
from stackae.optim import make_optimizer
from stackae.pretrain import load_pretrained_encoders
from stackae.runs import EpochLog, prepare_run_dir, record_config, train_epochs
from stackae.stats import mean_interval

INITS = ("pretrained", "random")
ARCHITECTURE_KEYS = ("dataset", "layers", "seed", "seeds")


def classifier(cfg, n_features: int, n_classes: int, key) -> StackedClassifier:
    return StackedClassifier((n_features, *cfg.layers), n_classes, activation_names=activations_of(cfg),
                             init=cfg.finetune.random_init, rngs=nnx.Rngs(key))


def check_pretrained(cfg, workdir):
    """Refuse a missing, unfinished or architecturally different pretrained stack, in one sentence."""
    out = pathlib.Path(workdir) / "pretrain"
    if not (out / "summary.json").exists():
        raise CheckpointError(
            f"no finished pretraining in {out}; run `python scripts/pretrain.py --workdir {workdir}` with the same "
            "config first, or use --init random."
        )
    saved = config_from_json((out / "config.json").read_text())
    for key in ARCHITECTURE_KEYS:
        if saved[key] != cfg[key]:
            raise CheckpointError(
                f"the pretrained stack in {out} has {key}={saved[key]!r} but this config has {key}={cfg[key]!r}; "
                "fine-tune with the config used for pretraining, or pretrain again."
            )
    if activations_of(saved) != activations_of(cfg):
        raise CheckpointError(
            f"the pretrained stack in {out} uses activations {activations_of(saved)} but this config has "
            f"{activations_of(cfg)}; fine-tune with the config used for pretraining, or pretrain again."
        )


def classifier_loss(graphdef, l2_weight: float):
    """Softmax cross-entropy (+ L2 on kernels) and validation error/loss for one seed."""

    def loss_fn(params, batch, key):
        del key
        logits = nnx.merge(graphdef, params)(batch["x"])
        loss = softmax_cross_entropy(logits, batch["y"])
        kernels = [p for path, p in jax.tree.leaves_with_path(params) if "kernel" in jax.tree_util.keystr(path)]
        loss += weight_penalty(kernels, 0.0, l2_weight)
        return loss, {"error": classification_error(logits, batch["y"])}

    def eval_fn(params, held_out):
        logits = nnx.merge(graphdef, params)(held_out["x"])
        return {"error": classification_error(logits, held_out["y"]),
                "loss": softmax_cross_entropy(logits, held_out["y"])}

    return loss_fn, eval_fn


def early_stopping(patience: int):
    """after_epoch hook: keep the best parameters by validation error; stop a seed after `patience` bad epochs."""

    def after_epoch(state, metrics, epoch_index):
        improved = state["active"] & (metrics["valid_error"] < state["best_error"])
        bad = jnp.where(improved, 0, state["bad_epochs"] + state["active"].astype(jnp.int32))
        return dict(
            state,
            best_params=jax.tree.map(lambda a, b: jnp.where(improved, a, b), state["params"], state["best_params"]),
            best_error=jnp.where(improved, metrics["valid_error"], state["best_error"]),
            best_epoch=jnp.where(improved, epoch_index, state["best_epoch"]),
            bad_epochs=bad,
            active=state["active"] & (bad < patience),
            epochs_run=state["epochs_run"] + state["active"].astype(jnp.int32),
        )

    return after_epoch


def finetune_state(params, optimizer):
    return dict(init_train_state(params, optimizer), best_params=jax.tree.map(jnp.copy, params), best_error=jnp.array(jnp.inf, jnp.float32),
                best_epoch=jnp.array(-1, jnp.int32), bad_epochs=jnp.array(0, jnp.int32),
                epochs_run=jnp.array(0, jnp.int32))  # explicit dtypes: the epoch program compiles once


def _fmt(init, total):
    def fmt(epoch, m, seconds):
        return (f"finetune-{init} epoch {epoch + 1}/{total}: train loss {np.nanmean(m['loss']):.4f} "
                f"error {np.nanmean(m['error']):.4f}  valid error {np.nanmean(m['valid_error']):.4f}  {seconds:.1f}s")
    return fmt


def finetune(cfg, workdir, *, init: str = "pretrained", overwrite: bool = False, log=print) -> dict:
    """Fine-tune from `init` ("pretrained" or "random"); write DIR/finetune-<init>/results.json."""
    if init not in INITS:
        raise CheckpointError(f"unknown init '{init}'; choose pretrained or random.")
    if init == "pretrained":
        check_pretrained(cfg, workdir)
    out = pathlib.Path(workdir) / f"finetune-{init}"
    finished = prepare_run_dir(out, cfg, "results.json", overwrite, log)
    if finished is not None:
        return finished
    f = cfg.finetune
    data = load_dataset(cfg, unit_range=False)
    seeds = [cfg.seed + s for s in range(cfg.seeds)]
    subsets = [labelled_subset(data.train_x, data.train_y, cfg.labels_per_class, data.n_classes, s) for s in seeds]
    mesh = device_mesh()
    check_batches(len(subsets[0][0]), f.batch_size, "the labelled fine-tuning set", mesh)
    record_config(out, cfg)
    if cfg.labels_per_class:
        train = {"x": jnp.stack([x for x, _ in subsets]), "y": jnp.stack([y for _, y in subsets])}
    else:
        train = {"x": jnp.asarray(data.train_x), "y": jnp.asarray(data.train_y)}
    train = replicate(train, mesh)
    valid = replicate({"x": jnp.asarray(data.valid_x), "y": jnp.asarray(data.valid_y)}, mesh)
    test = replicate({"x": jnp.asarray(data.test_x), "y": jnp.asarray(data.test_y)}, mesh)

    keys = jax.vmap(lambda key: jax.random.fold_in(key, 1000))(seed_keys(cfg.seed, cfg.seeds))
    init_keys, train_keys = jax.vmap(lambda key: tuple(jax.random.split(key)))(keys)
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: classifier(cfg, data.n_features, data.n_classes,
                                                              jax.random.key(0))))
    params = jax.vmap(lambda key: nnx.state(classifier(cfg, data.n_features, data.n_classes, key)))(init_keys)
    if init == "pretrained":
        for k, (w, b) in enumerate(load_pretrained_encoders(workdir, cfg, data.n_features)):
            params["encoders"][k]["kernel"][...] = jnp.asarray(w)
            params["encoders"][k]["bias"][...] = jnp.asarray(b)
    steps = f.epochs * (len(subsets[0][0]) // f.batch_size)
    optimizer = make_optimizer(f.optimizer, f.learning_rate, f.momentum, f.schedule, steps)
    states = jax.vmap(lambda p: finetune_state(p, optimizer))(params)
    resume = ResumeCheckpoints(out / "state")
    position = resume.latest_position()
    start, history = 0, []
    if position:
        states = resume.restore_state(position["step"], states)
        start, history = position["epoch"], position["history"]
        log(f"resuming finetune-{init} at epoch {start + 1}")
    states = replicate(states, mesh)
    loss_fn, eval_fn = classifier_loss(graphdef, f.l2_weight)
    epoch_fn = make_epoch(loss_fn, optimizer, f.batch_size, eval_fn, early_stopping(f.patience),
                          data_axes=(0 if cfg.labels_per_class else None, None), mesh=mesh)
    log(f"fine-tuning from {init} init on {data.name}: {len(subsets[0][0])} labelled examples per seed, "
        f"{cfg.seeds} seed(s)")
    epoch_log = EpochLog(f"finetune-{init}", start, f.epochs, _fmt(init, f.epochs), history)
    states = train_epochs(epoch_fn, states, train, valid, train_keys, epoch_log, resume, start=start,
                          epochs=f.epochs, every=cfg.checkpoint_every, step0=0, position={},
                          where=f"finetune-{init}", learning_rate=f.learning_rate,
                          rate_key="finetune.learning_rate", seed=cfg.seed, log=log)
    resume.close()

    test_metrics = jax.jit(jax.vmap(eval_fn, in_axes=(0, None)))(states["best_params"], test)
    save_tree(out / "best", nnx.to_pure_dict(states["best_params"]))
    host = jax.device_get({k: states[k] for k in ("best_error", "best_epoch", "epochs_run", "diverged")})
    test_error = np.asarray(test_metrics["error"], dtype=np.float64)
    per_seed = [
        {"seed": s, "valid_error": float(host["best_error"][i]), "test_error": float(test_error[i]),
         "best_epoch": int(host["best_epoch"][i]) + 1, "epochs": int(host["epochs_run"][i]),
         "diverged": bool(host["diverged"][i])}
        for i, s in enumerate(seeds)
    ]
    ok = [r for r in per_seed if not r["diverged"]] or per_seed
    test_summary = mean_interval([r["test_error"] for r in ok])
    results = {
        "dataset": data.name, "init": init, "labels_used": int(len(subsets[0][0])),
        "labels_per_class": cfg.labels_per_class, "seed": cfg.seed, "seeds": seeds,
        "valid_error": mean_interval([r["valid_error"] for r in ok])["mean"],
        "test_error": test_summary["mean"],
        "test_error_ci95": test_summary["ci95"],
        "best_epoch": per_seed[0]["best_epoch"], "epochs": max(r["epochs"] for r in per_seed),
        "seconds": epoch_log.seconds, "per_seed": per_seed, "history": epoch_log.history,
    }
    write_json(out / "results.json", results)
    return results
