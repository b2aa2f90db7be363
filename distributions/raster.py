"""Rasterising triangles: exact supersampled coverage, a differentiable twin, and the blur.

Pixel coordinates: x to the right, y down; pixel (i, j) covers [j, j + 1) x [i, i + 1). A point
p is inside a triangle when every edge function d_e(p) >= 0, where d_e is the signed distance
(in pixels, positive towards the opposite vertex) to the line through edge e. An outline of
width w is the set 0 <= min_e d_e(p) < w: the filled triangle minus its inward offset by w
(the triangle scaled about its incentre by 1 - w / r, r the inradius; empty when w >= r).

- :func:`coverage`: the fraction of the S x S sub-pixel centres (j + (s + 1/2) / S) of each
  pixel that are inside -- box-filtered antialiasing. Vectorised by row spans: on each sub-pixel
  row the triangle is one interval, between its long edge (top to bottom vertex) and one of the
  two short ones, and the number of sub-pixel centres of column j inside it is integer
  arithmetic: a difference array over columns, scattered then summed. The cost is about
  n * size * S operations, not n * size^2 * S^2.
- :func:`coverage_reference`: the same by brute force, one image at a time (tests, benchmark).
- :func:`soft_coverage`: a differentiable approximation (exact box-filtered area along straight
  edges; within a pixel of a corner the three half-plane coverages are multiplied).
- :func:`blur`: the discrete Gaussian kernel T(n, t) = exp(-t) I_n(t), t = sigma^2 (Lindeberg's
  scale space on the pixel grid): blurring by s1 then s2 equals blurring by sqrt(s1^2 + s2^2),
  so more blur never sharpens. Coverage outside the image is 0 (zero padding).
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from scipy.special import ive


def edges(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Edge functions d_e(x, y) = a x + b y + c of triangles v [n, 3, 2] (pixels), unit normals
    pointing inwards whatever the vertex order: (a, b, c), each [n, 3]; edge e joins v_e, v_e+1."""
    p, q, r = v, v.roll(-1, dims=1), v.roll(-2, dims=1)
    ex, ey = (q - p).unbind(-1)
    a, b = -ey, ex
    norm = torch.sqrt(a * a + b * b).clamp_min(1e-12)
    side = torch.sign(a * (r[..., 0] - p[..., 0]) + b * (r[..., 1] - p[..., 1]))
    side = torch.where(side == 0, torch.ones_like(side), side)
    a, b = a * side / norm, b * side / norm
    return a, b, -(a * p[..., 0] + b * p[..., 1])


