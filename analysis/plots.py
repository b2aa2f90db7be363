"""Figures of a study's tidy table. Each returns ``(figure, table)``: the table holds exactly the
numbers drawn (see ``analysis.table`` for how trials count and how draws are chosen).

    heatmap(df, "n_modes", "separation", "modes_captured_fraction")   # one panel per model
    heatmap(df, "n_modes", "separation", agg="rate")                   # share of runs dropping modes
    curve(df, "n_modes", "coverage", hue="model")                      # line + 95% band
    onset(df, "n_modes", "separation")                                 # median step modes were dropped

Names resolve as in ``table.resolve`` (``n_modes`` -> ``trait.n_modes``) and axes carry the
bare name. Intervals: percentile bootstrap of the mean / median over seeds (2000 resamples,
seed 0), Wilson score interval for verdict rates; all 95%.
"""
from __future__ import annotations

import json
import math
import textwrap

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from metrics import registry  # noqa: E402
from metrics.verdicts import FLAGS  # noqa: E402

from .table import DROPPED, aggregate, label, onset_table, resolve  # noqa: E402


def axis_label(column: str, agg: str) -> str:
    """Colour-bar / axis text: 'rate: dropped modes', 'coverage (mean)', 'KL modes (mean, nats)'."""
    name = label(column)
    if agg == "rate":
        return f"rate: {name.replace('_', ' ')}"
    unit = registry.get(name).unit if registry.known(name) and name not in registry.VERDICTS else ""
    unit = f", {unit}" if unit and unit not in ("share", "count") else ""        # a share says itself
    return f"{registry.label(name)} ({agg}{unit})"


LOG_SPAN = 1000       # a positive heatmap whose largest cell is this many times its smallest: log colours
NOTES = {
    "mean": "mean over complete seeds (diverged / failed left out: n=used/run), 95% bootstrap interval; "
            "with 3 seeds or fewer, the seeds' values in parentheses instead",
    "median": "median over complete seeds (diverged / failed left out: n=used/run), 95% bootstrap interval; "
              "with 3 seeds or fewer, the seeds' values in parentheses instead",
    "rate": "share of seeds with the verdict (metrics.verdicts; diverged counts as failing, failed left out), "
            "95% Wilson interval; k=with the verdict/counted (of run, when some were left out)",
    "onset": "median step at which the failure set in, over seeds that had learned before (diverged: its step), "
             "95% bootstrap interval; k=with the verdict/counted",
}


def fmt(v) -> str:
    """A tick or cell number: 8.0 -> '8', 1000.0 -> '1000', 0.123456 -> '0.123'."""
    if not isinstance(v, (int, float, np.number)):
        return str(v)
    return str(int(v)) if np.isfinite(v) and float(v).is_integer() and abs(v) < 1e6 else f"{v:.3g}"


def cell_text(row, agg: str) -> str:
    """The annotation of one cell: value, [interval], and how many seeds it rests on."""
    if agg == "onset":
        if not np.isfinite(row["value"]):
            return f"–\nk={row['k']}/{row['n']}"
        return f"{fmt(row['value'])}\n[{fmt(row['lo'])}, {fmt(row['hi'])}]\nk={row['k']}/{row['n']}"
    n = f"n={row['n']}" if row["n"] == row["n_total"] else f"n={row['n']}/{row['n_total']}"
    if not np.isfinite(row["value"]):
        return f"–\n{n}"
    if agg == "rate":
        of = "" if row["n"] == row["n_total"] else f" of {row['n_total']}"
        return f"{row['value']:.2f}\n[{row['lo']:.2f}, {row['hi']:.2f}]\nk={row['k']}/{row['n']}{of}"
    if not np.isfinite(row["lo"]):                  # few seeds: their values, not an interval
        values = json.loads(row["values"])
        seeds = f"({', '.join(num(v) for v in values)})\n" if len(values) > 1 else ""
        return f"{num(row['value'])}\n{seeds}{n}"
    return f"{num(row['value'])}\n[{num(row['lo'])}, {num(row['hi'])}]\n{n}"


def num(v: float) -> str:
    """A cell value, one format for every cell: three significant digits kept ('0.500', '12.0',
    '1.00'), whole numbers from 100 on ('2500'), scientific beyond 1e6, and two significant
    digits, short, below 1e-3 ('2.7e-4', '-8.9e-5': a cell has room for about 8 characters)."""
    if not np.isfinite(v) or abs(v) >= 1e6:
        return f"{v:.3g}"
    if 0 < abs(v) < 1e-3:
        mantissa, exponent = f"{v:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:#.3g}".rstrip(".")        # 99.96 -> '100', not '100.'


def _note(table: pd.DataFrame, agg: str) -> str:
    note = NOTES[agg]
    if "n_draws" in table and table["n_draws"].max() > 1:
        note += f"; best of {table['n_draws'].max()} hyper-parameter draws per cell (after tuning)"
    if table.attrs.get("pooled"):
        note += "; pooled over " + ", ".join(map(label, table.attrs["pooled"]))
    return note


