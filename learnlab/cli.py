"""`learnlab SUBCOMMAND ...`: dispatch to one module per subcommand (each also runs as
`python -m learnlab.SUBCOMMAND`). Bad input is a one-line error and exit status 2."""
from __future__ import annotations

import importlib
import sys
from typing import Callable, Sequence

SUBCOMMANDS = {
    "show": "draw samples of a distribution with its modes or support, and print its traits",
    "train": "train one model on one distribution from a YAML config",
    "sweep": "run a sweep of trials (traits x seeds x hyper-parameters) into a study",
    "results": "print or export a study as one tidy row per trial",
    "plot": "heatmaps, curves, verdict rates and onsets, samples of a stored study (PNG + CSV of the numbers)",
    "figures": "the lab's named figures: run their sweeps (--quick: a few minutes) and draw them",
    "metrics": "the glossary: every metric and verdict, what it needs and which way is better",
}


def run(main: Callable[[Sequence[str]], int | None], argv: Sequence[str], prog: str) -> int:
    """Run a subcommand's ``main``; a ValueError becomes one line on stderr and exit status 2."""
    try:
        return main(argv) or 0
    except ValueError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: learnlab SUBCOMMAND [ARGS]  (learnlab SUBCOMMAND --help for more)\n")
        for name, text in SUBCOMMANDS.items():
            print(f"  {name:10s} {text}")
        return 0 if argv else 2
    if argv[0] not in SUBCOMMANDS:
        print(f"learnlab: error: unknown subcommand {argv[0]!r}; allowed: {', '.join(SUBCOMMANDS)}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"learnlab.{argv[0]}")
    return run(module.main, argv[1:], f"learnlab {argv[0]}")
