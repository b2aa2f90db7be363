"""`learnlab results STUDY [--columns PATTERNS] [--summary] [--csv PATH] [--storage URL]`: one tidy
row per trial (the table analysis/ reads): knobs, hyper-parameters, seed, status, every metric,
traits, verdict. The study is read from the store ($LEARNLAB_ROOT, default lightning_logs/), else
from its export in results/.

    learnlab results fig-ring-quick --columns model,data.*,seed,modes_captured*,verdict.outcome
    learnlab results fig-ring-quick --summary      # per model and grid cell: runs, objective, outcomes
    learnlab results atlas-tune-ring --tuned       # per model: the winning draw of a tuning study
"""
from __future__ import annotations

import argparse
import fnmatch
import sys
from typing import Sequence

from .cli import Parser


def select(df, patterns: str):
    """The columns matching comma-separated shell patterns, in the order asked; one line naming
    a pattern that matches nothing."""
    cols = []
    for pat in (p.strip() for p in patterns.split(",") if p.strip()):
        hit = [c for c in df.columns if fnmatch.fnmatchcase(c, pat) and c not in cols]
        if not hit and not any(fnmatch.fnmatchcase(c, pat) for c in cols):
            raise ValueError(f"--columns {pat!r} matches no column; columns are e.g. "
                             f"{', '.join(list(df.columns)[:12])}, ... (see --csv for all)")
        cols += hit
    return df[cols]


def summary(df, axes: list[str], metric: str | None):
    """One row per model, grid cell and hyper-parameter draw (with the draw's searched values):
    runs, complete, diverged, failed, the objective's mean and the runs' outcomes
    (metrics.verdicts), counted."""
    import pandas as pd
    keys = ["model", *[a for a in axes if a in df]]
    rows = []
    for key, cell in df.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        draws = cell.groupby("draw", sort=True) if cell["draw"].nunique() > 1 else [(None, cell)]
        for draw, g in draws:
            rows.append(_summary_row(dict(zip(keys, key)), cell, draw, g, metric))
    return pd.DataFrame(rows)


def _summary_row(key: dict, cell, draw, g, metric: str | None) -> dict:
    import pandas as pd
    from analysis.table import draw_params
    row = dict(key, **({} if draw is None else {"draw": int(draw), "params": draw_params(cell, g)}),
               runs=len(g), complete=int((g["status"] == "complete").sum()),
               diverged=int((g["status"] == "diverged").sum()), failed=int((g["status"] == "failed").sum()))
    if metric and metric in g:
        row[f"{metric} (mean)"] = pd.to_numeric(g[metric], errors="coerce").mean()
    if "verdict.outcome" in g:
        row["outcomes"] = ", ".join(f"{k} {v}" for k, v in g["verdict.outcome"].value_counts().items())
    return row


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab results", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study")
    p.add_argument("--storage", help="database URL (default: the embedded store, else results/)")
    p.add_argument("--columns", help="comma-separated column names or patterns (e.g. model,seed,verdict.*)")
    p.add_argument("--summary", action="store_true", help="one row per model and grid cell instead of per run")
    p.add_argument("--tuned", action="store_true", help="per model, the winning hyper-parameter draw: most runs "
                   "learned, then the best mean objective (analysis.table.tuned)")
    p.add_argument("--csv", help="write the table to this CSV file")
    args = p.parse_args(argv)
    from experiments.sweep_config import check_study
    from .cli import output_file
    check_study(args.study)
    if args.csv:
        output_file(args.csv, "--csv")
    import pandas as pd
    from analysis.table import grid_axes, objective, study_table, tuned
    df = study_table(args.study, args.storage)
    if args.summary and args.tuned:
        raise ValueError("--summary and --tuned are two views of a study; ask for one")
    if args.tuned:
        metric, direction = objective(args.study, args.storage, direction=True)
        df = tuned(df, metric or "quality", direction)
    if args.summary:
        df = summary(df, grid_axes(args.study, args.storage), objective(args.study, args.storage))
    if args.columns:
        df = select(df, args.columns)
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"wrote {len(df)} rows to {args.csv}")
    else:
        with pd.option_context("display.max_columns", 12 if not (args.columns or args.summary) else None,
                               "display.width", 160, "display.max_colwidth", 60):
            print(df.drop(columns=["key", "log_dir", "code_version", "history"], errors="ignore").to_string(max_rows=60))
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab results"))
