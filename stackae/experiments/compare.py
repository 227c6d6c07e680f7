"""Pretrained versus random initialisation of the same network: pretrain, fine-tune both, report; for the
classifier (test error) and for the deep autoencoder (test squared error, beside PCA)."""

import copy
import pathlib

from stackae.core.stats import mean_interval
from stackae.data import load_dataset
from stackae.procedures.autoencoder import pca_baseline
from stackae.procedures.pretrain import reconstruction_of
from stackae.workdir.autoencoder import reconstruction_run
from stackae.workdir.checkpoints import write_json
from stackae.workdir.finetune import finetune_run, pretrained_method
from stackae.workdir.pretrain import pretrain


def compared_inits(cfg) -> dict:
    """The two arms of the comparison, by finetune_run init: the pretrained stack and finetune.random_init, each
    with finetune.compare_remedies (e.g. dae+dropout and he+dropout), or plainly `pretrained` and `random`."""
    remedies = cfg.finetune.compare_remedies
    if not remedies:
        return {"pretrained": "pretrained", "random": "random"}
    return {"pretrained": f"{pretrained_method(cfg)}+{remedies}", "random": f"{cfg.finetune.random_init}+{remedies}"}


def comparison_file(cfg) -> str:
    """comparison.json, or comparison-<remedies>.json for arms fine-tuned with finetune.compare_remedies (so the
    plain and the remedied comparison of one stack sit side by side)."""
    remedies = cfg.finetune.compare_remedies
    return f"comparison-{remedies}.json" if remedies else "comparison.json"


def compare(cfg, workdir, *, overwrite: bool = False, log=print) -> dict:
    """Run the greedy pretraining, then fine-tune the pretrained stack and a randomly initialised one (with
    finetune.compare_remedies on both, if any); results keyed "pretrained" and "random"."""
    pretrain(cfg, workdir, overwrite=overwrite, log=log)
    inits = compared_inits(cfg)
    results = {arm: finetune_run(cfg, workdir, init=init, overwrite=overwrite, log=log) for arm, init in inits.items()}
    summary = {arm: {"method": inits[arm], **{k: r[k] for k in (
        "test_error", "test_error_ci95", "valid_error", "seeds", "labels_used")}} for arm, r in results.items()}
    write_json(pathlib.Path(workdir) / comparison_file(cfg),
               dict(summary, pretrained_minus_random=paired_difference(results)))
    return results


def paired_difference(results: dict, other: str = "random", measure: str = "test_error") -> dict:
    """`measure` of pretrained minus `other`, paired by seed (same seed = same labelled subset), diverged seeds
    left out."""
    pairs = zip(results["pretrained"]["per_seed"], results[other]["per_seed"])
    diffs = [p[measure] - r[measure] for p, r in pairs if not (p["diverged"] or r["diverged"])]
    return dict(mean_interval(diffs), pretrained_better=sum(d < 0 for d in diffs))


def compare_reconstruction(cfg, workdir, *, overwrite: bool = False, log=print) -> dict:
    """The deep-autoencoder comparison (Hinton & Salakhutdinov 2006): pretrain; fine-tune reconstruction from the
    unrolled stack, from `finetune.random_init` with the same optimiser and budget, and from it with Adam at
    `autoencoder.adam_learning_rate`; PCA with the code size. Writes DIR/autoencoder.json."""
    pretrain(cfg, workdir, overwrite=overwrite, log=log)
    results = {init: reconstruction_run(cfg, workdir, init=init, overwrite=overwrite, log=log)
               for init in ("pretrained", "random")}
    if cfg.autoencoder.optimizer != "adam":
        adam = copy.deepcopy(cfg)
        adam.autoencoder.optimizer, adam.autoencoder.learning_rate = "adam", cfg.autoencoder.adam_learning_rate
        results["random-adam"] = reconstruction_run(adam, workdir, init="random", overwrite=overwrite, log=log)
    data = load_dataset(cfg, unit_range=reconstruction_of(cfg, 0) == "sigmoid_cross_entropy", log=log)
    keys = ("method", "optimizer", "learning_rate", "test_squared_error", "test_squared_error_ci95",
            "valid_squared_error", "seeds", "epochs", "seconds")
    summary = {name: {k: r[k] for k in keys} for name, r in results.items()}
    summary["pca"] = {"method": "pca", "test_squared_error": pca_baseline(data, cfg.layers[-1])["test_squared_error"]}
    paired = {f"pretrained_minus_{name}": paired_difference(results, name, "test_squared_error")
              for name in results if name != "pretrained"}
    report = {"architecture": [data.n_features, *cfg.layers], "dataset": data.name,
              "test_examples": int(len(data.test_x)), "runs": summary, **paired}
    write_json(pathlib.Path(workdir) / "autoencoder.json", report)
    return report


