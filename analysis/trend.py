"""Trend tests: does failure (or quality) change with a trait, and how surely?

    trend(df, "n_modes", "dropped_modes")      # per model kind: log-odds slope of the flag on the
    trend(df, "separation", "quality")         # trait, or the least-squares slope of a metric

A verdict flag is regressed on the trait by logistic regression, the runs counted as a rate
counts them (``table.counted_flags``: a diverged run fails, a crashed one is left out); a metric
by least squares over its complete runs (``table.complete_values``). The trait enters as log2
when its grid is geometric (``plots.geometric``: the slope is then per doubling), else as is.
The interval is a percentile bootstrap of the slope over runs resampled within each trait value
(so every trait value keeps its runs; with ``cluster``, whole clusters of rows, such as a run's
modes, are resampled among the clusters holding the same trait values), ``p_boot`` the
two-sided bootstrap share of slopes on the other side of zero. The logistic fit carries a weak
ridge on the slope (a normal prior of sd ``PRIOR_SD`` log-odds per unit of the standardised
trait) so that a perfectly separated design
(all failures above some trait value, none below) gives a large finite slope, not infinity;
``separated`` says when that happened. ``x50`` is where the fit crosses one half (for the flag
``learned``: where success falls below one half), in trait units, with its bootstrap interval
(replicates that do not cross count at the end they stay beyond); when the fit does not cross
inside the tested range, x50 is NaN and ``x50_side`` says whether it stays above or below 1/2.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .plots import geometric
from .stats import N_BOOT, BOOT_SEED
from .table import complete_values, counted_flags, label, resolve

PRIOR_SD = 5.0


def logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(intercept, slope) of a ridge-penalised logistic regression of 0 / 1 ``y`` on ``x`` (the
    log-odds are intercept + slope * x), by Newton's method; ``y`` [n] or [B, n] (B fits sharing
    x, as bootstrap replicates do). An all-equal row gives slope 0 and an infinite intercept."""
    Y = np.atleast_2d(y).astype(float)
    sd = x.std()
    z = (x - x.mean()) / (sd or 1.0)
    w = np.zeros((len(Y), 2))
    ridge = np.diag([0.0, 1 / PRIOR_SD ** 2])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(w[:, :1] + w[:, 1:] * z)))
        r, v = p - Y, np.clip(p * (1 - p), 1e-12, None)
        grad = np.stack([r.sum(1), (r * z).sum(1)], 1) + w @ ridge
        hess = np.stack([np.stack([v.sum(1), (v * z).sum(1)], 1),
                         np.stack([(v * z).sum(1), (v * z * z).sum(1)], 1)], 1) + ridge
        step = np.clip(np.linalg.solve(hess, grad[..., None])[..., 0], -5, 5)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    a, b = w[:, 0], w[:, 1] / (sd or 1.0)
    a = a - b * x.mean()
    flat = Y.min(1) == Y.max(1)
    a[flat], b[flat] = np.where(Y[flat, 0] == 1, math.inf, -math.inf), 0.0
    if sd == 0:                                         # one trait value: no slope
        b[:] = 0.0
    return (a, b) if np.ndim(y) == 2 else (float(a[0]), float(b[0]))


