"""k-NN manifold metrics: improved precision / recall and density / coverage (REFERENCES §3).

With real X (n points), fake Y (m points), NND_k(p) the distance from p to its k-th nearest
neighbour in its own set excluding p itself, and B(p, r) the open ball (strict <):

    precision = (1/m) #{j : Y_j in some B(X_i, NND_k(X_i))}        (Kynkaanniemi et al. 2019)
    recall    = (1/n) #{i : X_i in some B(Y_j, NND_k(Y_j))}
    density   = 1/(k m) sum_j #{i : Y_j in B(X_i, NND_k(X_i))}     (Naeem et al. 2020)
    coverage  = (1/n) #{i : some Y_j in B(X_i, NND_k(X_i))}

The lab uses k = 3 for precision / recall and k = 5 for density / coverage. Two samples of the
same distribution give coverage near 1 - 2^-k and density near 1. Also here: ``knn_radii`` and
``coverage`` (coverage alone, reusing the radii of a fixed real set: the training callback) and
``support_coverage`` (coverage of the true support's points). Everything runs in chunks on the
inputs' device, and every decision equals a float64 brute-force computation exactly, ties at
the strict < included (see ``metrics.pairwise``).
"""
from __future__ import annotations

import threading

import torch

from . import checks
from .pairwise import (CHUNK, Prepared, any_, any_inside_cols, choose_dtype, count, cpu_workers,
                       exact_pairs, for_chunks, inside_rows, kth_nearest, knn_radius, prepare,
                       rows_per_chunk, sq_block)


@cpu_workers
def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5, *, chunk: int = CHUNK,
         dtype: torch.dtype | None = None) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` with k neighbours.

    real [n, D], fake [m, D], finite, on one device; needs k < n and k < m. ``chunk`` bounds the
    elements of one distance block; ``dtype`` of the matmul (default: ``choose_dtype``) changes
    the speed, never the result. Returns {"precision", "recall", "density", "coverage"}.
    """
    checks.points("real", real)
    checks.points("fake", fake)
    checks.same_space("real", real, "fake", fake)
    n, m = real.shape[0], fake.shape[0]
    checks.integer("k", k, low=1, high=min(n, m) - 1,
                   why=f" (the k-th neighbour excluding the point itself needs k < n={n} and k < m={m})")
    checks.integer("chunk", chunk, low=1)
    centre = real.double().mean(0)
    if dtype is None:
        dtype = choose_dtype((real, fake), centre, k, chunk)
    elif dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype={dtype!r} is not allowed; expected None, torch.float32 or torch.float64")
    R, F = prepare(real, centre, dtype), prepare(fake, centre, dtype)
    r_real, r_fake = knn_radius(R, k, chunk), knn_radius(F, k, chunk)

    real_inside = torch.zeros(n, dtype=torch.bool, device=real.device)    # recall
    real_count = torch.zeros(n, dtype=torch.int32, device=real.device)    # density, coverage
    fake_inside = torch.zeros(m, dtype=torch.bool, device=real.device)    # precision
    lock = threading.Lock()

    def block(lo, hi):
        sq = sq_block(R, F, lo, hi)
        pair = _pairs(R, F, lo)
        in_real_ball = inside_rows(sq, r_real[lo:hi], R.sqnorm[lo:hi], R.kappa, pair)   # [c, m]
        real_count[lo:hi] = count(in_real_ball, 1)
        real_inside[lo:hi] = any_inside_cols(sq, r_fake, F.sqnorm, F.kappa, pair)
        hit = any_(in_real_ball, 0)
        with lock:                       # shared by all blocks (blocks may run on threads)
            fake_inside.logical_or_(hit)

    for_chunks(block, n, rows_per_chunk(m, chunk), real.device)
    return {
        "precision": fake_inside.double().mean().item(),
        "recall": real_inside.double().mean().item(),
        "density": real_count.double().sum().item() / (k * m),
        "coverage": (real_count > 0).double().mean().item(),
    }


def _pairs(a: Prepared, b: Prepared, lo: int):
    return lambda i, j: exact_pairs(a.exact, b.exact, lo + i, j)


@cpu_workers
def knn_radii(x: torch.Tensor, k: int, *, chunk: int = CHUNK) -> torch.Tensor:
    """NND_k of every point of ``x`` [n, D] (k-th neighbour in x, excluding the point itself),
    float64 [n]; pass it to ``coverage`` to reuse the radii of a fixed real set."""
    checks.points("x", x)
    checks.integer("k", k, low=1, high=x.shape[0] - 1, why=f" (needs k < n={x.shape[0]})")
    return knn_radius(prepare(x, x.double().mean(0)), k, chunk)


@cpu_workers
def coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5, *, radius: torch.Tensor | None = None,
             chunk: int = CHUNK) -> float:
    """Coverage alone (see module docstring): share of real points whose k-NN ball holds a fake
    point. ``radius`` = ``knn_radii(real, k)`` if already known; fake may have any size >= 1."""
    checks.points("real", real)
    checks.points("fake", fake)
    checks.same_space("real", real, "fake", fake)
    if radius is None:
        radius = knn_radii(real, k, chunk=chunk)
    elif radius.shape != (real.shape[0],):
        raise ValueError(f"radius has shape {tuple(radius.shape)}, which is not allowed; expected [{real.shape[0]}]")
    centre = real.double().mean(0)
    return _covered(prepare(real, centre), radius.double(), prepare(fake, centre), chunk)


@cpu_workers
def support_coverage(support: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, k: int = 5,
                     *, chunk: int = CHUNK) -> float:
    """Share of the true support covered by ``fake``: support points (evenly spaced on the
    clean support) with a fake point closer than their k-th nearest ``real`` sample (strict <).
    This is coverage with the support points as centres: near 1 - 2^-k for a perfect generator
    whatever the dimension, and it weighs the support evenly (by length or area), not by where
    the real samples crowd."""
    for name, x in (("support", support), ("real", real), ("fake", fake)):
        checks.points(name, x)
    checks.same_space("support", support, "real", real)
    checks.same_space("support", support, "fake", fake)
    checks.integer("k", k, low=1, high=real.shape[0], why=f" (the k-th nearest real point needs k <= {real.shape[0]})")
    centre = real.double().mean(0)
    C = prepare(support, centre)
    radius = kth_nearest(C, prepare(real, centre), k, chunk)
    return _covered(C, radius, prepare(fake, centre), chunk)


def _covered(C: Prepared, radius: torch.Tensor, F: Prepared, chunk: int) -> float:
    n = C.exact.shape[0]
    covered = torch.zeros(n, dtype=torch.bool, device=C.exact.device)

    def block(lo, hi):
        hit = inside_rows(sq_block(C, F, lo, hi), radius[lo:hi], C.sqnorm[lo:hi], C.kappa, _pairs(C, F, lo))
        covered[lo:hi] = any_(hit, 1)

    for_chunks(block, n, rows_per_chunk(F.exact.shape[0], chunk), C.exact.device)
    return covered.double().mean().item()
