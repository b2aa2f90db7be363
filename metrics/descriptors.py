"""Model-free descriptors of a data set: numbers computed from its samples alone (never the
knobs that made them), for predicting how hard it is to learn before training anything.

    describe(x)                  # x: points [n, d], images [n, (1,) H, W] or graphs [n, N, N]
    describe_intervals(x)        # the same over bootstrap subsamples: mean and 95% interval

Every descriptor is computed on a subsample of ``SUBSAMPLE`` distinct points (seeded) of the
data's *embedding*: points as they are; images as pixels, by a fixed Gaussian random projection
(seed 0) to ``IMAGE_DIM`` dimensions when they have more; graphs as their sorted degree sequence
and sorted normalised-Laplacian spectrum (a labelling-free statistic).

The data's own scale (``own_scale``): ``SCALE_MARGIN`` x log2(m)^(1/d) x the median edge of the
minimum spanning tree of its m points, d their intrinsic dimension by MLE: 1.5 times the longest
tree edge expected inside one piece of dimension d. Tree edges shorter than it link points; the
linked groups (single linkage, the same as the H0 bars of a Rips filtration alive at that scale)
are the data's clusters, those holding at least ``MIN_CLUSTER`` of the points its components.
At that scale:

| name | what | mirrors the knob |
|---|---|---|
| intrinsic_dim_twonn | TwoNN (Facco et al. 2017): d = n / sum log(r2 / r1) | intrinsic ``dim`` |
| intrinsic_dim_mle | Levina-Bickel MLE over k = 10 neighbours, averaged as MacKay-Ghahramani | intrinsic ``dim`` |
| spacing | median edge of the subsample's minimum spanning tree: how far apart its points lie | size / density |
| scale | the data's own scale (above) | |
| components | clusters holding >= 1% of the points | ``n_modes`` (separated), ``n_components`` |
| loops | H1 bars (Rips, gudhi) born below the scale and alive at twice it | a circle: 1, arcs: 0 |
| separation | smallest distance between component centres over their within-component std | ``min_separation`` trait |
| imbalance | largest component's share over the smallest's | ``imbalance`` |
| spectral_gap | 2nd smallest eigenvalue of the normalised Laplacian of the symmetric 10-NN graph | connectedness |
| density_range | 10th-90th percentile range of the k-NN log density (k = 10), nats | flat (uniform) or peaked (Gaussian) |
| noise_thickness | RMS residual per normal direction of local quadratic fits to 50 neighbours (median) | ``noise`` of a curve |
| curvature | RMS curvature (1 / length) of local quadratic fits to 50 neighbours, noise removed | 1 / ``radius`` |

``separation`` and ``imbalance`` are NaN with fewer than two components; ``curvature`` is 0 where
the data fill their space at its scale (``local_geometry`` says how), NaN where their local dimension
is above ``MAX_CURVED_DIM`` (too many quadratic terms for 50 neighbours). Nothing here needs
torch or a model; bad input (non-finite values, too few distinct samples, a shape that is none
of the three) is one ValueError line.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist, squareform

SUBSAMPLE = 1000
EDGE_BUDGET = 30_000
IMAGE_DIM = 64
SCALE_MARGIN = 1.5
MIN_CLUSTER = 0.01
MIN_SAMPLES = 50
EIGEN_GAP = 4.0
MAX_CURVED_DIM = 5
NAMES = ("n_samples", "ambient_dim", "intrinsic_dim_twonn", "intrinsic_dim_mle", "spacing", "scale", "components",
         "loops", "separation", "imbalance", "spectral_gap", "density_range", "noise_thickness", "curvature")
UNDEFINED = {"separation": "fewer than two components", "imbalance": "fewer than two components",
             "curvature": f"local dimension above {MAX_CURVED_DIM}"}     # why a descriptor is NaN


def embed(x) -> tuple[np.ndarray, str]:
    """(points [n, d] float64, how they were made) of a data set given as points, images or graphs."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return x, "points"
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"data of shape {tuple(x.shape)} is not allowed; expected points [n, d], images "
                         "[n, H, W] or [n, 1, H, W], or graphs [n, N, N]")
    n, h, w = x.shape
    square = h == w and np.isfinite(x).all()
    if square and np.isin(x, (0.0, 1.0)).all() and np.allclose(x, x.transpose(0, 2, 1)) \
            and not x[:, np.arange(h), np.arange(h)].any():
        deg = x.sum(2)
        with np.errstate(divide="ignore"):
            inv = np.where(deg > 0, 1 / np.sqrt(deg), 0.0)
        lap = np.eye(h) - inv[:, :, None] * x * inv[:, None, :]
        return np.concatenate([np.sort(deg, 1), np.linalg.eigvalsh(lap)], 1), "graphs: sorted degrees + spectrum"
    flat = x.reshape(n, -1)
    if flat.shape[1] <= IMAGE_DIM:
        return flat, "images: pixels"
    proj = np.random.default_rng(0).normal(size=(flat.shape[1], IMAGE_DIM)) / math.sqrt(IMAGE_DIM)
    return flat @ proj, f"images: pixels, random projection to {IMAGE_DIM}"


