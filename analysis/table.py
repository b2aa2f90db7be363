"""Stored studies as tidy tables (``experiments.results``), and the per-cell aggregates that
every figure draws.

How trials count (the same in every plot, CSV and annotation):
- ``mean`` / ``median`` of a metric: over the *complete* trials with a finite value. Diverged
  and failed trials are left out of the statistic and counted: a cell says ``n=2/3`` when 2 of
  its 3 trials entered it (``n``, ``n_total``, ``n_diverged``, ``n_failed`` in the table). Its
  interval is a percentile bootstrap over 4 or more values; with ``FEW_SEEDS`` (3) or fewer
  ``lo`` / ``hi`` are NaN and the figures show the values themselves (``values``, a JSON list,
  is in every row: the per-seed values, or the 0 / 1 flags a rate counts).
- ``rate``: the share of trials with a verdict flag (metrics.verdicts; default
  ``verdict.dropped_modes``), where a *diverged* trial counts as failing (flagged, except for
  ``learned``) and a *failed* trial (a crash, not a learning outcome) or a complete one without a
  verdict is left out of n.
- Several hyper-parameter draws per cell (a sweep with ``search``): each draw is aggregated over
  its seeds, then the cell shows the best draw with that draw's interval: among the draws with
  the most counted trials (n; so a draw that diverged on some seeds cannot win on its one lucky
  seed), the highest value, or the lowest for metrics whose registry direction is "lower" and for failure
  rates (``best`` overrides); ties go to the lower draw index. This is the "after tuning" value:
  optimistic, since the best of several noisy estimates is picked, and its interval ignores
  that selection. ``draw`` and ``params`` say which draw won.
- Grid axes other than x, y and the facet are pooled with the seeds; ``table.attrs["pooled"]``
  names them (fix one with ``where``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from experiments import store
from experiments.results import EXPORTS, exported, load_study, read_export, results
from metrics.registry import direction

from .artifacts import locate
from .stats import bootstrap, wilson

AGGS = ("mean", "median", "rate")
FEW_SEEDS = 3                  # a mean or median over this many values or fewer gets no interval: its values
PREFIXES = ("trait", "data", "model", "train", "verdict")
CONFIG = ("data.", "model.", "train.")
DROPPED = "verdict.dropped_modes"
EVER = "verdict.ever_learned"


def load(study: str, storage: str | None = None, root: Path | str = store.ROOT) -> pd.DataFrame:
    """The tidy table of a stored study (one row per done trial), as ``learnlab results`` shows,
    with each ``log_dir`` made absolute where its folder is found (under the study's own trials
    folder first, ``experiments.store.study_folder``; ``analysis.artifacts.locate``), so trial
    artifacts read the same from any directory."""
    df = results(study, storage, root)
    trials = store.study_folder(study, root, storage) / "trials"
    if "log_dir" in df:
        df["log_dir"] = [p if p is None else str(locate(p, trials) or p) for p in df["log_dir"]]
    return df


def study_table(study: str, storage: str | None = None, root: Path | str = store.ROOT,
                exports: Path | str = EXPORTS) -> pd.DataFrame:
    """The table of a study wherever it is: stored (``load``), else exported (results/,
    ``experiments.results.read_export``); one ValueError line naming both places otherwise."""
    try:
        return load(study, storage, root)
    except ValueError as err:
        if storage is None and exported(study, exports):
            return read_export(study, exports)
        raise ValueError(f"{err}; nor is it exported to {Path(exports) / (study + '.csv.gz')}") from None


def sweep_config(study: str, storage: str | None = None, root: Path | str = store.ROOT,
                 exports: Path | str = EXPORTS) -> dict:
    """The sweep config a study ran with, from its store or else its export ({} if neither has one)."""
    try:
        return load_study(study, storage, root).user_attrs.get("sweep") or {}
    except ValueError:
        meta = Path(exports) / f"{study}.json"
        if storage is not None or not meta.is_file():
            raise
        return json.loads(meta.read_text()).get("sweep") or {}


def grid_axes(study: str, storage: str | None = None, root: Path | str = store.ROOT,
              exports: Path | str = EXPORTS) -> list[str]:
    """The grid axes of a study's sweep config (``data.n_modes``, ...), in config order."""
    return list(sweep_config(study, storage, root, exports).get("grid") or {})


