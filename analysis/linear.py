"""Ridge fits and held-out scores for the predictor (analysis.predictor), numpy only.

    ridge(Z, y, lam)            # (intercept, slopes) of least squares with lam * |slopes|^2
    gcv_lambda(Z, y)            # the lam of LAMBDAS with the least generalised cross-validation error
    group_cv_lambda(Z, y, g)    # ... with the least error on each group of rows held out in turn
    logistic(Z, k, n)           # (intercept, slopes) of a ridge logistic fit to k successes of n
    r2(y, pred), auc(score, pos, neg), brier(p, pos, neg), calibration(p, pos, neg)

Every fit and score takes one problem or a batch of B (a leading axis): bootstrap replicates
are fitted in one call. Scores take per-row weights ``w`` ([n] or [B, n]; a bootstrap
replicate's weights are how often it drew each row), so one set of held-out predictions is
scored under every resample without copying. ``pos`` / ``neg``: each row's count of positive
(failed) and negative runs; a run-level score treats each run as one case with its row's score.
The intercept is never penalised (logistic: a weak normal prior of sd ``INTERCEPT_SD``, so that
all-0 or all-1 counts give a large finite intercept, not infinity).
"""
from __future__ import annotations

import numpy as np

LAMBDAS = np.logspace(-3, 3, 25)
PRIOR_SD = 1.0            # logistic slopes: normal prior of sd 1 log-odds per standard deviation of a feature
INTERCEPT_SD = 10.0


def ridge(Z, y, lam: float):
    """(intercept, slopes) minimising |y - a - Z b|^2 + lam |b|^2; Z [n, p] or [B, n, p], y [n] or [B, n]."""
    Z, y = np.asarray(Z, float), np.asarray(y, float)
    zm, ym = Z.mean(-2, keepdims=True), y.mean(-1, keepdims=True)
    Zc, yc = Z - zm, y - ym
    A = np.swapaxes(Zc, -1, -2) @ Zc + lam * np.eye(Z.shape[-1])
    b = np.linalg.solve(A, (np.swapaxes(Zc, -1, -2) @ yc[..., None]))[..., 0]
    return ym[..., 0] - (zm @ b[..., None])[..., 0, 0], b


def gcv_lambda(Z, y) -> float:
    """The ridge penalty of ``LAMBDAS`` minimising n RSS / (n - df)^2 (df: the fit's effective
    parameters, the intercept's one included); without features, 0."""
    Z, y = np.asarray(Z, float), np.asarray(y, float)
    if Z.shape[1] == 0:
        return 0.0
    u, s, _ = np.linalg.svd(Z - Z.mean(0), full_matrices=False)
    uy, yc, n = u.T @ (y - y.mean()), y - y.mean(), len(y)
    best = (np.inf, LAMBDAS[0])
    for lam in LAMBDAS:
        shrink = s ** 2 / (s ** 2 + lam)
        rss = yc @ yc - uy @ ((2 * shrink - shrink ** 2) * uy)
        df = 1 + shrink.sum()
        best = min(best, (n * rss / max(n - df, 1e-9) ** 2, lam))
    return float(best[1])


def group_cv_lambda(Z, y, groups) -> float:
    """The ridge penalty of ``LAMBDAS`` with the least squared error on each group of rows (a value
    of ``groups``) predicted by a fit to the others: the penalty for carrying a fit to groups it has
    not seen, where GCV judges it on rows like its own. Fewer than 3 groups, or no features: GCV."""
    Z, y, groups = np.asarray(Z, float), np.asarray(y, float), np.asarray(groups)
    names = np.unique(groups)
    if Z.shape[1] == 0 or len(names) < 3:
        return gcv_lambda(Z, y)
    sse = np.zeros(len(LAMBDAS))
    for g in names:
        out = groups == g
        for i, lam in enumerate(LAMBDAS):
            a, b = ridge(Z[~out], y[~out], lam)
            sse[i] += ((y[out] - a - Z[out] @ b) ** 2).sum()
    return float(LAMBDAS[int(np.argmin(sse))])