def twonn(x: np.ndarray) -> float:
    """TwoNN intrinsic dimension (maximum likelihood form) of distinct points ``x``."""
    d, _ = cKDTree(x).query(x, k=3)
    mu = d[:, 2] / d[:, 1]
    mu = mu[np.isfinite(mu) & (mu > 1)]
    return float(len(mu) / np.log(mu).sum())


def mle(x: np.ndarray, k: int = 10) -> float:
    """Levina-Bickel intrinsic dimension over ``k`` neighbours, pooled by averaging the inverse."""
    d, _ = cKDTree(x).query(x, k=k + 1)
    d = d[:, 1:]
    logs = np.log(d[:, -1:] / d[:, :-1])                     # log(T_k / T_j), j < k
    inv = logs.sum(1) / (k - 2)                              # the unbiased form's inverse
    return float(1 / inv[np.isfinite(inv) & (inv > 0)].mean())


def density_range(x: np.ndarray, dim: float, k: int = 10) -> float:
    """How peaked the density of points ``x`` of intrinsic dimension ``dim`` is: the 10th-90th
    percentile range (nats) of the k-NN log density estimate -d log r_k over the points. A flat
    density reads the estimate's own sampling spread, log(q90 / q10) of Gamma(k) = 0.83 at k = 10
    (measured: uniform on a segment 0.83, a square 0.79, a 5-D cube 1.21, its faces adding); a
    peaked one more (a standard Gaussian 1.7 / 2.0 / 2.9 in 1 / 2 / 5 dimensions; exact 1.3 /
    2.2 / 3.8). Points spread evenly along a curve read flat too: it sees the density's profile,
    not whether it fills its space."""
    r = cKDTree(x).query(x, k=k + 1)[0][:, -1]
    log_density = -max(dim, 1.0) * np.log(r)
    return float(np.quantile(log_density, 0.9) - np.quantile(log_density, 0.1))


def distinct(x: np.ndarray) -> np.ndarray:
    """The distinct rows of x in their first order (duplicates make distances 0; keeping the order
    lets one seed pick the same samples whatever their coordinates)."""
    return x[np.sort(np.unique(x, axis=0, return_index=True)[1])]


def own_scale(x: np.ndarray, dim: float | None = None) -> tuple[float, np.ndarray]:
    """(the data's own scale, cluster label of each point), for points ``x`` [m, D] of intrinsic
    dimension ``dim`` (default: ``mle(x)``; below 1 read as 1). Inside one piece of dimension d
    sampled uniformly, the longest tree edge is about log2(m)^(1/d) medians (the connectivity
    radius, Penrose 1997: measured 12 / 2.9 / 2.2 / 1.8 / 1.5 at d = 1 / 2 / 3 / 5 / 8, m = 1000,
    against log2(1000)^(1/d) = 10 / 3.2 / 2.2 / 1.8 / 1.3); the scale is ``SCALE_MARGIN`` (1.5)
    times that. At d = 1 and m = 1000 that is 15 medians, the fixed factor this replaced, which
    merged separated pieces of higher dimension (16 modes 8 stds apart in 5 or 8 dimensions, the
    checkerboard's 8 squares read as one piece). MLE over 10 neighbours, not TwoNN, sets d: a thin
    noisy curve reads 1 at that scale (TwoNN 1.4: its closest pairs see the noise), and a 2-D
    factor would cut it. The median ignores the gap edges while they are fewer than half the
    tree's (up to hundreds of components). Points joined by tree edges shorter than the scale form a
    cluster (single linkage, the H0 bars of a Rips filtration alive at that scale)."""
    dim = mle(x) if dim is None else dim
    tree = minimum_spanning_tree(squareform(pdist(x))).tocoo()
    scale = scale_factor(len(x), dim) * float(np.median(tree.data))
    keep = tree.data <= scale
    graph = coo_matrix((np.ones(keep.sum()), (tree.row[keep], tree.col[keep])), shape=(len(x), len(x)))
    return scale, connected_components(graph, directed=False)[1]


def scale_factor(m: int, dim: float) -> float:
    """The data's own scale over its spacing (``own_scale``) for m points of intrinsic dimension dim."""
    return SCALE_MARGIN * math.log2(m) ** (1 / max(dim, 1.0))


