"""Uniform densities on unions of cubes: full-dimensional supports with sharp edges.

The black cells of a checkerboard of ``side`` cells a side in ``dim`` dimensions (at side 4 and
dim 2 the flow papers' checkerboard: 8 squares on [-1, 1]^2), each shrunk about its centre so that
a fraction ``gap`` of its width is empty, filled uniformly and blurred by isotropic Gaussian
``noise``. Unlike a mixture's Gaussians or a curve, the density is flat and ends at an edge: what
makes it harder is more pieces, corners where pieces touch (gap 0), edges sharper than the noise,
unequal weights (``imbalance``), and a board hidden in a higher ``ambient_dim``.

Components are the cubes (``component``); the gaps are the segments joining the centres of
neighbouring cubes (``base.corridor``), so mass spread between two diagonal squares is a bridge
and mass in the white cells elsewhere is blur. Distances are Euclidean, to the clean cubes.
"""
from __future__ import annotations

import itertools
import math

import torch

from .base import Distribution, corridor, geometric_weights, neighbour_links, project, random_isometry, \
    segment_distance
from .knobs import Knob, inconsistent

MAX_CELLS = 4096            # side^dim; the pairwise distances of the black cells stay under 32 MB
LOG_2PI = math.log(2 * math.pi)


class Boxes(Distribution):
    family = "boxes"
    ground_truth = frozenset({"components"})
    summary = "uniform density on the black cubes of a checkerboard: flat, full-dimensional pieces with sharp edges"
    knobs = {k.name: k for k in [
        Knob("side", int, 4, "cells a side of the board; its black cells (even index sum) are the pieces",
             low=1, high=64),
        Knob("dim", int, 2, "dimension of the board (the pieces are dim-dimensional cubes)", low=1, high=6),
        Knob("size", float, 1.0, "half-width of the board [-size, size]^dim", low=0, low_open=True),
        Knob("gap", float, 0.0, "fraction of each cell's width left empty around its cube (0: diagonal "
             "neighbours touch at a corner)", low=0.0, high=1.0, high_open=True),
        Knob("noise", float, 0.01, "std of isotropic Gaussian noise added to the uniform samples", low=0.0),
        Knob("imbalance", float, 1.0, "weight of the heaviest cube over the lightest; weights fall "
             "geometrically in cell order", low=1.0),
        Knob("ambient_dim", int, None, "dimension of the samples; above dim the board is placed by a fixed "
             "random isometry (default: dim)", low=1, high=512),
        Knob("seed", int, 0, "seed of the fixed random embedding (not of the samples)", low=0),
    ]}

    def _setup(self, *, side, dim, size, gap, noise, imbalance, ambient_dim, seed):
        fam = self.family
        if side ** dim > MAX_CELLS:
            name, value = ("side", side) if dim > 1 else ("dim", dim)
            raise inconsistent(fam, name, value, f"side^dim = {side ** dim} cells must be <= {MAX_CELLS}")
        ambient_dim = dim if ambient_dim is None else ambient_dim
        if ambient_dim < dim:
            raise inconsistent(fam, "ambient_dim", ambient_dim, f"it must be >= dim={dim}")
        width = 2 * size / side
        black = [i for i in itertools.product(range(side), repeat=dim) if sum(i) % 2 == 0]
        self._centres = (torch.tensor(black, dtype=torch.float64) + 0.5) * width - size     # [K, dim]
        self._half = width * (1 - gap) / 2
        K = len(black)
        self._weights = geometric_weights(K, imbalance)
        self._noise = noise
        self._embed = random_isometry(dim, ambient_dim, seed + 1)
        self.event_shape = (ambient_dim,)
        self.missing = {"modes": "the pieces are flat cubes, not modes"}
        if K == 1:
            self.missing["gap_distance"] = "one cube: no gaps between pieces"
            self._links, nearest = None, math.inf
        else:
            pair = torch.cdist(self._centres, self._centres).masked_fill(torch.eye(K, dtype=torch.bool), math.inf)
            self._links = neighbour_links(self._centres, pair)
            a, b = self._links
            nearest = float(((a[0] - b[0]).abs() - 2 * self._half).clamp_min(0).norm())
        if noise == 0 and ambient_dim > dim:
            self.missing["log_prob"] = "noise=0 above dim: the support has zero volume, so there is no density"
        self.traits = {
            "n_components": float(K),
            "gap": float(gap),
            "component_gap": nearest,
            "gap_over_noise": nearest / noise if noise > 0 else math.inf,
            "cube_width": 2 * self._half,
            "imbalance": float(imbalance),
            "noise": float(noise),
            "scale": float(size),
            "intrinsic_dim": float(dim),
            "ambient_dim": float(ambient_dim),
        }

    def _sample_float64(self, n, generator, device):
        k = torch.multinomial(self._weights.to(device), n, replacement=True, generator=generator)
        u = torch.rand(n, self._centres.shape[1], generator=generator, device=device, dtype=torch.float64)
        x = (self._centres.to(device)[k] + (2 * u - 1) * self._half) @ self._embed.to(device)
        return x + self._noise * torch.randn(x.shape, generator=generator, device=device, dtype=torch.float64)

    def _nearest(self, x: torch.Tensor, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """(Euclidean distance to the nearest clean cube [n], its index [n])."""
        y, off = project(x, self._embed)
        c = self._centres.to(x.device, x.dtype)
        d, idx = [], []
        for part in y.split(chunk):
            dist = ((part[:, None] - c).abs() - self._half).clamp_min(0).norm(dim=-1)     # [n, K]
            m, i = dist.min(dim=1)
            d.append(m)
            idx.append(i)
        if not d:
            return x.new_zeros(0), torch.zeros(0, dtype=torch.long, device=x.device)
        return torch.cat(d).hypot(off), torch.cat(idx)

    def support_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean distance to the union of the clean cubes (0 inside)."""
        return self._nearest(x)[0]

    def component(self, x: torch.Tensor) -> torch.Tensor:
        """Index [n] of the cube nearest to each row of x."""
        return self._nearest(x)[1]

    @property
    def component_weights(self) -> torch.Tensor:
        return self._weights.float()

    def gap_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean distance to the segments joining neighbouring cubes' centres; ``inf`` outside
        every segment's corridor (``base.corridor``). Inside the cubes the segments lie on the
        support, which ``metrics.verdicts.placement`` counts first."""
        if self._links is None:
            raise NotImplementedError(self.missing["gap_distance"])
        y, off = project(x, self._embed)
        a, b = self._links
        return corridor(segment_distance(y, a, b).hypot(off[:, None]), (b - a).norm(dim=-1).to(x.device, x.dtype))

    def support_points(self, n: int) -> torch.Tensor:
        """About ``n`` points on a regular grid inside every cube (the same grid in each), float32."""
        K, dim = self._centres.shape
        m = max(1, round((n / K) ** (1 / dim)))
        ticks = ((torch.arange(m, dtype=torch.float64) + 0.5) / m * 2 - 1) * self._half
        offsets = torch.cartesian_prod(*[ticks] * dim).reshape(-1, dim)
        return ((self._centres[:, None] + offsets[None]).reshape(-1, dim) @ self._embed).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density: per cube a product over axes of the blurred box, (Phi((c + h - y) / s)
        - Phi((c - h - y) / s)) / 2h, in log space (stable far from the cubes); a Gaussian of std s
        off the embedded board. With noise 0: log(w_k / volume) inside cube k, -inf outside."""
        if "log_prob" in self.missing:
            raise NotImplementedError(self.missing["log_prob"])
        y, off = project(x, self._embed)
        c = self._centres.to(x.device, x.dtype)
        logw = self._weights.to(x.device, x.dtype).log()
        h, s, dim = self._half, self._noise, c.shape[1]
        out = []
        for part in y.split(1024):
            diff = part[:, None] - c                                             # [n, K, dim]
            if s == 0:
                inside = (diff.abs() <= h).all(-1)
                per = torch.where(inside, torch.zeros_like(inside, dtype=x.dtype), -math.inf)
            else:
                per = _log_interval((-h - diff) / s, (h - diff) / s).sum(-1)
            out.append(torch.logsumexp(logw + per, dim=1))
        lp = (torch.cat(out) if out else x.new_zeros(0)) - dim * math.log(2 * h)
        extra = self.event_shape[0] - dim
        if extra:
            lp = lp - off ** 2 / (2 * s * s) - extra * (0.5 * LOG_2PI + math.log(s))
        return lp


def _log_interval(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(Phi(b) - Phi(a)) for a < b, from the tail where both are small (Phi(b) - Phi(a) =
    Phi(-a) - Phi(-b)), so that it stays finite far from the interval."""
    flip = a > 0
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    lhi, llo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return lhi + torch.log1p(-torch.exp(llo - lhi))
