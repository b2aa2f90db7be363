"""`learnlab keys gan|vae|flow|diffusion|train|sweep`: every config key of a model kind, of the train
section or of a sweep config, with its default, what is allowed and what it means (the knobs of the
data section: `learnlab show --list`; the metrics: `learnlab metrics --list`)."""
from __future__ import annotations

import sys
import textwrap
from typing import Sequence

from .cli import Parser

SECTIONS = ("gan", "vae", "flow", "diffusion", "train", "sweep")


def allowed(rule: str) -> str:
    """A train key's check (experiments.config.TRAIN_KEYS) in words."""
    if rule.startswith("auto|"):
        return "null or " + allowed(rule[5:])
    if rule.startswith("int>="):
        return f"an integer >= {rule[5:]}"
    if rule.startswith("choice:"):
        return "one of " + ", ".join(rule[7:].split(","))
    return {"bool": "true or false", "verdict": "a mapping of verdict thresholds"}.get(rule, rule)


def rows(section: str) -> list[tuple[str, str, str, str]]:
    """(key, default, allowed, meaning) of every key of ``section``."""
    if section == "train":
        from experiments.config import TRAIN_KEYS
        return [(k, repr(d), allowed(rule), meaning) for k, (d, meaning, rule) in TRAIN_KEYS.items()]
    if section == "sweep":
        from experiments.sweep_config import TOP_KEYS
        return [(k, "", "", meaning) for k, meaning in TOP_KEYS.items()]
    import models
    return [(k, repr(d["default"]), str(d["allowed"]), d["meaning"]) for k, d in models.keys(section).items()]


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab keys", description=__doc__)
    p.add_argument("section", choices=SECTIONS, help="a model kind, train or sweep")
    args = p.parse_args(argv)
    for key, default, allowed, meaning in rows(args.section):
        head = f"{key:18s} default {default}" if default else key
        print(head + (f"; {allowed}" if allowed else ""))
        print(textwrap.fill(meaning, 100, initial_indent=" " * 4, subsequent_indent=" " * 4))
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab keys"))