def objective(study: str, storage: str | None = None, root: Path | str = store.ROOT,
              exports: Path | str = EXPORTS, direction: bool = False):
    """The metric a study's sweep optimised (its ``objective.metric``); with ``direction``, the pair
    (metric, "maximize" | "minimize")."""
    obj = sweep_config(study, storage, root, exports).get("objective") or {}
    return (obj.get("metric"), obj.get("direction", "maximize")) if direction else obj.get("metric")


def resolve(df: pd.DataFrame, name: str) -> str:
    """The column behind a name: the exact column, else trait.NAME, else data./model./train./
    verdict.NAME. Raises a one-line ValueError listing what is there."""
    for col in (name, *(f"{p}.{name}" for p in PREFIXES)):
        if col in df.columns:
            return col
    known = sorted({label(c) for c in df.columns if c.split(".")[0] in PREFIXES})
    raise ValueError(f"{name!r} is not a column or trait of this study; expected one of: {', '.join(known)}")


def label(column: str) -> str:
    """The bare name of a column: ``trait.n_modes`` -> ``n_modes``."""
    head, _, rest = column.partition(".")
    return rest if rest and head in PREFIXES else column


def where(df: pd.DataFrame, conditions) -> pd.DataFrame:
    """Rows matching every ``NAME=VALUE`` (VALUE read as YAML; numbers compare with isclose)."""
    for cond in conditions or ():
        name, sep, text = cond.partition("=")
        if not sep:
            raise ValueError(f"--where {cond!r} is not allowed; expected NAME=VALUE, e.g. radius=1.0")
        col, value = resolve(df, name.strip()), yaml.safe_load(text)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            keep = np.isclose(pd.to_numeric(df[col], errors="coerce"), value)
        else:
            keep = df[col].astype(str) == str(value)
        df = df[keep]
        if df.empty:
            raise ValueError(f"--where {cond!r} leaves no trials")
    return df


def _flags(col: pd.Series) -> pd.Series:
    """A verdict column (bool, 0/1, None) as floats 1.0 / 0.0 / NaN."""
    return col.map(lambda v: float(bool(v)) if isinstance(v, (bool, np.bool_, int, float)) and v == v else math.nan)


def counted_flags(rows: pd.DataFrame, flag: str) -> pd.Series:
    """The 0 / 1 outcomes a rate counts (module docstring): a diverged trial is a failure (flagged,
    unless the flag is ``learned``), failed trials and trials without the verdict are dropped."""
    status = rows["status"]
    out = _flags(rows[flag]) if flag in rows else pd.Series(math.nan, index=rows.index)
    out = out.where(status == "complete", math.nan).mask(status == "diverged", float(label(flag) != "learned"))
    return out.dropna()


def complete_values(rows: pd.DataFrame, metric: str) -> pd.Series:
    """A metric's finite values over the complete trials (what a mean or median counts)."""
    vals = pd.to_numeric(rows.loc[rows["status"] == "complete", metric], errors="coerce")
    return vals[np.isfinite(vals)]


