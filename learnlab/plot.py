"""`learnlab plot KIND STUDY ...`: figures of a stored study (PNG plus a CSV of the plotted numbers).

    learnlab plot heatmap STUDY                 # the sweep's first two grid axes and its objective
    learnlab plot heatmap STUDY --x n_modes --y separation --metric modes_captured [--facet model]
                                [--agg mean|median|rate] [--best max|min] [--where K=V]
    learnlab plot heatmap STUDY --x n_modes --y separation --agg rate [--metric blurred]
    learnlab plot curve   STUDY --x n_modes --metric coverage [--hue model] [--agg ...]
    learnlab plot onset   STUDY [--x n_modes --y separation] [--flag dropped_modes|blurred|...]
                                                                   (default: the sweep's grid axes)
    learnlab plot samples STUDY --trial N                          (generated against real samples)

Names resolve to columns: the exact column, else trait.NAME, else data./model./train./verdict.NAME.
Means and medians use complete trials (n=used/run in each cell); --agg rate is the share of trials
with a verdict (metrics.verdicts: dropped_modes by default, blurred, bridged, hopping, learned, ...;
`learnlab metrics --list`), a diverged trial counting as failing; with several hyper-parameter draws a cell shows its best draw. Intervals:
95% percentile bootstrap over seeds, Wilson for rates. Default --out:
lightning_logs/STUDY/plots/KIND_....png (the CSV lands beside it).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .cli import Parser

KINDS = ("heatmap", "curve", "onset", "samples")


def parser() -> Parser:
    p = Parser(prog="learnlab plot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=KINDS)
    p.add_argument("study")
    p.add_argument("--x", help="trait or column on the x axis (default: the sweep's first grid axis)")
    p.add_argument("--y", help="trait or column on the y axis (heatmap, onset; default: its second grid axis)")
    p.add_argument("--metric", help="metric (default: the sweep's objective), or for --agg rate a verdict "
                                    "(default: dropped_modes)")
    p.add_argument("--flag", default="dropped_modes", help="onset: the verdict whose onset is shown")
    p.add_argument("--facet", default="model", help="one panel per value of this field; 'none' for one panel")
    p.add_argument("--hue", default="model", help="curve: one line per value of this field; 'none' for one")
    p.add_argument("--agg", default="mean", choices=("mean", "median", "rate"))
    p.add_argument("--best", choices=("max", "min"), help="which draw is best (default: from the metric)")
    p.add_argument("--where", action="append", default=[], metavar="NAME=VALUE", help="keep only these trials")
    p.add_argument("--trial", type=int, help="samples: the trial number")
    p.add_argument("--out", help="output PNG path")
    p.add_argument("--storage", help="database URL (default: lightning_logs/STUDY/journal.log)")
    return p


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    from analysis import plots, table
    from analysis.samples import samples
    none = lambda v: None if v in (None, "none", "") else v  # noqa: E731
    df = table.where(table.study_table(args.study, args.storage), args.where)     # stored, else results/
    if df.empty:
        raise ValueError(f"study {args.study!r} has no finished trials yet")
    if args.kind in ("heatmap", "curve"):          # defaults from the sweep: its grid axes and objective
        sweep = {}
        if not args.x or (args.kind == "heatmap" and not args.y) or (args.agg != "rate" and not args.metric):
            try:
                sweep = table.sweep_config(args.study, args.storage)
            except ValueError:                       # no sweep config to read: the flags are needed
                pass
        axes = list(sweep.get("grid") or {})
        args.x = args.x or (axes[0] if axes else None)
        if args.kind == "heatmap":
            args.y = args.y or (axes[1] if len(axes) > 1 else None)
        if args.agg != "rate":
            args.metric = args.metric or (sweep.get("objective") or {}).get("metric")
    need = {"heatmap": ("x", "y"), "curve": ("x",), "samples": ("trial",)}.get(args.kind, ())
    missing = [f"--{n}" for n in need if getattr(args, n) is None]
    if args.metric:
        from metrics import registry
        if not registry.known(args.metric) and args.metric not in df.columns:
            registry.get(args.metric)                          # one line with the closest names
    if args.kind in ("heatmap", "curve") and args.agg != "rate" and not args.metric:
        missing.append("--metric")
    if missing:
        raise ValueError(f"plot {args.kind} needs {' and '.join(missing)}")
    if args.kind == "samples":
        out = Path(args.out or f"lightning_logs/{args.study}/plots/samples_{args.trial:05d}.png")
        path = samples(df, args.trial, out)
        print(f"wrote {path}")
        return 0
    where = f", where {', '.join(args.where)}" if args.where else ""
    if args.kind in ("heatmap", "curve"):
        column = table.resolve(df, args.metric) if args.metric else table.DROPPED
        title = f"{plots.axis_label(column, args.agg)}: study {args.study}{where}"
    if args.kind == "heatmap":
        fig, tab = plots.heatmap(df, args.x, args.y, args.metric, facet=none(args.facet), agg=args.agg, best=args.best,
                                 title=title)
        stem = f"heatmap_{args.agg}_{args.metric or 'dropped_modes'}_{args.x}_{args.y}"
    elif args.kind == "curve":
        fig, tab = plots.curve(df, args.x, args.metric, hue=none(args.hue), agg=args.agg, best=args.best,
                               title=title)
        stem = f"curve_{args.agg}_{args.metric or 'dropped_modes'}_{args.x}"
    else:
        x, y = args.x, args.y
        if x is None:
            axes = table.grid_axes(args.study, args.storage)
            if not axes:
                raise ValueError("the study has no grid axes; give --x (and --y)")
            x, y = axes[0], (axes[1] if len(axes) > 1 else None)
        fig, tab = plots.onset(df, x, y, facet=none(args.facet), flag=args.flag,
                               title=f"onset step: {args.flag.replace('_', ' ')}: study {args.study}{where}")
        stem = f"onset_{args.flag}_{table.label(x)}_{table.label(y) if y else ''}"
    if tab.attrs.get("pooled"):
        print(f"note: pooled over {', '.join(tab.attrs['pooled'])} (fix with --where)", file=sys.stderr)
    out = Path(args.out or f"lightning_logs/{args.study}/plots/{stem}.png")
    paths = plots.save(fig, tab, out)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab plot"))
