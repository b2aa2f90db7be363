"""Would another model predict difficulty better than the ridge predictor? Held-out quality R² of
three alternatives on the predictor's own rows and features (``results/predictor.json``), under
the schemes of ``analysis.validation``, beside the ridge's scores from
``results/predictor_validation.csv``; scored as there (pooled over held-out cells, 1 - SSE / SST
about their own mean, predictions clipped to [0, 1]).

    python scripts/predictor_alternatives.py            # logit and kernel ridge; trees if scikit-learn is there
    python scripts/predictor_alternatives.py trees      # one of them

- ``logit``: the same ridge on logit(quality) (clipped to [0.02, 0.98]), mapped back by the
  sigmoid, its penalty chosen as the predictor's (``linear.group_cv_lambda``, inside each fold).
- ``kernel``: kernel ridge with a Gaussian kernel on the standardised features; penalty
  (``KERNEL_LAMBDAS``) and width (``KERNEL_GAMMAS``) chosen inside each fold by leaving each of
  its studies out in turn (nested, as the predictor's penalty).
- ``trees``: scikit-learn's HistGradientBoostingRegressor (depth 3, learning rate 0.05, 200
  rounds, 10 cells a leaf; undefined descriptors left as NaN, which the trees split on). Its
  settings are fixed, not tuned, so it spends no held-out data on choosing them; needs
  scikit-learn, which the lab does not install.

A comparison only: the stored predictor stays the ridge model.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import linear, predictor as P          # noqa: E402
from analysis.validation import SCHEMES            # noqa: E402

KINDS = ("gan", "vae", "flow", "diffusion")
TREES = dict(max_depth=3, learning_rate=0.05, max_iter=200, min_samples_leaf=10)
KERNEL_LAMBDAS = np.logspace(-3, 2, 11)
KERNEL_GAMMAS = (0.01, 0.03, 0.1, 0.3)


def _logit(raw_tr, y, raw_te, studies):
    std = P.standardisation(raw_tr)
    Z, Zte = P.design(raw_tr, std), P.design(raw_te, std)
    q = np.clip(y, 0.02, 0.98)
    t = np.log(q / (1 - q))
    a, b = linear.ridge(Z, t, linear.group_cv_lambda(Z, t, studies))
    return linear.sigmoid(a + Zte @ b)


def _gram(A, B, gamma):
    return np.exp(-gamma * ((A[:, None] - B[None]) ** 2).sum(-1))


def _kernel_fit(Z, y, lam, gamma):
    return np.linalg.solve(_gram(Z, Z, gamma) + lam * np.eye(len(y)), y - y.mean()), y.mean()


def _kernel(raw_tr, y, raw_te, studies):
    std = P.standardisation(raw_tr)
    Z, Zte = P.design(raw_tr, std), P.design(raw_te, std)
    best, sse_best = None, np.inf
    for lam, gamma in itertools.product(KERNEL_LAMBDAS, KERNEL_GAMMAS):
        sse = 0.0
        for s in np.unique(studies):
            out = studies == s
            alpha, mean = _kernel_fit(Z[~out], y[~out], lam, gamma)
            sse += ((y[out] - mean - _gram(Z[out], Z[~out], gamma) @ alpha) ** 2).sum()
        if sse < sse_best:
            best, sse_best = (lam, gamma), sse
    alpha, mean = _kernel_fit(Z, y, *best)
    return mean + _gram(Zte, Z, best[1]) @ alpha


def _trees(raw_tr, y, raw_te, studies):
    from sklearn.ensemble import HistGradientBoostingRegressor
    return HistGradientBoostingRegressor(**TREES, random_state=0).fit(raw_tr, y).predict(raw_te)


METHODS = {"logit": _logit, "kernel": _kernel, "trees": _trees}


def held_out_r2(rows: list[dict], by, method) -> dict[str, float]:
    raw = P.raw_features([r["descriptors"] for r in rows])
    groups = np.array([str(by(r)) for r in rows])
    studies = np.array([r["study"] for r in rows])
    out = {}
    for kind in KINDS:
        y = P.target_arrays(rows, kind)["quality"]
        pred = np.full(len(rows), np.nan)
        for g in dict.fromkeys(groups):
            train, test = (groups != g) & np.isfinite(y), groups == g
            pred[test] = np.clip(method(raw[train], y[train], raw[test], studies[train]), 0, 1)
        ok = np.isfinite(y)
        out[kind] = float(linear.r2(y[ok], pred[ok]))
    return out


def main(argv: list[str]) -> int:
    try:
        import sklearn  # noqa: F401
        default = list(METHODS)
    except ImportError:
        default = ["logit", "kernel"]
        if "trees" in argv:
            print("trees need scikit-learn (pip install scikit-learn); the lab does not install it")
            return 1
    bad = [a for a in argv if a not in METHODS]
    if bad:
        print(f"method {bad[0]!r} is not allowed; expected one of {', '.join(METHODS)}")
        return 2
    rows = P.load()["rows"]
    ridge = pd.read_csv(P.PATH.with_name("predictor_validation.csv"))
    ridge = ridge[(ridge.metric == "r2") & (ridge.by == "predictor")].set_index(["scheme", "model"])["value"]
    print(f"held-out quality R² on {len(rows)} cells: alternative / ridge")
    for name in argv or default:
        print(f"\n{name:24s}" + "".join(f"{k:>14s}" for k in KINDS), flush=True)
        for scheme, by in SCHEMES.items():
            if name == "kernel" and scheme == "leave one cell out":
                continue                          # 150 folds of the nested search: minutes, and not the question
            alt = held_out_r2(rows, by, METHODS[name])
            print(f"{scheme:24s}" + "".join(f"{alt[k]:>7.2f} /{ridge[scheme, k]:5.2f}" for k in KINDS), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
