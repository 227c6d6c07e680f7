import numpy as np
from scipy import stats

from stackae.stats import mean_interval


def test_mean_interval_matches_the_t_interval():
    v = [0.012, 0.015, 0.011, 0.014]
    r = mean_interval(v)
    low, high = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert r["n"] == 4 and np.isclose(r["mean"], np.mean(v)) and np.isclose(r["ci95"], (high - low) / 2)


def test_single_value_has_zero_width():
    assert mean_interval([0.5]) == {"mean": 0.5, "ci95": 0.0, "n": 1}
