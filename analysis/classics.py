"""The classic synthetic benchmarks (REFERENCES.md section 1) as tables and pictures.

Each function takes a study's tidy table (``analysis.table.load``) and returns ``(figure, table)``
like ``analysis.plots``; the table holds exactly the numbers drawn.

    paper_table(df, metrics=("modes_captured", ...), paper="pacgan_ring")
        the paper's layout: one row per model (GAN, PacGAN2, ...), per metric "mean ± s.e." over the
        complete seeds, the published number beside it ("not verified" where we could not check
        it), and each model's generated samples (its first seed's stored final samples)
    critic_contours(df)      WGAN-GP toy figure: samples over the trained critic's contours on
                             [-3, 3]^2 (each model's first seed's stored critic, model.pt) + the table
    gap_curve(df)            mass off a disconnected support (1 - support_precision) against the
                             number of components, one line per model
    mode_hopping(df)         the mode sets at every evaluation (from each trial's stored history), one
                             raster per seed shaded by each mode's mass, and per-seed hop counts of
                             the captured set (>= 1 good sample) and the held set (>= 1/(2K) of them)

Samples and critics come from the trial folders (``analysis.artifacts``); nothing here trains.
Standard error: sample standard deviation (ddof 1) / sqrt(n) over the complete seeds with a finite
value; NaN for one seed. High-quality share is shown in percent, as the papers do.
"""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.snapshots import draw  # noqa: E402

from .artifacts import load_model, load_samples, real_samples, trial_folder  # noqa: E402

NV = "not verified"
# Published numbers, looked up in the papers. None = we could not verify the number here, shown
# as "not verified": never typed from memory. Keys: paper -> model -> metric.
PUBLISHED: dict[str, dict[str, dict[str, float | None]]] = {
    "pacgan_ring": {m: {"modes_captured": None, "mode_hq_percent": None, "mode_reverse_kl": None}
                    for m in ("GAN", "PacGAN2", "PacGAN3", "PacGAN4")},
    "pacgan_grid": {m: {"modes_captured": None, "mode_hq_percent": None, "mode_reverse_kl": None}
                    for m in ("GAN", "PacGAN2", "PacGAN3", "PacGAN4")},
    "veegan_ring": {"GAN": {"modes_captured": None, "mode_hq_percent": None}},
    "veegan_grid": {"GAN": {"modes_captured": None, "mode_hq_percent": None}},
}
LABELS = {"modes_captured": "modes", "mode_hq_percent": "high quality %", "mode_reverse_kl": "reverse KL",
          "support_precision": "on support", "support_coverage": "support coverage", "gap_mass": "mass in gaps",
          "coverage": "coverage", "precision": "precision", "recall": "recall"}


def derived(df: pd.DataFrame) -> pd.DataFrame:
    """Add the columns the classic tables show: mode_hq_percent, gap_mass (1 - support_precision)."""
    df = df.copy()
    if "mode_hq_fraction" in df:
        df["mode_hq_percent"] = 100 * pd.to_numeric(df["mode_hq_fraction"], errors="coerce")
    if "support_precision" in df:
        df["gap_mass"] = 1 - pd.to_numeric(df["support_precision"], errors="coerce")
    return df


