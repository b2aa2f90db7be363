"""Where a sweep lives: an Optuna study in an embedded journal file (default) or an RDB server.

Every trial of a sweep is laid out up front as a WAITING Optuna trial carrying its ``key``.
Workers claim one WAITING trial at a time (an atomic state change in every Optuna storage),
write ``worker`` and a ``heartbeat`` while it runs, and finish it (:func:`finish`) with
``log_dir`` and ``status`` (complete / diverged / failed), then the objective: Optuna's state is
COMPLETE with the objective for completed runs and FAIL otherwise. A trial is *done* when it has
``status``; its record is ``result.json`` in its folder, written whole or not at all.

Exactly once, whatever is killed: layout and recovery run under one lock (a file lock beside the
journal, or a PostgreSQL advisory lock) and are idempotent. A RUNNING trial whose worker is gone
(same host: its process is gone; any host: no heartbeat for ``grace`` seconds; no heartbeat at
all ``CLAIM_GRACE`` seconds after it was claimed) is

- *adopted* when its folder holds a result.json and a config.json equal to its key's config (the
  worker died after training, e.g. between the status and the objective, or after 7 of 8 members
  of an ensemble wrote theirs): it is finished from that record, not trained again (``adopted``
  says so);
- otherwise *abandoned*: marked FAIL with ``abandoned``, its folder marked by an ABANDONED file,
  and its key queued again.

Every key without a waiting, running or done trial is queued. So a rerun of the same command
continues where it stopped, and no key is done twice.

A study is one thing: the embedded store keeps ``ROOT/<study>/`` (journal and trial folders), a
database study keeps its trial folders in ``ROOT/<study>@<8 hex of the URL>/``, so the same name
on two stores never shares a folder.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import socket
import time
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from . import optuna_api as api

ROOT = Path(os.environ.get("LEARNLAB_ROOT") or "lightning_logs")   # where studies live; set the variable
                                                                     # (an absolute path) to find them from anywhere
_SCHEMA_LOCK = 0x1EA2_0B1E           # advisory lock id for creating Optuna's tables
HOST = socket.gethostname()
CLAIM_GRACE = 30.0    # seconds a claimed trial may lack its first heartbeat (it is written at once)


def study_folder(study: str, root: Path | str = ROOT, url: str | None = None) -> Path:
    """``root/<study>`` (embedded store) or ``root/<study>@<hash of the URL, password left out>``."""
    if url is None:
        return Path(root) / study
    from sqlalchemy.engine import make_url
    try:
        url = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: hash it as typed
        pass
    return Path(root) / f"{study}@{hashlib.sha1(url.encode()).hexdigest()[:8]}"


def trial_folder(study: str, number: int, root: Path | str = ROOT, url: str | None = None) -> Path:
    return study_folder(study, root, url) / "trials" / f"{number:05d}"


def open_storage(study: str, url: str | None = None, root: Path | str = ROOT):
    """The storage of ``study``: ``lightning_logs/<study>/journal.log`` unless ``url`` names a
    database. An unreachable URL raises a one-line ValueError."""
    if url is None:
        folder = study_folder(study, root).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        # Optuna's own lock (a symlink it breaks after 30 s of waiting, however old the lock) is
        # replaced by an flock, which the kernel releases when its holder dies: never stale.
        return JournalStorage(JournalFileBackend(str(folder / "journal.log"), api.FlockLock(folder / "journal.lock")))
    if "://" not in url:
        raise ValueError(f"--storage {url!r} is not allowed; expected a database URL such as "
                         "postgresql://user@host:5432/db (omit it for the embedded store)")
    try:
        if url.startswith("postgresql"):
            # Workers starting together would race to create Optuna's tables: take turns.
            from sqlalchemy import create_engine, text
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _SCHEMA_LOCK})
                    try:
                        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SCHEMA_LOCK})
            finally:
                engine.dispose()
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except Exception as err:  # noqa: BLE001 - any driver error means unreachable
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"--storage {url!r} is unreachable: {first}") from None


@contextlib.contextmanager
def layout_lock(study: optuna.Study, root: Path | str = ROOT, say=None) -> Iterator[None]:
    """Serialise layout and recovery across processes (and, with PostgreSQL, machines). ``say``
    (a function of one line) is told when the lock is held elsewhere and this process waits."""
    engine = api.engine(study)
    if engine is not None and engine.dialect.name == "postgresql":
        from sqlalchemy import text
        lock_id = int.from_bytes(hashlib.sha1(study.study_name.encode()).digest()[:7], "big")
        with engine.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_id}).scalar():
                _waiting(say, f"study {study.study_name}: waiting for another worker's layout lock (PostgreSQL)")
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_id})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
        return
    folder = study_folder(study.study_name, root)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "layout.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _waiting(say, f"study {study.study_name}: waiting for the layout lock {folder / 'layout.lock'} "
                          "(held by a live process; a dead one's is released at once)")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _waiting(say, line: str) -> None:
    if say is not None:
        say(line)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(trial: optuna.trial.FrozenTrial, grace: float, now: float | None = None) -> bool:
    """Whether a RUNNING trial's worker is gone: its process is gone (same host), it has not beaten
    for ``grace`` seconds, or it never beat ``CLAIM_GRACE`` seconds after its claim (killed between
    the claim and the first heartbeat, so no owner is recorded)."""
    now = time.time() if now is None else now
    worker = trial.user_attrs.get("worker") or {}
    if worker.get("host") == HOST and "pid" in worker and not _pid_alive(int(worker["pid"])):
        return True
    beat = trial.user_attrs.get("heartbeat")
    if beat is None:
        started = trial.datetime_start.timestamp() if trial.datetime_start is not None else None
        return started is not None and now - started > min(grace, CLAIM_GRACE)
    return now - float(beat) > grace


def is_done(trial: optuna.trial.FrozenTrial) -> bool:
    return "status" in trial.user_attrs


def finish(study: optuna.Study, trial_id: int, rec: dict, log_dir: Path, metric: str) -> None:
    """Store where a trial's record is (result.json in ``log_dir``, an absolute path) and its
    status, then its objective (``rec["metrics"][metric]`` if complete and finite, else FAIL).
    Raises UpdateFinishedTrialError when it was finished (or abandoned) meanwhile."""
    api.set_attr(study, trial_id, "log_dir", str(Path(log_dir).resolve()))
    api.set_attr(study, trial_id, "status", rec["status"])       # marks it done; recovery completes the tell
    value = rec["metrics"].get(metric)
    trial = api.live_trial(study, trial_id)
    if rec["status"] == "complete" and isinstance(value, (int, float)) and math.isfinite(value):
        study.tell(trial, float(value))
    else:
        study.tell(trial, state=TrialState.FAIL)


def adoptable(folder: Path, config: dict) -> dict | None:
    """The record in ``folder`` if it holds a whole result.json and a config.json equal to
    ``config`` (the key's resolved config); None otherwise."""
    try:
        stored = json.loads((folder / "config.json").read_text())
        rec = json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return None
    same = stored == json.loads(json.dumps(config))
    return rec if same and isinstance(rec, dict) and "status" in rec and "metrics" in rec else None


def ensure_layout(study: optuna.Study, sweep, grace: float, url: str | None = None,
                  root: Path | str = ROOT) -> dict[str, int]:
    """Queue every key of ``sweep`` that has no waiting, running or done trial; adopt or abandon
    dead workers' trials (module docstring). Call under ``layout_lock``. Returns counts."""
    counts = {"queued": 0, "abandoned": 0, "adopted": 0}
    specs = {s.key: s for s in sweep.trials}
    live: dict[str, bool] = defaultdict(bool)
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get("key")
        if t.state == TrialState.RUNNING and is_stale(t, grace):
            folder = trial_folder(study.study_name, t.number, root, url)
            rec = adoptable(folder, specs[key].config) if key in specs else None
            try:
                if rec is not None:
                    api.set_attr(study, api.trial_id(t), "adopted", f"worker {t.user_attrs.get('worker')} died "
                                 "after writing the record")
                    finish(study, api.trial_id(t), rec, folder, sweep.metric)
                    counts["adopted"] += 1
                    live[key] = True
                    continue
                reason = f"worker {t.user_attrs.get('worker')} died"
                api.set_attr(study, api.trial_id(t), "abandoned", reason)
                api.fail(study, api.trial_id(t))
            except UpdateFinishedTrialError:          # its worker finished it meanwhile
                live[key] = True
                continue
            if folder.is_dir():
                (folder / "ABANDONED").write_text(f"trial {t.number} ({key}): {reason}; its key was queued again\n")
            counts["abandoned"] += 1
            continue
        if t.state in (TrialState.WAITING, TrialState.RUNNING) or is_done(t):
            live[key] = True
    for spec in sweep.trials:
        if not live[spec.key]:
            study.enqueue_trial(params_of(spec), user_attrs={"key": spec.key})
            counts["queued"] += 1
    return counts


def params_of(spec) -> dict:
    """What Optuna shows as a trial's parameters: model name, grid point, draw's values, seed."""
    return {"model": spec.variant, **spec.point, **spec.hparams, "seed": spec.seed}


def _take(study: optuna.Study, tid: int) -> bool:
    """Atomically move WAITING trial ``tid`` to RUNNING for this worker; False if another got it."""
    if not api.try_start(study, tid):
        return False
    api.set_attr(study, tid, "worker", {"host": HOST, "pid": os.getpid()})
    api.set_attr(study, tid, "heartbeat", time.time())
    return True


def claim(study: optuna.Study) -> optuna.Trial | None:
    """Atomically take one WAITING trial (None when none is left)."""
    group = claim_group(study, 1)
    return group[0] if group else None


def claim_group(study: optuna.Study, size: int, group_of=lambda key: None) -> list[optuna.Trial]:
    """Take the first WAITING trial and up to ``size - 1`` more whose ``group_of(key)`` equals its
    own (not None): the trials a worker trains as one ensemble. Empty when none is left."""
    taken, group = [], None
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        g = group_of(t.user_attrs.get("key"))
        if taken and (group is None or g != group):
            continue
        if _take(study, api.trial_id(t)):
            taken.append(api.live_trial(study, api.trial_id(t)))
            group = g
            if len(taken) == size or group is None:
                break
    return taken


def progress(study: optuna.Study) -> tuple[int, int]:
    """(done keys, running trials)."""
    trials = study.get_trials(deepcopy=False)
    done = len({t.user_attrs.get("key") for t in trials if is_done(t)})
    return done, sum(t.state == TrialState.RUNNING and not is_done(t) for t in trials)


def held_elsewhere(study: optuna.Study) -> list[str]:
    """One phrase per RUNNING trial of another process: who holds it and when it last beat."""
    now, out = time.time(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        w = t.user_attrs.get("worker") or {}
        if is_done(t) or (w.get("host") == HOST and w.get("pid") == os.getpid()):
            continue
        beat = t.user_attrs.get("heartbeat")
        ago = f"last heartbeat {now - float(beat):.0f} s ago" if beat is not None else "no heartbeat yet"
        out.append(f"trial {t.number} by {w.get('host', '?')}:{w.get('pid', '?')} ({ago})")
    return out
