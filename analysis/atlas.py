"""The atlas's views of a study: how its runs ended, cell by cell.

    outcome_table(df, ["trait.n_modes", "trait.separation"])   # per model and cell: each outcome's
                                                               # k of n runs, share, Wilson interval
    outcomes(df, "n_modes", "separation")                      # stacked bars of those shares

A run's outcome is its single final verdict (``metrics.verdicts``: the first of diverged,
dropped_modes, bridged, blurred, misweighted, else learned), so a cell's outcomes add up to its
runs; a failed run (a crash, not a learning outcome) is left out of n, as in every rate.
"""
from __future__ import annotations

import matplotlib
import matplotlib.ticker  # noqa: F401

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from metrics.verdicts import OUTCOMES  # noqa: E402

from .plots import study_order, wrap  # noqa: E402
from .stats import wilson  # noqa: E402
from .table import label, resolve  # noqa: E402

COLOURS = {"learned": "#4c9a2a", "misweighted": "#e3c04a", "blurred": "#8f6bb8", "bridged": "#e8862a",
           "dropped_modes": "#c0392b", "diverged": "#222222"}


def run_outcomes(df: pd.DataFrame) -> pd.Series:
    """Each counted run's outcome (failed runs dropped; a diverged one is ``diverged``)."""
    runs = df[df["status"] != "failed"]
    col = runs["verdict.outcome"] if "verdict.outcome" in runs else pd.Series(np.nan, index=runs.index)
    out = col.mask(runs["status"] == "diverged", "diverged")
    if out.isna().any():
        raise ValueError(f"{int(out.isna().sum())} counted run(s) have no verdict.outcome; outcomes need verdicts")
    return out


