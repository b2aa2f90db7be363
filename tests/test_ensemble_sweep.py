"""Sweeps whose trials train as members of one batched module store the records a one-at-a-time sweep stores."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from experiments import store
from experiments.config import validate
from experiments.train import run_group, signature
from experiments.results import load_study, record
from experiments.sweep import run_sweep
from test_sweep import TINY

SAME = ("status", "diverged_at", "steps", "metrics", "skipped", "traits", "verdict", "history", "code_version")


def close(a, b, path="") -> None:
    """Equal structures, floats to 1e-5 relative (the trajectories agree to float tolerance)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {set(a) ^ set(b)}"
        for k in a:
            close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), f"{path}: {a} vs {b}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def records(study: str) -> dict:
    trials = load_study(study).get_trials(states=[optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL])
    return {t.user_attrs["key"]: {**record(t), **t.user_attrs} for t in trials if store.is_done(t)}


VAE = {"model": "vae", "enc_width": 16, "dec_width": 16, "enc_depth": 1, "dec_depth": 1, "batch_size": 32,
       "check_every": 10}
STUDIES = {    # kind: (data, model, grid axis besides the NaN hook)
    "gan": (None, None, {"data.n_modes": [2, 4]}),
    "vae": (None, VAE, {"data.n_modes": [2, 4]}),
    "conv_gan": ({"family": "triangles", "image_size": 8, "supersample": 2},
                 {"model": "gan", "arch": "conv", "channels": 4, "batch_size": 16, "check_every": 10},
                 {"data.blur": [0.0, 1.0]}),
}


def sweep_file(tmp_path, name: str, kind: str = "gan") -> str:
    raw = yaml.safe_load(TINY.read_text())
    data, model, axis = STUDIES[kind]
    raw.update(study=name, seeds=2)
    raw["data"] = data or raw["data"]
    raw["model"] = model or raw["model"]
    raw["grid"] = {**axis, "model.debug_nan_at_step": [None, 13]}
    raw["train"] = {**raw["train"], "steps": 30, "eval_every": 10, "plots": True}
    if kind != "gan":
        raw["objective"] = {"metric": "coverage", "direction": "maximize"}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize("kind", list(STUDIES))
def test_batched_sweep_stores_the_records_of_a_one_at_a_time_sweep(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    run_sweep(sweep_file(tmp_path, "single", kind), progress=False, ensemble=1)
    run_sweep(sweep_file(tmp_path, "batched", kind), progress=False, ensemble=8)
    single, batched = records("single"), records("batched")
    assert len(single) == len(batched) == 8 and set(single) == set(batched)
    statuses = sorted(r["status"] for r in batched.values())
    assert statuses == ["complete"] * 4 + ["diverged"] * 4
    for key in single:
        for field in SAME:
            close(single[key][field], batched[key][field], f"{key}.{field}")
        if batched[key]["status"] == "diverged":
            assert batched[key]["diverged_at"] == 13 and batched[key]["steps"] == 20
    # every trial of the batched sweep was trained in one module of 8, with its own plots and artifacts
    for key, rec in batched.items():
        folder = tmp_path / rec["log_dir"]
        assert (folder / "result.json").read_text().count('"members": 8') == 1
        assert sorted(p.name for p in (folder / "samples").iterdir())[:1] == ["step_0000010.png"]
        assert (folder / "model.pt").is_file() and (folder / "samples.npz").is_file()


def test_signature_groups_only_what_one_module_can_train():
    base = {"data": {"family": "mixture", "n_modes": 4}, "model": {"model": "gan", "g_width": 16},
            "train": {"steps": 20, "seed": 0}}
    sig = signature(validate(base))
    other_data = signature(validate({**base, "data": {"family": "manifold", "shape": "circle"}}))
    other_seed = signature(validate({**base, "train": {"steps": 20, "seed": 3}}))
    assert sig is not None and sig == other_data == other_seed
    assert signature(validate({**base, "model": {"model": "gan", "g_width": 32}})) != sig
    assert signature(validate({**base, "train": {"steps": 40}})) != sig
    assert signature(validate({**base, "data": {"family": "mixture", "n_modes": 4, "dim": 3}})) != sig
    assert signature(validate({**base, "model": {"model": "vae"}})) != sig
    assert signature(validate({**base, "train": {"steps": 20, "threads": 2}})) != sig
    with pytest.raises(ValueError, match="cannot train as one module"):
        run_group([validate(base), validate({**base, "model": {"model": "vae"}})], ["a", "b"])


def test_sweep_benchmark_runs():
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "sweep.py"), "--quick", "--steps", "20",
                          "--workers", "1", "--ensemble", "4", "--baseline", "2"],
                         capture_output=True, text=True, timeout=300, cwd=root,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("sweep of 8 trials (20 steps, width 64), ensembles of 4: ") and last.endswith("x")
    assert "8/8 trials stored ({'complete': 8})" in out.stdout


def test_train_command_and_a_two_worker_sweep_store_the_same_record(tmp_path, monkeypatch):
    """One thread policy: a trial's numbers depend on its config, seed and recorded execution
    settings, not on the command or the number of workers (each run sets train.threads)."""
    monkeypatch.chdir(tmp_path)
    raw = yaml.safe_load(TINY.read_text())
    raw.update(study="same", seeds=1, grid={"data.n_modes": [2, 4]})
    raw["model"] = {**raw["model"], "g_width": 64, "d_width": 64}       # wide enough for threads to matter
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    run_sweep(str(tmp_path / "s.yaml"), progress=False, workers=2)
    stored = next(r for r in records("same").values() if r["traits"]["n_modes"] == 2)
    run_cfg = {k: raw[k] for k in ("data", "model", "train")}
    run_cfg["data"] = {**run_cfg["data"], "n_modes": 2}
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(run_cfg))
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-m", "learnlab.train", str(tmp_path / "one.yaml"), "--out", str(tmp_path / "t")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    alone = json.loads((tmp_path / "t" / "result.json").read_text())
    assert alone["metrics"] == stored["metrics"] and alone["history"] == stored["history"]
    sweep_rec = json.loads((tmp_path / stored["log_dir"] / "result.json").read_text())
    for rec in (alone, sweep_rec):
        ex = rec["execution"]
        assert ex["threads"] == 1 and ex["device"] == "cpu" and ex["members"] == 1
        assert set(ex["versions"]) == {"torch", "pytorch_lightning", "optuna"}
