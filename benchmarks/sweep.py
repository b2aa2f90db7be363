"""A whole learnability sweep end to end, and where its workers' time goes.

    python benchmarks/sweep.py                  # 8 x 8 ring grid x 5 seeds = 320 GAN trials, 2,000 steps,
                                                # ensembles of 32, 2 workers
    python benchmarks/sweep.py --quick          # 2 x 2 grid x 2 seeds, 100 steps: checks it runs
    python benchmarks/sweep.py --ensemble 1     # the same sweep one trial at a time
    python benchmarks/sweep.py --study experiments/configs/figures/ring.yaml   # fig-ring: 480 GAN and VAE trials
    python benchmarks/sweep.py --study experiments/configs/figures/ring.yaml --steps 100   # the same, shorter

The default sweep: non-saturating GAN, 3 x 64 MLPs, batch 256, on a ring of n_modes Gaussians
(8 values) at separation 2..16 stds (8 values), 5 seeds; evaluations every 500 steps and final
metrics on 2,500 samples, as ``learnlab sweep`` runs it (no sample PNGs or TensorBoard). With
``--study`` a sweep config is run as written (plots included), ``--steps`` / ``--ensemble``
overriding its ``train.steps`` / ``ensemble``. Every sweep runs through ``run_sweep`` into an
embedded store in a temporary folder and is timed from the call to the last record stored.

Where the time goes is measured from outside, in each worker process: the functions a worker
spends its time in are wrapped with timers (exclusive time, nested calls subtracted) --
``Trainer.fit`` (training), ``EvaluationCallback.record`` and the final ``evaluate`` (evaluation),
``Snapshots.save`` (sample PNGs), ``experiments.train.save`` / ``models.save`` /
``np.savez_compressed`` (records, weights, samples) and the Optuna calls (claiming trials, laying
out the study, ``_finish``); the rest of the worker's time is "other" (building modules, data,
validation). Worker processes are the ones ``run_sweep`` starts, with its multiprocessing context
swapped for one that starts them through :func:`timed_worker`.

A baseline runs a few trials of the same sweep one at a time (``--baseline``; the default sweep:
its first cells; a study: its middle grid cell, every model and draw, one seed) with the same
workers in the same process, and the whole sweep's one-at-a-time time is extrapolated from it:
the workers' busy time per trial times the trials (over the workers), plus the baseline's other
wall time (process start-up, imports) once.
"""
from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import experiments.sweep as sweep_mod  # noqa: E402
from experiments.results import results  # noqa: E402
from experiments.sweep import run_sweep  # noqa: E402
from experiments.sweep_config import load_sweep  # noqa: E402

N_MODES = [2, 3, 4, 6, 8, 10, 12, 16]
SEPARATION = [2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 16.0]
SHARES = ("train", "evaluate", "plots", "files", "optuna")


def sweep_config(study: str, n_modes: list, separation: list, seeds: int, steps: int, ensemble: int) -> dict:
    return {"study": study, "data": {"family": "mixture", "layout": "ring", "radius": 1.0},
            "model": {"model": "gan", "loss": "non_saturating", "g_width": 64, "g_depth": 3, "d_width": 64,
                      "d_depth": 3, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999, "batch_size": 256},
            "train": {"steps": steps, "eval_every": min(500, steps), "eval_samples": 2500, "final_real": 2500,
                      "plots": False, "tensorboard": False},
            "grid": {"data.n_modes": n_modes, "data.separation": separation}, "seeds": seeds,
            "objective": {"metric": "modes_captured_fraction", "direction": "maximize"}, "ensemble": ensemble}