def outcome_table(df: pd.DataFrame, keys: list[str], facet: str = "model") -> pd.DataFrame:
    """One row per facet, cell and outcome (all six, zeros included): k runs of n, the share and
    its Wilson 95% interval."""
    runs = df[df["status"] != "failed"]
    runs = runs.assign(outcome=run_outcomes(runs).to_numpy())
    rows = []
    for key, cell in runs.groupby([facet, *keys], sort=True):
        counts = cell["outcome"].value_counts()
        for name in OUTCOMES:
            k = int(counts.get(name, 0))
            value, lo, hi = wilson(k, len(cell))
            rows.append({**{label(c): v for c, v in zip([facet, *keys], key)}, "outcome": name,
                         "k": k, "n": len(cell), "value": value, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


def outcomes(df: pd.DataFrame, x: str, y: str | None = None, *, facet: str = "model", title: str | None = None):
    """Stacked bars of the outcome shares over ``x``: one row of panels per ``facet`` value (model
    kind), one column per ``y`` value; returns (figure, outcome_table)."""
    xc, yc, fc = resolve(df, x), resolve(df, y) if y else None, resolve(df, facet)
    table = study_order(outcome_table(df, [c for c in (xc, yc) if c], fc), df, fc)
    xs, fs = sorted(table[label(xc)].unique()), list(dict.fromkeys(table[label(fc)]))
    ys = sorted(table[label(yc)].unique()) if yc else [None]
    fig, axes = plt.subplots(len(fs), len(ys), figsize=(2.3 * len(ys) + 1.6, 1.9 * len(fs) + 1.2),
                             sharex=True, sharey=True, squeeze=False)
    pos = np.arange(len(xs))
    for i, f in enumerate(fs):
        for j, yv in enumerate(ys):
            ax, cell = axes[i, j], table[table[label(fc)] == f]
            if yc:
                cell = cell[cell[label(yc)] == yv]
            bottom = np.zeros(len(xs))
            for name in OUTCOMES:
                share = cell[cell["outcome"] == name].set_index(label(xc))["value"].reindex(xs).fillna(0).to_numpy()
                ax.bar(pos, share, bottom=bottom, width=0.8, color=COLOURS[name], label=name.replace("_", " "))
                bottom += share
            n = cell.groupby(label(xc))["n"].first().reindex(xs)
            for p, v in zip(pos, n):
                ax.text(p, 1.02, f"n={int(v)}" if v == v else "", ha="center", va="bottom", fontsize=6)
            ax.set_ylim(0, 1.12)
            ax.set_xticks(pos, [f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v) for v in xs], fontsize=7)
            if i == 0 and yc:
                ax.set_title(f"{label(yc)} = {yv:g}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{f}\nshare of runs", fontsize=8)
            if i == len(fs) - 1:
                ax.set_xlabel(label(xc), fontsize=8)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles[::-1], names[::-1], loc="center right", fontsize=7, frameon=False)
    fig.suptitle(wrap(title or "how the runs ended", 110), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    return fig, table


def atlas_axes() -> list[tuple[str, str, str]]:
    """(study, trait, the other axes pooled) for every grid axis of every atlas study: the named
    figures' full configs that fix learning rates from a tuning study (``tuned_on``)."""
    import yaml
    from .figures import CONFIGS, FIGURES
    out = []
    for config in sorted({f.full for f in FIGURES.values()}):
        raw = yaml.safe_load((CONFIGS / config).read_text())
        if "tuned_on" in raw:
            axes = [a.split(".", 1)[1] for a in raw.get("grid") or {}]
            out += [(raw["study"], a, ", ".join(b for b in axes if b != a)) for a in axes]
    return out


def summary(tables: dict[tuple[str, str, str], pd.DataFrame], title: str | None = None):
    """The atlas at a glance: per study and trait axis (one panel each), per model kind, the trait
    value where the share of runs judged learned falls below one half (``trend`` x50 with its
    interval; a triangle at the end of the range where it never crosses). ``tables``: (study,
    trait, pooled) -> ``trend(df, trait, "learned")``. Returns (figure, long table)."""
    keys = list(tables)
    fig, axes = plt.subplots(len(keys), 1, figsize=(7.5, 1.35 * len(keys) + 1.2), squeeze=False)
    rows = []
    for ax, key in zip(axes[:, 0], keys):
        t = tables[key].sort_values("model", ascending=False).reset_index(drop=True)
        lo, hi = float(t["x_min"].min()), float(t["x_max"].max())
        for i, r in t.iterrows():
            rows.append({"study": key[0], "trait": key[1], "pooled": key[2], **r.drop(["trait"]).to_dict()})
            ax.plot([r["x50_lo"], r["x50_hi"]], [i, i], color="0.4", lw=2)
            if r["x50_side"] == "crosses":
                ax.plot(r["x50"], i, "o", color="#c0392b", ms=6)
            else:                                           # never below 1/2 (above) or always (below)
                edge = r["x_max"] if r["x50_side"] == "above" else r["x_min"]
                ax.plot(edge, i, ">" if r["x50_side"] == "above" else "<", color="#4c9a2a" if
                        r["x50_side"] == "above" else "#222222", ms=7)
        ax.set_yticks(range(len(t)), t["model"], fontsize=8)
        ax.set_ylim(-0.6, len(t) - 0.4)
        if (t["scale"] == "log2").all():
            ax.set_xscale("log", base=2)
        pad = (hi / lo) ** 0.04 if (t["scale"] == "log2").all() else None
        ax.set_xlim(*((lo / pad, hi * pad) if pad else (lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo))))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(f"{key[0]}: {key[1]}" + (f" (pooled over {key[2]})" if key[2] else ""), fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    fig.text(0.01, 0.01, "dot: where the fitted share of runs judged learned crosses 1/2; bar: its 95% bootstrap "
             "interval; axis: the tested range.\n>: above 1/2 over the whole range; <: below 1/2 already at its low end",
             fontsize=6.5)
    fig.suptitle(wrap(title or "Where success falls below one half, per trait axis and model kind", 100), fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig, pd.DataFrame(rows)
