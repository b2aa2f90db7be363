"""Pictures of generated against real samples: points in 2-D as they are, vectors of more
dimensions on the real samples' first two principal axes, and images or graphs (samples of shape
[n, H, W] or [n, 1, H, W]; a graph is its adjacency matrix) as a grid of generated pictures above
a row of real ones."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def draw(ax, real: np.ndarray, fake: np.ndarray, title: str = "", legend: bool = True,
         truth: dict | None = None) -> None:
    """Draw ``fake`` over ``real`` ([n, ...] arrays, flattened to rows; non-finite rows dropped)
    on ``ax``: 2-D as is, more dimensions on the real samples' first two principal axes. The view
    holds 99% of the real and of all samples (stray generated mass is not clipped away); how many
    generated samples still fall outside it (non-finite ones included) is said in the title.
    ``truth`` (``analysis.artifacts.truth``): mode centres or clean-support points drawn over them."""
    if real.ndim >= 3:                               # images, or graphs as adjacency matrices
        return mosaic(ax, real, fake, title)
    real, fake = real.reshape(len(real), -1), fake.reshape(len(fake), -1)
    n_fake = len(fake)
    real = real[np.isfinite(real).all(1)]
    fake = fake[np.isfinite(fake).all(1)]
    if real.shape[1] > 2:
        mean = real.mean(0)
        axes = np.linalg.svd(real - mean, full_matrices=False)[2][:2].T
        real, fake = (real - mean) @ axes, (fake - mean) @ axes
    ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.35, c="tab:blue", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, alpha=0.35, c="tab:red", label="generated")
    if truth and "modes" in truth:                   # the ground truth over the samples (2-D only)
        ax.scatter(*np.asarray(truth["modes"]).T, marker="x", s=25, c="k", lw=1, label="modes")
    elif truth and "support" in truth:
        ax.scatter(*np.asarray(truth["support"]).T, s=0.05, c="k", alpha=0.35, label="support")
    both = np.concatenate([real, fake]) if len(fake) else real
    lo = np.minimum(np.percentile(real, 0.5, axis=0), np.percentile(both, 0.5, axis=0))
    hi = np.maximum(np.percentile(real, 99.5, axis=0), np.percentile(both, 99.5, axis=0))
    pad = 0.15 * (hi - lo).max()
    lo, hi = lo - pad, hi + pad
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    if legend:
        ax.legend(loc="best", fontsize=7, markerscale=3)
    outside = int((~((fake >= lo) & (fake <= hi)).all(1)).sum()) + (n_fake - len(fake))
    ax.set_title(title + (f"\n{outside} of {n_fake} generated outside the view" if outside else ""), fontsize=9)


def mosaic(ax, real: np.ndarray, fake: np.ndarray, title: str = "", cols: int = 8, rows: int = 3) -> None:
    """``rows`` x ``cols`` generated pictures above one row of real ones, on one ``ax``: images in
    grey (0 black, 1 white, as ``learnlab show`` draws them), square 0/1 matrices (adjacency) with
    1 black; grey between the pictures, non-finite pixels red."""
    real, fake = real.reshape(len(real), *real.shape[-2:]), fake.reshape(len(fake), *fake.shape[-2:])
    h, w = real.shape[1:]
    canvas = np.full(((rows + 1) * (h + 1) + 1, cols * (w + 1) - 1), np.nan)
    for i, img in enumerate(list(fake[:rows * cols]) + [None] * max(0, rows * cols - len(fake)) + list(real[:cols])):
        if img is None:
            continue
        r, c = divmod(i, cols)
        top = r * (h + 1) + (2 if r == rows else 0)          # a gap above the real row
        canvas[top:top + h, c * (w + 1):c * (w + 1) + w] = np.where(np.isfinite(img), np.clip(img, 0, 1), -1)
    square = h == w and np.isin(real[np.isfinite(real)], (0.0, 1.0)).all()   # adjacency matrices
    cmap = plt.get_cmap("gray_r" if square else "gray").with_extremes(under="red", bad="0.6")
    ax.imshow(canvas, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel("real (last row)", fontsize=7)
    ax.set_title(title + ("\n" if title else "") + f"generated ({min(len(fake), rows * cols)} of {len(fake)})",
                 fontsize=9)


def scatter_figure(real: np.ndarray, fake: np.ndarray, title: str = ""):
    """A matplotlib figure of ``fake`` over ``real`` (``draw`` on one axis)."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8) if real.ndim >= 3 else (4.5, 4.5))
    draw(ax, real, fake, title)
    fig.tight_layout()
    return fig


def save_scatter(path: str | Path, real: np.ndarray, fake: np.ndarray, title: str = "", logger=None,
                 step: int = 0) -> Path:
    """Write the picture to ``path``; with a TensorBoard ``logger``, also as its image ``samples`` at ``step``."""
    fig = scatter_figure(real, fake, title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    if logger is not None:                   # the PNG just written, not a second rendering
        import matplotlib.image as mpimg
        logger.experiment.add_image("samples", mpimg.imread(path)[..., :3], global_step=step, dataformats="HWC")
    return path
