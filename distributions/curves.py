"""Plane curves by arc length: the geometry under the manifold family.

A :class:`Path` is one continuous curve gamma(u), u in [0, 1], tabulated densely so that points
can be placed uniformly by arc length. A :class:`Support` is a union of pieces of paths (the
components); it samples uniformly by length, places evenly spaced points, integrates by the
Gauss-Legendre rule and measures distance to the curve through a dense polyline whose chord error is
bounded by ``tol`` (sagitta = curvature * h^2 / 8).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

Fn = Callable[[torch.Tensor], torch.Tensor]       # u [m] float64 -> points [m, 2]
TABLE = 2 ** 14


class Path:
    def __init__(self, fn: Fn):
        self.fn = fn
        u = torch.linspace(0, 1, TABLE + 1, dtype=torch.float64)
        pts = fn(u)
        cum = torch.cat([torch.zeros(1, dtype=torch.float64), (pts[1:] - pts[:-1]).norm(dim=1).cumsum(0)])
        self._u, self._cum, self.length = u, cum, float(cum[-1])
        self._tables = {torch.device("cpu"): (u, cum)}
        # Curvature from finite differences in u: |x'y'' - y'x''| / |gamma'|^3.
        d1 = torch.gradient(pts, spacing=(u,), dim=0)[0]
        d2 = torch.gradient(d1, spacing=(u,), dim=0)[0]
        speed = d1.norm(dim=1).clamp_min(1e-300)
        kappa = (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]).abs() / speed ** 3
        self.max_curvature = float(kappa[2:-2].max()) if len(kappa) > 4 else 0.0

    def at(self, s: torch.Tensor) -> torch.Tensor:
        """Points at arc-length fractions ``s`` in [0, 1] (float64, exactly on the curve)."""
        if s.device not in self._tables:
            self._tables[s.device] = (self._u.to(s.device), self._cum.to(s.device))
        uu, cum = self._tables[s.device]
        target = s.to(torch.float64) * self.length
        i = torch.searchsorted(cum, target).clamp(1, TABLE)
        t = ((target - cum[i - 1]) / (cum[i] - cum[i - 1]).clamp_min(1e-300)).clamp(0, 1)
        return self.fn(uu[i - 1] + t * (uu[i] - uu[i - 1]))


@dataclass(frozen=True)
class Piece:
    path: Path
    start: float      # arc-length fractions of the path
    stop: float

    @property
    def length(self) -> float:
        return (self.stop - self.start) * self.path.length


def split(path: Path, n_components: int, gap_fraction: float, closed: bool) -> list[Piece]:
    """Keep ``1 - gap_fraction`` of the path's length as ``n_components`` equal pieces separated by
    equal gaps (a closed curve has as many gaps as pieces, an open one one fewer)."""
    n_gaps = n_components if closed else n_components - 1
    if n_gaps == 0:
        return [Piece(path, 0.0, 1.0)]
    piece, gap = (1 - gap_fraction) / n_components, gap_fraction / n_gaps
    return [Piece(path, i * (piece + gap), i * (piece + gap) + piece) for i in range(n_components)]


class Support:
    """Union of pieces; everything in float64 on the CPU unless said otherwise."""

    def __init__(self, pieces: list[Piece], tol: float = 1e-6):
        self.pieces = pieces
        self.lengths = torch.tensor([p.length for p in pieces], dtype=torch.float64)
        self.length = float(self.lengths.sum())
        self.max_curvature = max(p.path.max_curvature for p in pieces)
        h = math.sqrt(8 * tol / self.max_curvature) if self.max_curvature > 0 else math.inf
        self._poly = [self._place(p, max(8, min(2 ** 18, math.ceil(p.length / h)) + 1), ends=True)
                      for p in pieces]

    @staticmethod
    def _place(p: Piece, m: int, ends: bool = False) -> torch.Tensor:
        if ends:
            s = torch.linspace(p.start, p.stop, m, dtype=torch.float64)
        else:       # midpoints of m equal cells
            s = p.start + (torch.arange(m, dtype=torch.float64) + 0.5) / m * (p.stop - p.start)
        return p.path.at(s)

    def sample(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        k = torch.multinomial(self.lengths.to(device), n, replacement=True, generator=generator)
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        out = torch.empty(n, 2, dtype=torch.float64, device=device)
        for i, p in enumerate(self.pieces):
            mask = k == i
            out[mask] = p.path.at(p.start + u[mask] * (p.stop - p.start))
        return out

    def even(self, n: int) -> torch.Tensor:
        """``n`` points spread evenly by length over the pieces (midpoints of equal cells)."""
        counts = torch.floor(self.lengths / self.length * n).long()
        counts[torch.argmax(self.lengths - counts * self.length / n)] += n - int(counts.sum())
        return torch.cat([self._place(p, int(c)) for p, c in zip(self.pieces, counts) if c > 0])

    def nodes(self, h: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Quadrature nodes [m, 2] and their lengths [m]: 3-point Gauss-Legendre on cells of
        length at most ``h`` (exact for polynomials of degree 5 along the curve)."""
        x = torch.tensor([0.5 - 0.5 * math.sqrt(0.6), 0.5, 0.5 + 0.5 * math.sqrt(0.6)], dtype=torch.float64)
        w = torch.tensor([5 / 18, 8 / 18, 5 / 18], dtype=torch.float64)
        pts, wts = [], []
        for p in self.pieces:
            m = max(1, math.ceil(p.length / h))
            s = (torch.arange(m, dtype=torch.float64)[:, None] + x) / m          # [m, 3] in [0, 1]
            pts.append(p.path.at(p.start + s.reshape(-1) * (p.stop - p.start)))
            wts.append((w * p.length / m).repeat(m))
        return torch.cat(pts), torch.cat(wts)

    def component_gap(self) -> float:
        """Smallest Euclidean distance between two different pieces (inf for one piece)."""
        best = math.inf
        for i in range(len(self._poly)):
            for j in range(i + 1, len(self._poly)):
                best = min(best, float(torch.cdist(self._poly[i], self._poly[j]).min()))
        return best

    def distance(self, y: torch.Tensor, chunk: int = 2048, k: int = 8) -> torch.Tensor:
        """Euclidean distance from points ``y`` [n, 2] to the curve (polyline with chord error <= tol)."""
        return self.nearest(y, chunk, k)[0]

    def nearest(self, y: torch.Tensor, chunk: int = 2048, k: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """(distance [n], index of the nearest piece [n]) of points ``y`` [n, 2]."""
        best = torch.full((y.shape[0],), math.inf, dtype=y.dtype, device=y.device)
        which = torch.zeros(y.shape[0], dtype=torch.long, device=y.device)
        for i, verts in enumerate(self._poly):
            v = verts.to(y.device, y.dtype)
            a, b = v[:-1], v[1:]
            for lo in range(0, y.shape[0], chunk):
                q = y[lo:lo + chunk]
                near = torch.cdist(q, v).topk(min(k, len(v)), largest=False).indices     # [c, k]
                segs = torch.cat([(near - 1).clamp(0, len(a) - 1), near.clamp(0, len(a) - 1)], dim=1)
                pa, pb = a[segs], b[segs]                                                # [c, 2k, 2]
                ab = pb - pa
                t = (((q[:, None] - pa) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-300)).clamp(0, 1)
                d = (q[:, None] - pa - t[..., None] * ab).norm(dim=-1).min(dim=1).values
                closer = d < best[lo:lo + chunk]
                best[lo:lo + chunk] = torch.where(closer, d, best[lo:lo + chunk])
                which[lo:lo + chunk] = torch.where(closer, i, which[lo:lo + chunk])
        return best, which


def gaps(path: Path, n_components: int, gap_fraction: float, closed: bool) -> list[Piece]:
    """The pieces ``split`` removes from ``path`` (the gaps between its components)."""
    kept = split(path, n_components, gap_fraction, closed)
    if gap_fraction == 0:
        return []
    out = [Piece(path, a.stop, b.start) for a, b in zip(kept, kept[1:])]
    if closed:                                       # split keeps [0, ...): the last gap ends at 1
        out.append(Piece(path, kept[-1].stop, 1.0))
    return out


def connectors(support: Support) -> list[Piece]:
    """Straight segments between the closest points of every two pieces of ``support`` (the gaps
    of a support whose components are not cut from one path, e.g. two circles)."""
    out = []
    for i in range(len(support._poly)):
        for j in range(i + 1, len(support._poly)):
            d = torch.cdist(support._poly[i], support._poly[j])
            a, b = divmod(int(d.argmin()), d.shape[1])
            p, q = support._poly[i][a].clone(), support._poly[j][b].clone()
            out.append(Piece(Path(lambda u, p=p, q=q: p + u[:, None] * (q - p)), 0.0, 1.0))
    return out