def mean_se(values) -> tuple[float, float, int]:
    """(mean, standard error, n) of the finite values; se is NaN for n < 2."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, 0
    se = float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(x.mean()), se, int(x.size)


def fmt_pm(mean: float, se: float) -> str:
    if not math.isfinite(mean):
        return "–"
    digits = 2 if abs(mean) < 10 else 1
    return f"{mean:.{digits}f} ± {se:.{digits}f}" if math.isfinite(se) else f"{mean:.{digits}f}"


def summary(df: pd.DataFrame, metrics, paper: str | None = None) -> pd.DataFrame:
    """One row per (model, metric): mean, se, n (complete seeds with a finite value), n_total,
    n_diverged, n_failed, ours ("mean ± se") and published (the paper's number or "not verified")."""
    df = derived(df)
    rows = []
    for model, g in df.groupby("model", sort=False):
        ok = g[g["status"] == "complete"]
        for m in metrics:
            mean, se, n = mean_se(ok[m]) if m in ok else (math.nan, math.nan, 0)
            pub = (PUBLISHED.get(paper or "", {}).get(model) or {}).get(m) if paper else None
            known = paper is not None and m in (PUBLISHED.get(paper, {}).get(model) or {})
            rows.append({"model": model, "metric": m, "mean": mean, "se": se, "n": n, "n_total": len(g),
                         "n_diverged": int((g["status"] == "diverged").sum()),
                         "n_failed": int((g["status"] == "failed").sum()), "ours": fmt_pm(mean, se),
                         "published": (f"{pub:g}" if pub is not None else NV) if known else "not in paper"})
    return pd.DataFrame(rows)


def _layout(table: pd.DataFrame, metrics) -> tuple[list[str], list[list[str]]]:
    """The paper's layout: rows = models, per metric an 'ours' and a 'paper' column."""
    models = list(dict.fromkeys(table["model"]))
    header = ["model"] + [f"{LABELS.get(m, m)}{sfx}" for m in metrics for sfx in ("", " (paper)")] + ["seeds"]
    cells = []
    for model in models:
        part = table[table["model"] == model].set_index("metric")
        row = [model]
        for m in metrics:
            row += [part.loc[m, "ours"], part.loc[m, "published"]]
        r = part.iloc[0]
        row.append(f"{int(part['n'].max())}/{int(r['n_total'])}")
        cells.append(row)
    return header, cells


def _first_trials(df: pd.DataFrame) -> list[pd.Series]:
    """Per model, the complete trial with the lowest seed (else any trial)."""
    out = []
    for _, g in df.groupby("model", sort=False):
        ok = g[g["status"] == "complete"]
        out.append((ok if len(ok) else g).sort_values("seed").iloc[0])
    return out


def _failed(ax, row: pd.Series) -> bool:
    """A failed trial stored no samples or weights: say so in its panel (True) instead."""
    if row.get("status") != "failed":
        return False
    ax.text(0.5, 0.5, textwrap.fill(f"failed: {row.get('reason')}", 40), ha="center", va="center", fontsize=7)
    ax.set_title(f"{row['model']} (seed {row['seed']})", fontsize=8)
    ax.axis("off")
    return True


def _table_axes(ax, header, cells):
    ax.axis("off")
    t = ax.table(cellText=cells, colLabels=header, loc="center", cellLoc="center")
    t.auto_set_font_size(False)
    t.set_fontsize(7)
    t.auto_set_column_width(list(range(len(header))))
    t.scale(1, 1.5)


def paper_table(df: pd.DataFrame, metrics=("modes_captured", "mode_hq_percent", "mode_reverse_kl"),
                paper: str | None = None, title: str = ""):
    """The paper's table (models x metrics, mean ± s.e. beside the published numbers) above each
    model's samples (first seed's stored final samples); returns (figure, summary table)."""
    table = summary(df, metrics, paper)
    header, cells = _layout(table, metrics)
    firsts = _first_trials(df)
    n = max(1, len(firsts))
    fig = plt.figure(figsize=(max(9.0, 2.6 * n), 3.2 + 0.35 * len(cells) + 2.8))
    ax = fig.add_axes((0.02, 0.48, 0.96, 0.40))
    _table_axes(ax, header, cells)
    for i, row in enumerate(firsts):
        axs = fig.add_axes((0.04 + i * 0.96 / n, 0.05, 0.96 / n - 0.05, 0.40))
        if _failed(axs, row):
            continue
        folder = trial_folder(row)
        draw(axs, real_samples(folder), load_samples(folder)["fake"], f"{row['model']} (seed {row['seed']})",
             legend=i == 0)
        axs.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=10)
    fig.text(0.01, 0.90, "mean ± standard error over complete seeds; seeds = used/run; "
             "'not verified': the published number could not be checked here", fontsize=7, color="0.3")
    return fig, table


