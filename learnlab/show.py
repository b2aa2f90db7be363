"""`learnlab show FAMILY --KNOB VALUE ... [--out FILE.png]`: a distribution's traits, and its samples drawn.

`learnlab show --list` prints every family with its knobs (type, allowed values, meaning).
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import distributions
from distributions.knobs import check_fits

from .cli import Parser


def parse_knobs(family: str, tokens: Sequence[str]) -> dict:
    """Turn ``--knob value`` tokens into typed keyword arguments for ``distributions.make``."""
    fams = distributions.families()
    if family not in fams:
        raise ValueError(f"unknown family {family!r}; allowed: {', '.join(sorted(fams))}")
    knobs, out, i = fams[family].knobs, {}, 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--"):
            raise ValueError(f"unexpected argument {tok!r}; knobs are given as --KNOB VALUE")
        name, _, value = tok[2:].partition("=")
        if not value:
            if i + 1 >= len(tokens):
                raise ValueError(f"knob --{name} needs a value")
            value, i = tokens[i + 1], i + 1
        i += 1
        if name not in knobs:
            raise ValueError(f"{family}: unknown knob {name!r}; allowed knobs: {', '.join(knobs)}")
        out[name] = convert(family, knobs[name], value)
    return out


def convert(family: str, knob: distributions.Knob, text: str):
    """Parse a command-line string as the knob's type (range checks happen in ``make``)."""
    try:
        if knob.type is bool:
            return {"true": True, "false": False}[text.lower()]
        return knob.type(text)
    except (ValueError, KeyError):
        raise ValueError(f"{family}: knob {knob.name}={text!r} is not allowed; expected {knob.allowed()}") from None


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab show", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("family", nargs="?", help="family name (see --list)")
    p.add_argument("--out", help="PNG file to draw the samples into (without it: the traits only)")
    p.add_argument("--n", type=int, default=2000, help="number of samples to draw (default 2000)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the drawn samples (default 0)")
    p.add_argument("--list", action="store_true", help="list the families and their knobs")
    args, rest = p.parse_known_args(argv)
    if args.list:
        for name, fam in distributions.families().items():
            print(f"{name}: {fam.summary}")
            for k, d in fam.describe()["knobs"].items():
                where = f" [{d['applies']}]" if "applies" in d else ""
                default = "required         " if d.get("required") else f"default {d['default']!r:9s}"
                print(f"  --{k:13s} {d['type']:5s} {default} {d['allowed']}{where}\n"
                      f"  {'':15s} {d['meaning']}")
        return 0
    if not args.family:
        raise ValueError("a family name is required (learnlab show --list shows them)")
    if args.out:
        from .cli import output_folder
        output_folder(args.out, "--out", file=True)       # its folder is made if missing
    if args.n < 1:
        raise ValueError(f"--n={args.n} is not allowed; expected an integer >= 1")
    dist = distributions.make(args.family, **parse_knobs(args.family, rest))
    check_fits(args.family, "--n", args.n, dist.event_shape)
    print(f"{dist!r}")
    for k, v in dist.traits.items():
        print(f"  {k:22s} {v:.6g}")
    if args.out:
        from analysis.show import plot_distribution
        print(f"wrote {plot_distribution(dist, args.out, n=args.n, seed=args.sample_seed)}")
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab show"))
