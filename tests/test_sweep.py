"""Sweeps end to end on tiny trials: results, failures, resume after SIGKILL, parallel workers,
and PostgreSQL."""
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from experiments import store
from experiments.results import load_study as load
from experiments.results import results
from experiments.sweep import run_sweep
from postgres import postgres_server

TINY = Path(__file__).parent / "configs" / "tiny_sweep.yaml"
ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, name="tiny", **changes):
    raw = yaml.safe_load(TINY.read_text())
    for k, v in changes.items():
        raw[k] = {**raw.get(k, {}), **v} if isinstance(v, dict) and k != "grid" else v
    raw["study"] = name
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def done_keys(study, storage=None, root="lightning_logs"):
    opt = load(study, storage, root)
    return Counter(t.user_attrs["key"] for t in opt.get_trials() if store.is_done(t))


def lab(*args, cwd, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "learnlab", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_tiny_grid_completes_with_right_traits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = run_sweep(write(tmp_path), progress=False)
    df = results("tiny")
    assert len(df) == 8 and set(df["status"]) == {"complete"}
    assert sorted(zip(df["data.n_modes"], df["data.radius"], df["seed"])) == \
        sorted((m, r, s) for m in (2, 4) for r in (1.0, 2.0) for s in (0, 1))
    assert (df["trait.n_modes"] == df["data.n_modes"]).all()
    # min separation in stds of a ring: 2 r sin(pi / n) / std
    import math
    want = [2 * r * math.sin(math.pi / m) / 0.1 for m, r in zip(df["data.n_modes"], df["data.radius"])]
    assert df["trait.min_separation"].tolist() == pytest.approx(want)
    assert df["modes_captured"].between(0, df["data.n_modes"]).all()
    assert df["runtime_s"].gt(0).all() and df["code_version"].notna().all()
    assert "verdict.dropped_modes" in df.columns
    assert len(sweep.trials) == 8
    # rerunning the finished sweep does nothing twice
    run_sweep(write(tmp_path), progress=False)
    assert set(done_keys("tiny").values()) == {1} and len(results("tiny")) == 8


def test_diverging_and_raising_trials_are_stored_and_the_rest_complete(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path, "faults", grid={"model.debug_nan_at_step": [None, 5], "train.accelerator": ["cpu", "gpu"]}, seeds=1)
    run_sweep(cfg, progress=False)
    df = results("faults").set_index(["model.debug_nan_at_step", "train.accelerator"], drop=False)
    assert len(df) == 4
    ok = df[(df["model.debug_nan_at_step"].isna()) & (df["train.accelerator"] == "cpu")]
    assert ok["status"].tolist() == ["complete"]
    nan = df[(df["model.debug_nan_at_step"] == 5) & (df["train.accelerator"] == "cpu")]
    assert nan["status"].tolist() == ["diverged"] and nan["diverged_at"].tolist() == [5]
    gpu = df[df["train.accelerator"] == "gpu"]
    assert set(gpu["status"]) == {"failed"} and gpu["reason"].str.len().gt(0).all()


def test_killed_sweep_resumes_without_losing_or_repeating(tmp_path):
    cfg = write(tmp_path, "killed", train={"steps": 150}, seeds=2)
    proc = lab("sweep", str(cfg), "--no-progress", cwd=tmp_path)
    deadline = time.time() + 240
    journal = tmp_path / "lightning_logs" / "killed" / "journal.log"
    while time.time() < deadline:
        time.sleep(0.5)
        if journal.exists():
            done, running = store.progress(load("killed", root=tmp_path / "lightning_logs"))
            if done >= 2 and running == 1:          # killed in the middle of a trial
                break
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = done_keys("killed", root=tmp_path / "lightning_logs")
    assert 2 <= sum(before.values()) < 8
    again = lab("sweep", str(cfg), "--no-progress", cwd=tmp_path)
    out, err = again.communicate(timeout=400)
    assert again.returncode == 0, err
    after = done_keys("killed", root=tmp_path / "lightning_logs")
    assert len(after) == 8 and set(after.values()) == {1}
    abandoned = [t for t in load("killed", root=tmp_path / "lightning_logs").get_trials() if "abandoned" in t.user_attrs]
    assert len(abandoned) == 1 and not store.is_done(abandoned[0])     # the killed trial ran again
    assert len(results("killed", root=tmp_path / "lightning_logs")) == 8


def test_three_workers_share_one_embedded_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_sweep(write(tmp_path, "workers", train={"steps": 30}), workers=3, progress=False)
    keys = done_keys("workers")
    assert len(keys) == 8 and set(keys.values()) == {1}
    opt = load("workers")
    pids = {t.user_attrs["worker"]["pid"] for t in opt.get_trials()}
    assert len(pids) >= 2                    # the work really was shared


def test_postgresql_store_with_two_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with postgres_server() as url:
        cfg = write(tmp_path, "pg")
        procs = [lab("sweep", str(cfg), "--storage", url, "--no-progress", cwd=tmp_path) for _ in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=400)
            assert p.returncode == 0, err
        keys = done_keys("pg", storage=url)
        assert len(keys) == 8 and set(keys.values()) == {1}
        df = results("pg", storage=url)
        assert len(df) == 8 and set(df["status"]) == {"complete"}


def test_bad_storage_and_bad_metric_fail_before_any_trial(tmp_path):
    cfg = write(tmp_path, "bad")
    p = lab("sweep", str(cfg), "--storage", "postgresql://nobody@127.0.0.1:1/none", "--no-progress", cwd=tmp_path)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2 and len(err.strip().splitlines()) == 1 and "unreachable" in err, err
    cfg = write(tmp_path, "badmetric", objective={"metric": "accuracy"})
    p = lab("sweep", str(cfg), "--no-progress", cwd=tmp_path)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "objective.metric='accuracy'" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "lightning_logs" / "badmetric" / "trials").exists()
