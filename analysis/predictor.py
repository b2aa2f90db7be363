"""Predict how hard a distribution is before training: a ridge model fitted on the atlas.

    rows = atlas_rows()             # one per (exported atlas study, cell): descriptors + measured targets
    pred = fit(rows)                # per model kind: quality (ridge) and failure (ridge logistic)
    save(pred); pred = load()       # results/predictor.json
    predict(pred, describe(x))      # per kind: quality and failure probabilities, 95% intervals
    nearest(pred, describe(x))      # the atlas cells nearest in standardised descriptor space
    validate(pred["rows"])          # held-out scores against a baseline (analysis.validation)

**Rows.** The atlas studies of points are the named figures' full configs with ``tuned_on``
(``atlas.atlas_configs``; the triangles study is left out, see ``atlas_studies``) and the cross
studies, which vary every trait of a family at once (``cross_configs``); one not exported is
skipped and named in ``skipped``. A cell's distribution is its export's sweep ``data`` plus the
cell's grid values and searched data knobs; its descriptors
(``metrics.descriptors.describe``) come from ``N_DRAW`` samples drawn with seed ``DRAW_SEED``,
from samples alone; ``data_kind`` says whether they are points, images or graphs. Its targets
per model kind: the mean ``quality`` of its complete runs, and
the count of each outcome (``atlas.run_outcomes``: counted runs, a diverged run is
``diverged``); failure is any outcome but ``learned``.

**Features** (``FEATURES``): the descriptors, on scales where a doubling is one step (log2 /
log10), noise thickness and curvature relative to the points' spacing (unit-free; the spacing,
not the components' scale, which also holds the intrinsic dimension: with the scale the diffusion
model's leave-one-study-out R² was 0.49 against 0.58, the other kinds' within 0.05). A
descriptor that can be undefined (NaN: separation and imbalance with one component, curvature
above 5 local dimensions) is imputed by its training mean and paired with a 0 / 1 indicator
(``INDICATORS``), so its absence carries its own coefficient. Each feature is standardised by
the training rows' mean and sd; one constant over the atlas (n_samples: every cell drew
``N_DRAW``; ambient_dim while every study is 2-D) has no coefficient and is not used.

**Models** per kind: quality = ridge least squares on the standardised features (the penalty
that best predicts each study from the others, ``linear.group_cv_lambda``: GCV chose penalties
that fit the atlas's own studies and carried badly to a held-out one), clipped to [0, 1]; P(failure) and
P(each failure kind) = binomial ridge logistic regression on the cell's counts (``linear``:
prior sd 1 per standard deviation), a kind fitted only with at least ``MIN_POSITIVES`` runs of
it in the atlas. Intervals: percentile bootstrap over cells (``N_BOOT`` resamples, seeded),
refitted with the stored standardisation and penalty; ``predict`` recomputes them from the
stored rows, so the JSON holds every number the intervals need. They cover the uncertainty of
the fit over the atlas's cells, not the error of applying it to a distribution unlike them.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from experiments.results import EXPORTS, exported, read_export
from metrics.verdicts import OUTCOMES

from . import linear

N_DRAW, DRAW_SEED = 5000, 0
N_BOOT, BOOT_SEED = 200, 0
MIN_POSITIVES = 10
PATH = EXPORTS / "predictor.json"
FAILURES = tuple(o for o in OUTCOMES if o != "learned")


def _log(v, base):
    return math.log(v, base) if v == v and v > 0 else math.nan


FEATURES = {            # feature -> its value from a descriptors dict (NaN where undefined)
    "log10 n_samples": lambda d: _log(d["n_samples"], 10),
    "log2 ambient_dim": lambda d: _log(d["ambient_dim"], 2),
    "intrinsic_dim_twonn": lambda d: d["intrinsic_dim_twonn"],
    "intrinsic_dim_mle": lambda d: d["intrinsic_dim_mle"],
    "log10 spacing": lambda d: _log(d["spacing"], 10),
    "log2 components": lambda d: _log(max(d["components"], 1.0), 2),
    "loops": lambda d: d["loops"],
    "log2 separation": lambda d: _log(d["separation"], 2),
    "log2 imbalance": lambda d: _log(d["imbalance"], 2),
    "spectral_gap": lambda d: d["spectral_gap"],
    "density_range": lambda d: d["density_range"],
    "noise_thickness / spacing": lambda d: d["noise_thickness"] / d["spacing"],
    "curvature x spacing": lambda d: d["curvature"] * d["spacing"],
}
INDICATORS = {"separation, imbalance n/a": "separation", "curvature n/a": "curvature"}   # 1 where NaN
COLUMNS = (*FEATURES, *INDICATORS)
BASELINE = ("log10 n_samples", "log2 ambient_dim")


# ---------------------------------------------------------------- atlas rows

def cross_configs() -> dict[str, dict]:
    """{study: its sweep config} of the studies made for the predictor alone
    (``experiments/configs/atlas/cross_*.yaml``): traits crossed by searched data knobs, one
    distribution per draw, learning rates fixed from a tuning study like the atlas's."""
    import yaml
    from .figures import CONFIGS
    return {raw["study"]: raw for raw in (yaml.safe_load(p.read_text())
                                          for p in sorted((CONFIGS.parent / "atlas").glob("cross_*.yaml")))}


