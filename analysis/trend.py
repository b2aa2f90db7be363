"""Trend tests: does failure (or quality) change with a trait, and how surely?

    trend(df, "n_modes", "dropped_modes")      # per model kind: log-odds slope of the flag on the
    trend(df, "separation", "quality")         # trait, or the least-squares slope of a metric

A verdict flag is regressed on the trait by logistic regression, the runs counted as a rate
counts them (``table.counted_flags``: a diverged run fails, a crashed one is left out); a metric
by least squares over its complete runs (``table.complete_values``). The trait enters as log2
when its grid is geometric (``plots.geometric``: the slope is then per doubling), else as is.
The interval is a percentile bootstrap of the slope over runs resampled within each trait value
(so every trait value keeps its runs), ``p_boot`` the two-sided bootstrap share of slopes on the
other side of zero. The logistic fit carries a weak ridge on the slope (a normal prior of sd
``PRIOR_SD`` log-odds per unit of the standardised trait) so that a perfectly separated design
(all failures above some trait value, none below) gives a large finite slope, not infinity;
``separated`` says when that happened.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from .plots import geometric
from .stats import N_BOOT, BOOT_SEED
from .table import complete_values, counted_flags, label, resolve

PRIOR_SD = 5.0


def logistic_slope(x: np.ndarray, y: np.ndarray) -> float:
    """The slope of a ridge-penalised logistic regression of 0 / 1 ``y`` on ``x`` (per unit of x)."""
    sd = x.std()
    if sd == 0 or len(np.unique(y)) < 2:
        return 0.0
    z = (x - x.mean()) / sd

    def loss(w):
        eta = w[0] + w[1] * z
        return np.sum(np.logaddexp(0, eta) - y * eta) + w[1] ** 2 / (2 * PRIOR_SD ** 2)

    def grad(w):
        r = 1 / (1 + np.exp(-(w[0] + w[1] * z))) - y
        return np.array([r.sum(), (r * z).sum() + w[1] / PRIOR_SD ** 2])

    return float(minimize(loss, np.zeros(2), jac=grad, method="BFGS").x[1] / sd)


def ls_slope(x: np.ndarray, y: np.ndarray) -> float:
    """The least-squares slope of ``y`` on ``x``."""
    return 0.0 if x.std() == 0 else float(np.polyfit(x, y, 1)[0])


def _separated(x: np.ndarray, y: np.ndarray) -> bool:
    """Every failure on one side of every success (the logistic MLE would be infinite)."""
    if len(np.unique(y)) < 2:
        return False
    one, zero = x[y == 1], x[y == 0]
    return bool(one.min() >= zero.max() or one.max() <= zero.min())


def trend(df: pd.DataFrame, trait: str, outcome: str, by: str | None = "model",
          n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> pd.DataFrame:
    """One row per ``by`` group (default: model kind): kind (logistic / least squares), scale
    (log2 / linear), n runs, the outcome at the lowest and highest trait value, slope, lo, hi,
    p_boot, separated. ``outcome``: a verdict flag (``dropped_modes``) or a metric (``quality``)."""
    col = resolve(df, trait)
    out = resolve(df, outcome)
    is_flag = out.startswith("verdict.")
    values = sorted(pd.to_numeric(df[col], errors="coerce").dropna().unique())
    if len(values) < 2:
        raise ValueError(f"--trait {trait!r} takes {len(values)} value(s) in these trials; a trend needs at least 2")
    log = geometric(values) and min(values) > 0
    rows = []
    groups = df.groupby(by, sort=True) if by else [("all", df)]
    for key, g in groups:
        y = counted_flags(g, out) if is_flag else complete_values(g, out)
        x = pd.to_numeric(g.loc[y.index, col], errors="coerce")
        keep = np.isfinite(x)
        x, y = x[keep].to_numpy(float), y[keep].to_numpy(float)
        if log:
            x = np.log2(x)
        fit = logistic_slope if is_flag else ls_slope
        rng = np.random.default_rng(seed)
        strata = [np.flatnonzero(x == v) for v in np.unique(x)]
        boots = np.array([fit(x[i], y[i]) for i in (
            np.concatenate([rng.choice(s, len(s)) for s in strata]) for _ in range(n_boot))]) if len(strata) > 1 else []
        slope = fit(x, y)
        lo, hi = np.percentile(boots, [2.5, 97.5]) if len(boots) else (math.nan, math.nan)
        p = min(1.0, 2 * min(np.mean(boots <= 0), np.mean(boots >= 0))) if len(boots) else math.nan
        ends = [y[x == x.min()].mean(), y[x == x.max()].mean()] if len(x) else [math.nan, math.nan]
        rows.append({by or "group": key, "outcome": label(out), "trait": label(col),
                     "fit": "logistic" if is_flag else "least squares", "scale": "log2" if log else "linear",
                     "n": len(x), "at_low": ends[0], "at_high": ends[1], "slope": slope,
                     "lo": min(float(lo), slope), "hi": max(float(hi), slope), "p_boot": p,
                     "separated": _separated(x, y) if is_flag else False})
    return pd.DataFrame(rows)