def shrink(v: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The inward offset {d_e >= t} of triangles v [n, 3, 2]: the triangle scaled about its
    incentre by 1 - t / r (r the inradius), and a mask of the triangles where it is empty."""
    side = (v.roll(-1, 1) - v.roll(1, 1)).norm(dim=-1)             # side opposite each vertex
    per = side.sum(1, keepdim=True)
    centre = (side[..., None] * v).sum(1, keepdim=True) / per[..., None]
    (ax, ay), (bx, by), (cx, cy) = (v[:, i].unbind(-1) for i in range(3))
    r = ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)).abs() / per[:, 0]
    k = (1 - t / r.clamp_min(1e-12)).clamp_min(0)
    return centre + (v - centre) * k[:, None, None], k <= 0


def _boundaries(v: torch.Tensor, size: int, S: int, empty=None) -> tuple[torch.Tensor, torch.Tensor]:
    """On each sub-pixel row r (y = (r + 1/2) / S) the centres q (at x = (q + 1/2) / S) inside
    the triangle are first <= q < stop: two float64 [n, size S] tensors of integers. In sub-pixel
    units (X = S x - 1/2, Y = S y - 1/2) row r is Y = r; sorted by Y, the vertices split the
    boundary into the long edge top-bottom on one side and two short edges on the other."""
    v = v.double()
    v = v.gather(1, v[..., 1].argsort(1)[..., None].expand(-1, -1, 2)) * S - 0.5
    (x0, y0), (x1, y1), (x2, y2) = (v[:, i].unbind(-1) for i in range(3))
    r = torch.arange(size * S, device=v.device, dtype=torch.float64)

    def line(xa, ya, xb, yb):            # X on the line through a and b, at rows r: [n, R]
        dy = yb - ya
        k = (xb - xa) / torch.where(dy == 0, torch.ones_like(dy), dy)
        return torch.addcmul((xa - ya * k)[:, None], r, k[:, None])

    long = line(x0, y0, x2, y2)
    short = torch.where(r < y1[:, None], line(x0, y0, x1, y1), line(x1, y1, x2, y2))
    first = torch.ceil(torch.minimum(long, short)).clamp_(0, size * S)
    stop = (torch.floor(torch.maximum(long, short)) + 1).clamp_(0, size * S)
    valid = (r >= y0[:, None]) & (r <= y2[:, None])
    if empty is not None:
        valid &= ~empty[:, None]
    return first, torch.where(valid, torch.maximum(stop, first), first)


def _count(v: torch.Tensor, size: int, S: int, empty=None) -> torch.Tensor:
    """Sub-pixel centres inside the triangles per pixel: float32 [n, size, size] of integers.

    A row boundary at q = x (x = S c + r, 0 <= r < S) contributes to column j: S for j < c,
    r for j = c, 0 for j > c. As a difference array over columns whose prefix sums give that:
    r - S at c and -r at c + 1 (the S at column 0 cancels between a row's stop and first).
    Stops add, firsts subtract; one scatter per boundary kind, one cumulative sum."""
    first, stop = _boundaries(v, size, S, empty)
    n, R = first.shape
    x = torch.cat([stop, first], 1).float()                           # [n, 2R], exact integers
    c = torch.div(x, S, rounding_mode="floor")
    r = torch.add(x, c, alpha=-S)
    sign = torch.ones(2 * R, device=v.device)
    sign[R:] = -1
    base = (torch.arange(2 * R, device=v.device) % R // S * (size + 2)).float()   # pixel row offset
    slot = torch.add(c, base).long()
    diff = torch.zeros(n, size * (size + 2), device=v.device)
    diff.scatter_add_(1, slot, (r - S).mul_(sign))
    diff.scatter_add_(1, slot + 1, r.mul_(-sign))
    return diff.view(n, size, size + 2).cumsum(2)[:, :, :size]


def coverage(v: torch.Tensor, size: int, supersample: int = 8, width: float | None = None) -> torch.Tensor:
    """Fraction of each pixel's supersample^2 sub-pixel centres inside the triangle (or, with
    ``width``, its outline): v [n, 3, 2] in pixels -> float32 [n, size, size] in [0, 1]."""
    out = []
    for part in v.split(max(1, 2 ** 21 // (size * supersample))):
        n = _count(part, size, supersample)
        if width is not None:
            inner, empty = shrink(part.double(), float(width))
            n = n - _count(inner, size, supersample, empty)
        out.append(n / supersample ** 2)
    return torch.cat(out) if out else v.new_zeros(0, size, size, dtype=torch.float32)


def coverage_reference(v: torch.Tensor, size: int, supersample: int = 8, width: float | None = None) -> torch.Tensor:
    """Brute force: a loop over images, every sub-pixel centre tested against the three edges."""
    S = supersample
    grid = (torch.arange(size * S, dtype=torch.float64, device=v.device) + 0.5) / S
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    out = []
    for one in v.double():
        a, b, c = (t[0] for t in edges(one[None]))
        d = a[:, None, None] * xx + b[:, None, None] * yy + c[:, None, None]     # [3, sS, sS]
        m = d.amin(0)
        inside = (m >= 0) if width is None else (m >= 0) & (m < width)
        out.append(inside.double().view(size, S, size, S).mean((1, 3)))
    return torch.stack(out).float() if out else v.new_zeros(0, size, size, dtype=torch.float32)


class _BoxCDF(torch.autograd.Function):
    """Area of a unit pixel on the inner side of a line at signed distance t from its centre,
    with unit normal (a, b): the CDF at t of U(-p/2, p/2) + U(-q/2, q/2), p = max(|a|, |b|),
    q = min(|a|, |b|). With u = |t|, h1 = (p + q) / 2, h2 = (p - q) / 2, its tail is
    (relu(h1 - u)^2 - relu(h2 - u)^2) / (2 p q). The gradient flows to t only (the normal's
    effect on the ramp's shape is ignored: it vanishes where the fit is exact)."""

    @staticmethod
    def forward(ctx, t, a, b):
        p, q = torch.maximum(a.abs(), b.abs()), torch.minimum(a.abs(), b.abs()).clamp_min(1e-3)
        inv = 1 / (p * q)
        u = t.abs()
        r1, r2 = F.relu((p + q) / 2 - u), F.relu((p - q) / 2 - u)
        tail = (r1 * r1 - r2 * r2) * (inv / 2)
        ctx.save_for_backward((r1 - r2) * inv)
        return torch.where(t >= 0, 1 - tail, tail)

    @staticmethod
    def backward(ctx, grad):
        (density,) = ctx.saved_tensors
        return grad * density, None, None


def soft_coverage(v: torch.Tensor, size: int, width: float | None = None) -> torch.Tensor:
    """Differentiable pixel coverage of triangles v [n, 3, 2] (pixels): [n, size, size]."""
    a, b, c = edges(v)
    ctr = torch.arange(size, device=v.device, dtype=v.dtype) + 0.5
    d = (a[:, :, None, None] * ctr[None, :] + b[:, :, None, None] * ctr[:, None]
         + c[:, :, None, None])                                                 # [n, 3, size, size]
    a, b = a.detach()[:, :, None, None], b.detach()[:, :, None, None]
    cov = _BoxCDF.apply(d, a, b).prod(1)
    if width is not None:
        cov = (cov - _BoxCDF.apply(d - width, a, b).prod(1)).clamp_min(0)
    return cov


@functools.lru_cache(maxsize=64)
def gaussian_kernel(sigma: float) -> torch.Tensor:
    """Discrete Gaussian T(n, sigma^2), |n| <= ceil(5 sigma) + 2, normalised: float64 [2r + 1]."""
    r = math.ceil(5 * sigma) + 2
    k = torch.from_numpy(ive(torch.arange(-r, r + 1).double().numpy(), sigma * sigma))
    return k / k.sum()


def blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable discrete Gaussian blur of [n, H, W] with zero padding (differentiable)."""
    if sigma <= 0:
        return img
    k = gaussian_kernel(sigma).to(img.device, img.dtype)
    r = (len(k) - 1) // 2
    x = img[:, None]
    x = F.conv2d(F.pad(x, (r, r, 0, 0)), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r)), k.view(1, 1, -1, 1))
    return x[:, 0]
