"""The atlas's batch-size study (issue 20, study 8): how GAN training scales with batch size.

    batch_table(df)      # one row per batch size: its tuned draw (analysis.table.tuned: most runs
                         # learned, then the best mean quality), that draw's learning rates, runs
                         # learned (Wilson interval), quality (bootstrap), and, over its learned
                         # runs, the steps, samples and CPU seconds to learn (medians, bootstrap)
    batch_figure(df)     # those numbers against the batch size, with every draw faint behind

A run's steps to learn are its first evaluation judged ``learned`` (``verdict.learned_step``)
among runs still learned at the end; samples to learn are steps x batch size; CPU seconds to
learn are the run's ``runtime_s`` (its group's training time, evaluations included, shared among
the members) x learned_step / the steps it trained (its last evaluation). Runs that never learned
have no such numbers: the figure says how many runs each median rests on.
"""
from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .classics import histories  # noqa: E402
from .stats import bootstrap, wilson  # noqa: E402
from .table import complete_values, counted_flags, draw_params, resolve, tuned_runs  # noqa: E402

COST = {"steps": "steps to learn", "samples": "samples to learn (steps x batch)",
        "cpu_s": "CPU seconds to learn, per run"}


def learning_costs(df: pd.DataFrame, batch: str) -> pd.DataFrame:
    """One row per complete run judged learned at the end: trial, draw, batch size, steps, samples
    and CPU seconds to learn."""
    past = histories(df)
    runs = df[(df["status"] == "complete") & (counted_flags(df, "verdict.learned").reindex(df.index) == 1)]
    rows = []
    for _, r in runs.iterrows():
        step, trained = r["verdict.learned_step"], max((h["step"] for h in past.get(int(r["trial"]), [])), default=0)
        if step != step or step is None or not trained:
            raise ValueError(f"trial {int(r['trial'])} is learned but has no learned_step or evaluations")
        rows.append({"trial": int(r["trial"]), "draw": int(r["draw"]), "batch_size": int(r[batch]),
                     "steps": float(step), "samples": float(step) * int(r[batch]),
                     "cpu_s": float(r["runtime_s"]) * float(step) / trained})
    return pd.DataFrame(rows, columns=["trial", "draw", "batch_size", *COST])


def batch_table(df: pd.DataFrame, metric: str = "quality") -> pd.DataFrame:
    """Per batch size, its tuned draw's numbers (module docstring); one row per batch size."""
    batch = resolve(df, "batch_size")
    costs, best = learning_costs(df, batch), tuned_runs(df, [batch], metric)
    rows = []
    for size, cell in df.groupby(batch, sort=True):
        drawn = best[best[batch] == size]
        win = int(drawn["draw"].iloc[0])
        flags = counted_flags(drawn, "verdict.learned")
        share, lo, hi = wilson(int(flags.sum()), len(flags))
        q = bootstrap(complete_values(drawn, metric).to_numpy())
        row = {"batch_size": int(size), "draw": win, **json.loads(draw_params(cell, drawn) or "{}"),
               "learned": int(flags.sum()), "n": len(flags), "learned_share": share, "learned_lo": lo,
               "learned_hi": hi, metric: q[0], f"{metric}_lo": q[1], f"{metric}_hi": q[2]}
        mine = costs[(costs["batch_size"] == size) & (costs["draw"] == win)]
        for cost in COST:
            row[cost], row[f"{cost}_lo"], row[f"{cost}_hi"] = bootstrap(mine[cost].to_numpy(), "median")
        rows.append(row)
    return pd.DataFrame(rows)


def _every_draw(df: pd.DataFrame, batch: str, metric: str) -> pd.DataFrame:
    """Per batch size and draw: share learned and mean metric (the faint points behind)."""
    rows = []
    for (size, draw), g in df.groupby([batch, "draw"], sort=True):
        flags, vals = counted_flags(g, "verdict.learned"), complete_values(g, metric)
        rows.append({"batch_size": int(size), "draw": int(draw),
                     "learned_share": flags.mean() if len(flags) else math.nan,
                     metric: vals.mean() if len(vals) else math.nan})
    return pd.DataFrame(rows)


def batch_figure(df: pd.DataFrame, metric: str = "quality", *, title: str | None = None):
    """Top: share learned, quality and the tuned learning rates against the batch size; bottom:
    steps, samples and CPU seconds to learn (each learned run of the tuned draw a dot, the median
    and its interval a line). Returns (figure, batch_table)."""
    batch = resolve(df, "batch_size")
    table, every, costs = batch_table(df, metric), _every_draw(df, batch, metric), learning_costs(df, batch)
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.2))
    xs = table["batch_size"].to_numpy()
    for ax, col, stem, name in ((axes[0, 0], "learned_share", "learned", "share of runs learned (tuned draw)"),
                                (axes[0, 1], metric, metric, f"{metric} (tuned draw, mean over seeds)")):
        ax.scatter(every["batch_size"], every[col], color="grey", alpha=0.35, s=14, label="every draw")
        lo, hi = table[f"{stem}_lo"], table[f"{stem}_hi"]
        ax.errorbar(xs, table[col], yerr=[table[col] - lo, hi - table[col]], color="C0", marker="o", capsize=3,
                    label="tuned draw, 95% interval")
        ax.set_ylim(-0.03, 1.05)
        ax.set_ylabel(name)
        ax.legend(fontsize=7, loc="lower right")
    for _, r in table.iterrows():
        axes[0, 0].annotate(f"{int(r['learned'])}/{int(r['n'])}", (r["batch_size"], r["learned_share"]), fontsize=7,
                            xytext=(0, 6), textcoords="offset points", ha="center")
    ax = axes[0, 2]
    lrs = [c for c in table.columns if c.startswith("model.lr")]
    for i, c in enumerate(lrs):
        ax.plot(xs, table[c], marker="o", color=f"C{i + 1}", label=c.split(".", 1)[1])
    if lrs:
        ref = float(table[lrs[0]].iloc[0])
        for power, style in ((0.5, ":"), (1.0, "--")):
            ax.plot(xs, ref * (xs / xs[0]) ** power, color="grey", ls=style, lw=1,
                    label=f"{lrs[0].split('.', 1)[1]} at batch {xs[0]} x (batch ratio)^{power:g}")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax.set_ylabel("tuned learning rate")
    for ax, cost in zip(axes[1], COST):
        win = costs.merge(table[["batch_size", "draw"]], on=["batch_size", "draw"])
        ax.scatter(win["batch_size"], win[cost], color="C0", alpha=0.5, s=16, label="a learned run")
        ok = table[table[cost].notna()]
        ax.errorbar(ok["batch_size"], ok[cost], yerr=[ok[cost] - ok[f"{cost}_lo"], ok[f"{cost}_hi"] - ok[cost]],
                    color="black", marker="_", capsize=3, label="median, 95% interval")
        ax.set_ylabel(COST[cost])
        if len(win):
            ax.set_yscale("log")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no run of a tuned draw learned", transform=ax.transAxes, ha="center", fontsize=8)
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_xlim(xs.min() / 1.4, xs.max() * 1.4)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("batch size")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig, table
