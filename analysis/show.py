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


def _pieces(ax, dist) -> None:
    """The split factor's range as a bar: kept intervals dark, removed gaps light."""
    rotation = dist.params.get("split") == "rotation"
    lo, hi = (0.0, dist.params["rotation_range"]) if rotation else (dist.params["scale_min"], dist.params["scale_max"])
    ax.barh(0, hi - lo, left=lo, color="0.85", height=1)
    for a, b in dist.intervals:
        ax.barh(0, b - a, left=a, color="0.25", height=1)
    ax.set_xlim(lo, hi)
    ax.set_yticks([])
    unit = " (degrees)" if rotation else " (circumradius / half-width)"
    ax.set_xlabel(f"{dist.params.get('split')}{unit}: {len(dist.intervals)} pieces (dark), gaps (light)", fontsize=8)
    ax.tick_params(labelsize=7)


def plot_images(dist, path: str | Path, *, seed: int = 0, n: int = 16) -> Path:
    """A 4 x 4 grid of samples shown as images (images, adjacency matrices)."""
    x = dist.sample(n, generator=torch.Generator().manual_seed(seed)).numpy()
    x = x.reshape(n, *x.shape[-2:]) if x.ndim > 3 else x
    fig = plt.figure(figsize=(9, 5.5))
    intervals = getattr(dist, "intervals", None)
    if intervals:                                    # the split factor's kept pieces and cut gaps
        _pieces(fig.add_axes([0.05, 0.085, 0.55, 0.04]), dist)
    graphs = dist.family == "graphs"
    for i in range(n):
        ax = fig.add_axes([0.03 + (i % 4) * 0.15, 0.72 - (i // 4) * 0.19, 0.14, 0.17])
        if graphs and i >= n - 4:                    # the last row: the first four graphs drawn
            _graph(ax, x[i - (n - 4)])
            continue
        ax.imshow(x[i], cmap="gray_r" if graphs else "gray", vmin=0, vmax=1
                  if x[i].min() >= 0 and x[i].max() <= 1 else None, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    if graphs:
        fig.text(0.03, 0.93, "adjacency matrices (rows 1-3); the first row's graphs drawn (row 4)", fontsize=8)
    return _save(fig, dist, path)


def _graph(ax, adjacency: np.ndarray) -> None:
    """One graph drawn with networkx (spring layout, fixed seed) from its adjacency matrix (a
    node-signal column, if any, dropped)."""
    import networkx as nx
    n = adjacency.shape[0]
    g = nx.from_numpy_array((adjacency[:, :n] > 0.5).astype(int))
    nx.draw_networkx(g, pos=nx.spring_layout(g, seed=0), ax=ax, node_size=12, width=0.5, with_labels=False,
                     node_color="tab:blue", edge_color="0.4")
    ax.text(0.5, -0.06, f"{g.number_of_edges()} edges, {nx.number_connected_components(g)} component(s)",
            transform=ax.transAxes, ha="center", va="top", fontsize=6)
    ax.axis("off")


def plot_distribution(dist, path: str | Path, *, n: int = 2000, seed: int = 0) -> Path:
    if len(dist.event_shape) > 1:
        return plot_images(dist, path, seed=seed)
    x = dist.sample(n, generator=torch.Generator().manual_seed(seed)).numpy()
    dim = x.shape[1]
    fig = plt.figure(figsize=(9, 5.5))
    three = dim == 3
    ax = fig.add_axes([0.09, 0.09, 0.54, 0.8], projection="3d" if three else None)
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
        w = modes.weights.numpy()
        if not three and len(c) <= 32 and w.max() > w.min() * (1 + 1e-6):     # unequal weights: say them
            for centre, weight in zip(proj(c), w):
                ax.annotate(f"{weight:.2f}", centre, xytext=(4, 4), textcoords="offset points", fontsize=7)
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
    fig.legend(*ax.get_legend_handles_labels(), loc="lower left", bbox_to_anchor=(0.66, 0.08), fontsize=8,
               markerscale=3, title="numbers: mode weights" if modes is not None and len(modes.centres) <= 32
               and modes.weights.max() > modes.weights.min() * (1 + 1e-6) else None, title_fontsize=8)
    return _save(fig, dist, path)