def loops(x: np.ndarray, scale: float) -> int:
    """H1 bars of the Rips filtration (gudhi) born below ``scale`` and alive at twice it: the loops
    the data keeps at its own scale. The filtration stops at 2 x scale; where that holds more than
    ``EDGE_BUDGET`` edges (high dimensions, where every point is near every other), it runs on an
    evenly thinned subset that fits the budget."""
    import gudhi
    n_edges = len(cKDTree(x).query_pairs(2 * scale, output_type="ndarray"))
    if n_edges > EDGE_BUDGET:
        x = x[:max(20, int(len(x) * math.sqrt(EDGE_BUDGET / n_edges)))]
    tree = gudhi.RipsComplex(points=x, max_edge_length=2 * scale).create_simplex_tree(max_dimension=2)
    tree.compute_persistence()
    bars = tree.persistence_intervals_in_dimension(1)
    return int(np.sum((bars[:, 0] < scale) & ~np.isfinite(bars[:, 1]))) if len(bars) else 0


def spectral_gap(x: np.ndarray, k: int = 10) -> float:
    """Second smallest eigenvalue of the normalised Laplacian of the symmetric k-NN graph."""
    _, idx = cKDTree(x).query(x, k=k + 1)
    n = len(x)
    a = np.zeros((n, n))
    a[np.repeat(np.arange(n), k), idx[:, 1:].ravel()] = 1.0
    a = np.maximum(a, a.T)
    inv = 1 / np.sqrt(a.sum(1))
    return max(0.0, float(np.linalg.eigvalsh(np.eye(n) - inv[:, None] * a * inv[None, :])[1]))   # no -1e-16


