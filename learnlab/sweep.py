"""`learnlab sweep CONFIG [--storage URL] [--workers N] [--ensemble K] [--study NAME]`: run every
trial of a sweep (grid points x seeds x hyper-parameter draws). The whole config is validated
first. The default store is embedded (lightning_logs/<study>/journal.log); with a shared
--storage URL, workers on many machines run the same command. Rerunning continues where it
stopped; --from-export [DIR] continues from the study's export (default results/): its runs whose
config is unchanged are not trained again (experiments/resume.py). --ensemble K trains up to K trials of one signature at once as the members of one batched module
(same records as one at a time; see experiments/train.py)."""
from __future__ import annotations

import sys
from typing import Sequence

from .cli import Parser


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab sweep", description=__doc__)
    p.add_argument("config", help="sweep YAML (see experiments/configs/)")
    p.add_argument("--storage", help="database URL, e.g. postgresql://user@host:5432/db (default: embedded)")
    p.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--ensemble", type=int, default=None,
                   help="trials per batched ensemble (default: the config's ensemble key, else 1)")
    p.add_argument("--study", help="study name (default: the config's study, or its file name)")
    p.add_argument("--accept-changes", action="store_true",
                   help="continue a stored study whose config differs (default: refuse, naming the first difference)")
    p.add_argument("--from-export", nargs="?", const=True, metavar="DIR",
                   help="first take the runs of the study's export in DIR (default: the project's results/) "
                        "whose config is unchanged, and train only the rest")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    from experiments.results import load_study, results
    from experiments.sweep import run_sweep
    from experiments import store
    from .cli import exports
    sweep = run_sweep(args.config, storage=args.storage, workers=args.workers, study=args.study,
                      progress=not args.no_progress, ensemble=args.ensemble, accept_changes=args.accept_changes,
                      from_export=exports(args.from_export))
    df = results(sweep.study, args.storage)
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    where = args.storage or f"lightning_logs/{sweep.study}/journal.log"
    print(f"study {sweep.study}: {len(df)}/{len(sweep.trials)} trials done "
          f"({', '.join(f'{v} {k}' for k, v in counts.items())}); stored in {where}")
    if "verdict.outcome" in df and df["verdict.outcome"].notna().any():     # a complete run may still have failed
        outcomes = df["verdict.outcome"].value_counts().to_dict()
        print(f"  verdicts (metrics.verdicts): {', '.join(f'{v} {k}' for k, v in outcomes.items())}")
    held = store.held_elsewhere(load_study(sweep.study, args.storage))
    if held:
        print(f"  {len(held)} still held by other workers: {'; '.join(held[:5])}{' ...' if len(held) > 5 else ''}. "
              f"They finish there; if a worker died, rerun this command after {store.CLAIM_GRACE:.0f} s (same machine: "
              "at once) to take its trials over.")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab sweep"))
