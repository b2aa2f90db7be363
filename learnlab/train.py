"""`learnlab train CONFIG.yaml [--set section.key=value ...] [--out DIR]`: one model on one
distribution. Logs, sample PNGs, config.json and result.json go to DIR (default
lightning_logs/train/<config name>/version_N). Exit status 0 when the run completed or diverged
(both are results), 1 when it failed, 2 for bad input."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from .cli import Parser


def next_version(base: Path) -> Path:
    n = 0
    while (base / f"version_{n}").exists():
        n += 1
    return base / f"version_{n}"


def main(argv: Sequence[str]) -> int:
    p = Parser(prog="learnlab train", description=__doc__)
    p.add_argument("config", help="YAML run config (see experiments/configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (repeatable), e.g. --set train.steps=500")
    p.add_argument("--out", help="output folder (default lightning_logs/train/<name>/version_N)")
    args = p.parse_args(argv)

    from experiments import config as cfgmod
    cfg = cfgmod.load(args.config, args.overrides)            # bad input stops here, before any work
    from .cli import output_folder
    out = (output_folder(args.out, "--out") if args.out
           else next_version(Path("lightning_logs/train") / Path(args.config).stem))
    from experiments.train import run
    print(f"training {cfg['model']['model']} on {cfg['data']['family']} for {cfg['train']['steps']} steps -> {out}")
    rec = run(cfg, out)
    print(f"status: {rec['status']}" + (f" at step {rec['diverged_at']}" if rec["diverged_at"] is not None else "")
          + (f" ({rec['reason']})" if rec["reason"] else "") + f", {rec['runtime_s']:.1f} s")
    for k, v in rec["metrics"].items():
        print(f"  {k:28s} {v:.6g}" if isinstance(v, float) else f"  {k:28s} {v}")
    if rec.get("verdict"):
        v = rec["verdict"]
        print(f"  verdict: {v['outcome']}; " + ", ".join(f"{k}={v[k]}" for k in (
            "dropped_modes", "dropped", "misweighted", "blurred", "bridged", "collapsed", "hopping", "n_hops", "onset")))
    print(f"wrote {out / 'result.json'}")
    return 1 if rec["status"] == "failed" else 0


if __name__ == "__main__":
    from .cli import run as _run
    sys.exit(_run(main, sys.argv[1:], "learnlab train"))