def wrap(text: str, width: int) -> str:
    """Each line of ``text`` wrapped at spaces to ``width`` characters."""
    return "\n".join(part for line in text.split("\n")
                     for part in (textwrap.wrap(line, width, break_on_hyphens=False) or [""]))


def draw_heatmap(table: pd.DataFrame, x: str, y: str | None, facet: str | None, colour: str, agg: str,
                 vmin=None, vmax=None, title: str = "", signed: bool = False):
    """Panels of cells (one per facet value) on one shared colour scale, each cell annotated with
    ``table["label"]``; returns the figure. ``signed``: the value is a signed deviation (0 is
    right): where it takes both signs, a diverging scale centred on 0."""
    table = table.copy()
    y = y or "_row"
    if y not in table:
        table[y] = ""
    panels = list(dict.fromkeys(table[facet])) if facet else [None]
    xs, ys = sorted(table[x].unique()), sorted(table[y].unique())
    finite = table["value"][np.isfinite(table["value"])]
    signed = signed and len(finite) and finite.min() < 0 < finite.max()
    if signed:                                       # a signed error: diverging colours, 0 in the middle
        vmax = float(finite.abs().max())
        vmin = -vmax
    logscale = (vmin is None and vmax is None and len(finite) and finite.min() > 0
                and finite.max() >= LOG_SPAN * finite.min())       # positive over decades: one colour per decade
    vmin = vmin if vmin is not None else (finite.min() if len(finite) else 0.0)
    vmax = vmax if vmax is not None else (finite.max() if len(finite) else 1.0)
    if vmin == vmax:                                 # every value equal: one colour, a scale around it
        half = 0.5 * abs(vmin) or 0.5
        vmin, vmax = vmin - half, vmax + half
    w, h = max(3.2, 1.1 * len(xs) + 1.2), max(2.6, 0.8 * len(ys) + 1.6)
    cols = len(panels) if len(panels) <= 3 else -(-len(panels) // 2)         # four panels: two rows of two
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols + 1.2, h * rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[len(panels):]:
        ax.axis("off")
    size = 8 if len(xs) <= 4 else 6.5
    for i, (ax, panel) in enumerate(zip(axes, panels)):
        part = table if panel is None else table[table[facet] == panel]
        grid = part.pivot(index=y, columns=x, values="value").reindex(index=ys, columns=xs)
        texts = part.pivot(index=y, columns=x, values="label").reindex(index=ys, columns=xs)
        last = i % cols == cols - 1 or i == len(panels) - 1          # a colour bar ends each row (one scale)
        scale = dict(norm=LogNorm(vmin, vmax)) if logscale else dict(vmin=vmin, vmax=vmax)
        bar = {"label": wrap(colour, max(16, int(8 * h)))} if last else None      # wrapped to the panel's height
        sns.heatmap(grid.astype(float), ax=ax, **scale, cmap="RdBu_r" if signed else "viridis", cbar=last,
                    cbar_kws=bar, linewidths=0.5, linecolor="white")
        mid = math.sqrt(vmin * vmax) if logscale else (vmin + vmax) / 2
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                text = texts.loc[yv, xv]
                if isinstance(text, str):
                    v = grid.loc[yv, xv]                   # viridis is dark at the low end, RdBu at both
                    dark = abs(v) > 0.6 * vmax if signed else v < mid
                    ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=size,
                            color="white" if dark else "black")
        ax.invert_yaxis()                                # larger y upwards
        ax.set_xticks(np.arange(len(xs)) + 0.5, [fmt(v) for v in xs], rotation=0)
        ax.set_yticks(np.arange(len(ys)) + 0.5, [fmt(v) for v in ys], rotation=0)
        ax.set_xlabel(x)
        ax.set_ylabel("" if y == "_row" else y)
        if panel is not None:
            ax.set_title(f"{facet} = {panel}", fontsize=10)
    fig.suptitle(wrap(title, max(30, int(fig.get_figwidth() * 11))), fontsize=11)  # ~11 characters an inch
    width = max(40, int(fig.get_figwidth() * 17))            # characters that fit at fontsize 7
    note = "\n".join(textwrap.wrap(_note(table, agg), width))
    fig.text(0.01, 0.01, note, fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.02 + 0.025 * note.count("\n") + 0.02, 1, 1))
    return fig


def _facet(df: pd.DataFrame, facet: str | None) -> str | None:
    """The facet column, or None when it has one value (one panel: no 'model = default' title)."""
    fc = resolve(df, facet) if facet else None
    return fc if fc is not None and df[fc].nunique(dropna=False) > 1 else None


def study_order(table: pd.DataFrame, df: pd.DataFrame, facet: str | None) -> pd.DataFrame:
    """``table``'s rows with its panels in the study's order (its config's models), not alphabetical."""
    if not facet or "trial" not in df:
        return table
    first = df.groupby(facet)["trial"].min()
    return table.sort_values(label(facet), key=lambda col: col.map(first), kind="stable").reset_index(drop=True)


