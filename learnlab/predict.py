"""`learnlab predict DATA`: before training, how hard is this data set for each model kind? The
atlas's predictor (analysis.predictor) reads the data's model-free descriptors and prints, per
model kind, the predicted quality and the probability of failing (any way, and each way with
enough atlas runs to fit), with 95% bootstrap intervals, whether the data lie outside the
atlas's range (extrapolation), and the three atlas distributions nearest to them.

    learnlab predict mixture --n_modes 8 --separation 4     # a family: 5000 samples, as for the atlas
    learnlab predict points.npy                             # a user's points (.npy / .csv), read whole
    learnlab predict --fit          # refit on every exported atlas study: results/predictor.json,
                                    # its validation (results/predictor_validation.csv) and the
                                    # importance figure (figures/predictor_importance.png/.pdf/.csv)
    learnlab predict --validate     # held-out scores of the stored predictor, against a baseline
    learnlab predict --importance   # redraw the importance figure from the stored predictor

The atlas holds points only: images and graphs are read and checked, and told that there are no
atlas rows for them yet.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Sequence

from .cli import Parser, output_file, output_folder

FIGURE = Path(__file__).resolve().parent.parent / "figures" / "predictor_importance"


def validation_path(predictor: Path) -> Path:
    return predictor.with_name(predictor.stem + "_validation.csv")


def main(argv: Sequence[str]) -> int:
    from analysis import predictor as P
    p = Parser(prog="learnlab predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", help="a family name (then its --KNOB VALUE), or a .npy / .csv file of points "
                   "or a folder of images or graphs (the family file)")
    p.add_argument("--n", type=int, default=P.N_DRAW, help=f"samples drawn from a family (default {P.N_DRAW}, as "
                   "for the atlas's cells; a user's data are read whole)")
    p.add_argument("--sample-seed", type=int, default=P.DRAW_SEED, help="seed of the drawn samples")
    p.add_argument("--fit", action="store_true", help="refit on the exported atlas studies; writes the predictor, "
                   "its validation table and the importance figure")
    p.add_argument("--validate", action="store_true", help="print and write the held-out scores")
    p.add_argument("--importance", action="store_true", help="draw the importance figure")
    p.add_argument("--predictor", default=str(P.PATH), help="the predictor's JSON (default results/predictor.json)")
    p.add_argument("--figure", default=str(FIGURE), help="the importance figure's path without suffix")
    args, rest = p.parse_known_args(argv)
    jobs = args.fit or args.validate or args.importance
    if jobs and (args.data or rest):
        raise ValueError("give DATA or --fit / --validate / --importance, not both")
    if not jobs and not args.data:
        raise ValueError("expected DATA (a family, a .npy / .csv file or a folder) or one of --fit, --validate, "
                         "--importance")
    if args.n < 1:
        raise ValueError(f"--n={args.n} must be an integer >= 1")
    path = Path(args.predictor)
    if not jobs:
        return predict(args, rest, path)
    output_file(str(path), "--predictor")
    if args.fit or args.validate:
        output_file(str(validation_path(path)), "--predictor")
    if args.fit or args.importance:
        output_folder(args.figure, "--figure", file=True)
    if args.fit:
        pred = refit()
    else:
        pred = P.load(path)
        changed = P.stale(pred)
        if changed:
            raise ValueError(f"{path} is out of date: {'; '.join(changed)}; refit with `learnlab predict --fit`")
    table = figure = None
    if args.fit or args.validate:
        from analysis.validation import summary, validate
        table = validate(pred["rows"])
        print(summary(table))
    if args.fit or args.importance:
        figure = P.importance(pred)
    written = []                                      # everything computed: now write it
    if args.fit:
        written.append(P.save(pred, path))
    if table is not None:
        table.to_csv(validation_path(path), index=False)
        written.append(validation_path(path))
    if figure is not None:
        from analysis.plots import save
        written += save(*figure, Path(args.figure + ".png"), ("png", "pdf"))
    print("written: " + ", ".join(str(f) for f in written))
    return 0


def refit() -> dict:
    from analysis import predictor as P
    done, skipped = P.atlas_studies()
    if not done:
        raise ValueError(f"no atlas study is exported under {P.EXPORTS}; expected the tables of {', '.join(skipped)}")
    print(f"atlas studies exported: {', '.join(done)}"
          + (f"; skipped (not exported): {', '.join(skipped)}" if skipped else ""))
    start = time.perf_counter()
    rows = P.atlas_rows(done)
    pred = P.fit(rows, skipped=skipped, studies=done)
    print(f"fitted on {len(rows)} cells ({sum(s['rows'] for s in pred['studies'])} runs) in "
          f"{time.perf_counter() - start:.0f} s; features used: {', '.join(P.used_columns(pred['standardisation']))}")
    return pred


def fmt(v: tuple) -> str:
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"


def predict(args, rest, path: Path) -> int:
    from analysis import predictor as P
    from metrics.descriptors import describe, embed
    from .describe import read_data
    x, what = read_data(args.data, rest, args.n, args.sample_seed)
    _, how = embed(x)
    pred = P.load(path)
    kind, held = how.split(":")[0], {}
    for r in pred["rows"]:
        held.setdefault(r["data_kind"], set()).add(r["family"])
    if kind not in held:
        print(f"{what}\n{len(x)} samples, embedding: {how}\nno atlas rows for {kind} yet: the atlas holds only "
              + "; ".join(f"{k} ({', '.join(sorted(f))})" for k, f in held.items()) +
              ", so there is nothing to predict from; `learnlab describe` gives their descriptors")
        return 0
    start = time.perf_counter()
    desc = describe(x)
    print(f"{what}\n{len(x)} samples; descriptors in {time.perf_counter() - start:.1f} s: " +
          ", ".join(f"{k} {v:.4g}" for k, v in desc.items() if not math.isnan(v)))
    studies = ", ".join(f"{s['study']} ({s['rows']} runs, exported {s['exported']})" for s in pred["studies"])
    print(f"predictor {path}: fitted {pred['fitted']} (code {pred['code_version']}) on {pred['cells']} cells of "
          f"{studies}" + (f"; not in it (not exported): {', '.join(pred['skipped'])}" if pred["skipped"] else ""))
    for line in P.stale(pred):
        print(f"  out of date: {line}; refit with `learnlab predict --fit`")
    outside = P.extrapolation(pred, desc)
    if outside:
        print("OUTSIDE THE ATLAS (extrapolation: the numbers below extend a linear fit beyond its data; do not "
              "trust them):\n" + "\n".join(f"  - {o}" for o in outside))
    else:
        print("inside the atlas's descriptor range: every feature within its cells' range")
    preds = P.predict(pred, desc)
    names = ["quality", "failure", *[o for o in P.FAILURES if any(o in m for m in pred["models"].values())]]
    print(f"\n{'':10s} " + " ".join(f"{'P(' + n + ')' if n != 'quality' else n:>20s}" for n in names))
    for kind, t in preds.items():
        print(f"{kind:10s} " + " ".join(f"{fmt(t[n]) if n in t else 'n/a':>20s}" for n in names))
    unfit = [o for o in P.FAILURES if o not in names]
    print(f"95% intervals: bootstrap over the atlas's cells (how surely the fit is pinned down there, not its "
          f"error on data unlike them: `learnlab predict --validate`); n/a: fewer than {pred['min_positives']} "
          f"such runs of that kind in the atlas" + (f"; never fitted: {', '.join(unfit)}" if unfit else ""))
    held = validation_path(path)
    if held.is_file():
        import pandas as pd
        v = pd.read_csv(held)
        v = v[(v["scheme"] == "leave one study out") & (v["metric"] == "r2") & (v["by"] == "predictor")]
        if len(v):
            print("held-out quality R2 (leave one study out): " +
                  ", ".join(f"{r.model} {r.value:.2f}" for r in v.itertuples()))
    print("\nnearest atlas distributions (distance in standardised descriptors; measured quality, runs failed):")
    for i, (d, row) in enumerate(P.nearest(pred, desc), 1):
        measured = []
        for kind, t in row["targets"].items():
            q = "n/a" if t["quality"] is None else f"{t['quality']:.2f}"
            n = sum(t["outcomes"].values())
            measured.append(f"{kind} {q}, {n - t['outcomes']['learned']}/{n}")
        print(f"  {i}. {row['study']} {P.cell_name(row)} ({d:.2f}): " + "; ".join(measured))
    return 0


if __name__ == "__main__":
    from .cli import run
    sys.exit(run(main, sys.argv[1:], "learnlab predict"))
