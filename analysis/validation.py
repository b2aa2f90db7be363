"""Held-out scores of the atlas predictor (analysis.predictor), next to a baseline.

    table = validate(rows)     # rows: the predictor's training rows (predictor.json "rows")

Schemes (``SCHEMES``): leave one study out (each atlas study is one pair of trait axes: fit on
the others, predict its cells) and leave one family out (mixture, manifold, boxes, torus): how far the
fit carries to distributions unlike its rows; and, for contrast, leave one cell out: how well it
interpolates between cells of the studies it has seen. Leave one trait axis out
(``trait_schemes``): along each trait (a descriptor: ambient and intrinsic dimension, components,
separation, imbalance, noise thickness, curvature), the cells above its median are predicted from
those at or below it and the other way round (two folds): extrapolation along that axis alone,
across every study; cells where the trait is undefined (one piece has no separation) are trained
on and never scored. Each fold
refits everything on its training rows: standardisation, penalty (by holding out each of its
studies in turn: nested, so the held-out study never chooses it), coefficients; a failure
kind with fewer than ``MIN_POSITIVES`` runs in the fold's training rows is predicted by its rate
there. The baseline is the same model on ``BASELINE`` alone (n_samples and ambient dimension):
where those are constant over the training rows it is the training mean / rate.

Scores, pooled over the held-out cells of all folds, per model kind: R-squared of quality (cells
with a complete run; 1 - SSE / SST about the held-out cells' own mean, so a prediction no better
than their mean scores <= 0), next to its ceiling (``ceiling``: what a predictor knowing each
cell's true mean would score, given the seeds' noise about it) and its share inside the
studies (``r2_within_study``: each held-out study's own mean taken out of measured and predicted
quality, so a level wrong for a whole study does not count); for failure (any outcome but
learned) and each fitted failure kind, at the level of runs (each run its cell's predicted
probability): AUC, Brier score and the calibration error (run-weighted mean |observed -
predicted| over fifths of predicted probability), with the bins themselves as rows (metric
``calibration``). Intervals: percentile
bootstrap over held-out cells (``N_SCORE_BOOT`` resamples, seeded), the predictions fixed: they
say how much the score depends on which cells were held out, not on refitting.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from . import linear
from .predictor import BASELINE, COLUMNS, cell_name, design, failure_targets, fit_targets, kinds, raw_features, \
    standardisation, target_arrays

SCHEMES = {"leave one study out": lambda r: r["study"], "leave one family out": lambda r: r["family"],
           "leave one cell out": lambda r: (r["study"], cell_name(r))}
N_SCORE_BOOT, SCORE_SEED = 1000, 0
TRAITS = {"ambient dimension": lambda d: d["ambient_dim"], "intrinsic dimension": lambda d: d["intrinsic_dim_mle"],
          "components": lambda d: d["components"], "separation": lambda d: d["separation"],
          "imbalance": lambda d: d["imbalance"], "noise thickness": lambda d: d["noise_thickness"] / d["spacing"],
          "curvature": lambda d: d["curvature"] * d["spacing"]}
TRAIT_SCHEME = "leave one trait axis out: {}"


def trait_schemes(rows: list[dict]) -> dict:
    """{scheme: by}: per trait of ``TRAITS``, each row's side of the trait's median over ``rows``
    ("above" or "at or below"; None where the trait is undefined: always trained on)."""
    def value(f, r):
        with np.errstate(all="ignore"):
            return float(f(r["descriptors"]))

    def side(f, median, r):
        v = value(f, r)
        return None if np.isnan(v) else "above" if v > median else "at or below"

    return {TRAIT_SCHEME.format(name): functools.partial(side, f, np.nanmedian([value(f, r) for r in rows]))
            for name, f in TRAITS.items()}


def held_out(rows: list[dict], by) -> tuple[dict, list[dict], int]:
    """(kind -> target -> (predictor's, baseline's) held-out predictions, the held-out rows in that
    order, the number of folds): the rows of each value of ``by(row)`` held out in turn (rows
    where it is None never are)."""
    groups = [g for g in dict.fromkeys(by(r) for r in rows) if g is not None]
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


def ceiling(y, noise, w=None):
    """The R-squared a predictor that knew every cell's true mean quality would score, in expectation,
    on the measured means ``y`` (each off its truth by seed noise of variance ``noise``): 1 - sum of
    the noise over the squared deviation from the mean, weighted as ``linear.r2``. No predictor of
    cell means from descriptors can be expected to beat it; where it is near 1 the seeds are not
    what limits the fit."""
    y, noise = np.asarray(y, float), np.asarray(noise, float)
    w = np.ones_like(y) if w is None else np.asarray(w, float)
    mean = (w * y).sum(-1, keepdims=True) / w.sum(-1, keepdims=True)
    return 1 - (w * noise).sum(-1) / (w * (y - mean) ** 2).sum(-1)


def within_r2(y, pred, groups, w=None):
    """R-squared of ``pred`` after taking each group's (weighted) mean out of both: how well the
    order and spacing of cells inside a study is predicted, whatever the study's level. A group
    with no weight drops out; a bootstrap resample leaving a group a single cell gives it no
    spread and no error."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    w = np.ones(y.shape[-1]) if w is None else np.asarray(w, float)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    onehot = np.eye(g.max() + 1)[g]                                       # [cells, groups]
    total = np.maximum(w @ onehot, 1e-300)
    yc = y - ((w * y) @ onehot / total) @ onehot.T             # weighted mean 0: r2's SST is about 0
    pc = pred - ((w * pred) @ onehot / total) @ onehot.T
    return linear.r2(yc, pc, w)


