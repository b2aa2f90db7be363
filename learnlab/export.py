"""`learnlab export STUDY [STUDY...] [--out results] [--storage URL]`: write stored studies as files
that travel without the store (experiments.results.export): STUDY.csv.gz (one tidy row per trial:
key, knobs, hyper-parameters, seed, status, every metric, trait and verdict, code version),
STUDY.history.csv.gz (one row per evaluation), STUDY.json (sweep config, code versions, date)
and STUDY.trials/ (config, samples and weights of each model's first complete run). The default
folder is the project's results/, which is committed and from which `learnlab figures` redraws
without training."""
from __future__ import annotations

import sys
from typing import Sequence

from .cli import Parser


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab export", description=__doc__)
    p.add_argument("studies", nargs="+", metavar="STUDY")
    p.add_argument("--out", help="folder to write into (default: the project's results/)")
    p.add_argument("--storage", help="database URL (default: the embedded store in lightning_logs/)")
    args = p.parse_args(argv)
    from experiments.results import EXPORTS, export, load_study
    from experiments.sweep_config import check_study
    from .cli import output_folder
    for study in args.studies:                          # every name checked before anything is written
        check_study(study)
        load_study(study, args.storage)
    out = output_folder(args.out, "--out") if args.out else EXPORTS
    for study in args.studies:
        paths = export(study, out, args.storage)
        print(f"{study}: wrote {', '.join(str(q) for q in paths)}")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab export"))
