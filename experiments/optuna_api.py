"""The few things the lab needs from Optuna that its public API does not offer, in one place.

A sweep lays its trials out up front (``study.enqueue_trial``) and many workers claim them by id,
so it needs trial ids, an atomic WAITING -> RUNNING claim, user attributes written by id (from a
heartbeat thread) and an ``optuna.Trial`` for a claimed id: all private or undocumented. Only
this module touches them, so an Optuna upgrade is checked here and in tests/test_optuna_api.py,
which pins every behaviour relied on. Checked against optuna 5.0.0 (constraints.txt) with
JournalStorage (JournalFileBackend) and RDBStorage (SQLite, PostgreSQL).
"""
from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def journal_lock(storage: optuna.storages.JournalStorage) -> Iterator[str]:
    """Hold a journal file's own lock (what every write takes); yields the lock's path, a symlink
    to the journal that Optuna breaks when the journal has not changed for 30 s."""
    lock = storage._backend._lock
    if not lock.acquire():
        raise RuntimeError("could not take the journal's lock")
    try:
        yield lock._lock_file
    finally:
        lock.release()
