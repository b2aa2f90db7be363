"""Continue a study from its export, on this machine or a fresh one.

    learnlab sweep CONFIG --from-export                  # the export in results/ (or --from-export DIR)
    learnlab figures NAME --rerun --export --from-export

Before a sweep lays out its trials, every exported run whose key the sweep still has, with the
same resolved run config, enters the store as a done trial, so only the rest is trained: a study
stopped half way and exported continues where it stopped, and a grid grown by new values (a
batch size added) keeps its old cells and runs the new ones. A run whose config changed, and a
failed one, runs again; a key the store already has (waiting, running or done) keeps its trial.

An imported trial's folder holds its config.json, the samples and weights an export carries
(each model's first run) and a result.json rebuilt from the export: status, metrics, traits,
evaluation history, and the verdict judged from them by the current rules (experiments.rejudge);
the reasons of skipped metrics and the execution settings are not exported and stay empty, and
``imported`` says where the run came from. The study's time (``results.study_time``) adds the
exports' busy time to that of the runs trained here, and its next export keeps the judgings the
exports went through (``rejudged``).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import shutil
from pathlib import Path

import optuna
from optuna.trial import TrialState

from . import store
from .rejudge import RunJudge
from .results import ARTIFACTS, LEADING, _missing, exported, read_export
from .sweep_config import Sweep, build_sweep


def import_export(study: optuna.Study, sweep: Sweep, folder: Path | str, root: Path | str = store.ROOT,
                  url: str | None = None) -> dict[str, int]:
    """Add the exported runs of ``sweep``'s study under ``folder`` to ``study`` as done trials
    (module docstring); call under ``store.layout_lock``. Returns counts: imported, changed
    (config differs or key gone), failed (run again), held (the store has the key)."""
    folder = check_export(sweep.study, folder)
    meta = json.loads((folder / f"{sweep.study}.json").read_text())
    was = {t.key: _plain(t.config) for t in build_sweep(meta["sweep"], sweep.study).trials}
    specs = {s.key: s for s in sweep.trials}
    held = {t.user_attrs.get("key") for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.WAITING, TrialState.RUNNING) or store.is_done(t)}
    counts = {"imported": 0, "changed": 0, "failed": 0, "held": 0}
    judge_run = RunJudge()
    for row in read_export(sweep.study, folder).to_dict("records"):
        key, spec = row["key"], specs.get(row["key"])
        if key in held:
            counts["held"] += 1
        elif spec is None or was.get(key) != _plain(spec.config):
            counts["changed"] += 1
        elif row["status"] not in ("complete", "diverged"):
            counts["failed"] += 1
        else:
            _add(study, sweep, spec, row, judge_run, folder, root, url)
            counts["imported"] += 1
    if counts["imported"]:
        source = {"from": str((folder / f"{sweep.study}.csv.gz").resolve()), "runs": counts["imported"],
                  "time": meta.get("time") or {}, "date": datetime.datetime.now().isoformat(timespec="seconds"),
                  "rejudged": meta.get("rejudged", [])}
        study.set_user_attr("imported", [*study.user_attrs.get("imported", []), source])
    return counts


def check_export(study: str, folder: Path | str) -> Path:
    """``folder`` when it holds the export of ``study``; else one ValueError line."""
    folder = Path(folder)
    if not exported(study, folder):
        raise ValueError(f"--from-export: study {study!r} is not exported in {folder}: no {study}.csv.gz; "
                         f"allowed: a folder holding `learnlab export {study}`")
    return folder


def _add(study, sweep, spec, row: dict, judge_run: RunJudge, folder: Path, root, url) -> None:
    params = store.params_of(spec)
    skip = {*LEADING, "code_version", "log_dir", "history", *params}
    metrics = {k: _scalar(v) for k, v in row.items()
               if k not in skip and not k.startswith(("trait.", "verdict.")) and not _missing(v)}
    history = row["history"]
    verdict = None
    if not _missing(row.get("verdict.outcome", math.nan)):
        verdict, flags = judge_run(spec.config, history, metrics, row["diverged_at"])
        history = [{**h, **f} for h, f in zip(history, flags)] + history[len(flags):]
    diverged_at = None if _missing(row["diverged_at"]) else int(row["diverged_at"])
    rec = {"status": row["status"], "reason": None if _missing(row["reason"]) else row["reason"],
           "diverged_at": diverged_at, "steps": diverged_at if diverged_at is not None else spec.config["train"]["steps"],
           "traits": {k[6:]: _scalar(v) for k, v in row.items() if k.startswith("trait.") and not _missing(v)},
           "metrics": metrics, "skipped": {}, "verdict": verdict, "history": history,
           "code_version": row["code_version"], "runtime_s": _scalar(row["runtime_s"]), "execution": {},
           "imported": {"from": str((folder / f"{sweep.study}.csv.gz").resolve()), "trial": int(row["trial"])}}
    dest = store.study_folder(sweep.study, root, url) / "imported" / hashlib.sha1(spec.key.encode()).hexdigest()[:12]
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    carried = Path(row["log_dir"]) if isinstance(row.get("log_dir"), str) else None
    for name in ARTIFACTS[1:]:
        if carried is not None and (carried / name).is_file():
            shutil.copyfile(carried / name, dest / name)
    (dest / "config.json").write_text(json.dumps(spec.config, indent=1, default=str) + "\n")
    (dest / "result.json").write_text(json.dumps(rec, indent=1, default=str) + "\n")
    value = metrics.get(sweep.metric)
    complete = rec["status"] == "complete" and isinstance(value, (int, float)) and math.isfinite(value)
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.COMPLETE if complete else TrialState.FAIL, value=float(value) if complete else None,
        params=params, distributions={name: sweep.space[name] for name in params},
        user_attrs={"key": spec.key, "log_dir": str(dest.resolve()), "status": rec["status"],
                    "imported": rec["imported"]["from"]}))


def _scalar(v):
    return v.item() if hasattr(v, "item") else v


def _plain(config: dict) -> dict:
    return json.loads(json.dumps(config, default=str))
