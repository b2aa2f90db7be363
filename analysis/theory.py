"""The theory check (issue 20, study 9; REFERENCES.md §7): precision of GANs whose generator's
Lipschitz constant is bounded and measured, against the push-forward bound, on two pieces of a
curve a gap D apart; the diffusion model on the same data for comparison (the bound does not
cover it).

The argument. Let A and B be the points within the support tolerance t of each piece: they are
D' = D - 2t apart. A generator G with Lipschitz constant L maps a latent z ~ N(0, I) into A with
probability a and into B with probability b; the pre-images of A and B are at least r = D' / L
apart, so by Gaussian isoperimetry (the r-enlargement of a set of mass a has mass at least
Phi(Phi^-1(a) + r))

    slack = Phi^-1(a) + Phi^-1(b) + r <= 0,

and with equal masses the precision a + b is at most 2 Phi(-r / 2) (``bound``). Any L at least the
true constant keeps the inequality, so with ``g_lipschitz_bound`` (certified: models.lipschitz)
every run must satisfy it: a run with positive slack would be a bug or a wrong argument. With the
measured ``g_lipschitz_local`` (a lower estimate of the constant) the slack says how close the
trained generator comes to the bound. a and b are read from each run's final evaluation
(``on_support`` x ``component_mass``), the samples the verdicts judged.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import norm

from .classics import histories
from .stats import wilson

def bound(r):
    """Largest precision a + b of an L-Lipschitz push-forward of N(0, I) with a = b, r = D' / L."""
    return 2 * norm.cdf(-np.asarray(r, dtype=float) / 2)


def slack(a, b, r):
    """Phi^-1(a) + Phi^-1(b) + r: <= 0 for every generator whose Lipschitz constant is at most D' / r.
    A piece without mass makes the inequality empty (-inf): all samples on one piece is allowed."""
    a, b, r = (np.asarray(v, dtype=float) for v in (a, b, r))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = norm.ppf(a) + norm.ppf(b) + r
    return np.where((a <= 0) | (b <= 0), -np.inf, out)


def tolerance(noise: float, codim: float) -> float:
    """The support tolerance of a noisy curve: noise x the chi radius of its codimension
    (metrics.evaluate.support_tolerance, whose floor of 1% of the data's RMS radius does not bind at
    the noise levels studied; tests/test_theory.py checks that for fig-theory)."""
    from metrics.evaluate import chi_threshold
    return noise * chi_threshold(max(1.0, codim))


def rows(df: pd.DataFrame, n_samples: int) -> pd.DataFrame:
    """One row per complete run: model, seed, gap D, D' = D - 2 t, the masses a <= b on the two
    pieces (of the ``n_samples`` of the final evaluation), ``on_support`` = a + b, and for GANs the
    certified and measured constants with r = D' / L, the slack, and ``slack_lo``, the slack of the
    Wilson 95% lower ends of a and b (> 0: a violation that sampling error does not explain)."""
    past = histories(df)
    out = []
    for _, r in df[df["status"] == "complete"].iterrows():
        final = (past.get(int(r["trial"])) or [{}])[-1]
        if "component_mass" not in final:
            raise ValueError(f"trial {int(r['trial'])} has no final evaluation with component masses")
        mass = final["component_mass"]
        mass = [float(m) for m in (mass.strip("[]").split(",") if isinstance(mass, str) else mass)]
        if len(mass) != 2:
            raise ValueError(f"trial {int(r['trial'])} has {len(mass)} components; the theory check needs 2")
        tol = tolerance(float(r["trait.noise"]), float(r["trait.ambient_dim"]) - float(r["trait.intrinsic_dim"]))
        gap = float(r["trait.component_gap"])
        counts = sorted(final["on_support"] * m * n_samples for m in mass)
        if any(abs(c - round(c)) > 1e-6 for c in counts):
            raise ValueError(f"trial {int(r['trial'])}: its masses are not counts out of n_samples={n_samples}; "
                             "pass the study's train.eval_samples")
        (ka, kb), n = (round(c) for c in counts), n_samples
        a, b = ka / n, kb / n
        lo = [wilson(k, n)[1] for k in (ka, kb)]
        row = {"model": r["model"], "trial": int(r["trial"]), "seed": r["seed"], "gap": gap, "tolerance": tol,
               "gap_eff": gap - 2 * tol, "a": a, "b": b, "on_support": a + b, "balance": a / b if b else 0.0}
        for which in ("bound", "local"):
            L = r.get(f"g_lipschitz_{which}", np.nan)
            row[f"L_{which}"] = L
            row[f"r_{which}"] = row["gap_eff"] / L if L == L else np.nan
            row[f"slack_{which}"] = float(slack(a, b, row[f"r_{which}"])) if L == L else np.nan
            row[f"slack_lo_{which}"] = float(slack(*lo, row[f"r_{which}"])) if L == L else np.nan
        out.append(row)
    return pd.DataFrame(out)


def precision_figure(df: pd.DataFrame, *, n_samples: int, title: str | None = None):
    """Left: each bounded GAN's precision against r = D' / L (certified L), the equal-mass bound
    drawn, colour the balance a / b. Middle: the same against r with the measured L, every GAN.
    Right: precision against the gap for every model; returns (figure, the rows)."""
    table = rows(df, n_samples)
    gans = table[table["L_bound"].notna()]
    bounded = gans[gans["model"].str.contains("_L")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for ax, sub, which in ((axes[0], bounded, "bound"), (axes[1], gans, "local")):
        r = np.linspace(0, max(4.0, float(np.nanmax(sub[f"r_{which}"])) * 1.05), 200)
        ax.plot(r, bound(r), color="black", lw=1.2, label="bound with equal masses: 2 Phi(-r/2)")
        sc = ax.scatter(sub[f"r_{which}"], sub["on_support"], c=sub["balance"], cmap="viridis", vmin=0, vmax=1,
                        s=22, edgecolor="none")
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlabel(f"r = D' / L, L {'certified (product of layer norms x L)' if which == 'bound' else 'measured (largest Jacobian norm)'}")
        ax.set_ylabel("precision (share of samples on the two pieces)")
        ax.set_ylim(-0.02, 1.02)
        over, sure = int((sub[f"slack_{which}"] > 0).sum()), int((sub[f"slack_lo_{which}"] > 0).sum())
        ax.set_title(f"{'GANs with a bounded constant' if which == 'bound' else 'every GAN'}: {len(sub)} runs\n"
                     f"above the mass-aware bound: {over} ({sure} beyond sampling error)", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
    fig.colorbar(sc, ax=axes[1], label="balance a / b (smaller piece's mass over larger's)")
    ax = axes[2]
    kinds = list(dict.fromkeys(table["model"]))
    colours = dict(zip(kinds, plt.get_cmap("tab10")(np.arange(len(kinds)))))
    for kind in kinds:
        sub = table[table["model"] == kind]
        jitter = 1 + 0.03 * (kinds.index(kind) - len(kinds) / 2)
        ax.scatter(sub["gap"] * jitter, sub["on_support"], s=16, color=colours[kind], label=kind, alpha=0.8)
        mean = sub.groupby("gap")["on_support"].mean()
        ax.plot(mean.index * jitter, mean.values, color=colours[kind], lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("gap D between the pieces")
    ax.set_ylabel("precision")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("every model against the gap (lines: means)", fontsize=9)
    ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig, table
