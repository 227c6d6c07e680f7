"""Summaries over seeds: mean and a 95% Student-t confidence interval."""

import math

import numpy as np
from scipy.special import stdtrit  # the t quantile: scipy.stats.t.ppf without importing scipy.stats


def mean_interval(values, confidence: float = 0.95) -> dict:
    """Mean of `values` and the half-width of its `confidence` t-interval (None for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if len(v) < 2:
        return {"mean": mean, "ci95": None, "n": int(len(v))}
    half = stdtrit(len(v) - 1, 0.5 + confidence / 2) * v.std(ddof=1) / math.sqrt(len(v))
    return {"mean": mean, "ci95": float(half), "n": int(len(v))}


def finite_mean(values):
    """Mean over the seeds that stayed finite (nan when none did; None if nothing was measured)."""
    if values is None:
        return None
    v = np.asarray(values, dtype=np.float64)
    return float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")
