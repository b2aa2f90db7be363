"""`learnlab describe DATA`: model-free descriptors of a data set from its samples alone
(metrics.descriptors): intrinsic dimension, components and loops at the data's own scale,
separation and imbalance of the components, spectral gap, noise thickness, curvature, each as the mean
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


def read_data(data: str, rest: Sequence[str], n: int, seed: int):
    """(samples as a numpy array, what they are) of DATA: a user's file or folder (the family
    ``file``, read whole), or ``n`` samples of a family made from the knobs in ``rest`` drawn with
    ``seed``; bad input is one ValueError line (the family's validation)."""
    import torch
    import distributions
    from distributions.file import IMAGES, GRAPHS, POINTS
    from distributions.knobs import check_fits
    path = Path(data)
    if path.suffix.lower() in POINTS + IMAGES + GRAPHS or path.exists():      # a user's data: the family file
        if rest:
            raise ValueError(f"unexpected arguments {' '.join(rest)!r}: knobs are for a family, not a file")
        dist = distributions.make("file", path=data)
    else:
        from .show import parse_knobs
        dist = distributions.make(data, **parse_knobs(data, rest))
    if dist.family == "file":                       # the data themselves, not draws with replacement
        return dist.data.numpy(), f"file {dist.params['path']} ({dist.kind})"
    check_fits(data, "--n", n, dist.event_shape)
    return dist.sample(n, generator=torch.Generator().manual_seed(seed)).numpy(), repr(dist)


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
    x, what = read_data(args.data, rest, args.n, args.sample_seed)
    from metrics.descriptors import UNDEFINED, describe_intervals, embed
    _, how = embed(x)
    start = time.perf_counter()
    table = describe_intervals(x, n_boot=args.boot, seed=args.sample_seed)
    took = time.perf_counter() - start
    print(f"{what}\n{len(x)} samples, embedding: {how}; {args.boot} bootstrap subsamples, {took:.1f} s")
    for name, (mean, lo, hi) in table.items():
        cell = f"n/a ({UNDEFINED[name]})" if math.isnan(mean) else \
            f"{mean:10.4g}   [{lo:.4g}, {hi:.4g}]"
        print(f"  {name:20s} {cell}")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab describe"))