def install_timers() -> tuple[dict, list]:
    """Wrap what a sweep worker spends its time in; returns the running totals (seconds of
    exclusive time per share, "other" = ``work`` itself; "busy" = time in ``work``) and the
    (owner, name, original) to undo."""
    import numpy as np
    import pytorch_lightning as pl

    import experiments.store as store
    import experiments.train as train
    import models
    from experiments.evaluation import EvaluationCallback
    totals, stack, undo = defaultdict(float), [], []

    def wrap(owner, name: str, share: str) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                dt, inner = time.perf_counter() - t0, stack.pop()
                totals[share] += dt - inner
                if stack:
                    stack[-1] += dt
                elif name == "work":
                    totals["busy"] += dt
        undo.append((owner, name, fn))
        setattr(owner, name, timed)

    for owner, name, share in ((sweep_mod, "work", "other"), (pl.Trainer, "fit", "train"),
                               (EvaluationCallback, "record", "evaluate"), (train, "evaluate", "evaluate"),
                               (train.Snapshots, "save", "plots"), (train, "save", "files"), (models, "save", "files"),
                               (np, "savez_compressed", "files"), (sweep_mod, "prepare", "optuna"),
                               (store, "claim_group", "optuna"), (store, "finish", "optuna")):
        wrap(owner, name, share)
    return totals, undo


def timed_worker(target, args, folder: str) -> None:
    """A sweep worker process (``target(*args)``) with timers; its totals go to folder/<pid>.json."""
    totals, _ = install_timers()
    try:
        target(*args)
    finally:
        (Path(folder) / f"{os.getpid()}.json").write_text(json.dumps(totals))


class TimedSpawn:
    """Stands in for experiments.sweep's ``multiprocessing``: its workers start via timed_worker."""

    def __init__(self, folder: Path):
        self.folder = str(folder)

    def get_context(self, method: str):
        ctx, folder = multiprocessing.get_context(method), self.folder

        class Context:
            @staticmethod
            def Process(target, args=()):
                return ctx.Process(target=timed_worker, args=(target, args, folder))
        return Context()


def timed_sweep(root: Path, raw: dict, workers: int) -> tuple[float, int, dict, dict]:
    """Run ``raw`` through run_sweep; returns seconds, trials stored, their statuses and the
    workers' summed time per share (and "busy": in ``work``)."""
    path = root / f"{raw['study']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    folder = Path(tempfile.mkdtemp(dir=root))
    totals, undo = {}, []
    if workers == 1:                      # run_sweep runs the worker in this process
        totals, undo = install_timers()
    else:
        undo = [(sweep_mod, "mp", sweep_mod.mp)]
        sweep_mod.mp = TimedSpawn(folder)
    t0 = time.perf_counter()
    try:
        run_sweep(path, workers=workers, root=root / "lightning_logs", progress=False)
    finally:
        secs = time.perf_counter() - t0
        for owner, name, fn in reversed(undo):
            setattr(owner, name, fn)
    if workers > 1:
        totals = defaultdict(float)
        for f in folder.glob("*.json"):
            for k, v in json.loads(f.read_text()).items():
                totals[k] += v
    df = results(raw["study"], root=root / "lightning_logs")
    return secs, len(df), df["status"].value_counts().to_dict(), dict(totals)


def shares(totals: dict, secs: float, workers: int) -> str:
    total = totals.get("busy", 0.0) or float("nan")
    pct = {k: 100 * totals.get(k, 0.0) / total for k in SHARES}
    other = 100 - sum(pct.values())
    return (f"workers busy {total:.0f} s of {workers} x {secs:.0f} s (the rest: process start-up, imports, "
            f"idle workers); of the busy time: training {pct['train']:.0f}%, "
            f"evaluation {pct['evaluate']:.0f}%, storage {pct['plots'] + pct['files'] + pct['optuna']:.0f}% "
            f"(sample PNGs {pct['plots']:.0f}%, records/weights/samples {pct['files']:.0f}%, Optuna "
            f"{pct['optuna']:.0f}%), other {other:.0f}% (building modules, data, sampling, validation)")


