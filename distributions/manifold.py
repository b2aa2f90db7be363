"""Noisy curves and surfaces whose connectedness and smoothness are knobs.

A clean point is drawn uniformly by length (area for the swiss roll) on the support, then
isotropic Gaussian noise of std ``noise`` is added in the ambient space. What makes it harder:
more components (``n_components``) and wider gaps (``gap_fraction``) -- a continuous generator on
a connected latent space must drop components or put mass in the gaps; higher curvature
(``frequency`` and ``amplitude`` of the wavy ring, more ``turns`` of the spiral); and a curve
hidden in a high ``ambient_dim``.
"""
from __future__ import annotations

import math

import torch

from .base import Distribution, corridor, project, random_isometry
from .curves import Path, Support, connectors, gaps, split
from .knobs import Knob, inconsistent

SHAPES = ("circle", "line", "wavy_ring", "spiral", "moons", "swiss_roll", "two_circles")
SPLITTABLE = ("circle", "line", "wavy_ring", "spiral", "swiss_roll")
LOG_2PI = math.log(2 * math.pi)


def _stack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.stack([x, y], dim=1)


class Manifold(Distribution):
    family = "manifold"
    ground_truth = frozenset({"components"})
    summary = "noisy curve or surface with tunable connectedness (components, gaps) and smoothness"
    knobs = {k.name: k for k in [
        Knob("shape", str, "circle", "the clean support", choices=SHAPES),
        Knob("n_components", int, 1, "number of disjoint pieces the support is cut into", low=1, high=256,
             applies="shape in {" + ", ".join(SPLITTABLE) + "}"),
        Knob("gap_fraction", float, 0.0, "fraction of the support's length removed, as equal gaps",
             low=0.0, high=1.0, high_open=True),
        Knob("radius", float, None, "size: circle and ring radius, outer radius of spiral and roll, "
             "moon radius, radius of each of two_circles (centred at (+-2 radius, 0)) (default 1.0)",
             low=0, low_open=True, applies="shape != line"),
        Knob("length", float, None, "length of the line (default 2.0)", low=0, low_open=True,
             applies="shape=line"),
        Knob("frequency", int, None, "oscillations of the wavy ring per turn (default 6)", low=1,
             applies="shape=wavy_ring"),
        Knob("amplitude", float, None, "relative radius oscillation r = R(1 + a sin(f theta)) "
             "(default 0.2)", low=0.0, high=1.0, high_open=True, applies="shape=wavy_ring"),
        Knob("turns", float, None, "turns of the spiral / roll after the first 3/4 turn (default 1.5)",
             low=0, low_open=True, applies="shape in {spiral, swiss_roll}"),
        Knob("height", float, None, "height of the swiss roll (default 2.0)", low=0, low_open=True,
             applies="shape=swiss_roll"),
        Knob("noise", float, 0.02, "std of isotropic Gaussian noise around the support", low=0.0),
        Knob("ambient_dim", int, None, "dimension of the samples (default: 2, or 3 for swiss_roll)", low=2,
             high=512),
        Knob("seed", int, 0, "seed of the fixed random embedding (not of the samples)", low=0),
    ]}

    def _setup(self, *, shape, n_components, gap_fraction, radius, length, frequency, amplitude,
               turns, height, noise, ambient_dim, seed):
        fam = self.family
        given = dict(radius=radius, length=length, frequency=frequency, amplitude=amplitude,
                     turns=turns, height=height)
        for name, value in given.items():
            if value is not None and shape not in _APPLIES[name]:
                raise inconsistent(fam, name, value, f"it applies to shape in {_APPLIES[name]}, not {shape!r}")
        if shape not in SPLITTABLE and (n_components != 1 or gap_fraction != 0):
            bad = ("n_components", n_components) if n_components != 1 else ("gap_fraction", gap_fraction)
            raise inconsistent(fam, *bad, f"shape {shape!r} has fixed components; cut one of {SPLITTABLE}")
        closed = shape in ("circle", "wavy_ring")
        if n_components > 1 and gap_fraction == 0:
            raise inconsistent(fam, "gap_fraction", gap_fraction, f"n_components={n_components} needs gaps: 0 < gap_fraction < 1")
        if n_components == 1 and gap_fraction > 0 and not closed:
            raise inconsistent(fam, "gap_fraction", gap_fraction, f"an open {shape!r} in one piece has no gap: use 0 or n_components > 1")
        plane = 3 if shape == "swiss_roll" else 2
        ambient_dim = plane if ambient_dim is None else ambient_dim
        if ambient_dim < plane:
            raise inconsistent(fam, "ambient_dim", ambient_dim, f"shape {shape!r} needs ambient_dim >= {plane}")

        R = 1.0 if radius is None else radius
        self._height = 2.0 if height is None else height
        if shape == "moons":        # scikit-learn's make_moons geometry, scaled by R
            outer = Path(lambda u: R * _stack(torch.cos(math.pi * u), torch.sin(math.pi * u)))
            inner = Path(lambda u: R * _stack(1 - torch.cos(math.pi * u), 0.5 - torch.sin(math.pi * u)))
            self._support = Support(split(outer, 1, 0.0, False) + split(inner, 1, 0.0, False))
        elif shape == "two_circles":  # Khayatkhoei et al. 2018: circles of radius R centred at (+-2R, 0)
            left, right = (Path(lambda u, c=c: R * _stack(c + torch.cos(2 * math.pi * u),
                                                          torch.sin(2 * math.pi * u))) for c in (-2.0, 2.0))
            self._support = Support(split(left, 1, 0.0, False) + split(right, 1, 0.0, False))
        else:
            path = _path(shape, R, length, frequency, amplitude, turns)
            self._support = Support(split(path, n_components, gap_fraction, closed))
        # The gaps: the removed pieces of a cut path, or straight connectors between fixed components.
        cut = shape in SPLITTABLE and gap_fraction > 0
        removed = gaps(path, n_components, gap_fraction, closed) if cut else connectors(self._support)
        self._gaps = [Support([piece]) for piece in removed] or None     # one each: a corridor per gap

        self._plane, self._noise = plane, noise
        self._embed = random_isometry(plane, ambient_dim, seed + 1)
        self.event_shape = (ambient_dim,)
        self.missing = {"modes": "a manifold has no discrete modes"}
        if self._gaps is None:
            self.missing["gap_distance"] = "one connected component: the support has no gaps"
        if noise == 0:
            self.missing["log_prob"] = "noise=0: the support has zero volume, so there is no density"
        gap = self._support.component_gap()
        self.traits = {
            "n_components": float(len(self._support.pieces)),
            "gap_fraction": float(gap_fraction),
            "component_gap": gap,
            "gap_over_noise": gap / noise if noise > 0 else math.inf,
            "max_curvature": self._support.max_curvature,
            "support_size": self._support.length * (self._height if plane == 3 else 1.0),
            "noise": float(noise),
            "intrinsic_dim": float(plane - 1),
            "ambient_dim": float(ambient_dim),
        }
        if shape == "wavy_ring":
            self.traits.update(frequency=float(frequency or 6), amplitude=float(0.2 if amplitude is None else amplitude))

    # -- clean support in the plane (3-D for the roll) --------------------------------------------
    def _clean(self, n, generator, device):
        xy = self._support.sample(n, generator, device)
        if self._plane == 2:
            return xy
        h = (torch.rand(n, generator=generator, device=device, dtype=torch.float64) - 0.5) * self._height
        return torch.stack([xy[:, 0], h, xy[:, 1]], dim=1)

    def _sample_float64(self, n, generator, device):
        x = self._clean(n, generator, device) @ self._embed.to(device)
        return x + self._noise * torch.randn(x.shape, generator=generator, device=device, dtype=torch.float64)

    def support_points(self, n: int) -> torch.Tensor:
        """About ``n`` points spread evenly over the clean support, float32 [n, ambient_dim]."""
        if self._plane == 2:
            pts = self._support.even(n)
        else:       # a grid over (length, height) with cells close to square
            rows = max(1, round(math.sqrt(n * self._height / self._support.length)))
            xy = self._support.even(max(1, n // rows))
            h = ((torch.arange(rows, dtype=torch.float64) + 0.5) / rows - 0.5) * self._height
            xy, h = xy.repeat(rows, 1), h.repeat_interleave(len(xy))
            pts = torch.stack([xy[:, 0], h, xy[:, 1]], dim=1)
        return (pts @ self._embed).float()

    def support_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean distance to the clean support (chord error below 1e-6)."""
        return self._distance(x, self._support)[0]

    def gap_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean distance to the gaps: the removed pieces of a cut curve (or, for fixed
        components, the straight segments between their closest points); ``inf`` outside every
        gap's corridor (``base.corridor``)."""
        if self._gaps is None:
            raise NotImplementedError(self.missing["gap_distance"])
        d = torch.stack([self._distance(x, g)[0] for g in self._gaps], dim=-1)
        return corridor(d, torch.cat([g.lengths for g in self._gaps]).to(d.device, d.dtype))

    def component(self, x: torch.Tensor) -> torch.Tensor:
        """Index [n] of the component (piece of the support) nearest to each row of x."""
        return self._distance(x, self._support)[1]

    @property
    def component_weights(self) -> torch.Tensor:
        """Each component's share of the clean mass (its share of the length)."""
        return (self._support.lengths / self._support.length).float()

    def _distance(self, x: torch.Tensor, support: Support) -> tuple[torch.Tensor, torch.Tensor]:
        y, off = project(x, self._embed)
        if self._plane == 2:
            d, which = support.nearest(y)
        else:
            d, which = support.nearest(y[:, [0, 2]])
            d = d.hypot((y[:, 1].abs() - self._height / 2).clamp_min(0))
        return d.hypot(off), which

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density of the noisy distribution: the Gaussian blur of the uniform measure on the
        support, integrated along the curve by 3-point Gauss-Legendre on cells of length noise/2
        (relative error below 1e-6). The roll's height and the
        directions off the embedded plane integrate in closed form."""
        if "log_prob" in self.missing:
            raise NotImplementedError(self.missing["log_prob"])
        s = self._noise
        y, off = project(x, self._embed)
        nodes, wts = self._support.nodes(min(s / 2, self._support.length / 64))
        nodes, logw = nodes.to(x.device, x.dtype), (wts / self._support.length).log().to(x.device, x.dtype)
        y2 = y[:, [0, 2]] if self._plane == 3 else y
        out = []
        for part in y2.split(max(1, 2 ** 22 // len(nodes))):
            sq = torch.cdist(part, nodes) ** 2
            out.append(torch.logsumexp(logw - sq / (2 * s * s), dim=1))
        lp = torch.cat(out) - LOG_2PI - 2 * math.log(s)
        if self._plane == 3:        # uniform height in [-H/2, H/2] blurred by N(0, s^2)
            t = y[:, 1]
            normal = torch.distributions.Normal(torch.zeros((), dtype=x.dtype, device=x.device), 1.0)
            mass = normal.cdf((self._height / 2 - t) / s) - normal.cdf((-self._height / 2 - t) / s)
            lp = lp + mass.clamp_min(1e-300).log() - math.log(self._height)
        extra = self.event_shape[0] - self._plane
        return lp - off ** 2 / (2 * s * s) - extra * (0.5 * LOG_2PI + math.log(s))


_APPLIES = {
    "radius": ("circle", "wavy_ring", "spiral", "moons", "swiss_roll", "two_circles"),
    "length": ("line",),
    "frequency": ("wavy_ring",),
    "amplitude": ("wavy_ring",),
    "turns": ("spiral", "swiss_roll"),
    "height": ("swiss_roll",),
}


def _path(shape, R, length, frequency, amplitude, turns) -> Path:
    if shape == "circle":
        return Path(lambda u: R * _stack(torch.cos(2 * math.pi * u), torch.sin(2 * math.pi * u)))
    if shape == "line":
        L = 2.0 if length is None else length
        return Path(lambda u: _stack(L * (u - 0.5), torch.zeros_like(u)))
    if shape == "wavy_ring":
        f, a = (6 if frequency is None else frequency), (0.2 if amplitude is None else amplitude)
        def ring(u):
            th = 2 * math.pi * u
            r = R * (1 + a * torch.sin(f * th))
            return _stack(r * torch.cos(th), r * torch.sin(th))
        return Path(ring)
    # spiral and the roll's cross-section: scikit-learn's t cos t, t sin t with t from 1.5 pi
    t0, t1 = 1.5 * math.pi, 1.5 * math.pi + 2 * math.pi * (1.5 if turns is None else turns)
    def spiral(u):
        t = t0 + (t1 - t0) * u
        return R / t1 * _stack(t * torch.cos(t), t * torch.sin(t))
    return Path(spiral)
