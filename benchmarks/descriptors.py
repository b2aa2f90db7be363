"""Run time of each model-free descriptor (metrics.descriptors) at 10k samples, on the lab's
families: `python benchmarks/descriptors.py [--n 10000]`. Prints seconds per descriptor and for
the whole `describe` (which works on a 1000-point subsample), and the descriptors themselves."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import distributions  # noqa: E402
from metrics import descriptors as D  # noqa: E402

CASES = [("mixture", dict(layout="ring", n_modes=8, std=0.05)),
         ("manifold", dict(shape="circle", n_components=4, gap_fraction=0.3, noise=0.02)),
         ("mixture", dict(layout="random", n_modes=4, dim=5, ambient_dim=32, std=0.3)),
         ("triangles", dict()), ("graphs", dict(n_nodes=16))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=10_000)
    n = p.parse_args().n
    torch.set_num_threads(1)
    print(f"{n} samples a family; seconds (one thread; load: whatever else runs)")
    for family, knobs in CASES:
        x = distributions.make(family, **knobs).sample(n, generator=torch.Generator().manual_seed(0)).numpy()
        times = {}
        t = time.perf_counter()
        pts, how = D.embed(x)
        pts = D.distinct(pts)
        times["embed+dedup"] = time.perf_counter() - t
        sub = pts[np.random.default_rng(0).choice(len(pts), min(D.SUBSAMPLE, len(pts)), replace=False)]
        for name, f in (("twonn", lambda: D.twonn(sub)), ("mle", lambda: D.mle(sub)),
                        ("scale+components", lambda: D.own_scale(sub)),
                        ("loops", lambda: D.loops(sub, D.own_scale(sub)[0])),
                        ("spectral_gap", lambda: D.spectral_gap(sub)),
                        ("density_range", lambda: D.density_range(sub, D.mle(sub))),
                        ("thickness+curvature", lambda: D.local_geometry(sub))):
            t = time.perf_counter()
            with threadpool_limits(1):             # as describe runs them (module docstring)
                f()
            times[name] = time.perf_counter() - t
        t = time.perf_counter()
        out = D.describe(x)
        times["describe (all)"] = time.perf_counter() - t
        print(f"\n{family} {knobs} ({how}): " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()))
        print("  " + ", ".join(f"{k}={v:.3g}" for k, v in out.items()))


if __name__ == "__main__":
    main()
