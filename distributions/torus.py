"""Uniform densities on flat tori: products of circles, each cut into arcs.

The product of ``k`` circles of radius ``radius``, circle i in the plane of coordinates (2i, 2i+1)
of R^{2k} (at k = 1 a circle, at k = 2 the Clifford torus), filled uniformly (independent uniform
angles); each circle is cut into ``arcs`` equal arcs, a fraction ``gap_fraction`` of its length
removed as equal gaps after each arc, so the support has arcs^k pieces, each a product of arcs;
blurred by isotropic Gaussian ``noise`` and placed in ``ambient_dim`` >= 2k by a fixed random
isometry. A k-dimensional, flat, bounded support with k independent loops and no edges when
uncut: unlike a mixture's modes (points), a curve (k = 1) or a checkerboard (flat, with edges).

Distances are Euclidean and exact: the distance from x to a product of sets lying in orthogonal
planes is the root sum of squares of the distances in each plane (and off the embedded subspace).
In plane i, at polar (rho, theta), the distance to the arcs is |rho - r| when theta falls on an
arc, else the distance to the nearest arc end. Components are the pieces (``component``: the
nearest arc in every plane); the gaps are the removed parts of the uncut torus (points of the
full product with at least one angle in a gap), kept within a corridor of a quarter of a gap's
length (``base.corridor``'s rule), so that mass across a gap is a bridge and mass elsewhere blur.
"""
from __future__ import annotations

import math

import torch

from .base import CORRIDOR, Distribution, project, random_isometry
from .knobs import Knob, inconsistent

MAX_PIECES = 4096