def _cell(rows: pd.DataFrame, metric: str, agg: str) -> dict:
    """The statistic of one cell and draw (see the module docstring for what counts)."""
    status = rows["status"]
    out = {"n_total": len(rows), "n_diverged": int((status == "diverged").sum()),
           "n_failed": int((status == "failed").sum())}
    if agg == "rate":
        flag = counted_flags(rows, metric)
        out["n"], out["k"] = len(flag), int(flag.sum())
        out["value"], out["lo"], out["hi"] = wilson(out["k"], out["n"])
        out["values"] = json.dumps([int(v) for v in flag])
    else:
        vals = complete_values(rows, metric)
        out["n"] = len(vals)
        out["value"], out["lo"], out["hi"] = bootstrap(vals.to_numpy(), agg)
        if len(vals) <= FEW_SEEDS:                 # a bootstrap of 2-3 values is no interval: show them
            out["lo"] = out["hi"] = math.nan
        out["values"] = json.dumps(sorted(float(v) for v in vals))
    return out


def draw_params(cell: pd.DataFrame, draw_rows: pd.DataFrame) -> str:
    """The searched hyper-parameters of the winning draw: config columns that vary across the
    cell's draws but not within the draw."""
    cols = [c for c in cell.columns if c.startswith(CONFIG)
            and cell[c].nunique(dropna=False) > 1 and draw_rows[c].nunique(dropna=False) == 1]
    return json.dumps({c: draw_rows[c].iloc[0] for c in cols}, default=str) if cols else ""


def aggregate(df: pd.DataFrame, x: str, y: str | None = None, metric: str | None = None,
              facet: str | None = None, agg: str = "mean", best: str | None = None) -> pd.DataFrame:
    """One row per (facet, y, x) cell: value, lo, hi, n, n_total, n_diverged, n_failed, draw,
    n_draws, params. x / y / facet / metric are column names (see ``resolve``); the table's key
    columns carry their bare names. ``best``: "max" or "min" picks the draw (default: from the
    metric's registry direction)."""
    if agg not in AGGS:
        raise ValueError(f"--agg {agg!r} is not allowed; expected one of {', '.join(AGGS)}")
    metric = metric or DROPPED
    if agg == "rate" and metric not in df.columns:
        raise ValueError(f"rate needs the verdict column {metric!r}, which this study lacks")
    if best is None:
        lower = (agg == "rate" and label(metric) != "learned") or direction(label(metric)) == "lower"
        best = "min" if lower else "max"
    if best not in ("max", "min"):
        raise ValueError(f"--best {best!r} is not allowed; expected max or min")
    keys = [c for c in (facet, y, x) if c]
    if len(set(keys)) < len(keys):
        raise ValueError(f"x, y and facet must be different columns; got {', '.join(keys)}")
    df = df.dropna(subset=keys)
    if df.empty:
        raise ValueError("no trials to aggregate")
    pooled = sorted(c for c in df.columns if c.startswith(CONFIG) and c not in keys
                    and (df.groupby(keys + ["draw"])[c].nunique(dropna=False) > 1).any())
    rows = []
    for cell_key, cell in df.groupby(keys, sort=True):
        cell_key = cell_key if isinstance(cell_key, tuple) else (cell_key,)
        per_draw = [(int(d), g, _cell(g, metric, agg)) for d, g in cell.groupby("draw", sort=True)]
        finite = [p for p in per_draw if math.isfinite(p[2]["value"])]
        sign = 1 if best == "max" else -1
        d, g, stat = max(finite, key=lambda p: (p[2]["n"], sign * p[2]["value"], -p[0])) if finite else per_draw[0]
        rows.append({**{label(k): v for k, v in zip(keys, cell_key)}, **stat, "draw": d,
                     "n_draws": len(per_draw), "params": draw_params(cell, g)})
    table = pd.DataFrame(rows)
    table.insert(len(keys), "metric", label(metric))
    table.insert(len(keys) + 1, "agg", agg)
    table.attrs["pooled"] = pooled
    return table


