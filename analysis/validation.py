"""Held-out scores of the atlas predictor (analysis.predictor), next to a baseline.

    table = validate(rows)     # rows: the predictor's training rows (predictor.json "rows")

Schemes (``SCHEMES``): leave one study out (each atlas study is one pair of trait axes: fit on
the others, predict its cells) and leave one family out (mixture, manifold, boxes): how far the
fit carries to distributions unlike its rows; and, for contrast, leave one cell out: how well it
interpolates between cells of the studies it has seen. Each fold
refits everything on its training rows: standardisation, penalty (by holding out each of its
studies in turn: nested, so the held-out study never chooses it), coefficients; a failure
kind with fewer than ``MIN_POSITIVES`` runs in the fold's training rows is predicted by its rate
there. The baseline is the same model on ``BASELINE`` alone (n_samples and ambient dimension):
where those are constant over the training rows it is the training mean / rate.

Scores, pooled over the held-out cells of all folds, per model kind: R-squared of quality (cells
with a complete run; 1 - SSE / SST about the held-out cells' own mean, so a prediction no better
than their mean scores <= 0); for failure (any outcome but learned) and each fitted failure kind,
at the level of runs (each run its cell's predicted probability): AUC, Brier score and the
calibration error (run-weighted mean |observed - predicted| over fifths of predicted
probability), with the bins themselves as rows (metric ``calibration``). Intervals: percentile
bootstrap over held-out cells (``N_SCORE_BOOT`` resamples, seeded), the predictions fixed: they
say how much the score depends on which cells were held out, not on refitting.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import linear
from .predictor import BASELINE, COLUMNS, cell_name, design, failure_targets, fit_targets, kinds, raw_features, \
    standardisation, target_arrays

SCHEMES = {"leave one study out": lambda r: r["study"], "leave one family out": lambda r: r["family"],
           "leave one cell out": lambda r: (r["study"], cell_name(r))}
N_SCORE_BOOT, SCORE_SEED = 1000, 0


def held_out(rows: list[dict], by) -> tuple[dict, list[dict], int]:
    """(kind -> target -> (predictor's, baseline's) held-out predictions, the held-out rows in that
    order, the number of folds): the rows of each value of ``by(row)`` held out in turn."""
    groups = list(dict.fromkeys(by(r) for r in rows))
    order, preds = [], {}
    targets = {k: failure_targets(target_arrays(rows, k)) for k in kinds(rows)}
    for g in groups:
        train, test = [r for r in rows if by(r) != g], [r for r in rows if by(r) == g]
        raw_tr, raw_te = raw_features([r["descriptors"] for r in train]), raw_features([r["descriptors"] for r in test])
        order += test
        for which, cols in (("predictor", COLUMNS), ("baseline", BASELINE)):
            std = standardisation(raw_tr, cols)
            Ztr, Zte = design(raw_tr, std), design(raw_te, std)
            for kind, names in targets.items():
                fitted = fit_targets(Ztr, target_arrays(train, kind), [r["study"] for r in train], targets=names)
                for name, f in fitted.items():
                    v = f["intercept"] + Zte @ np.asarray(f["coef"])
                    v = np.clip(v, 0, 1) if name == "quality" else linear.sigmoid(v)
                    preds.setdefault(kind, {}).setdefault(name, {}).setdefault(which, []).append(v)
    return ({k: {n: {w: np.concatenate(v) for w, v in d.items()} for n, d in t.items()} for k, t in preds.items()},
            order, len(groups))


def _interval(point, boots):
    lo, hi = np.nanpercentile(boots, [2.5, 97.5]) if np.isfinite(boots).any() else (np.nan, np.nan)
    return float(point), float(lo), float(hi)


def validate(rows: list[dict]) -> pd.DataFrame:
    """The long table of held-out scores (module docstring): scheme, model, target, metric, by
    (predictor or baseline), value, lo, hi, cells, runs, folds; calibration rows add bin and
    predicted (value: the observed share); same_folds_as names an earlier scheme whose folds
    these are (e.g. while each family is one study)."""
    out, partitions = [], {}
    for scheme, by in SCHEMES.items():
        if len({by(r) for r in rows}) < 2:
            continue
        part = frozenset(frozenset(i for i, r in enumerate(rows) if by(r) == g) for g in {by(r) for r in rows})
        same = next((s for s, q in partitions.items() if q == part), None)      # e.g. one study per family
        partitions[scheme] = part
        preds, order, folds = held_out(rows, by)
        counts = np.random.default_rng(SCORE_SEED).integers(0, len(order), (N_SCORE_BOOT, len(order)))
        W = np.zeros((N_SCORE_BOOT, len(order)))
        np.add.at(W, (np.arange(N_SCORE_BOOT)[:, None], counts), 1.0)
        for kind, targets in preds.items():
            t = target_arrays(order, kind)
            base = {"scheme": scheme, "model": kind, "folds": folds, "same_folds_as": same}
            ok = np.isfinite(t["quality"])
            for which in ("predictor", "baseline"):
                p = targets["quality"][which]
                out.append({**base, "target": "quality", "metric": "r2", "by": which, "cells": int(ok.sum()),
                            "runs": None, **dict(zip(("value", "lo", "hi"), _interval(
                                linear.r2(t["quality"][ok], p[ok]), linear.r2(t["quality"][ok], p[ok], W[:, ok]))))})
            for name in (n for n in targets if n != "quality"):
                pos, neg = t[name], t["counted"] - t[name]
                for which in ("predictor", "baseline"):
                    p = targets[name][which]
                    common = {**base, "target": name, "by": which, "cells": len(order), "runs": int(t["counted"].sum())}
                    for metric, f in (("auc", linear.auc), ("brier", linear.brier),
                                      ("calibration_error", lambda *a: linear.calibration(*a)[3])):
                        out.append({**common, "metric": metric, **dict(zip(("value", "lo", "hi"), _interval(
                            f(p, pos, neg), f(p, pos, neg, W))))})
                    runs, predicted, observed, _ = linear.calibration(p, pos, neg)
                    for i, (n, pr, ob) in enumerate(zip(runs, predicted, observed)):
                        edges = f"{linear.BINS[i]:.1f}-{linear.BINS[i + 1]:.1f}"
                        out.append({**common, "metric": "calibration", "bin": edges,
                                    "value": ob, "predicted": pr, "runs": int(n)})
    cols = ["scheme", "model", "target", "metric", "by", "bin", "value", "lo", "hi", "predicted", "cells", "runs",
            "folds", "same_folds_as"]
    return pd.DataFrame(out).reindex(columns=cols)


def summary(table: pd.DataFrame) -> str:
    """The headline numbers: per scheme and model kind, quality R-squared and failure AUC, Brier
    score and calibration error, predictor against baseline, each with its interval."""
    lines = []
    main = table[(table["metric"] != "calibration") & table["target"].isin(["quality", "failure"])]
    for scheme, part in main.groupby("scheme", sort=False):
        same = part["same_folds_as"].dropna()
        lines.append(f"{scheme} ({int(part['folds'].iloc[0])} folds, {int(part['cells'].max())} held-out cells)"
                     + (f": the same folds as {same.iloc[0]}" if len(same) else "") + ":")
        lines.append(f"  {'model':10s} {'':9s} {'quality R2':>22s} {'failure AUC':>22s} {'failure Brier':>22s} "
                     f"{'calibration error':>22s}")
        for kind, g in part.groupby("model", sort=False):
            for which in ("predictor", "baseline"):
                cells = []
                for target, metric in (("quality", "r2"), ("failure", "auc"), ("failure", "brier"),
                                       ("failure", "calibration_error")):
                    r = g[(g["target"] == target) & (g["metric"] == metric) & (g["by"] == which)]
                    v = r.iloc[0] if len(r) else None
                    cells.append("n/a" if v is None else f"{v['value']:6.2f} [{v['lo']:.2f}, {v['hi']:.2f}]")
                name = kind if which == "predictor" else ""
                lines.append(f"  {name:10s} {which:9s} " + " ".join(f"{c:>22s}" for c in cells))
    return "\n".join(lines)