def atlas_studies() -> tuple[list[str], list[str]]:
    """(atlas and cross studies of points exported under results/, those not exported). Studies of
    images (triangles) are left out: nine cells of one family cannot teach a model of other images,
    and pooled with the points their descriptors (random pixel projections) would mean something else."""
    import distributions
    from .atlas import atlas_configs
    studies = sorted(s for s, raw in {**atlas_configs(), **cross_configs()}.items()
                     if len(distributions.make(raw["data"]["family"]).event_shape) == 1)
    return [s for s in studies if exported(s)], [s for s in studies if not exported(s)]


def stamp(study: str) -> dict:
    """What a fit rests on: the export's date, its row count and the hash of its table."""
    meta = json.loads((EXPORTS / f"{study}.json").read_text())
    digest = hashlib.sha256((EXPORTS / f"{study}.csv.gz").read_bytes()).hexdigest()[:12]
    return {"study": study, "exported": meta.get("exported"), "rows": meta.get("rows"), "sha256": digest}


def cell_targets(runs) -> dict:
    """Per model kind: mean quality of the complete runs, their number, the runs' sample variance
    about that mean (the seed noise; None under two runs), and each outcome's count."""
    import pandas as pd
    from .atlas import run_outcomes
    out = {}
    for kind, g in runs.groupby("model", sort=False):
        q = pd.to_numeric(g.loc[g["status"] == "complete", "quality"], errors="coerce").dropna()
        counted = run_outcomes(g)
        out[str(kind)] = {"quality": float(q.mean()) if len(q) else None, "complete": len(q),
                          "quality_var": float(q.var(ddof=1)) if len(q) > 1 else None,
                          "outcomes": {o: int((counted == o).sum()) for o in OUTCOMES}}
    return out