def tuned(df: pd.DataFrame, metric: str, direction: str = "maximize") -> pd.DataFrame:
    """Each model kind's winning hyper-parameter draw of a tuning study, by a failure-first rule:
    the most runs judged ``learned`` (a diverged run counts as not learned; families without
    verdicts, such as graphs, tie here), then the best mean ``metric`` over the complete runs
    (highest, or lowest with ``direction="minimize"``). One row per model: draw, learned, runs, the
    metric's mean, params (the searched values, as JSON), and the ranked draws' score for inspection."""
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction: {direction!r} is not allowed; expected maximize or minimize")
    sign = 1.0 if direction == "maximize" else -1.0
    rows = []
    for model, cell in df.groupby("model", sort=True):
        ranked = []
        for d, g in cell.groupby("draw", sort=True):
            flags = counted_flags(g, "verdict.learned")
            vals = complete_values(g, metric) if metric in g else pd.Series(dtype=float)
            ranked.append((int(flags.sum()), sign * float(vals.mean()) if len(vals) else -math.inf, -int(d), g,
                           len(flags)))
        learned, score, d, g, n = max(ranked, key=lambda r: r[:3])
        rows.append({"model": model, "draw": -d, "learned": f"{learned}/{n}", metric: sign * score,
                     "params": draw_params(cell, g), "draws": len(ranked)})
    return pd.DataFrame(rows)


def tuned_runs(df: pd.DataFrame, keys: list[str], metric: str, direction: str = "maximize") -> pd.DataFrame:
    """The runs of each cell's winning draw, for studies that tune per cell (a search in every grid
    cell): per value of ``keys`` and model, the draw :func:`tuned` picks, its runs only."""
    parts = []
    for _, cell in df.groupby(keys, sort=True):
        win = tuned(cell, metric, direction).set_index("model")["draw"]
        parts.append(cell[cell["draw"] == cell["model"].map(win)])
    return pd.concat(parts) if parts else df.iloc[:0]


def onset_table(df: pd.DataFrame, x: str, y: str | None = None, facet: str | None = None,
                flag: str = "dropped_modes") -> pd.DataFrame:
    """When a failure sets in, one row per (facet, y, x) cell, pooled over draws and seeds: k of
    n trials end with verdict ``flag`` (a diverged trial counts, at its ``diverged_at`` step;
    failed trials and complete ones without a verdict are left out of n), and the median onset
    step (``value``, percentile bootstrap interval; NaN when no trial has one) of those that had
    learned before. A trial that never learned has no onset (``n_never_learned`` of the k)."""
    flagged, onset = f"verdict.{flag}", f"verdict.onset.{flag}"
    if flagged not in df.columns:
        raise ValueError(f"the onset plot needs the column {flagged!r}, which this study lacks")
    keys = [c for c in (facet, y, x) if c]
    df = df.dropna(subset=keys)
    if df.empty:
        raise ValueError("no trials to aggregate")
    rows = []
    for cell_key, cell in df.groupby(keys, sort=True):
        cell_key = cell_key if isinstance(cell_key, tuple) else (cell_key,)
        status = cell["status"]
        hit = _flags(cell[flagged]).where(status == "complete", math.nan).mask(status == "diverged", 1.0)
        step = pd.to_numeric(cell[onset], errors="coerce") if onset in cell else pd.Series(math.nan, index=cell.index)
        step = step.mask(status == "diverged", pd.to_numeric(cell["diverged_at"], errors="coerce"))
        steps = step[(hit == 1.0) & np.isfinite(step)]
        value, lo, hi = bootstrap(steps.to_numpy(), "median")
        never = int(((hit == 1.0) & (_flags(cell[EVER]) == 0.0) & (status != "diverged")).sum()) if EVER in cell else None
        rows.append({**{label(k): v for k, v in zip(keys, cell_key)}, "metric": f"onset_{flag}", "agg": "median",
                     "value": value, "lo": lo, "hi": hi, "k": int((hit == 1.0).sum()), "n": int(hit.notna().sum()),
                     "n_total": len(cell), "n_diverged": int((status == "diverged").sum()),
                     "n_failed": int((status == "failed").sum()), "n_onset": len(steps), "n_never_learned": never})
    return pd.DataFrame(rows)
