"""`learnlab trend STUDY --trait NAME --outcome NAME [--where NAME=VALUE ...] [--by COLUMN]`: does
an outcome change with a trait, and how surely (analysis.trend)? A verdict flag (dropped_modes,
bridged, learned, ...) is fitted by logistic regression (slope in log-odds), a metric (quality,
gap_mass, ...) by least squares, per model kind; the trait on a log2 scale when its grid is
geometric (slope per doubling). The 95% interval and p_boot come from resampling the runs within
each trait value (2000 times, fixed seed): the same table always gives the same numbers.

    learnlab trend fig-ring --trait n_modes --outcome dropped_modes --where separation=8
    learnlab trend fig-arcs --trait n_components --outcome gap_mass --csv trends.csv
    learnlab trend fig-weights --per-mode --trait log2_mode_weight --outcome mode_dropped --where imbalance=64
    learnlab trend fig-batch --tuned --trait batch_size --outcome quality   # each batch size's best draw
    learnlab trend --atlas                      # every atlas axis: figures/atlas_summary.{png,pdf,csv}

--per-mode fits one row per complete mixture run and mode (analysis.atlas.mode_rows: the mode's
weight times the number of modes as mode_weight and its log2 as log2_mode_weight, and whether the
run's final evaluation dropped it as mode_dropped), resampling each run's modes together.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .cli import Parser


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab trend", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", nargs="?")
    p.add_argument("--trait", help="a grid axis or trait, e.g. n_modes")
    p.add_argument("--outcome", help="a verdict flag (dropped_modes) or a metric (quality)")
    p.add_argument("--atlas", action="store_true", help="the atlas summary: x50 of `learned` on every grid axis "
                   "of every atlas study (figures/atlas_summary.png, .pdf, .csv; --out to put it elsewhere)")
    p.add_argument("--out", help="with --atlas: the figure's path without suffix (default figures/atlas_summary)")
    p.add_argument("--where", action="append", metavar="NAME=VALUE", help="keep only these runs (repeatable)")
    p.add_argument("--by", default="model", help="fit one trend per value of this column (default: model)")
    p.add_argument("--per-mode", action="store_true", help="one row per run and mode (mixtures): traits "
                   "mode_weight, log2_mode_weight, outcome mode_dropped; a run's modes are resampled together")
    p.add_argument("--tuned", action="store_true", help="keep only each grid cell's winning draw (studies that "
                   "tune per cell, e.g. fig-batch: analysis.table.tuned by the study's objective)")
    p.add_argument("--storage", help="database URL (default: the embedded store, else results/)")
    p.add_argument("--csv", help="also write the table to this CSV file")
    args = p.parse_args(argv)
    if args.atlas:
        return atlas(args)
    if not (args.study and args.trait and args.outcome):
        raise ValueError("give STUDY --trait NAME --outcome NAME, or --atlas")
    from experiments.sweep_config import check_study
    from .cli import output_file
    check_study(args.study)
    if args.csv:
        output_file(args.csv, "--csv")
    import pandas as pd
    from analysis.table import grid_axes, objective, resolve, study_table, tuned_runs, where
    from analysis.trend import trend
    df = where(study_table(args.study, args.storage), args.where)
    if args.tuned:
        metric, direction = objective(args.study, args.storage, direction=True)
        df = tuned_runs(df, [resolve(df, a.split(".", 1)[1]) for a in grid_axes(args.study, args.storage)],
                        metric or "quality", direction)
    if args.per_mode:
        from analysis.atlas import mode_rows
        df = mode_rows(df)
    by = resolve(df, args.by) if args.by != "model" else "model"
    table = trend(df, args.trait, args.outcome, by=by, cluster="trial" if args.per_mode else None)
    if args.csv:
        table.to_csv(args.csv, index=False)
    with pd.option_context("display.width", 160, "display.max_columns", None, "display.float_format", "{:.3g}".format):
        print(table.to_string(index=False))
    return 0


def atlas(args) -> int:
    """``--atlas``: analysis.atlas.summary of every atlas study's axes, from store or results/."""
    if args.study or args.trait or args.outcome or args.where or args.per_mode:
        raise ValueError("--atlas reads every atlas study and axis; give no STUDY, --trait, --outcome, --where "
                         "or --per-mode")
    from .cli import output_file
    out = output_file(args.out or "figures/atlas_summary.png", "--out").with_suffix("")
    from analysis.atlas import atlas_axes, summary
    from analysis.plots import save
    from analysis.table import study_table
    from analysis.trend import trend
    tables = {(study, trait, pooled): trend(study_table(study, args.storage), trait, "learned")
              for study, trait, pooled in atlas_axes()}
    fig, table = summary(tables)
    paths = save(fig, table, out, formats=("png", "pdf"))
    print(f"wrote {', '.join(map(str, paths))}")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab trend"))