def heatmap(df: pd.DataFrame, x: str, y: str, metric: str | None = None, *, facet: str | None = "model",
            agg: str = "mean", best: str | None = None, title: str | None = None):
    """A heatmap of ``metric`` (``agg`` per cell) over traits ``x`` and ``y``, one panel per
    ``facet`` value, one colour scale (0..1 for rates and shares, else the data's range); returns (figure,
    aggregated table)."""
    xc, yc = resolve(df, x), resolve(df, y)
    fc = _facet(df, facet)
    mc = resolve(df, metric) if metric else DROPPED
    table = aggregate(df, xc, yc, mc, fc, agg, best)
    table = study_order(table, df, fc)
    table["label"] = [cell_text(r, agg) for _, r in table.iterrows()]
    colour = axis_label(mc, agg)
    limits = (0.0, 1.0) if agg == "rate" or registry.is_share(label(mc)) else (None, None)
    signed = agg != "rate" and registry.direction(label(mc)) == "neither"     # neither higher nor lower is better
    fig = draw_heatmap(table, label(xc), label(yc), fc and label(fc), colour, agg, *limits,
                       title=title or colour, signed=signed)
    return fig, table


def geometric(values) -> bool:
    """Whether axis values are a geometric grid (positive, each about a constant factor >= 1.5
    above the last, at least three): drawn on a log axis."""
    v = np.asarray([float(x) for x in values if isinstance(x, (int, float, np.number))], dtype=float)
    if len(v) < 3 or len(v) != len(values) or (v <= 0).any():
        return False
    r = v[1:] / v[:-1]
    return bool(r.min() >= 1.5 and r.max() / r.min() < 1.6)


def curve(df: pd.DataFrame, x: str, metric: str | None = None, *, hue: str | None = "model", agg: str = "mean",
          best: str | None = None, title: str | None = None):
    """``metric`` (``agg`` per x value) against trait ``x``, one line per ``hue`` value with its
    95% band (bootstrap for mean / median, Wilson for verdict rates); returns (figure, table)."""
    xc = resolve(df, x)
    hc = resolve(df, hue) if hue else None
    mc = resolve(df, metric) if metric else DROPPED
    table = aggregate(df, xc, None, mc, hc, agg, best)
    xl, hl = label(xc), hc and label(hc)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, part in (table.groupby(hl, sort=False) if hl else [(None, table)]):
        part = part.sort_values(xl)
        line, = ax.plot(part[xl], part["value"], marker="o", label=None if name is None else f"{hl} = {name}")
        ax.fill_between(part[xl], part["lo"], part["hi"], color=line.get_color(), alpha=0.2, lw=0)
        if agg != "rate":                                # every seed's value beside the mean
            seeds = [(xv, v) for xv, vs in zip(part[xl], part["values"]) for v in json.loads(vs)]
            if seeds:
                ax.scatter(*zip(*seeds), s=9, color=line.get_color(), alpha=0.45, lw=0)
    xs = sorted(table[xl].unique())
    if geometric(xs):
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [fmt(v) for v in xs])
        ax.minorticks_off()
    ax.set_xlabel(xl)
    ax.set_ylabel(axis_label(mc, agg))
    if hl:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title or ax.get_ylabel(), fontsize=10)
    fig.text(0.01, 0.01, _note(table, agg), fontsize=6, color="0.3", wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig, table


def onset(df: pd.DataFrame, x: str, y: str | None = None, *, facet: str | None = "model",
          flag: str = "dropped_modes", title: str | None = None):
    """When a failure (verdict ``flag``) sets in: per cell the median onset step of the trials
    with it that had learned before (pooled over draws and seeds, bootstrap interval) and k of n
    with the verdict; returns (figure, table)."""
    if flag not in FLAGS:
        raise ValueError(f"onset flag {flag!r} is not allowed; expected one of {', '.join(FLAGS)}")
    xc = resolve(df, x)
    yc = resolve(df, y) if y else None
    fc = _facet(df, facet)
    table = study_order(onset_table(df, xc, yc, fc, flag), df, fc)
    table["label"] = [cell_text(r, "onset") for _, r in table.iterrows()]
    name = f"onset step: {flag.replace('_', ' ')}"
    fig = draw_heatmap(table, label(xc), yc and label(yc), fc and label(fc), name, "onset", title=title or name)
    return fig, table


def save(fig, table: pd.DataFrame, path: str | Path, formats=None) -> list[Path]:
    """Write the figure (each of ``formats``, default: the path's suffix or png; 100 dpi) and the
    table as CSV beside it (numbers only, no annotation strings); closes the figure."""
    path = Path(path)
    formats = formats or ((path.suffix[1:],) if path.suffix in (".png", ".pdf", ".svg") else ("png",))
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in formats:
        out.append(path.with_suffix(f".{ext}"))
        fig.savefig(out[-1], dpi=100)
    plt.close(fig)
    out.append(path.with_suffix(".csv"))
    table.drop(columns=["label"], errors="ignore").to_csv(out[-1], index=False)
    return out