def logistic(Z, k, n, prior_sd: float = PRIOR_SD, iters: int = 100):
    """(intercept, slopes) of a binomial logistic regression of k successes in n trials per row
    (rows with n = 0 do not count) with a normal prior of sd ``prior_sd`` on each slope, by
    Newton's method; Z [n, p] or [B, n, p], k and n [rows] or [B, rows]."""
    Z, k, n = np.asarray(Z, float), np.asarray(k, float), np.asarray(n, float)
    batch = Z.ndim == 3
    Z, k, n = np.atleast_3d(Z) if batch else Z[None], np.atleast_2d(k), np.atleast_2d(n)
    X = np.concatenate([np.ones(Z.shape[:2] + (1,)), Z], 2)
    prior = np.diag([1 / INTERCEPT_SD ** 2] + [1 / prior_sd ** 2] * Z.shape[2])
    w = np.zeros((X.shape[0], X.shape[2]))
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.einsum("brp,bp->br", X, w)))
        grad = np.einsum("brp,br->bp", X, n * p - k) + w @ prior
        hess = np.einsum("brp,br,brq->bpq", X, n * p * (1 - p) + 1e-12, X) + prior
        step = np.clip(np.linalg.solve(hess, grad[..., None])[..., 0], -5, 5)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return (w[:, 0], w[:, 1:]) if batch else (float(w[0, 0]), w[0, 1:])


def sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, float)))


def _w(w, shape):
    return np.ones(shape[-1]) if w is None else np.asarray(w, float)


def r2(y, pred, w=None):
    """1 - weighted squared error over the weighted squared deviation from the weighted mean of y."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    w = _w(w, y.shape)
    mean = (w * y).sum(-1, keepdims=True) / w.sum(-1, keepdims=True)
    return 1 - (w * (y - pred) ** 2).sum(-1) / (w * (y - mean) ** 2).sum(-1)


def auc(score, pos, neg, w=None):
    """Run-level area under the ROC curve: the chance that a positive run scores above a negative
    one (ties count one half); rows hold ``pos`` positive and ``neg`` negative runs sharing a score."""
    score = np.asarray(score, float)
    w = _w(w, score.shape)
    values, group = np.unique(score, return_inverse=True)
    onehot = np.zeros((len(score), len(values)))
    onehot[np.arange(len(score)), group] = 1
    P, N = (w * np.asarray(pos, float)) @ onehot, (w * np.asarray(neg, float)) @ onehot   # per distinct score
    below = np.cumsum(N, -1) - N
    with np.errstate(invalid="ignore", divide="ignore"):
        return (P * (below + N / 2)).sum(-1) / (P.sum(-1) * N.sum(-1))


def brier(p, pos, neg, w=None):
    """Run-level mean squared difference between the predicted probability and the 0 / 1 outcome."""
    p, pos, neg = np.asarray(p, float), np.asarray(pos, float), np.asarray(neg, float)
    w = _w(w, p.shape)
    return (w * (pos * (1 - p) ** 2 + neg * p ** 2)).sum(-1) / (w * (pos + neg)).sum(-1)


BINS = np.linspace(0, 1, 6)


def calibration(p, pos, neg, w=None):
    """Per bin of predicted probability (``BINS``: fifths): (runs, mean predicted, observed share),
    arrays [..., bins] (NaN for empty bins), and the calibration error: the run-weighted mean of
    |observed - predicted| over the bins."""
    p, pos, neg = np.asarray(p, float), np.asarray(pos, float), np.asarray(neg, float)
    w = _w(w, p.shape)
    onehot = (np.clip(np.digitize(p, BINS[1:-1]), 0, len(BINS) - 2)[:, None] == np.arange(len(BINS) - 1)).astype(float)
    runs = (w * (pos + neg)) @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = (w * (pos + neg) * p) @ onehot / runs
        observed = (w * pos) @ onehot / runs
        error = np.nansum(runs * np.abs(observed - predicted), -1) / runs.sum(-1)
    return runs, predicted, observed, error