def format_reconstruction_table(report: dict) -> str:
    """A markdown table of the deep-autoencoder comparison: test squared error per example, mean and 95% interval
    over seeds, and each paired difference of pretrained to a random init."""
    lines = [f"Deep autoencoder {'-'.join(map(str, report['architecture']))} on {report['dataset']}: test squared "
             f"error per example (sum over the {report['architecture'][0]} inputs, mean over "
             f"{report['test_examples']} test examples); mean and 95% t-interval over seeds.", "",
             "| run | init | optimizer (rate) | test squared error | valid | seeds | epochs | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in report["runs"].items():
        if name == "pca":
            lines.append(f"| PCA | {report['architecture'][-1]} components | closed form | "
                         f"{r['test_squared_error']:.2f} | | | | |")
            continue
        ci = "" if r["test_squared_error_ci95"] is None else f" ± {r['test_squared_error_ci95']:.2f}"
        lines.append(f"| {name} | {r['method']} | {r['optimizer']} ({r['learning_rate']:g}) | "
                     f"{r['test_squared_error']:.2f}{ci} | {r['valid_squared_error']:.2f} | {len(r['seeds'])} | "
                     f"{r['epochs']} | {r['seconds']:.0f} |")
    lines.append("")
    for key, d in report.items():
        if key.startswith("pretrained_minus_") and d["n"] > 1:
            lines.append(f"- pretrained - {key[len('pretrained_minus_'):]}, paired over seeds: {d['mean']:+.2f} ± "
                         f"{d['ci95']:.2f} (pretrained better in {d['pretrained_better']} of {d['n']})")
    return "\n".join(lines)


def format_table(results: dict) -> str:
    """A small text table of test errors (mean and 95% interval over seeds) and their paired difference."""
    names = {arm: f"{arm} ({r['method']})" for arm, r in results.items()}
    width = max(len(n) for n in names.values()) + 2
    lines = [f"{'init':<{width}}{'test error':>12}{'± 95% CI':>10}{'valid error':>13}{'seeds':>7}{'labels':>8}"]
    for arm, r in results.items():
        ci = "n/a" if r["test_error_ci95"] is None else f"{100 * r['test_error_ci95']:.2f}%"
        lines.append(f"{names[arm]:<{width}}{100 * r['test_error']:>11.2f}%{ci:>10}"
                     f"{100 * r['valid_error']:>12.2f}%{len(r['seeds']):>7}{r['labels_used']:>8}")
    d = paired_difference(results)
    if d["n"] > 1:
        lines.append(f"pretrained - random, paired over seeds: {100 * d['mean']:+.2f} ± {100 * d['ci95']:.2f} "
                     f"points (pretrained better in {d['pretrained_better']} of {d['n']})")
    r = next(iter(results.values()))
    n_test = r.get("data", {}).get("sizes", {}).get("test", "the")
    lines.append(
        f"Test error on {n_test} held-out test examples: the mean over {len(r['seeds'])} seed(s) with its 95% "
        "t-interval (n/a for one seed); each seed has its own init, minibatch order and noise, the same for both "
        "inits." + (" The paired difference compares the two inits seed by seed: an interval that contains zero "
                    "means these seeds cannot tell them apart." if d["n"] > 1 else ""))
    lines.append(what_next(d, r.get("labels_per_class", 0), r.get("dataset", "digits")))
    return "\n".join(lines)


def what_next(d: dict, labels_per_class: int, dataset: str = "digits") -> str:
    """What the paired difference `d` says, and where to go from here (commands runnable as printed)."""
    if d["n"] > 1 and d["ci95"] is not None:
        lo, hi = d["mean"] - d["ci95"], d["mean"] + d["ci95"]
        verdict = "pretraining pays here" if hi < 0 else "pretraining costs here" if lo > 0 else \
            "these seeds cannot tell the two inits apart"
    else:
        verdict = "one seed cannot tell the two inits apart"
    if not labels_per_class:
        hint = ("with every label, pretraining is not expected to pay. Where it can, with scarce labels: "
                ".venv/bin/python scripts/compare.py --config.labels_per_class=10 "
                f"--workdir runs/{dataset}-10-per-class (10 labels per class; same config otherwise), the "
                "label-scarce sweep (.venv/bin/python scripts/sweep.py, a few minutes: modern inits, semi-supervised "
                "remedies, the ladder, several budgets and seeds) and notebooks/02 and 06, where on MNIST the DAE "
                "stack beats He init at 100 and 1,000 labels on every seed")
    else:
        hint = ("for modern inits, semi-supervised remedies and the ladder at several label budgets, run "
                ".venv/bin/python scripts/sweep.py; notebooks/02, 06 and 07 show the results on MNIST and digits")
    return f"What this says: {verdict}; {hint}."
