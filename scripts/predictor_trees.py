"""Would gradient-boosted trees predict difficulty better than the ridge predictor? Held-out
quality R² of scikit-learn's HistGradientBoostingRegressor on the predictor's own rows and
features (``results/predictor.json``), under the schemes of ``analysis.validation``, beside the
ridge's scores from ``results/predictor_validation.csv``; scored as there (pooled over held-out
cells, 1 - SSE / SST about their own mean).

    python scripts/predictor_trees.py        # needs scikit-learn, which the lab does not install

The trees' settings are fixed, not tuned (depth 3, learning rate 0.05, 200 rounds, 10 cells a
leaf; undefined descriptors left as NaN, which the trees split on), so the comparison spends no
held-out data on choosing them. A comparison only: the stored predictor stays the ridge model.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import linear, predictor as P          # noqa: E402
from analysis.validation import SCHEMES            # noqa: E402

KINDS = ("gan", "vae", "flow", "diffusion")
TREES = dict(max_depth=3, learning_rate=0.05, max_iter=200, min_samples_leaf=10)


def held_out_r2(rows: list[dict], by) -> dict[str, float]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    X = P.raw_features([r["descriptors"] for r in rows])
    groups = np.array([str(by(r)) for r in rows])
    out = {}
    for kind in KINDS:
        y = P.target_arrays(rows, kind)["quality"]
        pred = np.full(len(rows), np.nan)
        for g in dict.fromkeys(groups):
            train, test = (groups != g) & np.isfinite(y), groups == g
            model = HistGradientBoostingRegressor(**TREES, random_state=0).fit(X[train], y[train])
            pred[test] = np.clip(model.predict(X[test]), 0, 1)
        ok = np.isfinite(y)
        out[kind] = float(linear.r2(y[ok], pred[ok]))
    return out


def main() -> int:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("scripts/predictor_trees.py needs scikit-learn (pip install scikit-learn); the lab does not install it")
        return 1
    rows = P.load()["rows"]
    ridge = pd.read_csv(P.PATH.with_name("predictor_validation.csv"))
    ridge = ridge[(ridge.metric == "r2") & (ridge.by == "predictor")].set_index(["scheme", "model"])["value"]
    print(f"held-out quality R² on {len(rows)} cells: trees / ridge")
    print(f"{'':24s}" + "".join(f"{k:>14s}" for k in KINDS))
    for scheme, by in SCHEMES.items():
        trees = held_out_r2(rows, by)
        print(f"{scheme:24s}" + "".join(f"{trees[k]:>7.2f} /{ridge[scheme, k]:5.2f}" for k in KINDS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
