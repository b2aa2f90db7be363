"""The classic synthetic benchmarks (REFERENCES.md section 1) as tables and pictures.

Each function takes a study's tidy table (``analysis.table.load``) and returns ``(figure, table)``
like ``analysis.plots``; the table holds exactly the numbers drawn.

    paper_table(df, metrics=("modes_captured", ...), paper="pacgan_ring")
        the paper's layout: one row per model (GAN, PacGAN2, ...), per metric "mean ± s.e." over the
        complete seeds, the published number beside it ("not in paper" for a metric or model the
        paper's table lacks), and each model's generated samples (its first seed's stored final samples)
    critic_contours(df)      WGAN-GP toy figure: samples over the trained critic's contours on
                             [-3, 3]^2 (each model's first seed's stored critic, model.pt) + the table
    gap_curve(df)            mass in the gaps of a disconnected support (gap_mass) against the
                             number of components, one line per model
    mode_hopping(df)         the mode sets at every evaluation (from each trial's stored history), one
                             raster per seed shaded by each mode's mass, and per-seed hop counts of
                             the captured set (>= 1 good sample) and the held set (>= 1/(2K) of them)

Samples and critics come from the trial folders (``analysis.artifacts``); nothing here trains.
Standard error: sample standard deviation (ddof 1) / sqrt(n) over the complete seeds with a finite
value; NaN for one seed. High-quality share is shown in percent, as the papers do.

Published numbers (``PUBLISHED``) are Table 1 of PacGAN (Lin et al. 2018: mean ± standard error over
10 trials) and Table 1 of VEEGAN (Srivastava et al. 2017: 5 runs, no error bars published), as
REFERENCES.md section 1 gives them, each cell checked against the authors' own table images
(``../shared/references/pacgan_table1.png``, ``veegan_table1.png``). Only the rows of the models the
lab's configs run are kept (GAN, PacGAN2-4; VEEGAN's GAN row), under the configs' model names. They
are shown with the paper's own digits; where both sides have a standard error, ``summary``'s ``z``
is (ours - paper) / sqrt(se_ours² + se_paper²). The two papers' GAN rows come from different
networks and data: compare each only with its own setup.
"""
from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.snapshots import draw  # noqa: E402
from experiments.results import representatives  # noqa: E402
from metrics import registry  # noqa: E402

from .plots import wrap  # noqa: E402
from .artifacts import load_model, load_samples, real_samples, trial_folder, truth  # noqa: E402

NIP = "not in paper"


@dataclass(frozen=True)
class Published:
    """One published cell: the mean, its standard error (None: none published) and the number of
    decimals the paper prints, so that it is shown as printed ("0.70 ± 0.07", "1")."""
    mean: float
    se: float | None = None
    digits: int = 1

    @classmethod
    def parse(cls, cell: str) -> Published:
        """A cell as the paper prints it: "6.3±0.5" or "99.3" (a trailing "%" is dropped)."""
        mean, _, se = cell.rstrip("%").strip().partition("±")
        digits = len(mean.strip().partition(".")[2])
        return cls(float(mean), float(se) if se else None, digits)

    def __str__(self) -> str:
        m = f"{self.mean:.{self.digits}f}"
        return m if self.se is None else f"{m} ± {self.se:.{self.digits}f}"


def _table(columns: dict[str, tuple[str, ...]], rows: dict[str, str]) -> dict[str, dict[str, dict[str, Published]]]:
    """paper -> model -> metric -> Published, from rows of cells printed as in the paper: one
    whitespace-separated cell per (paper, metric) of ``columns``, in that order."""
    keys = [(paper, m) for paper, metrics in columns.items() for m in metrics]
    out: dict[str, dict[str, dict[str, Published]]] = {paper: {} for paper in columns}
    for model, line in rows.items():
        cells = line.split()
        if len(cells) != len(keys):
            raise ValueError(f"{model}: {len(cells)} cells for {len(keys)} columns")
        for (paper, m), cell in zip(keys, cells):
            out[paper].setdefault(model, {})[m] = Published.parse(cell)
    return out


