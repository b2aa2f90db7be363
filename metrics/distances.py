"""Two-sample distances: MMD^2, energy distance, sliced Wasserstein (REFERENCES §3).

All take x [n, D] and y [m, D] (finite, one device) and return a float. The pairwise sums run
in chunks of ``chunk`` elements from float64 matmuls of centred points (``metrics.pairwise``).

mmd                unbiased MMD^2 (diagonal terms removed; can go slightly negative):
                   mean_{i!=i'} k(x_i, x_i') + mean_{j!=j'} k(y_j, y_j') - 2 mean_{i,j} k(x_i, y_j)
                   with k the average of RBF kernels exp(-|a - b|^2 / (2 s^2)) over the bandwidths
                   s = s0 * (1/4, 1/2, 1, 2, 4), s0 = median_bandwidth(x and y pooled): the median
                   pairwise distance (symmetric in x and y, so the estimator stays unbiased under
                   the null). Pass ``bandwidths`` to hold the kernel fixed across comparisons;
                   ``evaluate`` takes s0 from separate true samples.
energy_distance    2 E|x - y| - E|x - x'| - E|y - y'| with the within-set means over i != i'
                   (unbiased; can go slightly negative), in the units of the data.
sliced_wasserstein SW_p = (mean over directions theta of W_p^p(theta.x, theta.y))^(1/p), with
                   ``n_projections`` directions uniform on the sphere and the exact 1-D W_p
                   between the two empirical measures (any n, m).
"""
from __future__ import annotations

import torch

from . import checks
from .pairwise import CHUNK, Prepared, cpu_workers, for_chunks, prepare, rows_per_chunk, sq_block

SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def median_bandwidth(x: torch.Tensor, max_points: int = 1000) -> float:
    """Median pairwise distance within ``x`` over an evenly strided subset of at most
    ``max_points`` points (deterministic): the base bandwidth s0 of ``mmd``."""
    checks.points("x", x, min_rows=2)
    sub = x[:: max(1, -(-x.shape[0] // max_points))].double()
    d = torch.cdist(sub, sub)
    i, j = torch.triu_indices(len(sub), len(sub), offset=1, device=x.device)
    s0 = d[i, j].median().item()
    if s0 <= 0:
        raise ValueError(f"x has median pairwise distance {s0}, so the default bandwidth is not "
                         "allowed; pass bandwidths= explicitly")
    return s0


@cpu_workers
def mmd(x: torch.Tensor, y: torch.Tensor, *, bandwidths: list[float] | None = None,
        chunk: int = CHUNK) -> float:
    """Unbiased MMD^2 with the average of RBF kernels at ``bandwidths`` (see module docstring)."""
    x, y = _pair(x, y)
    if bandwidths is None:
        bandwidths = [median_bandwidth(torch.cat([x, y])) * s for s in SCALES]
    if not isinstance(bandwidths, (list, tuple)) or not bandwidths:
        raise ValueError(f"bandwidths={bandwidths!r} is not allowed; expected a non-empty list of numbers > 0")
    widths = sorted((checks.positive("bandwidths", s) for s in bandwidths), reverse=True)

    def kernel(sq):
        total, e, prev = 0.0, None, None
        for s in widths:                          # widest first
            if prev == 2 * s:                     # half the bandwidth: exp(-4a) = exp(-a)^4
                e = e.square_().square_()
            else:
                e = torch.exp(sq * (-0.5 / (s * s)))
            total = total + e.sum(dtype=torch.float64)
            prev = s
        return total / len(widths)

    X, Y = _prep(x, y)
    n, m = x.shape[0], y.shape[0]
    kxx = (_pair_sum(X, X, kernel, chunk, same=True) - n) / (n * (n - 1))   # k(a, a) = 1
    kyy = (_pair_sum(Y, Y, kernel, chunk, same=True) - m) / (m * (m - 1))
    kxy = _pair_sum(X, Y, kernel, chunk) / (n * m)
    return float(kxx + kyy - 2 * kxy)


@cpu_workers
def energy_distance(x: torch.Tensor, y: torch.Tensor, *, chunk: int = CHUNK) -> float:
    """Energy distance 2 E|x - y| - E|x - x'| - E|y - y'| (unbiased within-set terms)."""
    x, y = _pair(x, y)

    def dist(sq):
        return sq.clamp_min(0).sqrt().sum(dtype=torch.float64)

    X, Y = _prep(x, y)
    n, m = x.shape[0], y.shape[0]
    dxx = _pair_sum(X, X, dist, chunk, same=True) / (n * (n - 1))
    dyy = _pair_sum(Y, Y, dist, chunk, same=True) / (m * (m - 1))
    dxy = _pair_sum(X, Y, dist, chunk) / (n * m)
    return float(2 * dxy - dxx - dyy)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, *, n_projections: int = 128, p: int = 2,
                       generator: torch.Generator | None = None) -> float:
    """Sliced p-Wasserstein distance; directions from ``generator`` (default: seed 0 on x's device)."""
    checks.points("x", x)
    checks.points("y", y)
    checks.same_space("x", x, "y", y)
    checks.integer("n_projections", n_projections, low=1)
    checks.integer("p", p, low=1)
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0)
    theta = torch.randn(x.shape[1], n_projections, generator=generator, device=x.device, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    xs = (x.double() @ theta).T.sort(dim=1).values        # [L, n]
    ys = (y.double() @ theta).T.sort(dim=1).values        # [L, m]
    n, m = xs.shape[1], ys.shape[1]
    # Quantile functions are steps at levels i/n and j/m: integrate between merged levels.
    f64 = dict(dtype=torch.float64, device=x.device)
    levels = torch.cat([torch.arange(1, n + 1, **f64) / n, torch.arange(1, m + 1, **f64) / m]).sort().values
    width = torch.diff(levels, prepend=levels.new_zeros(1))
    mid = levels - width / 2
    ix = (mid * n).floor().long().clamp(0, n - 1)
    iy = (mid * m).floor().long().clamp(0, m - 1)
    wpp = ((xs[:, ix] - ys[:, iy]).abs() ** p * width).sum(dim=1)
    return float(wpp.mean() ** (1 / p))


def _pair(x, y):
    checks.points("x", x, min_rows=2)
    checks.points("y", y, min_rows=2)
    checks.same_space("x", x, "y", y)
    return x, y


def _prep(x, y) -> tuple[Prepared, Prepared]:
    centre = x.double().mean(0)
    return prepare(x, centre), prepare(y, centre)


def _pair_sum(a: Prepared, b: Prepared, fn, chunk: int, same: bool = False) -> float:
    """sum_{i, j} fn(|a_i - b_j|^2) chunk by chunk; with ``same`` the diagonal gets sq = 0 exactly."""
    def block(lo, hi):
        sq = sq_block(a, b, lo, hi)
        if same:
            r = torch.arange(hi - lo, device=sq.device)
            sq[r, lo + r] = 0.0
        return fn(sq)

    parts = for_chunks(block, a.left.shape[0], rows_per_chunk(b.left.shape[0], chunk), a.left.device)
    return torch.stack(parts).sum().item()
