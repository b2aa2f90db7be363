"""Sweeps never lose, duplicate or mix up a result (issue 17): a worker killed at each window of
a trial's life, a battery of random kills, sweeps started together, one study per store, a
changed config refused. A kill at a window is a worker process that dies (os._exit) exactly
there, with the rest of the code unchanged."""
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

from experiments import store
from experiments.results import load_study, results
from experiments.sweep import run_sweep
from test_sweep import ROOT, done_keys, lab, write

LOGS = "lightning_logs"

# Code run in a worker before `work` starts: it dies at the window it patches.
WINDOWS = {
    # after the status (the trial reads done), before the objective: used to be stored twice
    "status_then_tell": "import optuna\n"
                        "optuna.Study.tell = lambda *a, **k: os._exit(9)\n",
    # after the claim (RUNNING), before the worker and heartbeat are written: used to wait 300 s
    "claim_then_owner": "from experiments import optuna_api\nset_attr = optuna_api.set_attr\n"
                        "def patched(study, tid, key, value):\n"
                        "    if key == 'worker': os._exit(9)\n"
                        "    set_attr(study, tid, key, value)\n"
                        "optuna_api.set_attr = patched\n",
    # after config.json, before training: a folder with config.json only
    "begun": "from experiments import train\ntrain._train = lambda *a, **k: os._exit(9)\n",
    # in the middle of writing result.json (the temporary file is written, not yet renamed)
    "mid_record": "from experiments import train\ntrain.os.replace = lambda *a, **k: os._exit(9)\n",
    # an ensemble of 8 killed after 7 members wrote result.json: 7 finished trainings
    "seven_of_eight": "from experiments import train\nsave, n = train.save, [0]\n"
                      "def patched(record, out):\n"
                      "    if n[0] == 7: os._exit(9)\n"
                      "    n[0] += 1\n"
                      "    return save(record, out)\n"
                      "train.save = patched\n",
}


