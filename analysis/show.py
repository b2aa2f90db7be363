"""Draw a distribution: samples, with its modes (3-sigma ellipses) or clean support over them,
and its traits. 2-D as is, 3-D in perspective, more dimensions on the samples' first two
principal axes; samples that are matrices (images, adjacency) as a grid of pictures."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402


def _projection(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Centre and 2 principal axes of ``x`` [n, D]; identity for D = 2."""
    if x.shape[1] == 2:
        return np.zeros(2), np.eye(2), ""
    mean = x.mean(0)
    axes = np.linalg.svd(x - mean, full_matrices=False)[2][:2].T
    return mean, axes, " (first two principal axes)"


def _save(fig, dist, path) -> Path:
    text = "\n".join(f"{k}: {v:.4g}" for k, v in dist.traits.items())
    fig.text(0.67, 0.9, f"traits\n\n{text}", va="top", family="monospace", fontsize=9)
    fig.suptitle("\n".join(textwrap.wrap(repr(dist), 110)), fontsize=8, x=0.02, ha="left")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_images(dist, path: str | Path, *, seed: int = 0, n: int = 16) -> Path:
    """A 4 x 4 grid of samples shown as images (images, adjacency matrices)."""
    x = dist.sample(n, generator=torch.Generator().manual_seed(seed)).numpy()
    x = x.reshape(n, *x.shape[-2:]) if x.ndim > 3 else x
    fig = plt.figure(figsize=(9, 5.5))
    for i in range(n):
        ax = fig.add_axes([0.03 + (i % 4) * 0.15, 0.7 - (i // 4) * 0.21, 0.14, 0.19])
        ax.imshow(x[i], cmap="gray_r" if dist.family == "graphs" else "gray", vmin=0, vmax=1
                  if x[i].min() >= 0 and x[i].max() <= 1 else None, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, dist, path)


def plot_distribution(dist, path: str | Path, *, n: int = 2000, seed: int = 0) -> Path:
    if len(dist.event_shape) > 1:
        return plot_images(dist, path, seed=seed)
    x = dist.sample(n, generator=torch.Generator().manual_seed(seed)).numpy()
    dim = x.shape[1]
    fig = plt.figure(figsize=(9, 5.5))
    three = dim == 3
    ax = fig.add_axes([0.05, 0.08, 0.58, 0.84], projection="3d" if three else None)
    if three:
        ax.scatter(*x.T, s=3, alpha=0.4, label="samples")
    else:
        mean, axes, note = _projection(x)
        proj = lambda v: (np.asarray(v, dtype=np.float64) - mean) @ axes  # noqa: E731
        ax.scatter(*proj(x).T, s=3, alpha=0.4, label="samples")
        ax.set_xlabel("x1" + note)
        ax.set_ylabel("x2")
        ax.set_aspect("equal", adjustable="datalim")
    modes = dist.modes
    if modes is not None:
        c = modes.centres.numpy()
        if three:
            ax.scatter(*c.T, c="k", marker="x", s=30, label="mode centres")
        else:
            ax.scatter(*proj(c).T, c="k", marker="x", s=30, label="mode centres")
        if dim == 2:        # 3-sigma ellipse of each mode from its whitening matrix
            for centre, w in zip(c, modes.whiten.double().numpy()):
                cov = np.linalg.inv(w.T @ w)
                vals, vecs = np.linalg.eigh(cov)
                angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
                ax.add_patch(Ellipse(centre, 6 * np.sqrt(vals[1]), 6 * np.sqrt(vals[0]), angle=angle,
                                     fill=False, lw=0.8, color="k"))
    elif "support_distance" in dist.capabilities and hasattr(dist, "support_points"):
        s = dist.support_points(1500 if three else 4000).numpy()
        if three:
            ax.scatter(*s.T, c="k", s=0.3, label="clean support")
        else:
            ax.scatter(*proj(s).T, c="k", s=0.3, label="clean support")
    ax.legend(loc="upper right", fontsize=8, markerscale=3)
    return _save(fig, dist, path)
