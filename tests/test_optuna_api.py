"""Pins every behaviour of Optuna's private API that experiments/optuna_api.py relies on, against
real stores: the embedded journal file and an SQLite RDB. Each "worker" is its own storage
object over the same file, as separate processes would be."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from experiments import optuna_api as api

optuna.logging.set_verbosity(optuna.logging.WARNING)
WAITING = (TrialState.WAITING,)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["journal", "sqlite"])
def worker(request, tmp_path):
    """worker() -> the study "s" as seen by a new worker with its own storage object."""
    if request.param == "journal":
        def make():
            return JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"), api.FlockLock(tmp_path / "journal.lock")))
    else:
        def make():
            return RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    optuna.create_study(study_name="s", storage=make())
    return lambda: optuna.load_study(study_name="s", storage=make())


def queue(study, n):
    for i in range(n):
        study.enqueue_trial({"x": i / 10}, user_attrs={"key": f"k{i}"})
    return study.get_trials(deepcopy=False, states=WAITING)


def test_a_waiting_trial_is_started_by_exactly_one_worker(worker):
    a, b = worker(), worker()
    waiting = queue(a, 2)
    assert [t.user_attrs["key"] for t in b.get_trials(states=WAITING)] == ["k0", "k1"]
    tid = api.trial_id(waiting[0])
    assert api.try_start(a, tid) is True
    assert api.try_start(b, tid) is False          # b still thinks it is waiting: a took it
    assert api.try_start(a, tid) is False
    assert [t.user_attrs["key"] for t in b.get_trials(states=WAITING)] == ["k1"]
    assert b.get_trials()[0].state == TrialState.RUNNING and b.get_trials()[0].datetime_start


def test_racing_journal_workers_each_trial_goes_to_one(tmp_path):
    path = str(tmp_path / "journal.log")

    def storage():
        return JournalStorage(JournalFileBackend(path, api.FlockLock(tmp_path / "journal.lock")))
    optuna.create_study(study_name="s", storage=storage())
    studies = [optuna.load_study(study_name="s", storage=storage()) for _ in range(6)]
    ids = [api.trial_id(t) for t in queue(studies[0], 5)]
    go, won = threading.Barrier(len(studies)), []

    def race(study):
        go.wait()
        won.extend(tid for tid in ids if api.try_start(study, tid))
    threads = [threading.Thread(target=race, args=(s,)) for s in studies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == sorted(ids)


def test_finished_trials_cannot_be_started_nor_written(worker):
    a, b = worker(), worker()
    done, dead = (api.trial_id(t) for t in queue(a, 2))
    assert api.try_start(a, done) and api.try_start(a, dead)
    a.tell(api.live_trial(a, done), 1.0)
    api.fail(b, dead)                              # another worker abandons it
    assert [t.state for t in a.get_trials()] == [TrialState.COMPLETE, TrialState.FAIL]
    for tid in (done, dead):
        assert api.try_start(a, tid) is False and api.try_start(b, tid) is False
        with pytest.raises(UpdateFinishedTrialError):
            api.set_attr(a, tid, "heartbeat", 1.0)
        with pytest.raises(UpdateFinishedTrialError):
            api.fail(a, tid)


def test_attrs_set_by_id_are_seen_by_other_workers(worker):
    a, b = worker(), worker()
    tid = api.trial_id(queue(a, 1)[0])
    assert api.try_start(a, tid)
    api.set_attr(a, tid, "worker", {"host": "h", "pid": 7})
    beat = threading.Thread(target=api.set_attr, args=(a, tid, "heartbeat", 2.5))   # as _Heartbeat
    beat.start()
    beat.join()
    assert b.get_trials()[0].user_attrs == {"key": "k0", "worker": {"host": "h", "pid": 7}, "heartbeat": 2.5}


def test_live_trial_has_the_queued_params_and_attrs_and_is_told(worker):
    a, b = worker(), worker()
    first, second = (api.trial_id(t) for t in queue(a, 2))
    assert api.try_start(a, first) and api.try_start(a, second)
    live = api.live_trial(a, first)
    assert isinstance(live, optuna.Trial) and api.trial_id(live) == first and live.number == 0
    assert live.user_attrs["key"] == "k0"
    assert live.suggest_float("x", 0.0, 1.0) == 0.0 and live.suggest_int("seed", 3, 3) == 3
    live.set_user_attr("status", "complete")
    a.tell(live, 0.25)
    t = b.get_trials()[0]
    assert (t.state, t.value, t.params, t.user_attrs["status"]) == (TrialState.COMPLETE, 0.25,
                                                                    {"x": 0.0, "seed": 3}, "complete")
    other = api.live_trial(a, second)
    api.fail(b, second)                            # abandoned while it ran: finishing it raises
    with pytest.raises(UpdateFinishedTrialError):
        other.set_user_attr("status", "complete")


def test_trial_ids_are_unique_across_studies_unlike_numbers(tmp_path):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    ts = [queue(optuna.create_study(study_name=n, storage=storage), 1)[0] for n in ("s1", "s2")]
    assert [t.number for t in ts] == [0, 0] and api.trial_id(ts[0]) != api.trial_id(ts[1])


def test_engine_is_the_rdb_engine_and_none_for_the_journal(tmp_path):
    journal = optuna.create_study(storage=JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))))
    rdb = optuna.create_study(storage=RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    assert api.engine(journal) is None and api.engine(rdb).dialect.name == "sqlite"


def test_flock_journal_lock_is_released_when_its_holder_is_killed(tmp_path):
    # Optuna's own lock (a symlink) made every process wait 30 s for a lock a killed worker left,
    # however old; an flock dies with its holder.
    journal = tmp_path / "journal.log"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, %r); from experiments.optuna_api import FlockLock; "
        "FlockLock(%r).acquire(); print('held', flush=True); time.sleep(60)") % (str(ROOT), str(tmp_path / "journal.lock"))],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    storage = JournalStorage(JournalFileBackend(str(journal), api.FlockLock(tmp_path / "journal.lock")))
    holder.kill()
    holder.wait()
    start = time.monotonic()
    with api.journal_lock(storage):
        pass
    optuna.create_study(study_name="s", storage=storage)      # writes go on
    assert time.monotonic() - start < 2
