"""`learnlab metrics --list`: every metric and verdict of the lab (metrics.registry), one line each:
its name, which way is better, unit, the ground truth it needs and its definition.

    learnlab metrics --list
    learnlab metrics coverage mode_mass_3     (the declarations of these names)
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .cli import Parser


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab metrics", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="print the whole glossary")
    p.add_argument("names", nargs="*", help="metrics to describe")
    args = p.parse_args(argv)
    from metrics import registry
    if args.list or not args.names:
        print(registry.glossary())
    for name in args.names:
        if name in registry.VERDICTS:
            print(f"{name}: verdict; {registry.VERDICTS[name]}")
            continue
        m = registry.get(name)
        print(f"{name}: {m.label}; better {m.direction}; unit {m.unit}; needs {m.requires}; {m.definition} "
              f"({m.source})")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab metrics"))