# ---- WGAN-GP toys: critic contours ----------------------------------------------------------------

def critic_grid(module, lim: float = 3.0, n: int = 161) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(xx, yy, critic output) of a loaded K = 1 module on an n x n grid over [-lim, lim]^2; the
    output is None where there is no critic of one 2-D point (a VAE, a packed critic) or it is
    not finite everywhere (a diverged run)."""
    import torch
    grid = np.linspace(-lim, lim, n)
    xx, yy = np.meshgrid(grid, grid)
    critic = getattr(module, "critic", None)
    if critic is None or module.config.get("pack", 1) != 1 or module.data_dim != 2:
        return xx, yy, None
    pts = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32, device=module.device)
    with torch.no_grad():
        c = critic(pts[None])[0].view(-1).float().cpu().numpy()
    return xx, yy, c.reshape(xx.shape) if np.isfinite(c).all() else None


def critic_contours(df: pd.DataFrame, metrics=("modes_captured", "mode_hq_percent", "mode_reverse_kl"),
                    lim: float = 3.0, title: str = ""):
    """Per model (first complete seed): its stored final samples (orange) and real samples (blue)
    over its stored critic's output on a [-lim, lim]^2 grid (the WGAN-GP paper's plots), and the
    metric table. Reads each trial's model.pt and samples.npz; trains nothing."""
    table = summary(df, metrics)
    header, cells = _layout(table, metrics)
    firsts = _first_trials(df)
    n = max(1, len(firsts))
    fig = plt.figure(figsize=(max(10.5, 4.2 * n), 6.2))
    _table_axes(fig.add_axes((0.02, 0.80, 0.96, 0.14)), header, cells)
    for i, row in enumerate(firsts):
        ax = fig.add_axes((0.04 + i * 0.96 / n, 0.05, 0.96 / n - 0.13, 0.70))
        if _failed(ax, row):
            continue
        folder = trial_folder(row)
        module, fake, real = load_model(folder), load_samples(folder)["fake"], real_samples(folder)
        xx, yy, c = critic_grid(module, lim)
        if c is not None:
            cs = ax.contourf(xx, yy, c, levels=20, cmap="coolwarm", alpha=0.8)
            fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.02)
        ax.scatter(real[:, 0], real[:, 1], s=1.5, c="tab:blue", alpha=0.5, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=1.5, c="tab:orange", alpha=0.5, label="generated")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        what = "critic output" if c is not None else "no critic contours"
        loss = f", {module.config['loss']}" if "loss" in module.config else ""
        ax.set_title(f"{row['model']} (seed {row['seed']}{loss}): {what}", fontsize=8)
        ax.legend(fontsize=6, loc="upper right", markerscale=4)
    fig.suptitle(title, fontsize=10)
    return fig, table


# ---- disconnected manifolds -----------------------------------------------------------------------

def gap_curve(df: pd.DataFrame, x: str = "n_components", title: str = ""):
    """Mass off the support (1 - support_precision: the share of samples farther than the support
    tolerance from every component, i.e. in the gaps or beside the pieces) against ``x``, one line
    per model with a bootstrap band (``analysis.plots.curve``); returns (figure, table)."""
    from .plots import curve
    fig, table = curve(derived(df), x, "gap_mass", hue="model", title=textwrap.fill(title, 60, break_on_hyphens=False))
    return fig, table


def component_table(df: pd.DataFrame, metrics=("gap_mass", "support_coverage"), title: str = ""):
    """``paper_table`` for a manifold: mass in the gaps and support coverage per model, with samples."""
    return paper_table(df, metrics, None, title)


# ---- mode hopping -------------------------------------------------------------------------------

def histories(df: pd.DataFrame) -> dict[int, list[dict]]:
    """trial number -> its evaluation history (from the trial's stored result.json)."""
    out = {}
    for _, row in df.iterrows():
        path = Path(str(row["log_dir"])) / "result.json"
        if path.is_file():
            out[int(row["trial"])] = json.loads(path.read_text()).get("history") or []
    return out


