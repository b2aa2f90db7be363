"""`learnlab describe DATA`: model-free descriptors of a data set from its samples alone
(metrics.descriptors): intrinsic dimension, components and loops at the data's own scale,
separation and imbalance of the components, spectral gap, noise thickness, each as the mean
and 95% interval over bootstrap subsamples.

    learnlab describe mixture --layout ring --n_modes 8 --std 0.05    # a family: its samples
    learnlab describe points.npy                                       # a user's points [n, d]
    learnlab describe points.csv                                       # one row per point, numbers only
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Sequence

from .cli import Parser


def load_points(path: Path):
    """The [n, d] float array in a .npy or .csv file; one ValueError line naming the file otherwise."""
    import numpy as np
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npy":
            x = np.load(path, allow_pickle=False)
        elif path.suffix == ".csv":
            x = np.loadtxt(path, delimiter=",", ndmin=2)
        else:
            raise ValueError(f"data file {str(path)!r}: suffix {path.suffix!r} is not allowed; expected .npy or .csv")
    except ValueError as err:
        if "is not allowed" in str(err):
            raise
        raise ValueError(f"data file {str(path)!r} cannot be read as numbers: {' '.join(str(err).split())[:120]}") \
            from None
    if x.dtype.kind not in "fiub":
        raise ValueError(f"data file {str(path)!r} holds {x.dtype} values; expected numbers")
    return x.astype(float)


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab describe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="a family name (then its --KNOB VALUE), or a .npy / .csv file of points")
    p.add_argument("--n", type=int, default=10000, help="samples drawn from a family (default 10000)")
    p.add_argument("--boot", type=int, default=8, help="bootstrap subsamples for the intervals (default 8)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the drawn samples and subsamples")
    args, rest = p.parse_known_args(argv)
    if args.n < 1 or args.boot < 1:
        raise ValueError(f"--n={args.n} and --boot={args.boot} must be integers >= 1")
    path = Path(args.data)
    if path.suffix in (".npy", ".csv") or path.exists():
        if rest:
            raise ValueError(f"unexpected arguments {' '.join(rest)!r}: knobs are for a family, not a file")
        x, what = load_points(path), f"file {path}"
    else:
        import torch
        import distributions
        from distributions.knobs import check_fits
        from .show import parse_knobs
        dist = distributions.make(args.data, **parse_knobs(args.data, rest))
        check_fits(args.data, "--n", args.n, dist.event_shape)
        x, what = dist.sample(args.n, generator=torch.Generator().manual_seed(args.sample_seed)).numpy(), repr(dist)
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
