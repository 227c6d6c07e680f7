import numpy as np
from scipy import stats

from stackae.core.stats import mean_interval


def test_mean_interval_matches_the_t_interval():
    v = [0.012, 0.015, 0.011, 0.014]
    r = mean_interval(v)
    low, high = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert r["n"] == 4 and np.isclose(r["mean"], np.mean(v)) and np.isclose(r["ci95"], (high - low) / 2)


def test_single_value_has_no_interval():
    assert mean_interval([0.5]) == {"mean": 0.5, "ci95": None, "n": 1}


def test_paired_difference_pairs_seeds_and_skips_diverged():
    from stackae.experiments.compare import paired_difference

    def run(errors, diverged=()):
        return {"per_seed": [{"test_error": e, "diverged": i in diverged} for i, e in enumerate(errors)]}

    d = paired_difference({"pretrained": run([0.1, 0.2, 0.3], diverged=(2,)), "random": run([0.2, 0.2, 0.1])})
    assert d["n"] == 2 and np.isclose(d["mean"], -0.05) and d["pretrained_better"] == 1


def test_the_main_jobs_last_line_says_what_the_interval_means_and_where_to_go():
    from stackae.experiments.compare import what_next
    tied = what_next(dict(mean_interval([-0.01, 0.02, 0.0]), pretrained_better=1), 0)
    assert "cannot tell the two inits apart" in tied
    assert "scripts/compare.py --config.labels_per_class=10 --workdir runs/digits-10-per-class" in tied
    assert "scripts/sweep.py" in tied and "notebooks/" in tied
    pays = what_next(dict(mean_interval([-0.05, -0.04, -0.06]), pretrained_better=3), 10)
    assert "pretraining pays here" in pays and "labels_per_class=10" not in pays
    assert "pretraining costs here" in what_next(dict(mean_interval([0.05, 0.04, 0.06]), pretrained_better=0), 10)
