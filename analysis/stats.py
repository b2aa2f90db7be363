"""Intervals for the numbers the figures show.

- proportions (collapse rate): the Wilson score interval, z = 1.96 (95%); it stays inside
  [0, 1] and is sensible for k = 0 or k = n with the handful of seeds a sweep has.
- means and medians over seeds: the percentile bootstrap (2000 resamples of the seeds, numpy
  generator with a fixed seed, 95%), so the same table always gives the same interval. With one
  seed the interval is the point itself. A percentile interval can, for very skewed samples,
  miss its own point estimate; it is then widened to include it (``bootstrap`` says so).
"""
from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054
N_BOOT = 2000
BOOT_SEED = 0


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """(k / n, low, high): the Wilson score interval of a proportion; NaNs when n = 0."""
    if n <= 0:
        return math.nan, math.nan, math.nan
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def bootstrap(values, stat: str = "mean", level: float = 0.95, n_boot: int = N_BOOT,
              seed: int = BOOT_SEED) -> tuple[float, float, float]:
    """(estimate, low, high): ``stat`` ("mean" or "median") of ``values`` and its percentile
    bootstrap interval (resampling the values with replacement); NaNs for no values. The
    interval is widened, if ever needed, to contain the estimate."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    f = {"mean": np.mean, "median": np.median}[stat]
    est = float(f(x))
    if x.size == 1:
        return est, est, est
    idx = np.random.default_rng(seed).integers(0, x.size, size=(n_boot, x.size))
    boots = f(x[idx], axis=1)
    lo, hi = np.percentile(boots, [50 * (1 - level), 50 * (1 + level)])
    return est, min(float(lo), est), max(float(hi), est)