def die_at(window: str, cfg, cwd, ensemble: int = 1) -> None:
    """Run one worker of ``cfg`` in a process that dies at ``window``; wait for it."""
    code = (f"import os, sys\nsys.path.insert(0, {str(ROOT)!r})\n{WINDOWS[window]}"
            f"from experiments.sweep import work\nfrom experiments.sweep_config import load_sweep\n"
            f"work(load_sweep({str(cfg)!r}), ensemble={ensemble})\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr[-2000:]


def trials(study, root=LOGS):
    return load_study(study, root=root).get_trials()


def no_running_and_each_key_once(study, n_keys, root=LOGS):
    keys = done_keys(study, root=root)
    assert len(keys) == n_keys and set(keys.values()) == {1}, keys
    assert not [t for t in trials(study, root) if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert len(results(study, root=root)) == n_keys


def test_killed_between_status_and_objective_is_adopted_not_stored_twice(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path, "w1", seeds=1)
    die_at("status_then_tell", cfg, tmp_path)
    (hung,) = [t for t in trials("w1") if t.state == TrialState.RUNNING]
    assert store.is_done(hung)                                  # it has its status, not its objective
    record = (tmp_path / LOGS / "w1" / "trials" / f"{hung.number:05d}" / "result.json").stat().st_mtime
    run_sweep(cfg, progress=False)
    no_running_and_each_key_once("w1", 4)
    assert len(trials("w1")) == 4                               # nothing queued again
    adopted = load_study("w1").trials[hung.number]
    assert adopted.state in (TrialState.COMPLETE, TrialState.FAIL) and "abandoned" not in adopted.user_attrs
    assert "died after writing the record" in adopted.user_attrs["adopted"]
    assert (tmp_path / LOGS / "w1" / "trials" / f"{hung.number:05d}" / "result.json").stat().st_mtime == record


def test_killed_between_claim_and_owner_is_taken_over_without_waiting_the_grace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(store, "CLAIM_GRACE", 1.0)
    cfg = write(tmp_path, "w2", seeds=1)
    die_at("claim_then_owner", cfg, tmp_path)
    (hung,) = [t for t in trials("w2") if t.state == TrialState.RUNNING]
    assert "worker" not in hung.user_attrs and "heartbeat" not in hung.user_attrs
    time.sleep(1.2)
    start = time.monotonic()
    run_sweep(cfg, progress=False, grace=300.0)
    assert time.monotonic() - start < 120
    no_running_and_each_key_once("w2", 4)
    assert "abandoned" in load_study("w2").trials[hung.number].user_attrs


@pytest.mark.parametrize("window", ["begun", "mid_record"])
def test_killed_before_a_whole_record_is_abandoned_marked_and_run_again(tmp_path, monkeypatch, window):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path, "w3", seeds=1)
    die_at(window, cfg, tmp_path)
    (hung,) = [t for t in trials("w3") if t.state == TrialState.RUNNING]
    folder = tmp_path / LOGS / "w3" / "trials" / f"{hung.number:05d}"
    assert (folder / "config.json").exists() and not (folder / "result.json").exists()
    run_sweep(cfg, progress=False)
    no_running_and_each_key_once("w3", 4)
    assert "abandoned" in load_study("w3").trials[hung.number].user_attrs
    assert "queued again" in (folder / "ABANDONED").read_text()


def test_an_ensemble_killed_after_seven_of_eight_records_keeps_the_seven(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path, "w4")
    die_at("seven_of_eight", cfg, tmp_path, ensemble=8)
    hung = [t for t in trials("w4") if t.state == TrialState.RUNNING]
    assert len(hung) == 8
    run_sweep(cfg, progress=False)
    no_running_and_each_key_once("w4", 8)
    after = load_study("w4").trials
    assert len(after) == 9                                      # only the eighth ran again
    assert sum("abandoned" in after[t.number].user_attrs for t in hung) == 1
    assert sum("adopted" in after[t.number].user_attrs for t in hung) == 7


def test_random_kills_with_and_without_ensembles_then_a_clean_finish(tmp_path):
    cfg = write(tmp_path, "battery", train={"steps": 600}, seeds=4)         # 16 keys, about 2 s a trial
    rng, root = random.Random(17), tmp_path / LOGS
    journal = root / "battery" / "journal.log"
    def holds(pid):
        return journal.exists() and any((t.user_attrs.get("worker") or {}).get("pid") == pid
                                        for t in load_study("battery", root=root).get_trials(states=(TrialState.RUNNING,)))
    kills, i = 0, 0
    while kills < 6 and i < 12:                                 # alternating plain and ensemble sweeps
        i += 1
        proc = lab("sweep", str(cfg), "--no-progress", *(["--ensemble", "4"] if i % 2 else []), cwd=tmp_path)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not holds(proc.pid):   # until it trains
            time.sleep(0.2)
        time.sleep(rng.uniform(0, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 6                                           # each while it held trials
    final = lab("sweep", str(cfg), "--no-progress", cwd=tmp_path)
    out, err = final.communicate(timeout=400)
    assert final.returncode == 0, err
    no_running_and_each_key_once("battery", 16, root)
    # no finished training was thrown away: an abandoned trial never had a whole record
    for t in trials("battery", root):
        if "abandoned" in t.user_attrs:
            assert not (root / "battery" / "trials" / f"{t.number:05d}" / "result.json").exists()


def test_three_sweeps_started_at_once_store_every_key_once(tmp_path):
    cfg = write(tmp_path, "three", train={"steps": 30})
    procs = [lab("sweep", str(cfg), "--no-progress", cwd=tmp_path) for _ in range(3)]
    outs = [p.communicate(timeout=400) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    no_running_and_each_key_once("three", 8, tmp_path / LOGS)
    creates = [json.loads(line)["op_code"] for line in (tmp_path / LOGS / "three" / "journal.log").read_text().splitlines()]
    assert Counter(creates)[0] == 1                             # one create-study record, not one per start


def test_one_name_on_two_stores_is_two_studies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path, "twin", seeds=1)
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    run_sweep(cfg, progress=False)
    embedded = {p.name: p.read_text() for p in (tmp_path / LOGS / "twin" / "trials").glob("*/result.json")}
    run_sweep(cfg, progress=False, storage=url)
    assert {p.name: p.read_text() for p in (tmp_path / LOGS / "twin" / "trials").glob("*/result.json")} == embedded
    assert store.study_folder("twin", LOGS, url) != store.study_folder("twin", LOGS)
    db = results("twin", storage=url)
    assert len(db) == 4 and all(str(store.study_folder("twin", LOGS, url).resolve()) in d for d in db["log_dir"])


def test_a_changed_config_is_refused_with_the_first_difference_unless_accepted(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run_sweep(write(tmp_path, "drift", seeds=1), progress=False)
    changed = write(tmp_path, "drift", seeds=1, train={"steps": 40})
    from learnlab.cli import main
    assert main(["sweep", str(changed), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.steps=20" in err[0] and "40" in err[0] and "--accept-changes" in err[0], err
    assert main(["sweep", str(changed), "--no-progress", "--accept-changes"]) == 0
    opt = optuna.load_study(study_name="drift", storage=store.open_storage("drift"))
    assert opt.user_attrs["sweep"]["train"]["steps"] == 40 and opt.user_attrs["sweep_changes"][0]["train"]["steps"] == 20


def test_a_finished_worker_says_what_others_still_hold(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path, "held", seeds=1)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        run_sweep(cfg, progress=False)
        opt = load_study("held")
        tid = store.api.trial_id(opt.trials[0])
        # another live worker holds a trial (a copy of one, re-queued as RUNNING for it)
        opt.enqueue_trial({}, user_attrs={"key": opt.trials[0].user_attrs["key"]})
        (extra,) = opt.get_trials(states=(TrialState.WAITING,))
        assert store.api.try_start(opt, extra._trial_id) and tid != extra._trial_id
        store.api.set_attr(opt, extra._trial_id, "worker", {"host": store.HOST, "pid": sleeper.pid})
        store.api.set_attr(opt, extra._trial_id, "heartbeat", time.time())
        from learnlab.cli import main
        assert main(["sweep", str(cfg), "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert f"1 still held by other workers: trial {extra.number} by {store.HOST}:{sleeper.pid}" in out, out
    finally:
        sleeper.kill()


def test_a_worker_waiting_for_the_layout_lock_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = store.open_storage("wait")
    study = optuna.create_study(study_name="wait", storage=storage)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(%r, 'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); "
        "time.sleep(1.5)") % str(tmp_path / LOGS / "wait" / "layout.lock")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    said = []
    start = time.monotonic()
    with store.layout_lock(study, LOGS, said.append):
        waited = time.monotonic() - start
    holder.wait()
    assert len(said) == 1 and "waiting for the layout lock" in said[0] and waited > 0.5


def test_a_run_whose_outputs_explode_is_complete_but_judged_never_learned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_sweep(write(tmp_path, "boom", seeds=1, grid={"data.n_modes": [4]},
                    model={"lr_g": 1.0e9, "lr_d": 1.0e9}, train={"steps": 100}), progress=False)
    (row,) = results("boom").to_dict("records")
    assert row["status"] == "complete" and row["verdict.never_learned"] and row["verdict.outcome"] != "learned"
