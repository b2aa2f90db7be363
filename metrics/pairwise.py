"""Chunked pairwise distances: memory bounded by one chunk, exact where a decision needs it.

Squared distances come from one matmul per chunk, ``[x, |x|^2, 1] @ [-2y, 1, |y|^2]^T``, on
points centred at the reference set's mean, in float32 or float64 (``choose_dtype``). That is fast but not exact, so every decision
that compares a distance with a radius (k-NN radii, "is y inside the ball of x") is made in two
steps: pairs whose matmul value is farther from the threshold than a rigorous rounding bound
are decided at once; the few pairs inside the band are recomputed as ``sqrt(sum((x - y)^2))``
in float64, the same arithmetic as a plain brute-force reference, so ties at the strict < of a
ball boundary come out as the reference has them.

The bound: with u the unit roundoff of the matmul's dtype and x, y centred,
|approx - exact| <= kappa (|x|^2 + |y|^2) with kappa = 2 (D + 4) u for the (D + 2)-term dot
product and the final rounding, plus 5u for rounding the centred coordinates, the norms and the
thresholds to that dtype; ``kappa`` below is 4 (D + 4) u, which covers all of it with room to
spare. Because |y| <= |x| + d, the bound is at most kappa (3|x|^2 + 2 d^2): it depends only on
the point that owns the threshold and on the distance, so far outliers widen nothing. In float32
the band can exceed the k-NN radii themselves (modes of std 0.01 at radius 1: r^2 ~ 1e-5
against |x|^2 ~ 1); ``choose_dtype`` then picks float64.
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import torch

CHUNK = 2 ** 20          # elements of one [rows, columns] block (4 MB in float32)
PAD = 3                  # extra k-NN candidates taken per row before the exact check


class Prepared(NamedTuple):
    exact: torch.Tensor   # [n, D] float64, as given (the exact path never centres)
    left: torch.Tensor    # [n, D + 2] matmul dtype: [x, |x|^2, 1] of the centred x
    right: torch.Tensor   # [n, D + 2] matmul dtype: [-2x, 1, |x|^2] of the centred x
    sqnorm: torch.Tensor  # [n] float64, |x|^2 of the centred x
    kappa: float          # rounding bound factor (see module docstring)


UNIT = {torch.float32: 2.0 ** -24, torch.float64: 2.0 ** -53}


def prepare(x: torch.Tensor, centre: torch.Tensor, dtype: torch.dtype = torch.float64) -> Prepared:
    """``x`` ready for ``sq_block``: centred at ``centre``, the matmul operands in ``dtype``."""
    exact = x.double()
    c = (exact - centre).to(dtype).double()
    sq = (c ** 2).sum(1)
    one = torch.ones_like(sq)
    left = torch.cat([c, sq[:, None], one[:, None]], dim=1).to(dtype)
    right = torch.cat([-2 * c, one[:, None], sq[:, None]], dim=1).to(dtype)
    return Prepared(exact, left, right, sq, 4 * (x.shape[1] + 4) * UNIT[dtype])


def choose_dtype(sets, centre: torch.Tensor, k: int, chunk: int = CHUNK) -> torch.dtype:
    """float32 when its rounding band is below a tenth of the squared k-NN radius for 99% of up
    to 256 evenly spaced points of every set, else float64. Only speed depends on the choice:
    the bands keep every decision exact either way (a wide band means many exact recomputes).
    Tight modes far from the centre (the classic toys) and duplicated points get float64."""
    kappa32 = 4 * (sets[0].shape[1] + 4) * UNIT[torch.float32]
    for x in sets:
        p = prepare(x, centre)
        idx = torch.linspace(0, x.shape[0] - 1, min(x.shape[0], 256), device=x.device).long()
        sub = Prepared(*(t[idx] for t in p[:4]), p.kappa)
        r2 = kth_nearest(sub, p, k + 1, chunk) ** 2
        band = 2 * kappa32 * (3 * sub.sqnorm + 2 * r2)
        if (band < 0.1 * r2).double().mean() < 0.99:
            return torch.float64
    return torch.float32


def rows_per_chunk(n_columns: int, chunk: int = CHUNK) -> int:
    return max(1, chunk // max(n_columns, 1))


_workers = 1    # Python threads for ``for_chunks``; set by ``cpu_workers``


def cpu_workers(fn):
    """Decorator for the public entry points: run ``fn`` with single-threaded torch ops and let
    ``for_chunks`` spread its blocks over the ``torch.get_num_threads()`` threads instead (the
    setting is restored afterwards). One block's ops are too small to gain from intra-op
    threads, and on a busy machine those threads' barriers made chunked code several times
    slower. Not meant for calls from several Python threads at once (the setting is global)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _workers
        threads = torch.get_num_threads()
        if _workers > 1 or threads == 1:          # nested call, or nothing to spread
            return fn(*args, **kwargs)
        torch.set_num_threads(1)
        _workers = threads
        try:
            return fn(*args, **kwargs)
        finally:
            _workers = 1
            torch.set_num_threads(threads)
    return wrapper


