"""The atlas's views of a study: how its runs ended, cell by cell.

    outcome_table(df, ["trait.n_modes", "trait.separation"])   # per model and cell: each outcome's
                                                               # k of n runs, share, Wilson interval
    outcomes(df, "n_modes", "separation")                      # stacked bars of those shares
    mode_rows(df)                                              # one row per run and mode: its
                                                               # weight, and whether it was dropped
    mode_drops(df)                                             # share of modes dropped by weight

A run's outcome is its single final verdict (``metrics.verdicts``: the first of diverged,
dropped_modes, bridged, blurred, collapsed, misweighted, else learned), so a cell's outcomes add up to its
runs; a failed run (a crash, not a learning outcome) is left out of n, as in every rate.

Per mode (the weights study: are light modes the ones dropped?), a run's final evaluation names
the components it dropped (``verdicts.judge``: a mode holding less than half its true share);
each mode's true weight comes from the family itself. Runs that diverged or failed are left out:
they say nothing about which modes a model keeps.
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

COLOURS = {"learned": "#4c9a2a", "misweighted": "#e3c04a", "collapsed": "#5b9bd5", "blurred": "#8f6bb8", "bridged": "#e8862a",
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
    """One row per facet, cell and outcome (all of them, zeros included): k runs of n, the share and
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
    fig.suptitle(wrap(title or "how the runs ended", min(110, int(14 * fig.get_figwidth()))), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    return fig, table


def mode_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per complete mixture run and mode: ``model``, ``trial``, ``seed``, the run's
    ``trait.n_modes`` and ``trait.imbalance``, ``mode``, ``trait.mode_weight`` (its true weight
    times the number of modes: 1 is a uniform share), and ``verdict.mode_dropped`` (0 / 1) from the
    run's final evaluation; ``status`` "complete", so rates and trends read it like a study table."""
    import distributions
    from .classics import histories
    runs = df[df["status"] == "complete"]
    past = histories(runs)
    weights: dict[tuple, list[float]] = {}
    rows = []
    for _, r in runs.iterrows():
        final = (past.get(int(r["trial"])) or [{}])[-1]
        if final.get("dropped") is None:
            raise ValueError(f"trial {int(r['trial'])} has no final evaluation naming dropped modes; "
                             "per-mode rates need mixture runs evaluated with verdicts")
        cell = (int(r["trait.n_modes"]), float(r["trait.imbalance"]))
        if cell not in weights:
            mix = distributions.make("mixture", n_modes=cell[0], imbalance=cell[1])
            weights[cell] = (mix.modes.weights.double() * cell[0]).tolist()
        dropped = set(final["dropped"])
        rows += [{"model": r["model"], "trial": int(r["trial"]), "seed": r["seed"], "status": "complete",
                  "trait.n_modes": cell[0], "trait.imbalance": cell[1], "mode": k, "trait.mode_weight": w,
                  "trait.log2_mode_weight": float(np.log2(w)), "verdict.mode_dropped": float(k in dropped)}
                 for k, w in enumerate(weights[cell])]
    return pd.DataFrame(rows)


def mode_drops(df: pd.DataFrame, hue: str = "n_modes", *, title: str | None = None):
    """Share of modes dropped against a mode's weight relative to uniform (binned to the nearest
    power of two), one panel per model kind, one line per ``hue`` value (Wilson 95% bands);
    returns (figure, table: model, hue, mode_weight bin, k dropped of n modes, share, lo, hi)."""
    modes = mode_rows(df)
    hc = resolve(modes, hue)
    modes["mode_weight"] = 2.0 ** np.round(np.log2(modes["trait.mode_weight"]))
    rows = []
    for (m, h, w), g in modes.groupby(["model", hc, "mode_weight"], sort=True):
        value, lo, hi = wilson(int(g["verdict.mode_dropped"].sum()), len(g))
        rows.append({"model": m, label(hc): h, "mode_weight": w, "k": int(g["verdict.mode_dropped"].sum()),
                     "n": len(g), "value": value, "lo": lo, "hi": hi})
    table = study_order(pd.DataFrame(rows), df, "model")
    kinds = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(2.9 * len(kinds) + 0.6, 3.4), sharey=True, squeeze=False)
    hues = sorted(table[label(hc)].unique())
    colours = dict(zip(hues, plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(hues)))))
    for ax, kind in zip(axes[0], kinds):
        for h in hues:
            part = table[(table["model"] == kind) & (table[label(hc)] == h)].sort_values("mode_weight")
            ax.plot(part["mode_weight"], part["value"], marker="o", ms=4, color=colours[h],
                    label=f"{label(hc)} = {h:g}")
            ax.fill_between(part["mode_weight"], part["lo"], part["hi"], color=colours[h], alpha=0.15, lw=0)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(kind, fontsize=9)
        ax.set_xlabel("mode weight x number of modes", fontsize=8)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("share of modes dropped", fontsize=8)
    axes[0, -1].legend(fontsize=7, loc="upper right")
    fig.text(0.01, 0.01, "each mode of each complete run counted once (its run's final evaluation); band: Wilson "
             "95% interval, which treats a run's modes as independent: see `learnlab trend --per-mode` for a "
             "slope with runs resampled whole", fontsize=6, color="0.3")
    fig.suptitle(wrap(title or "share of modes dropped by weight", 110), fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig, table


def atlas_configs() -> dict[str, dict]:
    """{study: its sweep config} of every atlas study: the named figures' full configs that fix
    learning rates from a tuning study (``tuned_on``), except graph studies, which have no
    verdicts (so no share learned)."""
    import yaml
    from .figures import CONFIGS, FIGURES
    out = {}
    for config in sorted({f.full for f in FIGURES.values()}):
        raw = yaml.safe_load((CONFIGS / config).read_text())
        if "tuned_on" in raw and raw["data"]["family"] != "graphs":
            out[raw["study"]] = raw
    return out


def atlas_axes() -> list[tuple[str, str, str]]:
    """(study, trait, the other axes pooled) for every grid axis of every atlas study."""
    out = []
    for raw in atlas_configs().values():
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
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.3g}"))
        ax.set_title(f"{key[0]}: {key[1]}" + (f" (pooled over {key[2]})" if key[2] else ""), fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    fig.text(0.01, 0.01, "dot: where the fitted share of runs judged learned crosses 1/2 (falling, or rising "
             "where the trait helps, as noise does); bar: its 95% bootstrap "
             "interval; axis: the tested range.\n>: above 1/2 over the whole range; <: below 1/2 already at its low end",
             fontsize=6.5)
    fig.suptitle(wrap(title or "Where success falls below one half, per trait axis and model kind", 100), fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1 - 0.45 / fig.get_figheight()))
    return fig, pd.DataFrame(rows)