def study_baseline(raw: dict) -> dict:
    """The study's middle grid cell, every model and draw, one seed, one trial at a time."""
    out = json.loads(json.dumps(raw))
    out.update(study=f"{raw['study']}-baseline", seeds=1, ensemble=1)
    for axis, values in out.get("grid", {}).items():
        if isinstance(values, list):
            out["grid"][axis] = [values[len(values) // 2]]
        else:
            out["grid"][axis] = {**values, "num": 1}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 x 2 grid x 2 seeds, 100 steps")
    ap.add_argument("--study", type=Path, default=None, help="a sweep config to time instead (e.g. "
                    "experiments/configs/figures/ring.yaml)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2, this machine's cores)")
    ap.add_argument("--ensemble", type=int, default=None,
                    help="trials per batched ensemble (default 32, a study: its own; 1 = off)")
    ap.add_argument("--steps", type=int, default=None,
                    help="steps per trial (default 2000, quick 100, a study: its own)")
    ap.add_argument("--baseline", type=int, default=None,
                    help="trials run one at a time for the baseline (default 16, quick 4; a study: its middle "
                         "cell; 0 = none)")
    a = ap.parse_args()
    load = lambda: f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    if a.study:
        raw = yaml.safe_load(a.study.read_text())
        raw.setdefault("study", a.study.stem)
        if a.steps:
            raw["train"]["steps"] = a.steps
            raw["train"]["eval_every"] = min(raw["train"].get("eval_every", a.steps), a.steps)
        if a.ensemble:
            raw["ensemble"] = a.ensemble
        steps, ensemble = raw["train"]["steps"], raw.get("ensemble", 1)
        baseline = None if a.baseline == 0 else study_baseline(raw)
    else:
        steps = a.steps or (100 if a.quick else 2000)
        ensemble = a.ensemble or 32
        n_modes, separation, seeds = (N_MODES[:2], SEPARATION[:2], 2) if a.quick else (N_MODES, SEPARATION, 5)
        b = a.baseline if a.baseline is not None else (4 if a.quick else 16)
        raw = sweep_config("bench", n_modes, separation, seeds, steps, ensemble)
        baseline = sweep_config("baseline", n_modes[:2], separation[:max(1, b // 2)], 1, steps, 1) if b else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "check.yaml").write_text(yaml.safe_dump(raw))
        total = len(load_sweep(root / "check.yaml").trials)          # validates the whole sweep first
        print(f"cpus {os.cpu_count()}, workers {a.workers}, {load()} (other jobs may share this machine); "
              f"sweep {raw['study']}: {total} trials, {steps} steps, ensembles of up to {ensemble}", flush=True)
        secs, n, statuses, totals = timed_sweep(root, raw, a.workers)
        print(f"sweep, ensembles of up to {ensemble}: {n}/{total} trials stored ({statuses}) in {secs:.0f} s "
              f"= {secs / 60:.1f} min; {total * steps / secs:.0f} member-steps/s; {load()}", flush=True)
        print(shares(totals, secs, a.workers), flush=True)
        if a.study:
            line = f"{raw['study']} ({total} trials, {steps} steps), ensembles of {ensemble}: {secs / 60:.1f} min"
        else:
            line = f"sweep of {total} trials ({steps} steps, width 64), ensembles of {ensemble}: {secs / 60:.1f} min"
        if baseline:
            b_secs, b_n, _, b_totals = timed_sweep(root, baseline, a.workers)
            busy = b_totals["busy"] / a.workers                  # per worker; the rest of b_secs is paid once
            one_at_a_time = b_secs - busy + busy / b_n * total
            print(f"baseline, one trial at a time: {b_n} trials in {b_secs:.0f} s, {one_at_a_time / 60:.1f} min "
                  f"extrapolated to {total} (busy time per trial scaled, start-up once); {load()}", flush=True)
            print(f"baseline {shares(b_totals, b_secs, a.workers)}", flush=True)
            line += f" vs {one_at_a_time / 60:.1f} min one at a time (extrapolated): {one_at_a_time / secs:.1f}x"
    print(line)


if __name__ == "__main__":
    main()
