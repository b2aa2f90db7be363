"""`learnlab results STUDY [--storage URL] [--csv PATH]`: one tidy row per trial (the table
analysis/ reads): knobs, hyper-parameters, seed, status, every metric, traits, verdict."""
from __future__ import annotations

import sys
from typing import Sequence

from .cli import Parser


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab results", description=__doc__)
    p.add_argument("study")
    p.add_argument("--storage", help="database URL (default: lightning_logs/STUDY/journal.log)")
    p.add_argument("--csv", help="write the table to this CSV file")
    args = p.parse_args(argv)
    from experiments.sweep_config import check_study
    from .cli import output_file
    check_study(args.study)
    if args.csv:
        output_file(args.csv, "--csv")
    import pandas as pd
    from experiments.results import results
    df = results(args.study, args.storage)
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"wrote {len(df)} rows to {args.csv}")
    else:
        with pd.option_context("display.max_columns", 12, "display.width", 160):
            print(df.drop(columns=["key", "log_dir", "code_version"], errors="ignore").to_string(max_rows=60))
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab results"))
