"""Where a sweep lives: an Optuna study in an embedded journal file (default) or an RDB server.

Every trial of a sweep is laid out up front as a WAITING Optuna trial carrying its ``key``.
Workers claim one WAITING trial at a time (an atomic state change in every Optuna storage),
write ``worker`` and a ``heartbeat`` while it runs, and finish it with user attributes
(``status`` complete / diverged / failed, metrics, traits, ...). Optuna's state is COMPLETE with
the objective for completed runs and FAIL otherwise; a trial is *done* when it has ``status``.

Layout and recovery run under one lock (a file lock beside the journal, or a PostgreSQL
advisory lock) and are idempotent: a RUNNING trial whose worker died (same host: its process is
gone; any host: no heartbeat for ``grace`` seconds) is marked FAIL with ``abandoned`` and its
key is queued again, and every key without a waiting, running or done trial is queued. So a
rerun of the same command continues where it stopped, and no key is done twice.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import time
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from . import optuna_api as api

ROOT = Path("lightning_logs")
_SCHEMA_LOCK = 0x1EA2_0B1E           # advisory lock id for creating Optuna's tables
HOST = socket.gethostname()


def study_folder(study: str, root: Path | str = ROOT) -> Path:
    return Path(root) / study


def open_storage(study: str, url: str | None = None, root: Path | str = ROOT):
    """The storage of ``study``: ``lightning_logs/<study>/journal.log`` unless ``url`` names a
    database. An unreachable URL raises a one-line ValueError."""
    if url is None:
        folder = study_folder(study, root).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        # An absolute path: Optuna's lock is a symlink to the journal, and a relative target
        # dangles, so a lock left by a killed worker was never seen as stale (the next worker
        # spun at 100% CPU forever instead of breaking it after the 30 s grace period).
        return JournalStorage(JournalFileBackend(str(folder / "journal.log")))
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
def layout_lock(study: optuna.Study, root: Path | str = ROOT) -> Iterator[None]:
    """Serialise layout and recovery across processes (and, with PostgreSQL, machines)."""
    engine = api.engine(study)
    if engine is not None and engine.dialect.name == "postgresql":
        from sqlalchemy import text
        lock_id = int.from_bytes(hashlib.sha1(study.study_name.encode()).digest()[:7], "big")
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_id})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
        return
    folder = study_folder(study.study_name, root)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "layout.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(trial: optuna.trial.FrozenTrial, grace: float, now: float | None = None) -> bool:
    """Whether a RUNNING trial's worker is gone."""
    now = time.time() if now is None else now
    worker = trial.user_attrs.get("worker") or {}
    if worker.get("host") == HOST and "pid" in worker and not _pid_alive(int(worker["pid"])):
        return True
    beat = trial.user_attrs.get("heartbeat")
    if beat is None and trial.datetime_start is not None:
        beat = trial.datetime_start.timestamp()
    return beat is not None and now - float(beat) > grace


def is_done(trial: optuna.trial.FrozenTrial) -> bool:
    return "status" in trial.user_attrs


def ensure_layout(study: optuna.Study, specs, grace: float) -> dict[str, int]:
    """Queue every key that has no waiting, running or done trial; abandon dead workers' trials.
    Call under ``layout_lock``. Returns counts of what it did."""
    counts = {"queued": 0, "abandoned": 0}
    live: dict[str, bool] = defaultdict(bool)
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get("key")
        if t.state == TrialState.RUNNING and is_stale(t, grace):
            api.set_attr(study, api.trial_id(t), "abandoned", f"worker {t.user_attrs.get('worker')} died")
            api.fail(study, api.trial_id(t))
            counts["abandoned"] += 1
            continue
        if t.state in (TrialState.WAITING, TrialState.RUNNING) or is_done(t):
            live[key] = True
    for spec in specs:
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
    return done, sum(t.state == TrialState.RUNNING for t in trials)
