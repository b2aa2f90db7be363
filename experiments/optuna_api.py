"""The few things the lab needs from Optuna that its public API does not offer, in one place.

A sweep lays its trials out up front (``study.enqueue_trial``) and many workers claim them by id,
so it needs trial ids, an atomic WAITING -> RUNNING claim, user attributes written by id (from a
heartbeat thread), an ``optuna.Trial`` for a claimed id and a journal lock that cannot go stale:
all private or undocumented. Only
this module touches them, so an Optuna upgrade is checked here and in tests/test_optuna_api.py,
which pins every behaviour relied on. Checked against optuna 5.0.0 (constraints.txt) with
JournalStorage (JournalFileBackend) and RDBStorage (SQLite, PostgreSQL).
"""
from __future__ import annotations

import contextlib
import fcntl
import threading
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's id of a trial (unique across studies, unlike ``trial.number``)."""
    return trial._trial_id


def live_trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """The ``optuna.Trial`` of a trial this worker claimed: it suggests, and ``study.tell`` ends it."""
    return optuna.Trial(study, trial_id)


def set_attr(study: optuna.Study, trial_id: int, key: str, value: Any) -> None:
    """Set a user attribute by id (any thread). Raises UpdateFinishedTrialError once it is finished."""
    study._storage.set_trial_user_attr(trial_id, key, value)


def try_start(study: optuna.Study, trial_id: int) -> bool:
    """Atomically move a WAITING trial to RUNNING: True for exactly one caller across processes and
    machines; False when another worker took it first or it is finished."""
    try:
        return study._storage.set_trial_state_values(trial_id, state=TrialState.RUNNING)
    except UpdateFinishedTrialError:       # journal and RDB both raise for a finished trial
        return False


def fail(study: optuna.Study, trial_id: int) -> None:
    """Mark a RUNNING trial FAIL (its worker died). Raises UpdateFinishedTrialError if finished."""
    study._storage.set_trial_state_values(trial_id, TrialState.FAIL)


def engine(study: optuna.Study):
    """The SQLAlchemy engine of an RDB-stored study; None for the journal."""
    storage = study._storage
    if isinstance(storage, optuna.storages._CachedStorage):   # how create_study wraps an RDBStorage
        storage = storage._backend
    return getattr(storage, "engine", None)


class FlockLock:
    """A journal lock (what ``JournalFileBackend(path, lock_obj)`` calls: acquire, release) the kernel releases when its holder dies (``flock`` on a lock file), so a
    killed worker never leaves a stale lock. Threads of one process take turns too (the heartbeat
    thread writes while the main thread does). For one machine's file system, as the embedded store is."""

    def __init__(self, path: str | Path):
        self.path, self._thread, self._file = str(path), threading.Lock(), None

    def acquire(self) -> bool:
        self._thread.acquire()
        try:
            f = open(self.path, "a")
            fcntl.flock(f, fcntl.LOCK_EX)
        except BaseException:
            self._thread.release()
            raise
        self._file = f
        return True

    def release(self) -> None:
        f, self._file = self._file, None
        try:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
        finally:
            self._thread.release()


@contextlib.contextmanager
def journal_lock(storage: optuna.storages.JournalStorage) -> Iterator[str]:
    """Hold a journal file's own lock (what every write takes); yields the lock file's path."""
    lock = storage._backend._lock
    lock.acquire()
    try:
        yield lock.path
    finally:
        lock.release()