def study_cells(study: str) -> list[tuple[dict, dict, object]]:
    """(distribution knobs incl. family, the cell's values, its runs) per cell of an export: a cell
    is a point of the grid's data axes and of the searched data knobs (a cross study's draws)."""
    from experiments.config import DATA_KEYS
    sweep = json.loads((EXPORTS / f"{study}.json").read_text())["sweep"]
    grid = {a: v for a, v in (sweep.get("grid") or {}).items() if a.startswith("data.")}
    searched = [a for a in ((sweep.get("search") or {}).get("space") or {}) if a.startswith("data.")]
    base = {k: v for k, v in sweep["data"].items() if k not in DATA_KEYS or k == "family"}
    df = read_export(study)
    out = []
    for key, runs in df.groupby([*grid, *searched], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cell = {a.split(".", 1)[1]: next(g for g in grid[a] if g == v) if a in grid else _plain(v)
                for a, v in zip([*grid, *searched], key)}
        out.append(({**base, **cell}, cell, runs))
    return out


def _plain(v):
    """A table's value as the config had it (numpy scalars to int / float)."""
    return v.item() if hasattr(v, "item") else v


def cell_descriptors(knobs: dict) -> tuple[dict, str]:
    """(descriptors of N_DRAW samples of the cell's distribution, what they are: points, images or graphs)."""
    import torch
    import distributions
    from metrics.descriptors import describe, embed
    dist = distributions.make(knobs["family"], **{k: v for k, v in knobs.items() if k != "family"})
    x = dist.sample(N_DRAW, generator=torch.Generator().manual_seed(DRAW_SEED)).numpy()
    return describe(x), embed(x[:1])[1].split(":")[0]


def atlas_rows(studies: list[str] | None = None, progress=None) -> list[dict]:
    """One row per cell of each exported atlas study (module docstring)."""
    rows = []
    for study in studies if studies is not None else atlas_studies()[0]:
        for knobs, cell, runs in study_cells(study):
            desc, data_kind = cell_descriptors(knobs)
            rows.append({"study": study, "family": knobs["family"], "data_kind": data_kind, "cell": cell,
                         "descriptors": desc, "targets": cell_targets(runs)})
            if progress:
                progress(f"{study} {cell_name(rows[-1])}")
    return rows


def cell_name(row: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in row["cell"].items())


def kinds(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r["targets"]))


def target_arrays(rows: list[dict], kind: str) -> dict:
    """quality [R] (NaN where no complete run), its seed noise [R] (the variance of the cell's mean:
    the runs' variance over their number; NaN where unknown), counted runs [R], each outcome's count [R]."""
    t = [r["targets"].get(kind, {"quality": None, "complete": 0, "outcomes": {}}) for r in rows]
    counts = {o: np.array([x["outcomes"].get(o, 0) for x in t], float) for o in OUTCOMES}
    counted = sum(counts.values())
    out = {"quality": np.array([math.nan if x["quality"] is None else x["quality"] for x in t]),
           "quality_noise": np.array([math.nan if x.get("quality_var") is None else x["quality_var"] / x["complete"]
                                      for x in t]),
           "counted": counted, "failure": counted - counts["learned"]}
    return {**out, **{o: counts[o] for o in FAILURES}}


# ---------------------------------------------------------------- features

def raw_features(descs: list[dict]) -> np.ndarray:
    """[rows, COLUMNS]: each feature (NaN where undefined) and each indicator (1 where undefined)."""
    with np.errstate(all="ignore"):
        m = [[float(f(d)) for f in FEATURES.values()] + [float(not d[s] == d[s]) for s in INDICATORS.values()]
             for d in descs]
    return np.array(m, float).reshape(len(descs), len(COLUMNS))


def standardisation(raw: np.ndarray, columns=COLUMNS) -> dict:
    """Per column: the imputed value (training mean), mean and sd after imputing; ``used``: sd > 0."""
    keep = [COLUMNS.index(c) for c in columns]
    fill = [float(np.nanmean(raw[:, j])) if np.isfinite(raw[:, j]).any() else 0.0 for j in keep]
    filled = np.where(np.isnan(raw[:, keep]), fill, raw[:, keep])
    mean, sd = filled.mean(0), filled.std(0)
    used = sd > 1e-9 * np.maximum(1, np.abs(mean))
    return {"columns": list(columns), "fill": fill, "mean": mean.tolist(), "sd": sd.tolist(), "used": used.tolist()}


def design(raw: np.ndarray, std: dict) -> np.ndarray:
    """The standardised used columns [rows, p]."""
    keep = [COLUMNS.index(c) for c in std["columns"]]
    x = np.where(np.isnan(raw[:, keep]), std["fill"], raw[:, keep])
    used = np.array(std["used"], bool)
    return ((x - np.array(std["mean"])) / np.where(used, std["sd"], 1.0))[:, used]


