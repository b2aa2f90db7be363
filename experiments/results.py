"""A stored study as one tidy pandas DataFrame: one row per done trial.

Columns: ``trial`` (Optuna number), ``key``, ``model`` (the named model), the grid axes and
searched hyper-parameters under their config paths (``data.n_modes``, ``model.lr_g``), ``draw``,
``seed``, ``status``, ``reason``, ``diverged_at``, ``runtime_s``, ``code_version``, ``log_dir``,
every metric under its own name, every trait as ``trait.<name>``, and the run's verdict (metrics.verdicts.summarize) as
``verdict.<name>`` (onsets as ``verdict.onset.<flag>``, thresholds as ``verdict.thresholds.<name>``). Abandoned trials (their worker died) are left out: their reruns are rows.

The store holds each trial's key, status, objective and ``log_dir`` (absolute); everything else is
read from the one record, ``log_dir/result.json`` (:func:`record`). A study on a database shared
by machines therefore needs their trial folders on a shared file system (or copied next to
each other) to be tabulated.
"""
from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd

from . import store

LEADING = ["trial", "key", "model", "draw", "seed", "status", "reason", "diverged_at", "runtime_s"]


def load_study(study: str, storage: str | None = None, root: Path | str = store.ROOT) -> optuna.Study:
    if storage is None and not (store.study_folder(study, root) / "journal.log").is_file():
        raise ValueError(f"study {study!r} not found: no {store.study_folder(study, root) / 'journal.log'}; "
                         "run `learnlab sweep` first or pass --storage")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=study, storage=store.open_storage(study, storage, root))
    except KeyError:
        raise ValueError(f"study {study!r} not found in {storage}") from None


def record(trial) -> dict:
    """The stored record (result.json) of a done trial, or one ValueError line naming its folder."""
    path = Path(trial.user_attrs.get("log_dir", "?")) / "result.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"trial {trial.number}: its record {path} cannot be read ({type(err).__name__}); "
                         "records live in the trial folders of the machine that ran them") from None


def results(study: str, storage: str | None = None, root: Path | str = store.ROOT) -> pd.DataFrame:
    """The tidy table of ``study`` (what ``learnlab results`` prints and analysis/ reads)."""
    opt = load_study(study, storage, root)
    rows = []
    for t in opt.get_trials(deepcopy=False):
        if not store.is_done(t):
            continue
        a = {**record(t), **t.user_attrs}
        key = json.loads(a["key"])
        row = {"trial": t.number, "key": a["key"], "model": key.pop("model"), "draw": key.pop("draw"),
               "seed": key.pop("seed"), **key}
        row.update({p: v for p, v in t.params.items() if p not in row and p not in ("model", "seed")})
        row.update(status=a["status"], reason=a.get("reason"), diverged_at=a.get("diverged_at"),
                   runtime_s=a.get("runtime_s"), code_version=a.get("code_version"), log_dir=a.get("log_dir"))
        row.update(a.get("metrics") or {})
        row.update({f"trait.{k}": v for k, v in (a.get("traits") or {}).items()})
        for k, v in (a.get("verdict") or {}).items():
            if isinstance(v, dict):
                row.update({f"verdict.{k}.{kk}": vv for kk, vv in v.items()})
            elif not isinstance(v, list):
                row[f"verdict.{k}"] = v
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=LEADING)
    df = df.sort_values("trial").reset_index(drop=True)
    return df[[c for c in LEADING if c in df] + [c for c in df.columns if c not in LEADING]]
