"""Gaussian mixtures: the classic mode-collapse toys, with every trait a knob.

What makes a mixture harder to learn: more modes, modes closer together in units of their std
(``min_separation``), unequal weights (light modes are dropped first), elongated modes, and a
low-dimensional layout hidden in a high-dimensional ambient space.
"""
from __future__ import annotations

import math

import torch

from .base import Distribution, Modes, corridor, geometric_weights, neighbour_links, project, \
    random_isometry, segment_distance
from .knobs import Knob, inconsistent

LOG_2PI = math.log(2 * math.pi)
# Size bounds (memory): pairwise centre distances are n_modes^2 (128 MB at the maximum); modes'
# whitening matrices n_modes x ambient_dim^2 and each 8192-sample chunk of mode distances
# 8192 x n_modes x ambient_dim (1 GB float32 at MAX_MODES_X_DIM).
MAX_MODES, MAX_MODES_X_DIM = 4096, 2 ** 15


class Mixture(Distribution):
    family = "mixture"
    ground_truth = frozenset({"components"})
    summary = "Gaussian mixture on a ring, a grid or random centres, optionally embedded in more dimensions"
    knobs = {k.name: k for k in [
        Knob("layout", str, "ring", "where the mode centres lie", choices=("ring", "grid", "random")),
        Knob("n_modes", int, 8, "number of mixture components", low=1, high=MAX_MODES),
        Knob("radius", float, None, "ring radius, or half-width of the cube holding random centres "
             "(default 1.0)", low=0, low_open=True, applies="layout in {ring, random}"),
        Knob("spacing", float, None, "distance between neighbouring grid centres (default 2.0)",
             low=0, low_open=True, applies="layout=grid"),
        Knob("std", float, None, "standard deviation of each mode along its major axis (default 0.05)",
             low=0, low_open=True),
        Knob("separation", float, None, "instead of std: the smallest distance between centres in stds "
             "(std = that distance / separation)", low=0, low_open=True, applies="n_modes >= 2, std unset"),
        Knob("anisotropy", float, 1.0, "axis ratio major/minor of each mode (1 = round)", low=1.0),
        Knob("orientation", float, 0.0, "angle of the major axis in degrees; from the radial direction "
             "for a ring (90 = along the ring), from the first axis otherwise", low=-360, high=360),
        Knob("imbalance", float, 1.0, "weight of the heaviest mode over the lightest; weights fall "
             "geometrically in mode order", low=1.0),
        Knob("dim", int, 2, "intrinsic dimension of the layout (ring: first two axes)", low=1, high=16),
        Knob("ambient_dim", int, None, "dimension of the samples; above dim the layout is placed by a "
             "fixed random isometry (default: dim)", low=1, high=512),
        Knob("seed", int, 0, "seed of the fixed random layout and embedding (not of the samples)", low=0),
    ]}

    def _setup(self, *, layout, n_modes, radius, spacing, std, separation, anisotropy, orientation,
               imbalance, dim, ambient_dim, seed):
        fam = self.family
        if separation is not None and std is not None:
            raise inconsistent(fam, "separation", separation, f"give std or separation, not both (std={std})")
        if separation is not None and n_modes < 2:
            raise inconsistent(fam, "separation", separation, "it needs n_modes >= 2")
        if layout == "grid" and radius is not None:
            raise inconsistent(fam, "radius", radius, "it applies to layout 'ring' or 'random'; use spacing for a grid")
        if layout != "grid" and spacing is not None:
            raise inconsistent(fam, "spacing", spacing, f"it applies to layout 'grid', not {layout!r}")
        if layout == "ring" and dim < 2:
            raise inconsistent(fam, "dim", dim, "a ring needs dim >= 2")
        if anisotropy > 1 and dim < 2:
            raise inconsistent(fam, "anisotropy", anisotropy, "elongated modes need dim >= 2")
        ambient_dim = dim if ambient_dim is None else ambient_dim
        if ambient_dim < dim:
            raise inconsistent(fam, "ambient_dim", ambient_dim, f"it must be >= dim={dim}")
        if n_modes * ambient_dim > MAX_MODES_X_DIM:
            name, value = ("ambient_dim", ambient_dim) if ambient_dim > dim or n_modes == 1 else ("n_modes", n_modes)
            raise inconsistent(fam, name, value, f"n_modes x ambient_dim = {n_modes * ambient_dim} must be <= "
                               f"{MAX_MODES_X_DIM} (each mode's whitening matrix is ambient_dim^2)")
        if layout == "grid":
            side = round(n_modes ** (1 / dim))
            if side ** dim != n_modes:
                ok = ", ".join(str(s ** dim) for s in range(1, 8))
                raise inconsistent(fam, "n_modes", n_modes, f"a grid in dim={dim} needs a perfect power: {ok}, ...")

        radius = 1.0 if radius is None else radius
        spacing = 2.0 if spacing is None else spacing
        centres = torch.zeros(n_modes, dim, dtype=torch.float64)
        if layout == "ring":
            angle = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
            centres[:, 0], centres[:, 1] = radius * torch.cos(angle), radius * torch.sin(angle)
        elif layout == "grid":
            ticks = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
            centres = torch.cartesian_prod(*[ticks] * dim).reshape(n_modes, dim)
        else:
            g = torch.Generator().manual_seed(seed)
            centres = (2 * torch.rand(n_modes, dim, generator=g, dtype=torch.float64) - 1) * radius

        pair = torch.cdist(centres, centres).masked_fill(torch.eye(n_modes, dtype=torch.bool), math.inf)
        if separation is not None:
            std = float(pair.min()) / separation
        std = 0.05 if std is None else std

        # Per-mode Cholesky factor of the covariance in the intrinsic space.
        scales = torch.full((dim,), std, dtype=torch.float64)
        if dim >= 2:
            scales[1:] = std / anisotropy
        rot = torch.eye(dim, dtype=torch.float64).repeat(n_modes, 1, 1)
        if dim >= 2:
            theta = torch.full((n_modes,), math.radians(orientation), dtype=torch.float64)
            if layout == "ring":
                theta = theta + 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
            c, s = torch.cos(theta), torch.sin(theta)
            rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = c, -s, s, c
        root = rot * scales                                   # Sigma_k = root root^T
        self._tril = torch.linalg.cholesky(root @ root.transpose(1, 2))   # [K, d, d], lower
        self._weights = geometric_weights(n_modes, imbalance)
        self._centres = centres
        self._embed = random_isometry(dim, ambient_dim, seed + 1)   # [d, D]
        self.event_shape = (ambient_dim,)
        self.missing = {} if n_modes > 1 else {"gap_distance": "one mode: no gaps between modes"}
        self._links = neighbour_links(centres, pair)      # the gaps: segments joining neighbouring modes
        self._std, self._anisotropy = std, anisotropy

        ent = float(-(self._weights * self._weights.log()).sum())
        self.traits = {
            "n_modes": float(n_modes),
            "min_separation": float(pair.min() / std) if n_modes > 1 else math.inf,
            "weight_entropy": ent,
            "weight_entropy_ratio": ent / math.log(n_modes) if n_modes > 1 else 1.0,
            "imbalance": float(imbalance),
            "anisotropy": float(anisotropy),
            "std": float(std),
            "scale": float(spacing if layout == "grid" else radius),
            "intrinsic_dim": float(dim),
            "ambient_dim": float(ambient_dim),
        }

    def _sample_float64(self, n, generator, device):
        dim = self._centres.shape[1]
        k = torch.multinomial(self._weights.to(device), n, replacement=True, generator=generator)
        eps = torch.randn(n, dim, generator=generator, device=device, dtype=torch.float64)
        tril = self._tril.to(device)[k]
        y = self._centres.to(device)[k] + torch.einsum("nij,nj->ni", tril, eps)
        return y @ self._embed.to(device)

    def intrinsic(self, x: torch.Tensor) -> torch.Tensor:
        """Coordinates of ``x`` in the layout's own space (projection onto the embedded subspace)."""
        return x @ self._embed.to(x.device, x.dtype).T

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density. Above the intrinsic dimension it is the density on the embedded
        subspace (w.r.t. its own volume), evaluated at the projection of x onto it; how far x lies
        off the subspace is measured by ``support_distance``."""
        y = self.intrinsic(x)
        c = self._centres.to(y.device, y.dtype)
        tril = self._tril.to(y.device, y.dtype)
        diff = y[:, None, :] - c[None]                                         # [n, K, d]
        sol = torch.linalg.solve_triangular(
            tril.expand(y.shape[0], -1, -1, -1), diff[..., None], upper=False)[..., 0]
        half_logdet = torch.log(torch.diagonal(tril, dim1=-2, dim2=-1).abs()).sum(-1)
        comp = -0.5 * (sol ** 2).sum(-1) - half_logdet - 0.5 * y.shape[1] * LOG_2PI
        return torch.logsumexp(comp + self._weights.to(y.device, y.dtype).log(), dim=1)

    def support_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Sigma-normalised distance to the nearest mode (0 at a centre, about sqrt(dim) typical)."""
        return self.modes.assign(x)[1]

    def gap_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Distance to the nearest segment joining two neighbouring modes, in units of the mode
        std (off the embedded subspace in units of the smallest std, as ``Modes``); ``inf`` outside
        every segment's corridor (``base.corridor``)."""
        if "gap_distance" in self.missing:
            raise NotImplementedError(self.missing["gap_distance"])
        y, off = project(x, self._embed)
        a, b = (t.to(x.device, x.dtype) for t in self._links)
        return corridor(segment_distance(y, a, b).hypot(off[:, None] * self._anisotropy) / self._std,
                        (b - a).norm(dim=-1) / self._std)

    @property
    def modes(self) -> Modes:
        E = self._embed
        inv = torch.linalg.inv(self._tril)                                      # [K, d, d]
        proj = E.T @ E                                                          # [D, D]
        off = (torch.eye(E.shape[1], dtype=torch.float64) - proj) * (self._anisotropy / self._std)
        whiten = E.T @ inv @ E + off                                            # [K, D, D]
        return Modes(
            centres=(self._centres @ E).float(),
            weights=self._weights.float(),
            scales=torch.full((self._centres.shape[0],), self._std, dtype=torch.float32),
            whiten=whiten.float(),
        )