_MODES3 = ("modes_captured", "mode_hq_percent", "mode_reverse_kl")
# PacGAN Table 1 (averaged over 10 trials, shown with the standard error): 2-D ring modes (max 8),
# high-quality samples %, reverse KL; 2-D grid the same (max 25). Its ALI row is not kept (the lab
# runs no ALI; REFERENCES.md section 1 has it).
_PACGAN = _table({"pacgan_ring": _MODES3, "pacgan_grid": _MODES3}, {
    "GAN":     "6.3±0.5 98.2±0.2 0.45±0.09 17.3±0.8 94.8±0.7 0.70±0.07",
    "PacGAN2": "7.9±0.1 95.6±2.0 0.07±0.03 23.8±0.7 91.3±0.8 0.13±0.04",
    "PacGAN3": "7.8±0.1 97.7±0.3 0.10±0.02 24.6±0.4 94.2±0.4 0.06±0.02",
    "PacGAN4": "7.8±0.1 95.9±1.4 0.07±0.02 24.8±0.2 93.6±0.6 0.04±0.01",
})
# VEEGAN Table 1 (5 runs, 2,500 samples, 3 sigma; no error bars): 2-D ring modes (max 8), % high
# quality; 2-D grid the same (max 25). Its ALI, Unrolled GAN and VEEGAN rows and 1200-D columns are
# not kept (the lab runs none of them; REFERENCES.md section 1 has them).
_VEEGAN = _table({"veegan_ring": _MODES3[:2], "veegan_grid": _MODES3[:2]}, {
    "GAN": "1 99.3 3.3 0.5",
})
# Published numbers: paper -> model (the configs' model names) -> metric -> Published. A metric or a
# model missing here is "not in paper".
PUBLISHED: dict[str, dict[str, dict[str, Published]]] = {**_PACGAN, **_VEEGAN}

def derived(df: pd.DataFrame) -> pd.DataFrame:
    """Add the column the classic tables show: mode_hq_percent (the papers' unit)."""
    df = df.copy()
    if "mode_hq_fraction" in df:
        df["mode_hq_percent"] = 100 * pd.to_numeric(df["mode_hq_fraction"], errors="coerce")
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


def z_score(mean: float, se: float, pub: Published | None) -> float:
    """(ours - paper) / sqrt(se_ours² + se_paper²); NaN without both standard errors (or both 0)."""
    if pub is None or pub.se is None or not (math.isfinite(mean) and math.isfinite(se)):
        return math.nan
    scale = math.hypot(se, pub.se)
    return (mean - pub.mean) / scale if scale > 0 else math.nan


def summary(df: pd.DataFrame, metrics, paper: str | None = None) -> pd.DataFrame:
    """One row per (model, metric): mean, se, n (complete seeds with a finite value), n_total,
    n_diverged, n_failed, ours ("mean ± se"), the paper's paper_mean and paper_se (NaN where it has
    none), published (as the paper prints it, or "not in paper") and z (``z_score``)."""
    df = derived(df)
    rows = []
    for model, g in df.groupby("model", sort=False):
        ok = g[g["status"] == "complete"]
        for m in metrics:
            mean, se, n = mean_se(ok[m]) if m in ok else (math.nan, math.nan, 0)
            pub = (PUBLISHED.get(paper, {}).get(model) or {}).get(m) if paper else None
            rows.append({"model": model, "metric": m, "mean": mean, "se": se, "n": n, "n_total": len(g),
                         "n_diverged": int((g["status"] == "diverged").sum()),
                         "n_failed": int((g["status"] == "failed").sum()), "ours": fmt_pm(mean, se),
                         "paper_mean": pub.mean if pub else math.nan,
                         "paper_se": pub.se if pub and pub.se is not None else math.nan,
                         "published": str(pub) if pub else NIP, "z": z_score(mean, se, pub)})
    return pd.DataFrame(rows)


