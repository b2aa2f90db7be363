"""Grayscale images of one triangle: a known low-dimensional image manifold, factors -> images.

A triangle is drawn from six continuous factors (``FACTORS``), then rasterised with S x S
supersampling (box-filtered antialiasing, S = 8 as in Lucic et al. 2017), blurred by a discrete
Gaussian of std ``blur`` pixels and painted dark on light (or light on dark):

- ``scale``: circumradius R, as a fraction of the image half-width;
- ``rotation``: the 3-fold orientation psi = arg(prod_j (z_j - g)) / 3 in degrees, in [0, 120),
  where z_j are the vertices and g the centroid as complex numbers (also the argument of the
  filled triangle's third central moment, integral of (z - g)^3 dA). It does not depend on vertex
  labels, turns with the triangle, is defined for every triangle (no vertex is at the centroid),
  and for an equilateral triangle it is the direction of a vertex (modulo 120);
- ``x``, ``y``: the centroid, offset from the image centre (fractions of the half-width, y up);
- ``angle_0``, ``angle_1``: interior angles (degrees) at vertices 0 and 1, counter-clockwise
  (angle_2 = 180 - angle_0 - angle_1). Vertex 0 is the reference vertex: :func:`vertices` puts
  the vertices on the circumcircle at polar angles (0, 2 angle_2, 2 angle_2 + 2 angle_0) and
  turns them by psi - psi_0, with psi_0 that placement's orientation lifted continuously over
  the shapes (:func:`_placement`). Changing which vertex is vertex 0 turns the result by 120
  degrees, so exactly one vertex qualifies and the factors determine the triangle;
- ``component`` (int64): index of the interval of the split factor (rotation or scale).

The shape is uniform on the interior angles {alpha_j >= min_angle, sum = 180}, the other factors
uniform on their ranges. A vertex is at most 4R/3 from the centroid, so 4/3 scale_max + jitter
<= 1 keeps every triangle inside the image.

What makes it harder: more free factors (``traits['intrinsic_dim']``, up to 6), a manifold cut
into ``n_components`` pieces by gaps in rotation or size (a continuous generator must drop pieces
or put mass in the gaps; psi is a continuous function of the triangle, so the pieces are
disjoint sets of triangles a positive distance apart), small gaps, thin outlines instead of filled shapes, and no blur (sharp edges: the
images move abruptly along the manifold).
"""
from __future__ import annotations

import math

import torch

from . import raster
from .base import Distribution
from .knobs import Knob, inconsistent

FACTORS = ("scale", "rotation", "x", "y", "angle_0", "angle_1", "component")
PERIOD = 120.0          # the orientation is defined modulo 120 degrees


def orientation(v: torch.Tensor) -> torch.Tensor:
    """3-fold orientation psi in degrees [0, 120) of triangles v [n, 3, 2]."""
    z = v - v.mean(1, keepdim=True)
    arg = torch.atan2(z[..., 1], z[..., 0]).sum(1)          # arg of the product, modulo 2 pi
    return torch.rad2deg(arg / 3).remainder(PERIOD)