def used_columns(std: dict) -> list[str]:
    return [c for c, u in zip(std["columns"], std["used"]) if u]


# ---------------------------------------------------------------- fitting

def failure_targets(t: dict) -> list[str]:
    """``failure`` and each failure kind with at least MIN_POSITIVES runs."""
    return ["failure", *[o for o in FAILURES if t[o].sum() >= MIN_POSITIVES]]


def fit_targets(Z: np.ndarray, t: dict, groups, lam: float | None = None, targets=None) -> dict:
    """Point fits of one kind: ``quality`` {intercept, coef, lambda, cells} and each failure target
    {intercept, coef, positives, runs}; a target with too few positives is fitted without features.
    ``groups``: each row's study, for the penalty (``linear.group_cv_lambda``) when ``lam`` is None."""
    ok = np.isfinite(t["quality"])
    if not ok.any():
        raise ValueError("no atlas cell has a complete run of this model kind: its quality cannot be fitted")
    lam = linear.group_cv_lambda(Z[ok], t["quality"][ok], np.asarray(groups)[ok]) if lam is None else lam
    a, b = linear.ridge(Z[ok], t["quality"][ok], lam)
    out = {"quality": {"intercept": float(a), "coef": np.asarray(b).tolist(), "lambda": lam, "cells": int(ok.sum())}}
    for name in targets or failure_targets(t):
        enough = t[name].sum() >= MIN_POSITIVES or name == "failure"
        a, b = linear.logistic(Z if enough else Z[:, :0], t[name], t["counted"])
        out[name] = {"intercept": float(a), "coef": (np.asarray(b) if enough else np.zeros(Z.shape[1])).tolist(),
                     "positives": int(t[name].sum()), "runs": int(t["counted"].sum())}
    return out


