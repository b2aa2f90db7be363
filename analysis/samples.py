"""Generated against real samples of one trial, from the snapshots its run saved.

Each trial's ``log_dir/samples/step_*.png`` is a scatter of generated over real samples at an
evaluation step (``experiments.snapshots``). The figure shows up to ``panels`` of them, evenly
spaced over training and always the last, under the trial's key, status and headline metrics.
A trial run without snapshots (``train.plots: false``, or a log folder from another machine)
has no trained weights stored, so it is re-run once from its config with snapshots on, into
``log_dir/rerun`` (same seed; on CPU the same run) and the figure says so.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HEADLINE = ("modes_captured", "mode_hq_fraction", "precision", "coverage", "support_precision")


def _snapshots(folder: Path) -> list[Path]:
    return sorted(folder.glob("samples/step_*.png"))


def _rerun(log_dir: Path, config: dict | None) -> Path:
    from experiments.train import run
    if config is None:
        path = log_dir / "config.json"
        if not path.is_file():
            raise ValueError(f"trial folder {log_dir} has no snapshots and no config.json to re-run it from")
        config = json.loads(path.read_text())
    cfg = copy.deepcopy(config)
    cfg["train"].update(plots=True, tensorboard=False)
    out = log_dir / "rerun"
    run(cfg, out)
    return out


def _same(row: pd.Series, folder: Path) -> str:
    """Whether the re-run reproduced the stored final metrics."""
    metrics = json.loads((folder / "result.json").read_text()).get("metrics") or {}
    diff = [m for m in HEADLINE if m in metrics and m in row and pd.notna(row[m])
            and not np.isclose(metrics[m], row[m], rtol=1e-6, atol=1e-9)]
    return "reproduces the stored metrics" if not diff else f"differs from the stored run in {', '.join(diff)}"


def samples(df: pd.DataFrame, trial: int, out: str | Path, *, rerun: bool = True, panels: int = 4,
            config: dict | None = None) -> Path:
    """Write a PNG of trial ``trial``'s generated-against-real snapshots to ``out``; returns its path."""
    rows = df[df["trial"] == trial]
    if rows.empty:
        raise ValueError(f"--trial {trial} is not a done trial of this study; expected one of "
                         f"{df['trial'].min()}..{df['trial'].max()}")
    row = rows.iloc[0]
    log_dir = Path(str(row["log_dir"]))
    shots, note = _snapshots(log_dir), ""
    if not shots and not (log_dir / "rerun" / "result.json").is_file():
        if not rerun:
            raise ValueError(f"trial {trial} saved no sample snapshots in {log_dir}/samples (plots off); "
                             "drop --no-rerun to re-run it with snapshots")
        _rerun(log_dir, config)
    if not shots:
        shots, note = _snapshots(log_dir / "rerun"), " (re-run with snapshots; " + _same(row, log_dir / "rerun") + ")"
    if not shots:
        raise ValueError(f"trial {trial}: the re-run saved no snapshots either ({row['status']}: {row['reason']})")
    pick = sorted({int(round(i)) for i in np.linspace(0, len(shots) - 1, min(panels, len(shots)))})
    fig, axes = plt.subplots(1, len(pick), figsize=(3.2 * len(pick), 3.6), squeeze=False)
    for ax, i in zip(axes[0], pick):
        ax.imshow(mpimg.imread(shots[i]))
        ax.axis("off")
    metrics = ", ".join(f"{m}={row[m]:.3g}" for m in HEADLINE if m in row and pd.notna(row[m]))
    fig.suptitle(f"trial {trial}: {row['key']}\n{row['status']}{note}; {metrics}", fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
