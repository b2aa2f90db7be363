"""`learnlab describe DATA`: model-free descriptors of a data set from its samples alone
(metrics.descriptors): intrinsic dimension, components and loops at the data's own scale,
separation and imbalance of the components, spectral gap, noise thickness, each as the mean
and 95% interval over bootstrap subsamples.

    learnlab describe mixture --layout ring --n_modes 8 --std 0.05    # a family: its samples
    learnlab describe points.npy                                       # a user's points [n, d]
    learnlab describe points.csv                                       # one row per point, numbers only
    learnlab describe my_pngs/                                         # a folder of images or graphs

A user's data (a path: what the family ``file`` reads) is described whole, not resampled.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Sequence

from .cli import Parser


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab describe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="a family name (then its --KNOB VALUE), or a .npy / .csv file of points or a "
                   "folder of images or graphs (the family file)")
    p.add_argument("--n", type=int, default=10000, help="samples drawn from a family (default 10000; a user's "
                   "data are described whole)")
    p.add_argument("--boot", type=int, default=8, help="bootstrap subsamples for the intervals (default 8)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the drawn samples and subsamples")
    args, rest = p.parse_known_args(argv)
    if args.n < 1 or args.boot < 1:
        raise ValueError(f"--n={args.n} and --boot={args.boot} must be integers >= 1")
    import torch
    import distributions
    from distributions.file import IMAGES, GRAPHS, POINTS
    from distributions.knobs import check_fits
    path = Path(args.data)
    if path.suffix.lower() in POINTS + IMAGES + GRAPHS or path.exists():      # a user's data: the family file
        if rest:
            raise ValueError(f"unexpected arguments {' '.join(rest)!r}: knobs are for a family, not a file")
        dist = distributions.make("file", path=args.data)
    else:
        from .show import parse_knobs
        dist = distributions.make(args.data, **parse_knobs(args.data, rest))
    if dist.family == "file":                       # the data themselves, not draws with replacement
        x, what = dist.data.numpy(), f"file {dist.params['path']} ({dist.kind})"
    else:
        check_fits(args.data, "--n", args.n, dist.event_shape)
        x = dist.sample(args.n, generator=torch.Generator().manual_seed(args.sample_seed)).numpy()
        what = repr(dist)
    from metrics.descriptors import describe_intervals, embed
    _, how = embed(x)
    start = time.perf_counter()
    table = describe_intervals(x, n_boot=args.boot, seed=args.sample_seed)
    took = time.perf_counter() - start
    print(f"{what}\n{len(x)} samples, embedding: {how}; {args.boot} bootstrap subsamples, {took:.1f} s")
    for name, (mean, lo, hi) in table.items():
        cell = "n/a (fewer than two components)" if math.isnan(mean) else \
            f"{mean:10.4g}   [{lo:.4g}, {hi:.4g}]"
        print(f"  {name:20s} {cell}")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab describe"))
