"""`learnlab figures NAME [NAME...] | --all | --list [--quick]`: the lab's named figures.

Each runs the sweep behind it (experiments/configs/figures/) unless its study is stored
complete (an interrupted one resumes), then writes figures/NAME.png, NAME.pdf and NAME.csv (the
plotted numbers). --quick is a small budget (a few minutes on 2 CPU cores, study NAME-quick);
the default is the full budget (hours on 2 cores; use --workers or a shared --storage).

    learnlab figures --list
    learnlab figures ring_modes --quick          # the quick ring heatmap, GAN vs VAE
    learnlab figures --all --quick               # every figure of FINDINGS.md, quick budget
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from .cli import Parser


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab figures", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="figure names (see --list)")
    p.add_argument("--list", action="store_true", help="list the figures, their studies and whether they are stored")
    p.add_argument("--all", action="store_true", help="every figure")
    p.add_argument("--quick", action="store_true", help="small budget (separate study NAME-quick)")
    p.add_argument("--out", default="figures", help="output folder (default: figures)")
    p.add_argument("--storage", help="database URL (default: embedded store in lightning_logs/)")
    p.add_argument("--workers", type=int, default=1, help="worker processes for the sweep (default 1)")
    p.add_argument("--no-run", action="store_true", help="only plot stored studies; never train")
    p.add_argument("--accept-changes", action="store_true",
                   help="continue a stored study whose figure config has changed (e.g. new model kinds)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    from analysis import figures
    if args.list:
        for name, fig in figures.FIGURES.items():
            parts = []
            for quick in (False, True):
                study, total = figures.study_of(name, quick)
                parts.append(f"{study} {figures.stored(study, total, args.storage)}/{total}")
            print(f"{name:16s} {fig.kind:8s} {fig.title}\n{'':25s}studies (done/trials): {', '.join(parts)}")
        return 0
    names = list(figures.FIGURES) if args.all else args.names
    if not names:
        raise ValueError("name a figure, or pass --all or --list")
    for name in names:
        figures.get(name)                                   # every name checked before any run
    for name in names:
        start = time.perf_counter()
        study, total = figures.study_of(name, args.quick)
        if not args.no_run and figures.stored(study, total, args.storage) < total:   # an unfinished one resumes
            from experiments.sweep import run_sweep
            run_sweep(figures.get(name).config(args.quick), storage=args.storage, workers=args.workers,
                      progress=not args.no_progress, accept_changes=args.accept_changes)
        paths = figures.make(name, quick=args.quick, storage=args.storage, out=args.out)
        print(f"{name}: wrote {', '.join(map(str, paths))} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab figures"))
