"""A whole learnability sweep end to end: 8 x 8 grid x 5 seeds = 320 GAN trials of 2,000 steps.

    python benchmarks/sweep.py                  # the 320-trial sweep, ensembles of 32, 2 workers
    python benchmarks/sweep.py --quick          # 2 x 2 grid x 2 seeds, 100 steps: checks it runs
    python benchmarks/sweep.py --ensemble 1     # the same sweep one trial at a time

The sweep: non-saturating GAN, 3 x 64 MLPs, batch 256, on a ring of n_modes Gaussians (8 values)
at separation 2..16 stds (8 values), 5 seeds; evaluations every 500 steps and final metrics on
2,500 samples, as ``learnlab sweep`` runs it (embedded store in a temporary folder, no sample
PNGs or TensorBoard). It is timed from ``run_sweep`` to the last record stored. A baseline runs
``--baseline`` trials of the same sweep one at a time (same workers) in the same process, and
the full sweep's one-at-a-time time is extrapolated from it: the ratio is measured, not assumed.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments.results import results  # noqa: E402
from experiments.sweep import run_sweep  # noqa: E402

N_MODES = [2, 3, 4, 6, 8, 10, 12, 16]
SEPARATION = [2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 16.0]


def sweep_config(study: str, n_modes: list, separation: list, seeds: int, steps: int, ensemble: int) -> dict:
    return {"study": study, "data": {"family": "mixture", "layout": "ring", "radius": 1.0},
            "model": {"model": "gan", "loss": "non_saturating", "g_width": 64, "g_depth": 3, "d_width": 64,
                      "d_depth": 3, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999, "batch_size": 256},
            "train": {"steps": steps, "eval_every": min(500, steps), "eval_samples": 2500, "final_real": 2500,
                      "plots": False, "tensorboard": False},
            "grid": {"data.n_modes": n_modes, "data.separation": separation}, "seeds": seeds,
            "objective": {"metric": "modes_captured_fraction", "direction": "maximize"}, "ensemble": ensemble}


def timed_sweep(root: Path, raw: dict, workers: int) -> tuple[float, int, dict]:
    path = root / f"{raw['study']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    t0 = time.perf_counter()
    run_sweep(path, workers=workers, root=root / "lightning_logs", progress=False)
    secs = time.perf_counter() - t0
    df = results(raw["study"], root=root / "lightning_logs")
    return secs, len(df), df["status"].value_counts().to_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 x 2 grid x 2 seeds, 100 steps")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2, this machine's cores)")
    ap.add_argument("--ensemble", type=int, default=32, help="trials per batched ensemble (default 32; 1 = off)")
    ap.add_argument("--steps", type=int, default=None, help="steps per trial (default 2000, quick 100)")
    ap.add_argument("--baseline", type=int, default=None,
                    help="trials run one at a time for the baseline (default 16, quick 4; 0 = none)")
    a = ap.parse_args()
    steps = a.steps or (100 if a.quick else 2000)
    n_modes, separation, seeds = (N_MODES[:2], SEPARATION[:2], 2) if a.quick else (N_MODES, SEPARATION, 5)
    baseline = a.baseline if a.baseline is not None else (4 if a.quick else 16)
    total = len(n_modes) * len(separation) * seeds
    print(f"cpus {os.cpu_count()}, workers {a.workers}, load average {os.getloadavg()[0]:.1f}; sweep: "
          f"{len(n_modes)} x {len(separation)} grid x {seeds} seeds = {total} trials, {steps} steps, width 64",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        secs, n, statuses = timed_sweep(root, sweep_config("bench", n_modes, separation, seeds, steps, a.ensemble),
                                        a.workers)
        print(f"sweep, ensembles of up to {a.ensemble}: {n}/{total} trials stored ({statuses}) in {secs:.0f} s "
              f"= {secs / 60:.1f} min; {total * steps / secs:.0f} member-steps/s; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        line = f"sweep of {total} trials ({steps} steps, width 64), ensembles of {a.ensemble}: {secs / 60:.1f} min"
        if baseline:
            raw = sweep_config("baseline", n_modes[:2], separation[:max(1, baseline // 2)], 1, steps, 1)
            b_secs, b_n, _ = timed_sweep(root, raw, a.workers)
            one_at_a_time = b_secs / b_n * total
            print(f"baseline, one trial at a time: {b_n} trials in {b_secs:.0f} s, {one_at_a_time / 60:.1f} min "
                  f"extrapolated to {total}; load average {os.getloadavg()[0]:.1f}", flush=True)
            line += f" vs {one_at_a_time / 60:.1f} min one at a time (extrapolated): {one_at_a_time / secs:.1f}x"
    print(line)


if __name__ == "__main__":
    main()
