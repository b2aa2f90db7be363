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

:func:`export` writes a study as files that travel without its store (``results/`` of the
project, committed): ``STUDY.csv.gz`` (this table, less the machine's ``log_dir``),
``STUDY.history.csv.gz`` (one row per evaluation of every trial: ``trial``, ``step`` and what the
evaluation recorded, lists as JSON), ``STUDY.json`` (the sweep config, code versions, when) and
``STUDY.trials/NNNNN/`` (config, final samples and weights, each up to ``CARRY_BYTES``, of each
model's first complete trial, :func:`representatives`, the one the figures draw). :func:`read_export` reads them back as the
same table, with ``log_dir`` pointing at the copied folders and each row's ``history``.
"""
from __future__ import annotations

import datetime
import functools
import json
import shutil
from pathlib import Path

import optuna
import pandas as pd

from . import store

LEADING = ["trial", "key", "model", "draw", "seed", "status", "reason", "diverged_at", "runtime_s"]
EXPORTS = Path(__file__).resolve().parent.parent / "results"     # the committed exported studies
ARTIFACTS = ("config.json", "samples.npz", "model.pt")
CARRY_BYTES = 1 << 20                # a larger artifact (e.g. PacGAN's 400-wide weights) stays behind
GZIP = {"method": "gzip", "mtime": 0}                            # the same table gives the same bytes


def load_study(study: str, storage: str | None = None, root: Path | str = store.ROOT) -> optuna.Study:
    if storage is None and not (store.study_folder(study, root) / "journal.log").is_file():
        raise ValueError(f"study {study!r} not found: no {(store.study_folder(study, root) / 'journal.log').absolute()}; "
                         "run `learnlab sweep` first, pass --storage, or set LEARNLAB_ROOT to the folder of the studies")
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


def _done(opt: optuna.Study):
    """(trial, its record merged with the trial's attributes) for every done trial, by number."""
    for t in sorted(opt.get_trials(deepcopy=False), key=lambda t: t.number):
        if store.is_done(t):
            yield t, {**record(t), **t.user_attrs}


def study_time(opt: optuna.Study) -> dict:
    """How long a study's done trials took (``busy_time`` of their start-to-end intervals), plus
    the busy time of the exports its imported runs came from (experiments.resume)."""
    here = busy_time([(t.datetime_start, t.datetime_complete) for t, _ in _done(opt)
                      if t.datetime_start and t.datetime_complete and "imported" not in t.user_attrs])
    times = [here] + [s.get("time") or {} for s in opt.user_attrs.get("imported", [])]
    times = [t for t in times if t]
    if len(times) < 2:
        return times[0] if times else {}
    first, last = min(t["first"] for t in times), max(t["last"] for t in times)
    span = datetime.datetime.fromisoformat(last) - datetime.datetime.fromisoformat(first)
    return {"busy_s": sum(t["busy_s"] for t in times), "span_s": round(span.total_seconds()),
            "first": first, "last": last}


def busy_time(spans: list) -> dict:
    """``busy_s``: the time at least one of the (start, end) datetime intervals was running (their
    union: a study resumed in a later session does not count the pause), ``span_s`` from the first
    start to the last end, and the first and last dates; {} for no intervals."""
    spans = sorted(spans)
    if not spans:
        return {}
    busy, (start, end) = 0.0, spans[0]
    for a, b in spans[1:]:
        if a > end:
            busy, start = busy + (end - start).total_seconds(), a
        end = max(end, b)
    busy += (end - start).total_seconds()
    last = max(b for _, b in spans)
    return {"busy_s": round(busy), "span_s": round((last - spans[0][0]).total_seconds()),
            "first": spans[0][0].isoformat(timespec="seconds"), "last": last.isoformat(timespec="seconds")}


def _row(t, a: dict) -> dict:
    key = json.loads(a["key"])
    row = {"trial": t.number, "key": a["key"], "model": key.pop("model"), "draw": key.pop("draw"),
           "seed": key.pop("seed"), **key}
    row.update({p: v for p, v in t.params.items() if p not in row and p not in ("model", "seed")})
    row.update(status=a["status"], reason=a.get("reason"), diverged_at=a.get("diverged_at"),
               runtime_s=a.get("runtime_s"), code_version=a.get("code_version"), log_dir=a.get("log_dir"))
    row.update(a.get("metrics") or {})
    row.update({f"trait.{k}": v for k, v in (a.get("traits") or {}).items()})
    row.update(verdict_columns(a.get("verdict") or {}))
    return row


def verdict_columns(verdict: dict) -> dict:
    """A run's verdict (metrics.verdicts.summarize) as table columns: ``verdict.<name>``, nested
    dicts as ``verdict.<name>.<key>``; lists (which components, hop steps) stay in the record."""
    out = {}
    for k, v in verdict.items():
        if isinstance(v, dict):
            out.update({f"verdict.{k}.{kk}": vv for kk, vv in v.items()})
        elif not isinstance(v, list):
            out[f"verdict.{k}"] = v
    return out


def _table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=LEADING)
    return with_quality(df[[c for c in LEADING if c in df] + [c for c in df.columns if c not in LEADING]])


def with_quality(df: pd.DataFrame) -> pd.DataFrame:
    """Records made before ``quality`` was defined get it from the same two columns by the same
    function (metrics.evaluate.quality); a row lacking either keeps NaN."""
    from metrics.evaluate import QUALITY_PAIRS, quality
    for p, r in QUALITY_PAIRS:
        if p in df and r in df:
            derived = [quality(a, b) if a == a and b == b else float("nan")
                       for a, b in zip(pd.to_numeric(df[p], errors="coerce"), pd.to_numeric(df[r], errors="coerce"))]
            df["quality"] = df["quality"].fillna(pd.Series(derived, index=df.index)) if "quality" in df else derived
            break
    return df


def results(study: str, storage: str | None = None, root: Path | str = store.ROOT) -> pd.DataFrame:
    """The tidy table of ``study`` (what ``learnlab results`` prints and analysis/ reads)."""
    return _table([_row(t, a) for t, a in _done(load_study(study, storage, root))])


def representatives(df: pd.DataFrame) -> list[pd.Series]:
    """Per model (in table order), the complete trial with the lowest seed, else its first trial:
    the run whose samples a figure shows and whose folder an export carries."""
    out = []
    for _, g in df.groupby("model", sort=False):
        ok = g[g["status"] == "complete"]
        out.append((ok if len(ok) else g).sort_values(["seed", "trial"]).iloc[0])
    return out


def export(study: str, out: Path | str = EXPORTS, storage: str | None = None,
           root: Path | str = store.ROOT) -> list[Path]:
    """Write ``study`` as travelling files under ``out`` (module docstring); returns their paths."""
    opt = load_study(study, storage, root)
    done = list(_done(opt))
    if not done:
        raise ValueError(f"study {study!r} has no done trials to export")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = _table([_row(t, a) for t, a in done])
    evals = [{"trial": t.number, **{k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in h.items()}}
             for t, a in done for h in a.get("history") or []]
    paths = [out / f"{study}.csv.gz", out / f"{study}.history.csv.gz", out / f"{study}.json"]
    table.drop(columns=["log_dir"]).to_csv(paths[0], index=False, compression=GZIP)
    pd.DataFrame(evals, columns=["trial", "step"] if not evals else None).to_csv(paths[1], index=False,
                                                                                  compression=GZIP)
    meta = {"study": study, "rows": len(table), "trials": len(opt.trials), "sweep": opt.user_attrs.get("sweep"),
            "code_versions": sorted({str(v) for v in table["code_version"].dropna()}),
            "exported": datetime.date.today().isoformat(), "time": study_time(opt), "trials_carried": []}
    carried = [r for src in opt.user_attrs.get("imported", []) for r in src.get("rejudged", [])]
    if carried:                                   # the judgings of the exports this study continued
        meta["rejudged"] = carried
    folders = out / f"{study}.trials"
    shutil.rmtree(folders, ignore_errors=True)
    for row in representatives(table):
        src = Path(str(row["log_dir"]))
        files = [src / f for f in ARTIFACTS if (src / f).is_file() and (src / f).stat().st_size <= CARRY_BYTES]
        if files:
            dest = folders / f"{int(row['trial']):05d}"
            dest.mkdir(parents=True)
            for f in files:
                shutil.copyfile(f, dest / f.name)
            meta["trials_carried"].append(int(row["trial"]))
    paths[2].write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return paths + ([folders] if folders.is_dir() else [])


def exported(study: str, folder: Path | str = EXPORTS) -> bool:
    return (Path(folder) / f"{study}.csv.gz").is_file()


def read_export(study: str, folder: Path | str = EXPORTS) -> pd.DataFrame:
    """An exported study read back: the table of :func:`results`, ``log_dir`` set to the carried
    trial folder (None for the others) and ``history`` to each trial's evaluations (list of dicts)."""
    folder = Path(folder)
    if not exported(study, folder):
        raise ValueError(f"study {study!r} is not exported: no {folder / (study + '.csv.gz')}; "
                         f"run `learnlab export {study}` where it is stored")
    stamp = tuple(p.stat().st_mtime_ns if p.is_file() else 0
                  for p in (folder / f"{study}.csv.gz", folder / f"{study}.history.csv.gz"))
    return _read_export(study, str(folder.resolve()), stamp).copy()


@functools.lru_cache(maxsize=8)
def _read_export(study: str, folder: str, stamp: tuple) -> pd.DataFrame:
    """read_export's table, cached while the exported files are unchanged (``stamp``: their times)."""
    folder = Path(folder)
    df = with_quality(pd.read_csv(folder / f"{study}.csv.gz")).copy()      # one block: columns added below
    carried = folder / f"{study}.trials"
    df["log_dir"] = [str(carried / f"{t:05d}") if (carried / f"{t:05d}").is_dir() else None for t in df["trial"]]
    hist = folder / f"{study}.history.csv.gz"
    evals = pd.read_csv(hist) if hist.is_file() else pd.DataFrame(columns=["trial", "step"])
    by_trial = {int(t): [{k: _json(v) for k, v in e.items() if k != "trial" and not _missing(v)}
                         for e in g.to_dict("records")] for t, g in evals.groupby("trial")}
    df["history"] = [by_trial.get(int(t), []) for t in df["trial"]]
    return df


def _missing(v) -> bool:
    return isinstance(v, float) and v != v


def _json(v):
    return json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v
