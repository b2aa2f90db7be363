"""Verdicts of an exported study derived again, with the current code, from what its runs stored.

A run's verdict is a pure function of its evaluations' placements (on support, blurred, in the
gaps, non-finite, each component's share: ``metrics.verdicts.placement``), the components' true
weights, the thresholds it ran with and the step it diverged at; a triangles run's, of its final
metrics (``metrics.triangles.final_placement``). All of these are in the export (``STUDY.csv.gz``,
``STUDY.history.csv.gz``, the sweep config in ``STUDY.json``), so when the verdict rules change
the committed studies are judged again without training:

    learnlab export --rejudge fig-dimension fig-ring     # rewrites results/STUDY.* in place

Only the verdict columns of the table and the judged flags of each evaluation change; the study's
STUDY.json lists each judging again: when, by which code version, which outcomes changed
(``rejudged``). A study judged by the rules it ran with comes back unchanged.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd

from metrics.verdicts import FLAGS, Thresholds, components, judge, summarize

from .config import make_distribution
from .results import EXPORTS, GZIP, _json, _missing, exported, verdict_columns
from .sweep_config import build_sweep
from .train import code_version, final_verdict

PLACED = ("on_support", "gap_mass", "blur_mass", "nonfinite_fraction", "component_mass")   # placement's keys
JUDGED = (*FLAGS, "held", "dropped", "held_js", "learned")                                   # judge's keys


def rejudge(study: str, folder: Path | str = EXPORTS) -> dict:
    """Judge every run of the exported ``study`` under ``folder`` again and rewrite its table and
    history in place; returns {outcome changes "old -> new": count}."""
    folder = Path(folder)
    if not exported(study, folder):
        raise ValueError(f"study {study!r} is not exported: no {folder / (study + '.csv.gz')}")
    meta_path = folder / f"{study}.json"
    meta = json.loads(meta_path.read_text())
    configs = {t.key: t.config for t in build_sweep(meta["sweep"], study).trials}
    table = pd.read_csv(folder / f"{study}.csv.gz", low_memory=False)
    hist_path = folder / f"{study}.history.csv.gz"
    evals = pd.read_csv(hist_path, low_memory=False) if hist_path.is_file() else pd.DataFrame(columns=["trial", "step"])
    judged = [c for c in evals.columns if c in JUDGED]
    kinds: dict[str, tuple] = {}
    rows, changes = [], {}
    for i, row in table.iterrows():
        if "verdict.outcome" not in table or pd.isna(row.get("verdict.outcome")):
            continue                                   # never judged (no support distance, or failed)
        cfg = configs[row["key"]]
        th = Thresholds(**cfg["train"]["verdict"])
        data = json.dumps(cfg["data"], sort_keys=True)
        if data not in kinds:
            kinds[data] = _kind(make_distribution(cfg))
        w, dist = kinds[data]
        mine = evals["trial"] == row["trial"]
        history = []
        for j, e in evals[mine].sort_values("step").iterrows():
            entry = {k: _json(e[k]) for k in ("step", *PLACED) if k in e and not _missing(e[k])}
            if "on_support" not in entry:
                break                                  # evaluations without placements: not judged
            flags = judge(entry, w, th)
            history.append({**entry, **flags})
            for c in judged:
                evals.at[j, c] = json.dumps(flags[c]) if isinstance(flags[c], list) else flags[c]
        diverged_at = None if pd.isna(row.get("diverged_at")) else int(row["diverged_at"])
        if dist is not None and not history and diverged_at is None:
            metrics = {k: v for k, v in row.items() if not _missing(v)}
            verdict = final_verdict(metrics, dist, int(cfg["train"]["steps"]), th)
        else:
            verdict = summarize(history, len(w) if w is not None else None, th, diverged_at=diverged_at)
        old = row["verdict.outcome"]
        rows.append((i, verdict_columns(verdict)))
        if verdict["outcome"] != old:
            changes[f"{old} -> {verdict['outcome']}"] = changes.get(f"{old} -> {verdict['outcome']}", 0) + 1
    if rows:
        new = pd.DataFrame([cols for _, cols in rows], index=[i for i, _ in rows])
        for c in [c for c in table if c.startswith("verdict.")] + [c for c in new if c not in table]:
            col = table[c].astype(object) if c in table else pd.Series(None, index=table.index, dtype=object)
            col.loc[new.index] = new[c] if c in new else None     # a flag's onset the new verdict lacks
            table[c] = col
        table = table.infer_objects()
    table.to_csv(folder / f"{study}.csv.gz", index=False, compression=GZIP)
    if hist_path.is_file():
        evals.to_csv(hist_path, index=False, compression=GZIP)
    meta["rejudged"] = [*meta.get("rejudged", []), {"date": datetime.date.today().isoformat(),
                                                     "code_version": code_version(), "outcomes_changed": changes}]
    meta_path.write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return changes


def _kind(dist) -> tuple:
    """(the true component weights or None, the distribution where its runs are judged by their
    final metrics (triangles), else None)."""
    comp = components(dist)
    return (None if comp is None else comp[0].tolist()), (dist if "triangle_factors" in dist.capabilities else None)