def _layout(table: pd.DataFrame, metrics) -> tuple[list[str], list[list[str]]]:
    """The paper's layout: rows = models, per metric an 'ours' and a 'paper' column."""
    models = list(dict.fromkeys(table["model"]))
    header = ["model"] + [f"{registry.label(m)}{sfx}" for m in metrics for sfx in ("", " (paper)")] + ["seeds"]
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
    firsts = representatives(df)
    n = max(1, len(firsts))
    # heights in inches, top to bottom: title and note, the table, the sample panels
    top, rows, panels = 0.7, 0.3 * (len(cells) + 1) + 0.2, 2.9
    height = top + rows + panels
    fig = plt.figure(figsize=(max(9.0, 2.6 * n), height))
    ax = fig.add_axes((0.02, (panels + 0.1) / height, 0.96, rows / height))
    _table_axes(ax, header, cells)
    for i, row in enumerate(firsts):
        axs = fig.add_axes((0.04 + i * 0.96 / n, 0.3 / height, 0.96 / n - 0.05, (panels - 0.6) / height))
        if _failed(axs, row):
            continue
        folder = trial_folder(row)
        draw(axs, real_samples(folder), load_samples(folder)["fake"], f"{row['model']} (seed {row['seed']})",
             legend=i == 0, truth=truth(folder))
        axs.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=10)
    source = {"pacgan": "PacGAN Table 1, mean ± s.e. of 10 trials",
              "veegan": "VEEGAN Table 1, 5 runs, no error bars"}.get((paper or "").split("_")[0])
    fig.text(0.01, 1 - 0.6 / height, "mean ± standard error over complete seeds; seeds = used/run"
             + (f"; (paper): {source}, as printed" if source else ""), fontsize=7, color="0.3")
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
    metric table. Reads each trial's model.pt and samples.npz; trains nothing. A folder without
    weights (an exported study carries none over 1 MiB) draws the samples without contours."""
    table = summary(df, metrics)
    header, cells = _layout(table, metrics)
    firsts = representatives(df)
    n = max(1, len(firsts))
    fig = plt.figure(figsize=(max(10.5, 4.2 * n), 6.2))
    _table_axes(fig.add_axes((0.02, 0.80, 0.96, 0.14)), header, cells)
    for i, row in enumerate(firsts):
        ax = fig.add_axes((0.04 + i * 0.96 / n, 0.05, 0.96 / n - 0.13, 0.70))
        if _failed(ax, row):
            continue
        folder = trial_folder(row)
        fake, real = load_samples(folder)["fake"], real_samples(folder)
        carried = (folder / "model.pt").is_file()           # an export carries weights up to 1 MiB only
        xx, yy, c = critic_grid(load_model(folder), lim) if carried else (None, None, None)
        if c is not None:
            cs = ax.contourf(xx, yy, c, levels=20, cmap="coolwarm", alpha=0.8)
            fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.02)
        ax.scatter(real[:, 0], real[:, 1], s=1.5, c="tab:blue", alpha=0.5, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=1.5, c="tab:orange", alpha=0.5, label="generated")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        what = "critic output" if c is not None else "no critic contours" + ("" if carried else " (weights not exported)")
        model = json.loads((folder / "config.json").read_text()).get("model", {})
        loss = f", {model['loss']}" if "loss" in model else ""
        ax.set_title(f"{row['model']} (seed {row['seed']}{loss}): {what}", fontsize=8)
        ax.legend(fontsize=6, loc="upper right", markerscale=4)
    fig.suptitle(title, fontsize=10)
    return fig, table


# ---- disconnected manifolds -----------------------------------------------------------------------

def gap_curve(df: pd.DataFrame, x: str = "n_components", title: str = ""):
    """Mass in the gaps between the components (``gap_mass``, metrics.verdicts: bridges, not the
    blur beside the pieces, which is ``blur_mass``) against ``x``, one line per model with a
    bootstrap band (``analysis.plots.curve``); returns (figure, table)."""
    from .plots import curve
    fig, table = curve(derived(df), x, "gap_mass", hue="model", title=wrap(title, 60))
    return fig, table


def component_table(df: pd.DataFrame, metrics=("gap_mass", "blur_mass", "support_coverage"), title: str = ""):
    """``paper_table`` for a manifold: mass in the gaps, blurred and support coverage per model, with samples."""
    return paper_table(df, metrics, None, title)


# ---- mode hopping -------------------------------------------------------------------------------

def histories(df: pd.DataFrame) -> dict[int, list[dict]]:
    """trial number -> its evaluation history (an exported table's ``history`` column, else the
    trial's stored result.json)."""
    if "history" in df:
        return {int(t): h for t, h in zip(df["trial"], df["history"])}
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
                    "hopping": row.get("verdict.hopping", None),
                    "n_hops": row.get("verdict.n_hops", None)})
    axes[-1, 0].set_xlabel("training step")
    by_mass = bool(out) and not math.isnan(out[0]["mean_held"])
    fig.suptitle(title + ("\nshade: the mode's share of the high-quality samples (white 0, black 2/K or more)" if by_mass
                          else "\nblack: the mode is captured (at least one high-quality sample)"), fontsize=10)
    fig.tight_layout()
    return fig, pd.DataFrame(out)
