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

PLACED = ("on_support", "gap_mass", "blur_mass", "nonfinite_fraction", "component_mass", "coverage")   # judge's input
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
    judged = [c for c in JUDGED if c in evals.columns or "on_support" in evals.columns]   # new flags added
    evals = evals.assign(**{c: None for c in judged if c not in evals.columns})
    judge_run = RunJudge()
    rows, changes = [], {}
    for i, row in table.iterrows():
        if "verdict.outcome" not in table or pd.isna(row.get("verdict.outcome")):
            continue                                   # never judged (no support distance, or failed)
        mine = evals[evals["trial"] == row["trial"]].sort_values("step")
        entries = [{k: _json(v) for k, v in e.items() if not _missing(v)} for e in mine.to_dict("records")]
        verdict, flags = judge_run(configs[row["key"]], entries, row.to_dict(), row.get("diverged_at"))
        for j, f in zip(mine.index, flags):
            for c in judged:
                evals.at[j, c] = json.dumps(f[c]) if isinstance(f[c], list) else f[c]
        old = row["verdict.outcome"]
        rows.append((i, verdict_columns(verdict)))
        if verdict["outcome"] != old:
            changes[f"{old} -> {verdict['outcome']}"] = changes.get(f"{old} -> {verdict['outcome']}", 0) + 1
    if rows:
        new = pd.DataFrame([cols for _, cols in rows], index=[i for i, _ in rows])
        columns = {c: table[c] for c in table}                  # rebuilt at once: no fragmented frame
        for c in [c for c in table if c.startswith("verdict.")] + [c for c in new if c not in table]:
            col = table[c].astype(object) if c in table else pd.Series(None, index=table.index, dtype=object)
            col.loc[new.index] = new[c] if c in new else None     # a flag's onset the new verdict lacks
            columns[c] = col
        table = pd.DataFrame(columns).infer_objects()
    table.to_csv(folder / f"{study}.csv.gz", index=False, compression=GZIP)
    if hist_path.is_file():
        evals.to_csv(hist_path, index=False, compression=GZIP)
    meta["rejudged"] = [*meta.get("rejudged", []), {"date": datetime.date.today().isoformat(),
                                                     "code_version": code_version(), "outcomes_changed": changes}]
    meta_path.write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return changes


class RunJudge:
    """One run's verdict by the current rules, from what it stored: ``(verdict, flags)`` of
    ``judge(cfg, history, metrics, diverged_at)``, where ``history`` holds its evaluations in step
    order (dicts with ``placement``'s keys), ``metrics`` its final metrics (a triangles run is judged
    from them) and ``flags`` each judged evaluation's flags (``judge``'s keys). The distributions'
    component weights are built once per data config."""

    def __init__(self):
        self._kinds: dict[str, tuple] = {}

    def __call__(self, cfg: dict, history: list[dict], metrics: dict, diverged_at) -> tuple[dict, list[dict]]:
        th = Thresholds(**cfg["train"]["verdict"])
        data = json.dumps(cfg["data"], sort_keys=True)
        if data not in self._kinds:
            dist = make_distribution(cfg)
            comp = components(dist)
            self._kinds[data] = ((None if comp is None else comp[0].tolist()),
                                 dist if "triangle_factors" in dist.capabilities else None)
        weights, final = self._kinds[data]
        judged, flags = [], []
        for e in history:
            if "on_support" not in e:
                break                                  # evaluations without placements: not judged
            placed = {k: e[k] for k in ("step", *PLACED) if k in e}
            flags.append(judge(placed, weights, th))
            judged.append({**placed, **flags[-1]})
        diverged_at = None if diverged_at is None or _missing(diverged_at) else int(diverged_at)
        if final is not None and not judged and diverged_at is None:
            verdict = final_verdict({k: v for k, v in metrics.items() if not _missing(v)}, final,
                                    int(cfg["train"]["steps"]), th)
        else:
            verdict = summarize(judged, None if weights is None else len(weights), th, diverged_at=diverged_at)
        return verdict, flags