def for_chunks(fn, n_rows: int, step: int, device: torch.device) -> list:
    """[fn(lo, hi) for each block of at most ``step`` rows], in order; on CPU inside
    ``cpu_workers`` the blocks run on a pool of Python threads. ``fn`` must write only its own
    rows of shared outputs (or take a lock)."""
    workers = _workers if device.type == "cpu" else 1
    # At least 8 blocks, whatever the number of workers: work for every worker, and float sums
    # grouped the same way with any thread count (same metrics on any CPU setting).
    step = min(step, -(-n_rows // 8))
    bounds = [(lo, min(lo + step, n_rows)) for lo in range(0, n_rows, step)]
    if workers == 1 or len(bounds) == 1:
        return [fn(lo, hi) for lo, hi in bounds]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda b: fn(*b), bounds))


def sq_block(a: Prepared, b: Prepared, lo: int, hi: int) -> torch.Tensor:
    """Approximate squared distances of a[lo:hi] to every point of b: [hi - lo, len(b)]."""
    return a.left[lo:hi] @ b.right.T


def exact_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise Euclidean distance of float64 [P, D] pairs, the brute-force arithmetic."""
    return ((a - b) ** 2).sum(-1).sqrt()


def exact_pairs(x: torch.Tensor, y: torch.Tensor, i: torch.Tensor, j: torch.Tensor,
                chunk: int = CHUNK) -> torch.Tensor:
    """Exact distances |x[i] - y[j]| for index vectors i, j, in batches of ``chunk`` numbers."""
    step = max(1, chunk // x.shape[1])
    return torch.cat([exact_dist(x[i[s:s + step]], y[j[s:s + step]]) for s in range(0, len(i), step)]
                     or [x.new_zeros(0)])


def kth_nearest(a: Prepared, b: Prepared, k: int, chunk: int = CHUNK) -> torch.Tensor:
    """Exact distance from every point of ``a`` to its k-th nearest point of ``b`` (k >= 1,
    duplicates counted; when ``a`` is ``b`` the point itself is the first): float64 [len(a)]."""
    n, kap = b.exact.shape[0], a.kappa
    take = min(k + PAD, n)
    out = torch.empty(a.exact.shape[0], dtype=torch.float64, device=a.exact.device)

    def block(lo, hi):
        vals, idx = sq_block(a, b, lo, hi).topk(take, dim=1, largest=False)
        # Every point whose exact value is <= the exact k-th smallest has approx <= limit.
        xx, v = a.sqnorm[lo:hi], vals[:, k - 1]
        limit = (v + 3 * kap * xx) * (1 + 2 * kap) / (1 - 2 * kap) + 3 * kap * xx
        out[lo:hi] = exact_dist(b.exact[idx], a.exact[lo:hi, None]).sort(dim=1).values[:, k - 1]
        if take < n:                     # rows with more candidates than taken: exact full rows
            rows = (vals[:, -1] <= limit).nonzero()[:, 0]
            if len(rows):
                out[lo + rows] = _exact_kth(a.exact[lo + rows], b.exact, k, chunk)

    for_chunks(block, a.exact.shape[0], rows_per_chunk(n, chunk), a.exact.device)
    return out


def knn_radius(p: Prepared, k: int, chunk: int = CHUNK) -> torch.Tensor:
    """Distance of every point to its k-th nearest neighbour in its own set, the point itself
    excluded (duplicates count as neighbours at distance 0): float64 [n], exact."""
    # A point with k exact copies has radius 0: settle those at once (a collapsed generator
    # emits thousands of identical points, which no rounding band can separate).
    _, inverse, counts = torch.unique(p.exact, dim=0, return_inverse=True, return_counts=True)
    out = torch.zeros(p.exact.shape[0], dtype=torch.float64, device=p.exact.device)
    rest = (counts[inverse] <= k).nonzero()[:, 0]
    if len(rest):
        sub = Prepared(*(t[rest] for t in p[:4]), p.kappa)
        out[rest] = kth_nearest(sub, p, k + 1, chunk)
    return out


def _exact_kth(x: torch.Tensor, y: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Exact k-th smallest distance from each row of x to the rows of y, in bounded blocks."""
    rows = max(1, chunk // y.shape[0])
    cols = max(1, chunk // (rows * y.shape[1]))
    out = []
    for i in range(0, x.shape[0], rows):
        xi = x[i:i + rows, None]
        d = torch.cat([exact_dist(y[None, j:j + cols], xi) for j in range(0, y.shape[0], cols)], dim=1)
        out.append(d.kthvalue(k, dim=1).values)
    return torch.cat(out)


def any_(b: torch.Tensor, dim: int) -> torch.Tensor:
    """``b.any(dim)`` for a bool tensor; on CPU a uint8 max is many times faster (torch 2.13)."""
    return b.view(torch.uint8).amax(dim).bool()


def count(b: torch.Tensor, dim: int) -> torch.Tensor:
    """``b.sum(dim)`` for a bool tensor, as int32 through uint8 (about 2x faster on CPU)."""
    return b.view(torch.uint8).sum(dim, dtype=torch.int32)


def bands(radius: torch.Tensor, sqnorm: torch.Tensor, kappa: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared-distance thresholds (lo, hi): approx < lo is surely inside the ball of that
    radius, approx >= hi surely outside; between them only an exact distance decides."""
    r2 = radius ** 2
    band = 2 * kappa * (3 * sqnorm + 2 * r2)
    return r2 - band, r2 + band


def inside_rows(sq: torch.Tensor, radius: torch.Tensor, sqnorm: torch.Tensor, kappa: float,
                exact_pair) -> torch.Tensor:
    """Exact ``dist[i, j] < radius[i]`` for a block of approximate squared distances [c, m].

    ``radius``/``sqnorm`` belong to the rows; ``exact_pair(i, j)`` gives exact distances for
    index vectors into the block. Only the (rare) undecided pairs, between the two thresholds,
    are recomputed."""
    lo, hi = bands(radius, sqnorm, kappa)
    lo, hi = lo.to(sq.dtype), hi.to(sq.dtype)       # the bands' slack absorbs this rounding
    sure = sq < lo[:, None]
    rows = any_((sq < hi[:, None]) ^ sure, 1).nonzero()[:, 0]
    if len(rows):
        r, j = ((sq[rows] < hi[rows, None]) & ~sure[rows]).nonzero().unbind(1)
        i = rows[r]
        sure[i, j] = exact_pair(i, j) < radius[i]
    return sure


def any_inside_cols(sq: torch.Tensor, radius: torch.Tensor, sqnorm: torch.Tensor, kappa: float,
                    exact_pair) -> torch.Tensor:
    """Exact ``any_j dist[i, j] < radius[j]`` per row i, for radii that belong to the columns."""
    lo, hi = bands(radius, sqnorm, kappa)
    lo, hi = lo.to(sq.dtype), hi.to(sq.dtype)
    hit = any_(sq < lo, 1)
    rows = (~hit).nonzero()[:, 0]
    if len(rows):
        r, j = (sq[rows] < hi).nonzero().unbind(1)      # undecided pairs of the rows not yet hit
        i = rows[r]
        hit[i[exact_pair(i, j) < radius[j]]] = True
    return hit
