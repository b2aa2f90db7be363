"""`learnlab export STUDY [STUDY...] [--out results] [--storage URL]`: write stored studies as files
that travel without the store (experiments.results.export): STUDY.csv.gz (one tidy row per trial:
key, knobs, hyper-parameters, seed, status, every metric, trait and verdict, code version),
STUDY.history.csv.gz (one row per evaluation), STUDY.json (sweep config, code versions, date)
and STUDY.trials/ (config, samples and weights of each model's first complete run). The default
folder is the project's results/, which is committed and from which `learnlab figures` redraws
without training.

`learnlab export --rejudge STUDY [STUDY...] [--out results]` judges exported studies again with
the current verdict rules, from the evaluations they stored (experiments.rejudge), in place."""
from __future__ import annotations

import sys
from typing import Sequence

from .cli import Parser


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab export", description=__doc__)
    p.add_argument("studies", nargs="+", metavar="STUDY")
    p.add_argument("--out", help="folder to write into (default: the project's results/)")
    p.add_argument("--storage", help="database URL (default: the embedded store in lightning_logs/)")
    p.add_argument("--rejudge", action="store_true",
                   help="judge the exported studies in --out again with the current verdict rules (no store needed)")
    args = p.parse_args(argv)
    if args.rejudge:
        return _rejudge(args)
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


def _rejudge(args) -> int:
    from experiments.rejudge import rejudge
    from experiments.results import EXPORTS, exported
    from experiments.sweep_config import check_study
    from .cli import output_folder
    out = output_folder(args.out, "--out") if args.out else EXPORTS
    for study in args.studies:
        check_study(study)
        if not exported(study, out):
            raise ValueError(f"study {study!r} is not exported in {out}: no {study}.csv.gz; allowed: an exported study")
    for study in args.studies:
        changes = rejudge(study, out)
        said = ", ".join(f"{n} {c}" for c, n in sorted(changes.items())) or "no outcome changed"
        print(f"{study}: judged again ({said})")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab export"))