def local_geometry(x: np.ndarray, k: int = 50) -> tuple[float, float]:
    """(noise thickness, curvature) of the support, from local fits to k neighbourhoods.

    The local dimension m is where the mean spectrum of the k-neighbourhoods' PCA drops most (a
    ratio above ``EIGEN_GAP``). Around each point, the normal coordinates are fitted by least
    squares on a quadratic in its m tangent coordinates, over the k of its 2k neighbours nearest
    in the tangent directions (a slab, so the ball's edge does not cut the noise into a false
    bend). Noise thickness: the RMS residual per normal direction (median over points), the
    ``noise`` of a curve or surface in any ambient dimension, 0 for data on a flat subspace.
    Curvature (1 / length): the Hessians' squared Frobenius norm, less its sampling variance (the
    noise's share), averaged over points and divided by m; 1 / r for a circle or a sphere of
    radius r, 0 for a line or a flat subspace. Noise leaves a floor of about noise / h^2 (h: a
    neighbourhood's half-length). Without a drop of ``EIGEN_GAP`` the data fill their space at this
    scale (a Gaussian mode, a curve whose noise is not small against its 50-point stretch): the
    curvature is 0 and the thickness is the RMS spread off each neighbourhood's main direction per
    axis: the noise of a noisy curve, the size of a neighbourhood of a mode that fills its space.
    Above ``MAX_CURVED_DIM`` local dimensions (too many quadratic terms for k points) the thickness
    comes from the neighbourhoods' spectrum beyond the m-th value and the curvature is NaN. The
    trace of the spectrum counts every normal axis, also where the ambient dimension exceeds k.
    Measured on 1,000 points: a circle's or spiral's noise (0.001-0.04) within 5% in 2-128
    dimensions; bends tighter than a neighbourhood read as thickness (wavy ring, 6 waves of
    amplitude 0.4, noise 0.02: 0.12)."""
    n, d = x.shape
    k = min(k, n // 2)
    _, idx = cKDTree(x).query(x, k=2 * k)
    centre = x[idx[:, :k]].mean(1, keepdims=True)
    _, s, vt = np.linalg.svd(x[idx[:, :k]] - centre, full_matrices=False)
    lam = (s[:, :k - 1] ** 2).mean(0)                         # a centred neighbourhood has rank <= k - 1
    gaps = np.log(lam[:-1] / np.maximum(lam[1:], lam[0] * 1e-12))
    if not len(gaps):                                         # 1-D data
        return float(np.median(s[:, 0]) / math.sqrt(k)), 0.0
    fills = gaps.max() <= math.log(EIGEN_GAP)
    m = 1 if fills else int(np.argmax(gaps)) + 1
    if fills or m > MAX_CURVED_DIM:                           # linear: the trace beyond m covers every normal axis
        normal = ((s ** 2).sum(1) - (s[:, :m] ** 2).sum(1)) / ((k - 1) * (d - m))
        return float(np.sqrt(np.median(normal))), 0.0 if fills else math.nan
    cand = x[idx] - centre
    t = cand @ vt[:, :m].transpose(0, 2, 1)                  # tangent coordinates [n, 2k, m]
    keep = np.argsort((t ** 2).sum(2), 1)[:, :k, None]
    t = np.take_along_axis(t, keep, 1)
    kept = np.take_along_axis(cand, keep, 1)                 # [n, k, d]
    i, j = np.triu_indices(m)
    X = np.concatenate([np.ones((n, k, 1)), t, t[:, :, i] * t[:, :, j]], 2)
    inv = np.linalg.inv(X.transpose(0, 2, 1) @ X)
    tan = vt[:, :m]                                          # [n, m, d]
    w = kept - (kept @ tan.transpose(0, 2, 1)) @ tan         # normal components, in ambient axes [n, k, d]
    coef = inv @ X.transpose(0, 2, 1) @ w                     # [n, p, d]
    s2 = ((w - X @ coef) ** 2).sum((1, 2)) / ((k - X.shape[2]) * (d - m))   # residual variance per normal axis
    q = slice(1 + m, X.shape[2])                              # the quadratic terms: H_ii = 2c, H_ij = c twice
    unit = np.where(i == j, 4.0, 2.0)
    square = (coef[:, q] ** 2 * unit[:, None]).sum((1, 2))
    noise = (np.diagonal(inv, axis1=1, axis2=2)[:, q] * unit).sum(1) * s2 * (d - m)
    return float(np.sqrt(np.median(s2))), 0.0 if fills else math.sqrt(max(0.0, float((square - noise).mean()) / m))


def describe(x, *, seed: int = 0, n_sub: int = SUBSAMPLE) -> dict[str, float]:
    """Every descriptor (module docstring) of the data set ``x``, on a seeded subsample. BLAS runs
    on one thread here: its matrices are small, and with the cores busy (a sweep beside it) a
    second BLAS thread made the same call 6x slower (measured: 7.7 s against 1.2 s)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        return _describe(x, seed, n_sub)


def _describe(x, seed: int, n_sub: int) -> dict[str, float]:
    pts, _ = embed(x)
    if not np.isfinite(pts).all():
        bad = int((~np.isfinite(pts)).any(1).sum())
        raise ValueError(f"data: {bad} of {len(pts)} samples have non-finite values; expected finite numbers")
    pts = distinct(pts)
    if len(pts) < MIN_SAMPLES:
        raise ValueError(f"data: {len(pts)} distinct samples are too few; expected at least {MIN_SAMPLES}")
    rng = np.random.default_rng(seed)
    sub = pts[rng.choice(len(pts), min(n_sub, len(pts)), replace=False)]
    dim = mle(sub)
    scale, labels = own_scale(sub, dim)
    counts = np.bincount(labels)
    big = np.flatnonzero(counts >= max(2, MIN_CLUSTER * len(sub)))
    out = {"n_samples": float(len(pts)), "ambient_dim": float(sub.shape[1]),
           "intrinsic_dim_twonn": twonn(sub), "intrinsic_dim_mle": dim, "scale": scale,
           "spacing": scale / scale_factor(len(sub), dim),
           "components": float(len(big)), "loops": float(loops(sub, scale)),
           "separation": math.nan, "imbalance": math.nan, "spectral_gap": spectral_gap(sub),
           "density_range": density_range(sub, dim)}
    if len(big) > 1:
        centres = np.stack([sub[labels == c].mean(0) for c in big])
        spread = np.array([sub[labels == c].var(0).mean() for c in big])
        dist = np.linalg.norm(centres[:, None] - centres[None], axis=2)
        pooled = np.sqrt((spread[:, None] + spread[None]) / 2)
        np.fill_diagonal(dist, np.inf)
        out["separation"] = float((dist / pooled).min())
        out["imbalance"] = float(counts[big].max() / counts[big].min())
    out["noise_thickness"], out["curvature"] = local_geometry(sub)
    return {name: out[name] for name in NAMES}


def describe_intervals(x, *, n_boot: int = 8, seed: int = 0, n_sub: int = SUBSAMPLE) -> dict[str, tuple]:
    """name -> (mean, 2.5th, 97.5th percentile) of each descriptor over ``n_boot`` subsamples of
    ``n_sub`` points, or half the data when it has fewer than 2 x n_sub (subsamples must differ)."""
    n_sub = min(n_sub, max(MIN_SAMPLES, len(x) // 2))
    runs = [describe(x, seed=seed + b, n_sub=n_sub) for b in range(n_boot)]
    out = {}
    for name in NAMES:
        v = np.array([r[name] for r in runs], dtype=float)
        v = v[np.isfinite(v)]
        out[name] = (float(v.mean()), *map(float, np.percentile(v, [2.5, 97.5]))) if len(v) else (math.nan,) * 3
    return out
