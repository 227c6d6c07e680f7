"""The workdir layer of fine-tuning: DIR/finetune-<init> (resume, refusal of mismatched runs, the best
parameters, results.json); `load_classifier` reads a finished run back."""

import pathlib

import jax
from flax import nnx

from stackae.config import activations_of, check_ladder, config_from_json, layer_config
from stackae.core.stats import mean_interval
from stackae.data import labelled_subset, load_dataset
from stackae.errors import CheckpointError
from stackae.methods import parse_method
from stackae.procedures.finetune import FinetuneRun, best_tree, check_unlabelled, classifier, finetune, \
                                        plan_from_config, split_classifier
from stackae.provenance import data_fingerprint
from stackae.workdir.checkpoints import ResumeCheckpoints, restore_tree, save_tree, write_json
from stackae.workdir.pretrain import load_stack
from stackae.workdir.runs import prepare_run_dir, read_finished_run, record_config


def load_classifier(workdir, init: str = "pretrained") -> FinetuneRun:
    """The fine-tuned classifiers saved by `scripts/finetune.py --init INIT` in `workdir`, one member per seed,
    ready to `predict(x, member)` or `encode(x, member)`."""
    out = pathlib.Path(workdir) / f"finetune-{init}"
    results, cfg = read_finished_run(out, "fine-tuning",
                                     f"python scripts/finetune.py --workdir {workdir} --init {init}")
    method = parse_method(results.get("method", "dae" if init == "pretrained" else cfg.finetune.random_init))
    fingerprint = results["data"]
    model = classifier(cfg, fingerprint["n_features"], fingerprint["n_classes"], jax.random.key(0), method)
    graphdef, params, extra = split_classifier(model, method)
    saved = restore_tree(out / "best")
    nnx.replace_by_pure_dict(params, saved["params"])
    if extra is not None:
        nnx.replace_by_pure_dict(extra, saved["extra"])
    return FinetuneRun(method.name, results["per_seed"], graphdef, params, extra, results["history"],
                       results["seconds"], results["labels_used"], results.get("valid_used", 0))


def pretrained_method(cfg) -> str:
    """The method name of `--init pretrained`: the stack's layer kind (dae, cae, rbm), dae for a mixed stack."""
    kinds = {layer_config(cfg, k).layer for k in range(len(cfg.layers))}
    return kinds.pop() if len(kinds) == 1 else "dae"


def check_pretrained(cfg, workdir, method=None):
    """Refuse a missing, unfinished or architecturally different pretrained stack, or one of another layer kind
    than `method` (cae, rbm) starts from, in one sentence."""
    out = pathlib.Path(workdir) / "pretrain"
    if not (out / "summary.json").exists():
        raise CheckpointError(
            f"no finished pretraining in {out}; run `python scripts/pretrain.py --workdir {workdir}` with the same "
            "config first, or use --init random."
        )
    saved = config_from_json((out / "config.json").read_text())
    for key in ("dataset", "layers", "seed", "seeds"):
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
    kinds = [layer_config(saved, k).layer for k in range(len(saved.layers))]
    if method is not None and method.init in ("cae", "rbm") and set(kinds) != {method.init}:
        raise CheckpointError(
            f"method '{method.name}' starts from a stack of {method.init} layers, but the stack in {out} has "
            f"{', '.join(kinds)} layers; pretrain with --config.pretrain.layer={method.init}, or use --init "
            "pretrained.")


def results_of(run: FinetuneRun, data, cfg, init: str) -> dict:
    """The results.json of a plain run (one learning rate): per seed and mean with a 95% interval."""
    per_seed = [dict(r, best_epoch=r["best_eval"], epochs=r["evals"]) for r in run.rows]
    ok = [r for r in per_seed if not r["diverged"]] or per_seed
    test_summary = mean_interval([r["test_error"] for r in ok])
    return {
        "dataset": data.name, "init": init, "method": run.method, "labels_used": run.labels_used,
        "valid_used": run.valid_used, "labels_per_class": cfg.labels_per_class, "seed": cfg.seed,
        "seeds": [r["seed"] for r in run.rows], "data": data_fingerprint(data),
        "valid_error": mean_interval([r["valid_error"] for r in ok])["mean"],
        "test_error": test_summary["mean"], "test_error_ci95": test_summary["ci95"],
        "best_epoch": per_seed[0]["best_epoch"], "epochs": max(r["epochs"] for r in per_seed),
        "seconds": run.seconds, "per_seed": per_seed, "history": run.history,
    }


def finetune_run(cfg, workdir, *, init: str = "pretrained", overwrite: bool = False, log=print) -> dict:
    """Fine-tune from `init` ("pretrained", "random" = the config's finetune.random_init, or a method name);
    write DIR/finetune-<init>/results.json and the best parameters."""
    method = parse_method(pretrained_method(cfg) if init == "pretrained" else cfg.finetune.random_init
                          if init == "random" else init)
    if method.ladder_network:
        check_ladder(cfg)
    if method.pretrained:
        check_pretrained(cfg, workdir, method)
    out = pathlib.Path(workdir) / f"finetune-{init}"
    finished = prepare_run_dir(out, cfg, "results.json", overwrite, log)
    if finished is not None:
        return finished
    data = load_dataset(cfg, unit_range=False)
    stack = load_stack(workdir, cfg, data.n_features) if method.pretrained else None
    plan = plan_from_config(cfg, method)
    for s in plan.seeds:  # one-sentence errors before anything is written
        labelled_subset(data.train_x, data.train_y, plan.labels_per_class, data.n_classes, s)
    check_unlabelled(cfg, data, method)
    record_config(out, cfg)
    resume = ResumeCheckpoints(out / "state")
    run = finetune(cfg, data, method.name, stack=stack, plan=plan, resume=resume, log=log, desc=f"finetune-{init}")
    resume.close()
    save_tree(out / "best", best_tree(run))
    results = results_of(run, data, cfg, init)
    write_json(out / "results.json", results)
    return results
