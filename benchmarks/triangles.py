"""Rendering speed of the triangles family: the vectorised row-span rasteriser
(``dist.sample``: factors, vertices, coverage, paint) versus a straightforward per-image loop
that tests every sub-pixel centre against the three edges (``raster.coverage_reference``), in
one process, on 28 x 28 images with 8 x 8 supersampling.

    python benchmarks/triangles.py              # 60,000 images; the loop on 300, extrapolated
    python benchmarks/triangles.py --quick      # a few images, to check that it runs

The loop is too slow to run on 60,000 images: it is timed on ``--loop-images`` images and
extrapolated linearly (the output says so). Both arms render the same factors, and their
images are checked equal. Each round times both arms back to back; the ratio reported is the
median over rounds of the per-round ratio of times per image, which cancels slow drifts in
machine load.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import distributions  # noqa: E402
from distributions import raster  # noqa: E402
from distributions.triangles import vertices  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=60_000)
    ap.add_argument("--loop-images", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.images, args.loop_images, args.rounds = 2000, 20, 1
    d = distributions.make("triangles")
    print(f"triangles {d.params}: {args.images} images of {d.event_shape}, supersample {d.supersample}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    fast, ratios = [], []
    for r in range(args.rounds):
        g = torch.Generator().manual_seed(r)
        t0 = time.perf_counter()
        x, f = d.sample(args.images, generator=g, return_factors=True)
        t_fast = time.perf_counter() - t0
        few = {k: v[:args.loop_images] for k, v in f.items()}
        t0 = time.perf_counter()
        cov = raster.coverage_reference(d.pixels(vertices(few)), d.image_size, d.supersample)
        loop = (d.background + (d.foreground - d.background) * cov)[:, None]
        t_loop = time.perf_counter() - t0
        assert torch.equal(loop, x[:args.loop_images]), "the two renderers disagree"
        fast.append(t_fast)
        ratios.append((t_loop / args.loop_images) / (t_fast / args.images))
        print(f"round {r}: vectorised {t_fast:.2f} s for {args.images} images; per-image loop "
              f"{t_loop:.2f} s for {args.loop_images} images "
              f"(extrapolated: {t_loop * args.images / args.loop_images:.0f} s for {args.images})")
    best = min(fast)
    print(f"vectorised: {statistics.median(fast):.2f} s median, {best:.2f} s best for {args.images} images "
          f"({args.images / best:,.0f} images/s)")
    print(f"speed-up over the per-image loop (loop timed on {args.loop_images} images, extrapolated): "
          f"{statistics.median(ratios):.0f}x (median of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
