"""Generated against real samples of one trial, from what its run stored (never re-trained).

The last panel is the trial's final evaluation samples (``samples.npz``) over real samples of
its distribution (``analysis.artifacts``); before it, up to ``panels - 1`` of the snapshots the
run saved during training (``log_dir/samples/step_*.png``, ``train.plots``), evenly spaced. A
trial folder without ``samples.npz`` (a study run before trials stored them) is a ValueError.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.snapshots import draw  # noqa: E402
from experiments.sweep_config import key_name  # noqa: E402
from metrics import registry  # noqa: E402

from .artifacts import load_samples, real_samples, trial_folder, truth  # noqa: E402

HEADLINE = ("modes_captured", "mode_hq_fraction", "precision", "coverage", "support_precision", "gap_mass",
            "blur_mass", "manifold_precision", "residual_median", "connected_fake", "mmd2_degree_rbf_0.1")


def _snapshots(folder: Path) -> list[Path]:
    return sorted(folder.glob("samples/step_*.png"))


def _step(shot: Path) -> int:
    return int(shot.stem.split("_")[-1])


def samples(df: pd.DataFrame, trial: int, out: str | Path, *, panels: int = 4) -> Path:
    """Write a PNG of trial ``trial``'s generated-against-real samples to ``out``; returns its path."""
    rows = df[df["trial"] == trial]
    if rows.empty:
        raise ValueError(f"--trial {trial} is not a done trial of this study; expected one of "
                         f"{df['trial'].min()}..{df['trial'].max()}")
    row = rows.iloc[0]
    folder = trial_folder(row)
    final = load_samples(folder)
    shots = [s for s in _snapshots(folder) if _step(s) < final["step"]]
    pick = [shots[int(round(i))] for i in np.linspace(0, len(shots) - 1, min(panels - 1, len(shots)))] if shots else []
    pick = list(dict.fromkeys(pick))
    wide = np.ndim(final["fake"]) >= 3                             # picture grids need room
    fig, axes = plt.subplots(1, len(pick) + 1, figsize=((5.5 if wide else 3.2) * (len(pick) + 1), 3.6),
                             squeeze=False)
    for ax, shot in zip(axes[0], pick):
        ax.imshow(mpimg.imread(shot))
        ax.axis("off")
    draw(axes[0, -1], real_samples(folder), final["fake"], f"final, step {final['step']}", truth=truth(folder))
    metrics = ", ".join(f"{registry.label(m)} {row[m]:.3g}" for m in HEADLINE if m in row and pd.notna(row[m]))
    outcome = row.get("verdict.outcome")
    verdict = f"; verdict: {outcome.replace('_', ' ')}" if isinstance(outcome, str) else ""
    width = int(fig.get_figwidth() * 14)                          # characters that fit at size 8
    text = "\n".join(textwrap.fill(line, width) for line in (f"trial {trial}: {key_name(row['key'])}",
                                                              f"{row['status']}{verdict}; {metrics}"))
    fig.suptitle(text, fontsize=8)
    lines = text.count("\n") + 1
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.15 * lines / fig.get_figheight()))   # ~0.15 inch a title line
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