def _placement(ang: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Polar angles phi [n, 3] (radians) on the unit circumcircle of vertices with ccw interior
    angles ang [n, 3] (degrees), vertex 0 at 0 (an inscribed angle is half the opposite arc), and
    their orientation psi_0 [n] (radians), lifted continuously: the sum over vertices of
    phi_j + the angle between (z_j - centre) and (z_j - g), which lies in (-pi, pi) because the
    centroid g is inside the circle."""
    a = torch.deg2rad(ang)
    phi = torch.stack([torch.zeros_like(a[:, 0]), 2 * a[:, 2], 2 * a[:, 2] + 2 * a[:, 0]], 1)
    zx, zy = torch.cos(phi), torch.sin(phi)
    gx, gy = zx.mean(1, keepdim=True), zy.mean(1, keepdim=True)
    dx, dy = zx - gx, zy - gy                                   # z_j - g, then turned by -phi_j
    rel = torch.atan2(dy * zx - dx * zy, dx * zx + dy * zy)
    return phi, (phi + rel).sum(1) / 3


def vertices(f: dict[str, torch.Tensor]) -> torch.Tensor:
    """Vertices [n, 3, 2] (half-width units, y up, counter-clockwise) of the factors ``f``."""
    a0, a1 = f["angle_0"].double(), f["angle_1"].double()
    phi, psi0 = _placement(torch.stack([a0, a1, 180 - a0 - a1], 1))
    phi = phi + (torch.deg2rad(f["rotation"].double()) - psi0)[:, None]
    r = f["scale"].double()[:, None]
    v = torch.stack([r * torch.cos(phi), r * torch.sin(phi)], -1)
    centre = torch.stack([f["x"].double(), f["y"].double()], -1)
    return v - v.mean(1, keepdim=True) + centre[:, None]


def factors_from_vertices(v: torch.Tensor) -> dict[str, torch.Tensor]:
    """Factors of triangles v [n, 3, 2] (half-width units, y up, any vertex order), the inverse
    of :func:`vertices` (without ``component``): float64 [n] each."""
    v = v.double()
    e1, e2 = v.roll(-1, 1) - v, v.roll(1, 1) - v                      # edges leaving each vertex
    cw = (e1[:, 0, 0] * e2[:, 0, 1] - e1[:, 0, 1] * e2[:, 0, 0]) < 0
    v = torch.where(cw[:, None, None], v.flip(1), v)                    # counter-clockwise
    e1, e2 = v.roll(-1, 1) - v, v.roll(1, 1) - v
    cos = (e1 * e2).sum(-1) / (e1.norm(dim=-1) * e2.norm(dim=-1)).clamp_min(1e-300)
    ang = torch.rad2deg(torch.acos(cos.clamp(-1, 1)))                  # [n, 3], ccw
    (ax, ay), (bx, by), (cx, cy) = (v[:, i].unbind(-1) for i in range(3))
    sq = (v ** 2).sum(-1)
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    d = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
    ux = (sq[:, 0] * (by - cy) + sq[:, 1] * (cy - ay) + sq[:, 2] * (ay - by)) / d
    uy = (sq[:, 0] * (cx - bx) + sq[:, 1] * (ax - cx) + sq[:, 2] * (bx - ax)) / d
    rel = v - torch.stack([ux, uy], -1)[:, None]
    phi, psi = torch.atan2(rel[..., 1], rel[..., 0]), orientation(v)
    # the reference vertex j sits at polar angle psi - psi_0(angles starting at j)
    miss = [(phi[:, j] - torch.deg2rad(psi) + _placement(ang.roll(-j, 1))[1] + math.pi)
            .remainder(2 * math.pi).sub(math.pi).abs() for j in range(3)]
    j = torch.stack(miss, 1).argmin(1, keepdim=True)
    centroid = v.mean(1)
    return {
        "scale": rel.norm(dim=-1).mean(1), "rotation": psi,
        "x": centroid[:, 0], "y": centroid[:, 1],
        "angle_0": ang.gather(1, j)[:, 0], "angle_1": ang.gather(1, (j + 1) % 3)[:, 0],
    }


def _simplex(b: torch.Tensor, total: float) -> torch.Tensor:
    """Euclidean projection of the rows of b [n, 3] onto {w >= 0, sum w = total}."""
    u = b.sort(1, descending=True).values
    css = u.cumsum(1) - total
    k = torch.arange(1, 4, device=b.device, dtype=b.dtype)
    rho = ((u - css / k) > 0).sum(1, keepdim=True).clamp_min(1)
    return (b - css.gather(1, rho - 1) / rho).clamp_min(0)


class Triangles(Distribution):
    family = "triangles"
    ground_truth = frozenset({"triangle_factors"})
    summary = "images of one antialiased triangle; rotation or size cut into disjoint pieces"
    knobs = {k.name: k for k in [
        Knob("image_size", int, 28, "side of the square image in pixels", low=8, high=256),
        Knob("supersample", int, 8, "antialiasing: a pixel is the mean of S x S point samples "
             "(1 = aliased)", low=1, high=16),
        Knob("scale_min", float, 0.5, "smallest circumradius, fraction of the image half-width",
             low=0, low_open=True, high=0.75),
        Knob("scale_max", float, 0.7, "largest circumradius, fraction of the image half-width",
             low=0, low_open=True, high=0.75),
        Knob("rotation_range", float, 120.0, "orientations drawn from [0, rotation_range) degrees "
             "(120 = all: the orientation has period 120)", low=0.0, high=PERIOD),
        Knob("jitter", float, 0.05, "centroid offset, uniform in [-jitter, jitter]^2, fraction of "
             "the half-width", low=0.0, high=1.0, high_open=True),
        Knob("min_angle", float, 30.0, "smallest interior angle in degrees (60: equilateral only)",
             low=1.0, high=60.0),
        Knob("blur", float, 0.0, "std in pixels of the (discrete) Gaussian edge blur: smoothness",
             low=0.0, high=10.0),
        Knob("style", str, "filled", "filled triangle or its outline", choices=("filled", "outline")),
        Knob("line_width", float, None, "outline width in pixels, drawn inside the edges (default 1.5)",
             low=0, low_open=True, applies="style=outline"),
        Knob("polarity", str, "dark_on_light", "0 on 1 (as published) or 1 on 0",
             choices=("dark_on_light", "light_on_dark")),
        Knob("n_components", int, 1, "disjoint intervals the split factor is cut into", low=1, high=64),
        Knob("gap_fraction", float, 0.0, "fraction of the split factor's range removed, as equal gaps",
             low=0.0, high=1.0, high_open=True),
        Knob("split", str, "rotation", "the factor cut into n_components intervals",
             choices=("rotation", "size")),
    ]}

    def _setup(self, *, image_size, supersample, scale_min, scale_max, rotation_range, jitter,
               min_angle, blur, style, line_width, polarity, n_components, gap_fraction, split):
        fam = self.family
        if scale_min > scale_max:
            raise inconsistent(fam, "scale_min", scale_min, f"it must be <= scale_max={scale_max}")
        if 4 / 3 * scale_max + jitter > 1 + 1e-12:
            raise inconsistent(fam, "jitter", jitter, f"the triangle must stay inside the image: "
                               f"4/3 scale_max + jitter <= 1 (scale_max={scale_max})")
        if line_width is not None and style != "outline":
            raise inconsistent(fam, "line_width", line_width, "it applies to style 'outline'")
        lo, hi = (0.0, rotation_range) if split == "rotation" else (scale_min, scale_max)
        closed = split == "rotation" and rotation_range == PERIOD
        if (n_components > 1 or gap_fraction > 0) and hi == lo:
            raise inconsistent(fam, "split", split, f"a {split} split needs a range of {split} values")
        if n_components > 1 and gap_fraction == 0:
            raise inconsistent(fam, "gap_fraction", gap_fraction,
                               f"n_components={n_components} needs gaps: 0 < gap_fraction < 1")
        if n_components == 1 and gap_fraction > 0 and not closed:
            raise inconsistent(fam, "gap_fraction", gap_fraction, "an open range in one piece has no gap: "
                               "use 0, n_components > 1, or rotation_range=120")
        k, gaps = n_components, (n_components if closed else n_components - 1)
        width = (hi - lo) * (1 - gap_fraction) / k
        gap = (hi - lo) * gap_fraction / gaps if gaps else 0.0
        self.intervals = [(lo + i * (width + gap), lo + i * (width + gap) + width) for i in range(k)]
        self.split_factor = "rotation" if split == "rotation" else "scale"   # its factor's name
        self._split, self._closed = split, closed
        self._scale, self._rotation = (scale_min, scale_max), rotation_range
        self._jitter, self._min_angle = jitter, min_angle
        self.image_size, self.supersample, self.blur = image_size, supersample, blur
        self.line_width = (1.5 if line_width is None else line_width) if style == "outline" else None
        self.background, self.foreground = (1.0, 0.0) if polarity == "dark_on_light" else (0.0, 1.0)
        self.event_shape = (1, image_size, image_size)
        self.missing = {
            "log_prob": "the images lie on a manifold of at most 6 dimensions in a pixel space of "
                        "size^2 (and rasterisation is piecewise constant in the factors): no density",
            "support_distance": "it needs the fitted recovery of metrics.triangles.TriangleMatcher "
                                "(recover() returns the residual to the recovered triangle)",
            "modes": "a continuum of triangles has no discrete modes: see intervals and the "
                     "'component' factor",
        }
        free = [scale_max > scale_min, rotation_range > 0, jitter > 0, jitter > 0,
                min_angle < 60, min_angle < 60]
        chord = 2 * scale_min * math.sin(math.radians(gap) / 2) if split == "rotation" else gap
        self.traits = {
            "n_components": float(k),
            "gap_fraction": float(gap_fraction),
            "component_gap": float(gap),              # degrees or half-widths
            "gap_pixels": chord * image_size / 2,     # vertex displacement across a gap (smallest triangle)
            "blur": float(blur),
            "image_size": float(image_size),
            "supersample": float(supersample),
            "min_angle": float(min_angle),
            "filled": float(style == "filled"),
            "line_width": float(self.line_width or 0.0),
            "intrinsic_dim": float(sum(free)),
        }

    # -- factors -> images ------------------------------------------------------------------
    def sample_factors(self, n: int, *, generator: torch.Generator | None = None,
                       device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """``n`` draws of the factors (see the module docstring): float32 [n] each, ``component``
        int64."""
        g, dev = self._resolve_generator(n, generator, device)
        u = lambda: torch.rand(n, generator=g, device=dev, dtype=torch.float64)   # noqa: E731
        bounds = torch.tensor(self.intervals, device=dev, dtype=torch.float64)
        comp = torch.randint(len(self.intervals), (n,), generator=g, device=dev)
        cut = bounds[comp, 0] + (bounds[comp, 1] - bounds[comp, 0]) * u()
        s_lo, s_hi = self._scale
        other = (s_lo + (s_hi - s_lo) * u()) if self._split == "rotation" else self._rotation * u()
        scale, rot = (other, cut) if self._split == "rotation" else (cut, other)
        x, y = (self._jitter * (2 * u() - 1) for _ in range(2))
        e = -torch.log1p(-torch.rand(n, 3, generator=g, device=dev, dtype=torch.float64))
        ang = self._min_angle + (180 - 3 * self._min_angle) * e / e.sum(1, keepdim=True)   # ccw
        f = {"scale": scale, "rotation": rot, "x": x, "y": y, "angle_0": ang[:, 0], "angle_1": ang[:, 1]}
        return {**{k: t.float() for k, t in f.items()}, "component": comp}

    def pixels(self, v: torch.Tensor) -> torch.Tensor:
        """Half-width units (y up) -> pixel coordinates (y down) of vertices [n, 3, 2]."""
        h = self.image_size / 2
        return torch.stack([h * (1 + v[..., 0]), h * (1 - v[..., 1])], -1)

    def draw(self, v: torch.Tensor, *, soft: bool = False) -> torch.Tensor:
        """Images [n, 1, size, size] of triangles v [n, 3, 2] (half-width units): exact
        supersampled (float32), or with ``soft`` the differentiable twin (v's dtype)."""
        p = self.pixels(v)
        if soft:
            cov = raster.soft_coverage(p, self.image_size, self.line_width)
        else:
            cov = raster.coverage(p, self.image_size, self.supersample, self.line_width)
        cov = raster.blur(cov, self.blur)
        return (self.background + (self.foreground - self.background) * cov)[:, None]

    def render(self, f: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images float32 [n, 1, size, size] in [0, 1] of the factors ``f``."""
        return self.draw(vertices(f)).float()

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               device: torch.device | str | None = None, return_factors: bool = False):
        """``n`` images float32 [n, 1, size, size]; with ``return_factors`` also their factors."""
        f = self.sample_factors(n, generator=generator, device=device)
        x = self.render(f)
        return (x, f) if return_factors else x

    def _sample_float64(self, n, generator, device):
        return self.sample(n, generator=generator, device=device).double()

    def component_of(self, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest interval of split-factor values (rotation distances are modulo 120):
        (index int64 [n], inside bool [n])."""
        b = torch.tensor(self.intervals, device=value.device, dtype=torch.float64)
        t = value.double()[:, None]
        if self._split == "rotation":       # distance to an interval on the circle
            mid, half = b.mean(1), (b[:, 1] - b[:, 0]) / 2
            off = (t - mid + PERIOD / 2).remainder(PERIOD) - PERIOD / 2
            dist = (off.abs() - half).clamp_min(0)
        else:
            dist = (b[:, 0] - t).clamp_min(0) + (t - b[:, 1]).clamp_min(0)
        d, idx = dist.min(1)
        return idx, d == 0

    def clip(self, f: dict[str, torch.Tensor], *, gaps: bool = False) -> dict[str, torch.Tensor]:
        """The factors moved into the support: each range clamped, the split factor into its
        nearest interval (with ``gaps``, only into the whole range), the three angles projected
        onto {alpha_j >= min_angle, sum = 180}."""
        idx, _ = self.component_of(f[self.split_factor])
        b = torch.tensor(self.intervals, device=idx.device, dtype=torch.float64)[idx]
        if gaps:
            b = torch.tensor([[self.intervals[0][0], self.intervals[-1][1]]], device=idx.device,
                             dtype=torch.float64).expand_as(b)
        out = {k: t.double() for k, t in f.items() if k != "component"}
        if self.split_factor == "rotation" and not (gaps and self._closed):
            mid, half = b.mean(1), (b[:, 1] - b[:, 0]) / 2
            off = (out["rotation"] - mid + PERIOD / 2).remainder(PERIOD) - PERIOD / 2
            out["rotation"] = (mid + torch.maximum(torch.minimum(off, half), -half)).remainder(PERIOD)
        if self.split_factor == "rotation":
            out["scale"] = out["scale"].clamp(*self._scale)
        else:
            out["scale"] = torch.maximum(torch.minimum(out["scale"], b[:, 1]), b[:, 0])
            off = out["rotation"].remainder(PERIOD)      # [0, R) on the circle: nearest end outside
            past = off > self._rotation
            end = torch.where(off - self._rotation < PERIOD - off, torch.full_like(off, self._rotation), 0.0)
            out["rotation"] = torch.where(past, end, off)
        out["x"], out["y"] = (out[k].clamp(-self._jitter, self._jitter) for k in ("x", "y"))
        a = torch.stack([out["angle_0"], out["angle_1"], 180 - out["angle_0"] - out["angle_1"]], 1)
        a = self._min_angle + _simplex(a - self._min_angle, 180 - 3 * self._min_angle)
        out["angle_0"], out["angle_1"] = a[:, 0], a[:, 1]
        return {**{k: t.float() for k, t in out.items()}, "component": idx}

