"""`learnlab SUBCOMMAND ...`: dispatch to one module per subcommand (each also runs as
`python -m learnlab.SUBCOMMAND`). Bad input is a one-line error and exit status 2."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

SUBCOMMANDS = {
    "show": "draw samples of a distribution with its modes or support, and print its traits",
    "train": "train one model on one distribution from a YAML config",
    "sweep": "run a sweep of trials (traits x seeds x hyper-parameters) into a study",
    "results": "print a study as one tidy row per trial (--columns, --summary, --csv)",
    "export": "write studies as files that travel (results/STUDY.csv.gz, history, sweep config, sample runs)",
    "plot": "heatmaps, curves, verdict rates and onsets, samples of a stored study (PNG + CSV of the numbers)",
    "trend": "does an outcome change with a trait? logistic / least-squares slope per model kind, bootstrap interval",
    "figures": "the lab's named figures: run their sweeps (--quick: a few minutes) and draw them",
    "metrics": "the glossary: every metric and verdict, what it needs and which way is better",
    "describe": "model-free descriptors of a data set (a family's samples or a .npy / .csv of points)",
    "predict": "before training: predicted quality and failure per model kind from the atlas (--fit, --validate)",
    "keys": "every config key of a model kind (gan, vae, flow, diffusion), of train or of a sweep",
}


class Parser(argparse.ArgumentParser):
    """argparse whose errors are a ValueError, so ``run`` prints one line (argparse would print
    its usage too and exit)."""

    def error(self, message: str):
        raise ValueError(message)


def run(main: Callable[[Sequence[str]], int | None], argv: Sequence[str], prog: str) -> int:
    """Run a subcommand's ``main``; a ValueError (a :class:`Parser` error too) becomes one line
    on stderr and exit status 2."""
    try:
        return main(argv) or 0
    except ValueError as err:
        print(f"{prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:                 # output piped into `head` that has read enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def exports(value) -> Path | None:
    """The folder of ``--from-export [DIR]``: None when not given, the project's results/ when
    given without a folder; a folder that does not exist is refused before any work."""
    if value is None:
        return None
    from experiments.results import EXPORTS
    folder = EXPORTS if value is True else Path(value)
    if not folder.is_dir():
        raise ValueError(f"--from-export {value!r} is not a folder; expected a folder of exports (default: results/)")
    return folder


def output_folder(path: str, flag: str, *, file: bool = False) -> Path:
    """``path`` as a folder to write into (created if missing; with ``file``, as a file whose
    folder is created if missing), refused before any work when something is in the way."""
    p = Path(path)
    if file and p.is_dir():
        raise ValueError(f"{flag} {path!r} is a folder; expected a file name")
    for q in (p.parent, *p.parent.parents) if file else (p, *p.parents):
        if q.exists():
            if not q.is_dir() and q == p:
                raise ValueError(f"{flag} {path!r} is an existing file; expected a folder (made if missing)")
            if not q.is_dir():
                raise ValueError(f"{flag} {path!r}: {str(q)!r} is a file, not a folder")
            if not os.access(q, os.W_OK):
                raise ValueError(f"{flag} {path!r}: folder {str(q)!r} is not writable")
            break
    return p


def output_file(path: str, flag: str) -> Path:
    """``path`` as a file to write into an existing folder, refused before any work otherwise."""
    p = output_folder(path, flag, file=True)
    if not p.parent.is_dir():
        raise ValueError(f"{flag} {path!r}: folder {str(p.parent)!r} does not exist; expected an existing folder")
    return p


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