def validate(rows: list[dict]) -> pd.DataFrame:
    """The long table of held-out scores (module docstring): scheme, model, target, metric, by
    (predictor, baseline, or for quality R-squared the seed-noise ``ceiling``), value, lo, hi, cells,
    runs, folds; calibration rows add bin and
    predicted (value: the observed share); same_folds_as names an earlier scheme whose folds
    these are (e.g. while each family is one study)."""
    out, partitions = [], {}
    for scheme, by in {**SCHEMES, **trait_schemes(rows)}.items():
        if len({by(r) for r in rows} - {None}) < 2:
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
            studies = np.array([r["study"] for r in order])[ok]
            p = targets["quality"]["predictor"]
            out.append({**base, "target": "quality", "metric": "r2_within_study", "by": "predictor",
                        "cells": int(ok.sum()), "runs": None, **dict(zip(("value", "lo", "hi"), _interval(
                            within_r2(t["quality"][ok], p[ok], studies),
                            within_r2(t["quality"][ok], p[ok], studies, W[:, ok]))))})
            if np.isfinite(t["quality_noise"][ok]).all():
                out.append({**base, "target": "quality", "metric": "r2", "by": "ceiling", "cells": int(ok.sum()),
                            "runs": None, **dict(zip(("value", "lo", "hi"), _interval(
                                ceiling(t["quality"][ok], t["quality_noise"][ok]),
                                ceiling(t["quality"][ok], t["quality_noise"][ok], W[:, ok]))))})
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
    axes = main["scheme"].str.startswith(TRAIT_SCHEME.format(""))
    for scheme, part in main[~axes].groupby("scheme", sort=False):
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
            for by, metric, what in (("predictor", "r2_within_study", "inside each study: the order of its cells"),
                                     ("ceiling", "r2", "seed noise: the R2 of each cell's true mean")):
                r = g[(g["target"] == "quality") & (g["metric"] == metric) & (g["by"] == by)]
                if len(r):
                    v = r.iloc[0]
                    lines.append(f"  {'':10s} {by if by == 'ceiling' else 'within':9s} "
                                 + f"{v['value']:6.2f} [{v['lo']:.2f}, {v['hi']:.2f}]".rjust(22) + f"  ({what})")
    if axes.any():
        lines.append("leave one trait axis out (2 folds each: the cells above the trait's median predicted from "
                     "those at or below it, and back):")
        part = main[axes]
        models = list(dict.fromkeys(part["model"]))
        lines.append(f"  {'trait':20s} " + " ".join(f"{k + ' R2 / AUC':>22s}" for k in models))
        for scheme, g in part.groupby("scheme", sort=False):
            cells = []
            for kind in models:
                mine = g[(g["model"] == kind) & (g["by"] == "predictor")]
                v = [mine[(mine["target"] == target) & (mine["metric"] == metric)]
                     for target, metric in (("quality", "r2"), ("failure", "auc"))]
                cells.append(" / ".join("n/a" if not len(r) else f"{r.iloc[0]['value']:.2f}" for r in v))
            lines.append(f"  {scheme[len(TRAIT_SCHEME.format('')):]:20s} " + " ".join(f"{c:>22s}" for c in cells))
    return "\n".join(lines)
