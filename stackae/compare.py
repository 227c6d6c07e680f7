"""Pretrained versus random initialisation of the same network: pretrain, fine-tune both, report."""

import pathlib

from stackae.checkpoints import write_json
from stackae.finetune import finetune_run
from stackae.pretrain import pretrain
from stackae.stats import mean_interval


def compare(cfg, workdir, *, overwrite: bool = False, log=print) -> dict:
    """Run the greedy pretraining, then fine-tune the pretrained stack and a randomly initialised one."""
    pretrain(cfg, workdir, overwrite=overwrite, log=log)
    results = {init: finetune_run(cfg, workdir, init=init, overwrite=overwrite, log=log)
               for init in ("pretrained", "random")}
    summary = {init: {k: r[k] for k in ("test_error", "test_error_ci95", "valid_error", "seeds", "labels_used")}
               for init, r in results.items()}
    write_json(pathlib.Path(workdir) / "comparison.json",
               dict(summary, pretrained_minus_random=paired_difference(results)))
    return results


def paired_difference(results: dict) -> dict:
    """Test error of pretrained minus random, paired by seed (same seed = same labelled subset)."""
    pairs = zip(results["pretrained"]["per_seed"], results["random"]["per_seed"])
    diffs = [p["test_error"] - r["test_error"] for p, r in pairs if not (p["diverged"] or r["diverged"])]
    return dict(mean_interval(diffs), pretrained_better=sum(d < 0 for d in diffs))


def format_table(results: dict) -> str:
    """A small text table of test errors (mean and 95% interval over seeds) and their paired difference."""
    lines = [f"{'init':<12}{'test error':>12}{'± 95% CI':>10}{'valid error':>13}{'seeds':>7}{'labels':>8}"]
    for init, r in results.items():
        ci = "n/a" if r["test_error_ci95"] is None else f"{100 * r['test_error_ci95']:.2f}%"
        lines.append(f"{init:<12}{100 * r['test_error']:>11.2f}%{ci:>10}"
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
    return "\n".join(lines)