def ls_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(intercept, slope) of the least-squares line of ``y`` [n] or [B, n] on ``x``."""
    Y = np.atleast_2d(y).astype(float)
    dx = x - x.mean()
    b = (Y - Y.mean(1, keepdims=True)) @ dx / (dx @ dx) if dx.any() else np.zeros(len(Y))
    a = Y.mean(1) - b * x.mean()
    return (a, b) if np.ndim(y) == 2 else (float(a[0]), float(b[0]))


def side(x50: float, lo: float, hi: float, fitted_mid: float) -> str:
    """Where the fit sits against 1/2 when it does not cross inside (lo, hi): "crosses", else
    "above" or "below" over the whole tested range (read from the fit at the range's middle)."""
    return "crosses" if lo < x50 < hi else ("above" if fitted_mid > 0.5 else "below")


def crossing(a, b, link: str, lo: float, hi: float):
    """Where the fitted line (``link`` logistic: probability; else the value) crosses 1/2, clipped
    to the tested range [lo, hi] (a curve that stays above 1/2 over it gives hi, below gives lo);
    elementwise over arrays of fits."""
    level = 0.0 if link == "logistic" else 0.5
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = np.where(b != 0, (level - a) / np.where(b != 0, b, 1), np.where(a > level, hi, lo))
    at = np.clip(np.nan_to_num(at, nan=lo, posinf=hi, neginf=lo), lo, hi)
    return float(at) if at.ndim == 0 else at


def _separated(x: np.ndarray, y: np.ndarray) -> bool:
    """Every failure on one side of every success (the logistic MLE would be infinite)."""
    if len(np.unique(y)) < 2:
        return False
    one, zero = x[y == 1], x[y == 0]
    return bool(one.min() >= zero.max() or one.max() <= zero.min())


def _strata(x: np.ndarray, cluster: np.ndarray | None) -> list[np.ndarray]:
    """The bootstrap's strata: arrays [m, r] of row indices, m clusters of r rows each, whose rows
    (sorted by x) hold the same trait values, so that resampling clusters within a stratum keeps x
    unchanged. Without ``cluster`` every row is its own cluster: the strata are the trait values."""
    if cluster is None:
        return [np.flatnonzero(x == v)[:, None] for v in np.unique(x)]
    members: dict = {}
    for i, c in enumerate(cluster):
        members.setdefault(c, []).append(i)
    strata: dict = {}
    for rows in members.values():
        rows = np.array(sorted(rows, key=lambda i: x[i]))
        strata.setdefault(tuple(x[rows]), []).append(rows)
    return [np.stack(v) for _, v in sorted(strata.items())]


def _zero_one(col: pd.Series) -> bool:
    """Whether a verdict column holds flags (booleans or 0 / 1), not a number such as a step."""
    vals = col.dropna()
    return bool(vals.map(lambda v: isinstance(v, (bool, np.bool_)) or v in (0, 1)).all())


def trend(df: pd.DataFrame, trait: str, outcome: str, by: str | None = "model",
          n_boot: int = N_BOOT, seed: int = BOOT_SEED, cluster: str | None = None) -> pd.DataFrame:
    """One row per ``by`` group (default: model kind): kind (logistic / least squares), scale
    (log2 / linear), n runs, the lowest and highest trait value (x_min, x_max) and the outcome there
    (at_low, at_high), slope, lo, hi,
    p_boot, separated, and x50 [x50_lo, x50_hi], x50_side: the trait value where the fitted
    probability (or the fitted metric) crosses 1/2 inside the tested range (module docstring).
    ``outcome``: a verdict flag (``dropped_modes``) or a metric (``quality``). ``cluster``: a
    column whose rows are resampled together (``trial`` for a per-mode table, ``atlas.mode_rows``:
    a run's modes are not independent); clusters with the same trait values form a stratum."""
    col = resolve(df, trait)
    out = resolve(df, outcome)
    is_flag = out.startswith("verdict.") and _zero_one(df[out])     # verdict.learned_step is a number
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
        groups_of = g.loc[x.index[keep], cluster].to_numpy() if cluster else None
        x, y = x[keep].to_numpy(float), y[keep].to_numpy(float)
        if log:
            x = np.log2(x)
        fit = logistic_fit if is_flag else ls_fit
        link = "logistic" if is_flag else "linear"
        span = (x.min(), x.max()) if len(x) else (math.nan, math.nan)

        rng = np.random.default_rng(seed)
        strata = _strata(x, groups_of)
        slope, x50 = 0.0, math.nan
        mid = math.nan
        if len(x):
            a, slope = fit(x, y)
            x50 = crossing(a, slope, link, *span)
            eta = a + slope * (span[0] + span[1]) / 2
            mid = (1 / (1 + math.exp(-eta)) if math.isfinite(eta) else float(eta > 0)) if is_flag else eta
        boots = np.empty((0, 2))
        if len(strata) > 1:                    # resampled within each stratum: x stays the same
            order = np.concatenate([s.ravel() for s in strata])
            idx = np.concatenate([s[rng.choice(len(s), (n_boot, len(s)))].reshape(n_boot, -1) for s in strata],
                                 axis=1)
            a_b, b_b = fit(x[order], y[idx])
            boots = np.stack([b_b, crossing(a_b, b_b, link, *span)], 1)
        (lo, x50_lo), (hi, x50_hi) = np.percentile(boots, [2.5, 97.5], axis=0) if len(boots) else [(math.nan,) * 2] * 2
        p = min(1.0, 2 * min(np.mean(boots[:, 0] <= 0), np.mean(boots[:, 0] >= 0))) if len(boots) else math.nan
        ends = [y[x == x.min()].mean(), y[x == x.max()].mean()] if len(x) else [math.nan, math.nan]
        back = (lambda v: 2.0 ** v) if log else (lambda v: float(v))
        rows.append({by or "group": key, "outcome": label(out), "trait": label(col),
                     "fit": "logistic" if is_flag else "least squares", "scale": "log2" if log else "linear",
                     "n": len(x), "x_min": back(span[0]), "x_max": back(span[1]),
                     "at_low": ends[0], "at_high": ends[1], "slope": slope,
                     "lo": min(float(lo), slope), "hi": max(float(hi), slope), "p_boot": p,
                     "x50": back(x50) if span[0] < x50 < span[1] else math.nan,
                     "x50_lo": back(min(x50_lo, x50)), "x50_hi": back(max(x50_hi, x50)),
                     "x50_side": side(x50, *span, fitted_mid=mid),
                     "separated": _separated(x, y) if is_flag else False})
    return pd.DataFrame(rows)