def held(entry: dict, share: float = 0.5) -> frozenset | None:
    """The modes that hold at least ``share`` of a uniform share (1 / K) of the high-quality mass at
    one evaluation; None for histories stored before ``mode_mass`` was recorded."""
    mass = entry.get("mode_mass")
    if mass is None:
        return None
    return frozenset(i for i, m in enumerate(mass) if m >= share / len(mass))


def hop_counts(history: list[dict]) -> dict:
    """changes (consecutive evaluations whose captured sets differ), mean captured, modes ever held;
    and the same for the held sets (``held``: where the mass is), NaN where no mass was recorded."""
    sets = [frozenset(h.get("captured") or ()) for h in history]
    changes = sum(a != b for a, b in zip(sets, sets[1:]))
    out = {"n_evals": len(sets), "set_changes": changes,
           "mean_captured": float(np.mean([len(s) for s in sets])) if sets else math.nan,
           "modes_ever_captured": len(set().union(*sets))}
    hs = [held(h) for h in history]
    known = bool(hs) and all(x is not None for x in hs)
    out.update(held_changes=sum(a != b for a, b in zip(hs, hs[1:])) if known else math.nan,
               mean_held=float(np.mean([len(x) for x in hs])) if known else math.nan,
               modes_ever_held=len(set().union(*hs)) if known else math.nan)
    return out


def mode_hopping(df: pd.DataFrame, title: str = ""):
    """One raster per seed: mode index against evaluation step, shaded by the mode's share of the
    high-quality samples of the fixed z batch (black: 2 / K or more; histories without ``mode_mass``:
    black where the mode is captured, >= 1 high-quality sample); returns (figure, one row per seed)."""
    hist = histories(df)
    rows = df[df["trial"].isin(hist)].sort_values(["model", "seed"])
    n = max(1, len(rows))
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.3 + 1.2 * n), squeeze=False)
    out = []
    for ax, (_, row) in zip(axes[:, 0], rows.iterrows()):
        h = hist[int(row["trial"])]
        K = int(h[0].get("n_modes", 0)) if h else 0
        steps = [e["step"] for e in h]
        stats = hop_counts(h)
        by_mass = not math.isnan(stats["mean_held"])
        img = np.zeros((K, len(h)))
        for j, e in enumerate(h):
            if by_mass:
                img[:, j] = np.minimum(np.asarray(e["mode_mass"]) * K / 2, 1.0)
            else:
                img[list(e.get("captured") or []), j] = 1
        width = (steps[1] - steps[0]) if len(steps) > 1 else 1
        ax.imshow(img, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                  extent=(steps[0] - width / 2, steps[-1] + width / 2, K - 0.5, -0.5) if steps else None)
        ax.set_ylabel("mode", fontsize=7)
        line = (f"{row['model']} seed {row['seed']}: {stats['set_changes']} changes of the captured set in "
                f"{stats['n_evals']} evaluations, mean {stats['mean_captured']:.2f} modes captured")
        line += (f"; held (mass >= 1/(2K)): mean {stats['mean_held']:.2f}, {stats['held_changes']} changes, "
                 f"{stats['modes_ever_held']} ever" if by_mass else f", {stats['modes_ever_captured']} ever")
        ax.set_title(line, fontsize=8)
        out.append({"model": row["model"], "seed": row["seed"], "trial": row["trial"], **stats,
                    "final_modes_captured": row.get("modes_captured", math.nan),
                    "mode_hopping": row.get("collapse.mode_hopping", None),
                    "n_hops": row.get("collapse.n_hops", None)})
    axes[-1, 0].set_xlabel("training step")
    by_mass = bool(out) and not math.isnan(out[0]["mean_held"])
    fig.suptitle(title + ("\nshade: the mode's share of the high-quality samples (white 0, black 2/K or more)" if by_mass
                          else "\nblack: the mode is captured (at least one high-quality sample)"), fontsize=10)
    fig.tight_layout()
    return fig, pd.DataFrame(out)