class Torus(Distribution):
    family = "torus"
    ground_truth = frozenset({"components"})
    summary = "uniform density on a flat torus (a product of k circles), each circle cut into arcs"
    knobs = {kn.name: kn for kn in [
        Knob("k", int, 2, "number of circles in the product (the intrinsic dimension)", low=1, high=6),
        Knob("arcs", int, 1, "pieces each circle is cut into; the support has arcs^k pieces", low=1, high=64),
        Knob("gap_fraction", float, 0.0, "fraction of each circle's length removed, as equal gaps after each arc",
             low=0.0, high=1.0, high_open=True),
        Knob("radius", float, 1.0, "radius of every circle", low=0, low_open=True),
        Knob("noise", float, 0.02, "std of isotropic Gaussian noise added to the uniform samples", low=0.0),
        Knob("ambient_dim", int, None, "dimension of the samples; above 2k the torus is placed by a fixed "
             "random isometry (default: 2k)", low=2, high=512),
        Knob("seed", int, 0, "seed of the fixed random embedding (not of the samples)", low=0),
    ]}

    def _setup(self, *, k, arcs, gap_fraction, radius, noise, ambient_dim, seed):
        fam = self.family
        if arcs ** k > MAX_PIECES:
            raise inconsistent(fam, "arcs", arcs, f"arcs^k = {arcs ** k} pieces must be <= {MAX_PIECES}")
        if arcs > 1 and gap_fraction == 0:
            raise inconsistent(fam, "gap_fraction", gap_fraction, f"arcs={arcs} pieces need a gap between them: use > 0")
        ambient_dim = 2 * k if ambient_dim is None else ambient_dim
        if ambient_dim < 2 * k:
            raise inconsistent(fam, "ambient_dim", ambient_dim, f"it must be >= 2k={2 * k}")
        self._k, self._n, self._r, self._noise = k, arcs, radius, noise
        self._period = 2 * math.pi / arcs                       # one arc and its gap
        self._arc = self._period * (1 - gap_fraction)           # an arc's angle; arc j starts at j * period
        self._embed = random_isometry(2 * k, ambient_dim, seed + 1)
        self.event_shape = (ambient_dim,)
        self.missing = {"modes": "the pieces are flat tori or products of arcs, not modes",
                        "log_prob": "no closed form: a uniform density on circles blurred by Gaussian noise"}
        if gap_fraction == 0:
            self.missing["gap_distance"] = "uncut circles: no gaps"
        self.traits = {
            "n_components": float(arcs ** k),
            "gap_fraction": float(gap_fraction),
            "component_gap": 2 * radius * math.sin((self._period - self._arc) / 2),
            "gap_length": radius * (self._period - self._arc),
            "loops": float(k if gap_fraction == 0 else 0),
            "noise": float(noise),
            "scale": float(radius),
            "intrinsic_dim": float(k),
            "ambient_dim": float(ambient_dim),
        }

    def _sample_float64(self, n, generator, device):
        u = torch.rand(n, self._k, generator=generator, device=device, dtype=torch.float64)
        j = torch.randint(self._n, (n, self._k), generator=generator, device=device)
        theta = j * self._period + u * self._arc
        y = self._r * torch.stack([theta.cos(), theta.sin()], dim=-1).reshape(n, 2 * self._k)
        x = y @ self._embed.to(device)
        return x + self._noise * torch.randn(x.shape, generator=generator, device=device, dtype=torch.float64)

    def _planes(self, x: torch.Tensor):
        """(rho [n, k], theta in [0, 2 pi) [n, k], the norm off the embedded subspace [n])."""
        y, off = project(x, self._embed)
        y = y.reshape(len(x), self._k, 2)
        return y.norm(dim=-1), torch.atan2(y[..., 1], y[..., 0]) % (2 * math.pi), off

    def _arcs(self, rho, theta) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per plane [n, k]: whether theta falls on an arc; the distance to the nearest arc end (for
        a point on arc j the nearer of its two ends, in a gap the nearer of the ends across it); the
        nearest arc. Arc j spans [j * period, j * period + arc]."""
        j = torch.floor(theta / self._period)
        within = theta - j * self._period                               # angle past arc j's start
        on = within <= self._arc
        back, ahead = within - self._arc, self._period - within          # in a gap: to arc j's end, to arc j + 1
        angle = torch.where(on, torch.minimum(within, self._arc - within), torch.minimum(back, ahead))
        end = (rho ** 2 + self._r ** 2 - 2 * rho * self._r * torch.cos(angle)).clamp_min(0).sqrt()
        arc = torch.where(on | (back <= ahead), j, j + 1).long() % self._n
        return on, end, arc

    def support_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean distance to the clean pieces (0 on them)."""
        rho, theta, off = self._planes(x)
        on, end, _ = self._arcs(rho, theta)
        per = torch.where(on, (rho - self._r).abs(), end)
        return (per.square().sum(-1) + off.square()).sqrt()

    def component(self, x: torch.Tensor) -> torch.Tensor:
        """Index [n] of the nearest piece: sum_i a_i arcs^i over the nearest arc a_i in each plane."""
        rho, theta, _ = self._planes(x)
        arc = self._arcs(rho, theta)[2]
        return (arc * self._n ** torch.arange(self._k, device=x.device)).sum(-1)

    @property
    def component_weights(self) -> torch.Tensor:
        return torch.full((self._n ** self._k,), 1.0 / self._n ** self._k)

    def gap_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean distance to the gaps (the uncut torus's points with an angle in a gap: in the
        plane of that angle the distance to the gap's arc, in the others to the full circle), ``inf``
        beyond a quarter of a gap's length."""
        if "gap_distance" in self.missing:
            raise NotImplementedError(self.missing["gap_distance"])
        rho, theta, off = self._planes(x)
        on, end, _ = self._arcs(rho, theta)
        full = (rho - self._r).square()                                 # to the uncut circle
        # in plane i, to the gap set: |rho - r| inside a gap, else the distance to the nearest gap
        # end, which is the nearest arc end (the arcs and gaps share their ends)
        to_gap = torch.where(on, end, (rho - self._r).abs()).square()
        d = (full.sum(-1, keepdim=True) - full + to_gap + off.square()[:, None]).clamp_min(0).sqrt().min(-1).values
        return torch.where(d <= CORRIDOR * self.traits["gap_length"], d, torch.full_like(d, math.inf))

    def support_points(self, n: int) -> torch.Tensor:
        """About ``n`` points on a regular grid of angles over every piece, float32."""
        m = max(1, round((n / self._n ** self._k) ** (1 / self._k)))
        ticks = torch.cat([j * self._period + (torch.arange(m, dtype=torch.float64) + 0.5) / m * self._arc
                           for j in range(self._n)])
        theta = torch.cartesian_prod(*[ticks] * self._k).reshape(-1, self._k)
        y = self._r * torch.stack([theta.cos(), theta.sin()], dim=-1).reshape(len(theta), 2 * self._k)
        return (y @ self._embed).float()
