"""`learnlab figures NAME [NAME...] | --all | --list [--quick]`: the lab's named figures.

Each draws its study (the sweep in experiments/configs/figures/) into figures/NAME.png,
NAME.pdf and NAME.csv (the plotted numbers); --quick is a small budget (a few minutes on 2 CPU
cores, study NAME-quick) drawn into figures/quick/, so it never overwrites a full-budget figure.
The study is drawn from the local store when it is stored complete, else from its exported
table in results/ (committed: seconds, no training), else its sweep runs first (an interrupted
one resumes; the full budget takes hours on 2 cores: use --workers or a shared --storage).
--rerun ignores the exported table and runs the study in the local store.

    learnlab figures --list
    learnlab figures ring_modes --quick          # the quick ring heatmap, redrawn from results/
    learnlab figures ring_modes --quick --rerun  # ... trained again here (a few minutes)
    learnlab figures ring_modes --rerun --export --workers 2   # full budget, then its table into results/
    learnlab figures --all --quick               # every quick figure
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
    p.add_argument("--out", help="output folder (default: figures/, or figures/quick/ with --quick)")
    p.add_argument("--storage", help="database URL (default: embedded store in lightning_logs/)")
    p.add_argument("--workers", type=int, default=1, help="worker processes for the sweep (default 1)")
    p.add_argument("--no-run", action="store_true", help="only draw stored or exported studies; never train")
    p.add_argument("--rerun", action="store_true",
                   help="run the study in the local store (resuming it) instead of drawing the exported table")
    p.add_argument("--export", action="store_true",
                   help="after drawing from the store, export the study to results/ (so the committed table and "
                        "figure agree)")
    p.add_argument("--accept-changes", action="store_true",
                   help="continue a stored study whose figure config has changed (e.g. new model kinds)")
    p.add_argument("--from-export", nargs="?", const=True, metavar="DIR",
                   help="with --rerun: first take the runs of the study's export in DIR (default: results/) "
                        "whose config is unchanged, and train only the rest (a study continued on a fresh machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    from analysis import figures
    from experiments.results import EXPORTS
    from .cli import exports, output_folder
    if args.list:
        from experiments.results import exported
        for name, fig in figures.FIGURES.items():
            parts = []
            for quick in (False, True):
                study, total = figures.study_of(name, quick)
                parts.append(f"{study} {figures.stored(study, total, args.storage)}/{total}"
                             + (" +results" if exported(study) else ""))
            print(f"{name:16s} {fig.kind:8s} {fig.title}\n{'':25s}studies (stored here done/trials; +results: "
                  f"exported): {', '.join(parts)}")
        return 0
    names = list(figures.FIGURES) if args.all else args.names
    if not names:
        raise ValueError("name a figure, or pass --all or --list")
    if args.rerun and args.no_run:
        raise ValueError("--rerun trains and --no-run never does; pass one of them")
    for name in names:
        figures.get(name)                                   # every name checked before any run
    if args.out:
        output_folder(args.out, "--out")
    for name in names:
        start = time.perf_counter()
        study, total = figures.study_of(name, args.quick)
        where = figures.source(study, total, args.storage)
        if where is None and args.no_run and args.all:     # --all draws what it can and names the rest
            print(f"{name}: skipped: study {study} is neither stored complete nor exported (--no-run)")
            continue
        if args.rerun or (where is None and not args.no_run):         # an unfinished study resumes
            from experiments.sweep import run_sweep
            run_sweep(figures.get(name).config(args.quick), storage=args.storage, workers=args.workers,
                      progress=not args.no_progress, accept_changes=args.accept_changes,
                      from_export=exports(args.from_export))
            where = "store"
        paths = figures.make(name, quick=args.quick, storage=args.storage, out=args.out,
                             table=None if where is None else where == "table")
        drawn = f"exported table {EXPORTS.name}/{study}.csv.gz" if where == "table" else f"stored study {study}"
        print(f"{name}: drew the {drawn}; wrote {', '.join(map(str, paths))} ({time.perf_counter() - start:.0f} s)")
        if args.export and where != "table":
            from experiments.results import export
            export(study, EXPORTS, args.storage)
            print(f"{name}: exported {study} to {EXPORTS.name}/")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab figures"))