def bootstrap(Z: np.ndarray, t: dict, fitted: dict, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> dict:
    """target -> [n_boot, 1 + p] (intercept, coefficients) refitted on cells resampled with
    replacement, with the point fit's penalty (the same seed: the same draws)."""
    rng = np.random.default_rng(seed)
    ok = np.flatnonzero(np.isfinite(t["quality"]))
    out = {}
    idx = ok[rng.integers(0, len(ok), (n_boot, len(ok)))]
    a, b = linear.ridge(Z[idx], t["quality"][idx], fitted["quality"]["lambda"])
    out["quality"] = np.concatenate([a[:, None], b], 1)
    idx = rng.integers(0, len(Z), (n_boot, len(Z)))
    for name in fitted:
        if name != "quality":
            a, b = linear.logistic(Z[idx], t[name][idx], t["counted"][idx])
            out[name] = np.concatenate([a[:, None], b], 1)
    return out


def fit(rows: list[dict], skipped=(), studies=None) -> dict:
    """The predictor (module docstring) as a JSON-ready dict, with the rows it rests on."""
    from experiments.version import code_version
    raw = raw_features([r["descriptors"] for r in rows])
    std = standardisation(raw)
    Z, cols = design(raw, std), used_columns(std)
    models = {}
    for kind in kinds(rows):
        t = target_arrays(rows, kind)
        fitted = fit_targets(Z, t, [r["study"] for r in rows])
        boots = bootstrap(Z, t, fitted)
        for name, f in fitted.items():
            lo, hi = np.percentile(boots[name][:, 1:], [2.5, 97.5], axis=0)
            f.update(coef=dict(zip(cols, f["coef"])), coef_lo=dict(zip(cols, lo.tolist())),
                     coef_hi=dict(zip(cols, hi.tolist())))
        models[kind] = fitted
    return {"code_version": code_version(), "fitted": datetime.date.today().isoformat(),
            "n_draw": N_DRAW, "draw_seed": DRAW_SEED, "n_boot": N_BOOT, "boot_seed": BOOT_SEED,
            "min_positives": MIN_POSITIVES, "cells": len(rows),
            "studies": [stamp(s) for s in (studies or dict.fromkeys(r["study"] for r in rows))],
            "skipped": list(skipped), "standardisation": std, "models": models, "rows": rows}


# ---------------------------------------------------------------- storing

def _nan_to_none(v):
    if isinstance(v, dict):
        return {k: _nan_to_none(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_nan_to_none(x) for x in v]
    return None if isinstance(v, float) and v != v else v


def save(pred: dict, path: Path | str = PATH) -> Path:
    path = Path(path)
    path.write_text(json.dumps(_nan_to_none(pred), indent=1) + "\n")
    return path


def load(path: Path | str = PATH) -> dict:
    """The stored predictor; descriptors stored as null (undefined) read back as NaN."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"predictor {str(path)!r} does not exist; fit it with `learnlab predict --fit`")
    try:
        pred = json.loads(path.read_text())
        for key in ("models", "standardisation", "studies", "skipped", "n_boot", "boot_seed", "cells"):
            pred[key]
        for r in pred["rows"]:
            r["descriptors"] = {k: math.nan if v is None else float(v) for k, v in r["descriptors"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"predictor {str(path)!r} cannot be read ({type(err).__name__}: {err}); "
                         "expected the JSON that `learnlab predict --fit` writes") from None
    return pred


def stale(pred: dict) -> list[str]:
    """What changed in the exported atlas since ``pred`` was fitted (empty: nothing)."""
    done, _ = atlas_studies()
    was = {s["study"]: s for s in pred["studies"]}
    out = [f"{s} is exported now" for s in done if s not in was]
    out += [f"{s} changed (export {stamp(s)['exported']}, {stamp(s)['rows']} rows)" for s in done
            if s in was and stamp(s)["sha256"] != was[s]["sha256"]]
    return out + [f"{s} is no longer exported" for s in was if s not in done]


# ---------------------------------------------------------------- predicting

def _point(f: dict, z: np.ndarray, cols: list[str]) -> float:
    return f["intercept"] + sum(f["coef"][c] * v for c, v in zip(cols, z))


def predict(pred: dict, desc: dict) -> dict:
    """kind -> target -> (estimate, 2.5%, 97.5%): quality clipped to [0, 1], failure targets as
    probabilities; the intervals from the bootstrap over the stored rows (module docstring)."""
    std, rows = pred["standardisation"], pred["rows"]
    Z = design(raw_features([r["descriptors"] for r in rows]), std)
    z = design(raw_features([desc]), std)[0]
    cols = used_columns(std)
    out = {}
    for kind, fitted in pred["models"].items():
        t = target_arrays(rows, kind)
        boots = bootstrap(Z, t, {"quality": fitted["quality"], **{n: None for n in fitted if n != "quality"}},
                          pred["n_boot"], pred["boot_seed"])
        out[kind] = {}
        for name, f in fitted.items():
            draws = boots[name] @ np.concatenate([[1.0], z])
            est = _point(f, z, cols)
            link = (lambda v: np.clip(v, 0, 1)) if name == "quality" else linear.sigmoid
            lo, hi = np.percentile(link(draws), [2.5, 97.5])
            out[kind][name] = (float(link(est)), float(lo), float(hi))
    return out


def nearest(pred: dict, desc: dict, k: int = 3) -> list[tuple[float, dict]]:
    """The k atlas rows nearest to ``desc`` in standardised feature space: (distance, row)."""
    std, rows = pred["standardisation"], pred["rows"]
    Z = design(raw_features([r["descriptors"] for r in rows]), std)
    z = design(raw_features([desc]), std)[0]
    d = np.sqrt(((Z - z) ** 2).sum(1))
    return [(float(d[i]), rows[i]) for i in np.argsort(d, kind="stable")[:k]]


def extrapolation(pred: dict, desc: dict) -> list[str]:
    """Where ``desc`` lies outside the atlas: each used feature beyond the rows' range (by more
    than 5% of it), each constant of the atlas it differs from, each descriptor undefined here
    but always defined there."""
    std = pred["standardisation"]
    raw = raw_features([r["descriptors"] for r in pred["rows"]])
    mine = raw_features([desc])[0]
    out = []
    for j, (c, used) in enumerate(zip(std["columns"], std["used"])):
        col, v = raw[:, j][np.isfinite(raw[:, j])], mine[j]
        if c in INDICATORS:
            if v == 1 and not (col == 1).any():
                out.append(f"{INDICATORS[c]} is undefined here ({c}) but defined in every atlas cell")
        elif v == v and len(col):
            lo, hi = col.min(), col.max()
            pad = 0.05 * (hi - lo)
            if not used and abs(v - lo) > 1e-9 * max(1.0, abs(lo)):
                out.append(f"{c} = {v:.3g}, the same in every atlas cell ({lo:.3g}): the atlas cannot say "
                           "what it changes")
            elif used and not lo - pad <= v <= hi + pad:
                out.append(f"{c} = {v:.3g} (atlas {lo:.3g} .. {hi:.3g})")
    return out


# ---------------------------------------------------------------- figure

def importance(pred: dict, title: str | None = None):
    """Per model kind (columns) the standardised coefficients of each used feature with their 95%
    bootstrap intervals: top row quality (change per sd of the feature), bottom row P(failure)
    (log-odds per sd). Returns (figure, table: model, target, feature, coef, lo, hi)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from .plots import wrap
    cols = used_columns(pred["standardisation"])
    table = pd.DataFrame([{"model": kind, "target": target, "feature": c, "coef": f["coef"][c],
                           "lo": f["coef_lo"][c], "hi": f["coef_hi"][c]}
                          for kind, m in pred["models"].items() for target in ("quality", "failure")
                          for f in [m[target]] for c in cols])
    kinds_ = list(pred["models"])
    fig, axes = plt.subplots(2, len(kinds_), figsize=(2.3 * len(kinds_) + 2.4, 0.26 * len(cols) * 2 + 2.2),
                             sharey=True, sharex="row", squeeze=False)
    pos = np.arange(len(cols))[::-1]
    for i, (target, what) in enumerate((("quality", "quality per sd"), ("failure", "log-odds of failure per sd"))):
        for ax, kind in zip(axes[i], kinds_):
            t = table[(table["model"] == kind) & (table["target"] == target)]
            colour = np.where(t["lo"] > 0, "#4c9a2a", np.where(t["hi"] < 0, "#c0392b", "0.55"))
            if target == "failure":                           # more failure is worse: red to the right
                colour = np.where(t["lo"] > 0, "#c0392b", np.where(t["hi"] < 0, "#4c9a2a", "0.55"))
            ax.barh(pos, t["coef"], color=colour, height=0.65)
            ax.errorbar(t["coef"], pos, xerr=[t["coef"] - t["lo"], t["hi"] - t["coef"]], fmt="none", ecolor="0.2",
                        lw=0.8, capsize=1.5)
            ax.axvline(0, color="0.3", lw=0.6)
            ax.grid(axis="x", alpha=0.3)
            ax.tick_params(labelsize=7)
            ax.set_title(f"{kind}: {target}", fontsize=8)
            ax.set_xlabel(what, fontsize=7)
        axes[i, 0].set_yticks(pos, cols, fontsize=7)
    studies = ", ".join(f"{s['study']} ({s['rows']} runs)" for s in pred["studies"])
    fig.text(0.01, 0.01, wrap(f"ridge fits on {pred['cells']} atlas cells of {studies}; features standardised; bar: "
                              f"coefficient, whisker: 95% bootstrap interval over cells; coloured where the interval "
                              f"excludes 0 (green: better, red: worse)", 150), fontsize=6, color="0.3")
    fig.suptitle(wrap(title or "What the predictor reads: standardised coefficients of each descriptor, per model kind",
                      100), fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig, table
