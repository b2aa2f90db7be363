"""Scores for generated images against the known triangle manifold (``distributions.triangles``).

Recovery: a small CNN, trained at ``fit`` on rendered triangles (the distribution with its gaps
filled in, every rotation and min_angle 10 degrees lower, so that near-misses are recovered too),
predicts the three vertices (loss: the smallest squared error over the 6 vertex orderings, so
labels do not matter). Of its predictions on the 8 symmetries of the square image (mapped
back), the best-fitting one starts Adam, which refines the vertices through the differentiable
renderer (``draw(soft=True)``). The residual of an image x is RMS(x - render(clip(f))) over
pixels: the exact renderer at the recovered factors f moved into the support (``dist.clip``),
i.e. the distance from x to a point of the true manifold, an upper bound on its distance to it.

    m = TriangleMatcher(dist, seed=0).fit()   # trains (cached per dist and settings) and calibrates
    factors, residual = m.recover(images)    # factors as in distributions.triangles.FACTORS
    m.evaluate(images)                        # {metric: float}

Metrics of ``evaluate`` (images [m, 1, size, size] from a generator):
- precision: share of images with residual < tau, tau = the 99th percentile of the residuals of
  ``n_calibrate`` real images (so real images score about 0.99). Only these on-manifold images
  enter recall, w1_* and mass_*.
- recall: share of ``n_holdout`` held-out real images whose nearest on-manifold image (RMS pixel
  distance) is closer than rho_m, the 99th percentile of the held-out images' distance to their
  nearest neighbour among m fresh real images (real images score about 0.99). Like any
  sample-based recall, its resolution is that nearest-neighbour distance: with many free factors
  it blurs over small gaps, where ``mass_*`` still resolves dropped pieces.
- w1_<factor>: 1-D Wasserstein distance between the recovered factors of the on-manifold images
  and the true factors of the held-out images (rotation on the circle of period 120 degrees;
  units: half-widths for scale, x, y; degrees for rotation and angles). w1_<factor>_real is the
  same for m fresh real images: the finite-sample floor a perfect generator scores.
- mass_<i>: share of on-manifold images whose split factor lies in interval i;
  components_captured: intervals with mass >= 1 / (4 k); component_kl: KL(interval shares ||
  uniform) over those images.
- precision_with_gaps: the share with residual < tau to the support with its gaps filled in
  (``clip(gaps=True)``); gap_mass: the share of those whose split factor lies in a gap (mass
  put between the pieces).
- residual_median, threshold (tau), recall_tolerance (rho_m): for reference.

Loose metrics (tau is strict: an RMS pixel error of about 0.01 without blur and 0.005 with blur
1.5 on 16 x 16 images, which generators trained for minutes on a CPU do not reach):
- precision_loose: share of images with residual < tau_loose = tau + delta, where delta is the
  median RMS pixel change of a real image when its triangle moves ``LOOSE_SHIFT`` = 1/4 pixel (in
  a random direction; measured at ``fit`` on the calibration images). So an image counts when it
  is no farther from a true triangle than a true triangle is from itself moved a quarter pixel,
  beyond the recovery error tau. delta follows the images' sharpness (16 x 16: 0.049 without
  blur, 0.015 with blur 1.5; 28 x 28: 0.038, 0.014), unlike a fixed RMS (0.05 would admit discs
  at blur 1.5), and depends on the real images only, not on the trained recovery, unlike a
  multiple of tau (16 x 16, blur 1.5: delta 0.0154 and 0.0153 for k = 1 and k = 3, where tau,
  a 99th percentile of the recovery's residuals, is 0.0034 and 0.0058). Measured on 300 images
  each (``TriangleMatcher(dist, seed=0)``, k = 1; median residual, then precision_loose):

  ==========================================  ===========================  ===========================
  images                                      16 x 16, tau_loose 0.059     16 x 16, tau_loose 0.019
  ==========================================  ===========================  ===========================
  real                                        0.005, 1.00                  0.001, 1.00
  real + Gaussian pixel noise, std 0.02       0.020, 1.00                  0.020, 0.07
  real + Gaussian pixel noise, std 0.05       0.050, 1.00                  0.050, 0.00
  extra edge blur 0.5 px / 1 px               0.035, 1.00 / 0.087, 0.00    0.006, 1.00 / 0.021, 0.23
  mean with itself turned 20 degrees          0.044, 0.89                  0.004, 1.00
  mean with itself moved 1 px / 2 px          0.044, 0.72 / 0.110, 0.00    0.007, 0.76 / 0.033, 0.09
  mean of two unrelated real images           0.084, 0.16                  0.012, 0.83
  disc of about the same area                 0.118, 0.00                  0.024, 0.16
  blank                                       0.140, 0.00                  0.068, 0.00
  ==========================================  ===========================  ===========================

  28 x 28 without blur (tau_loose 0.043): noise 0.02 1.00, noise 0.05 0.00, extra blur 0.5 px
  1.00, 1 px 0.00, turned 10 degrees 0.92, 20 degrees 0.00, moved 1 px 0.81, two unrelated 0.01,
  disc 0.00; with blur 1.5 (0.016): extra blur 0.5 px 1.00, 1 px 0.06, turned 20 degrees 0.92,
  moved 1 px 0.83, two unrelated 0.09, disc 0.00. With blur 1.5 on 16 x 16 pixels a triangle is
  nearly a blob (an average of two unrelated triangles is closer to the manifold than a disc),
  so no threshold there admits images as imperfect as FINDINGS' 2000-step VAE (residual median
  0.019: about half pass) and rejects every non-triangle; on sharper or larger images it does.
- recall_loose: ``recall`` with the loosely on-manifold images replaced by the renders of their
  recovered triangles (moved into the support), tolerance rho_m as for recall: the share of
  held-out real images near a triangle that some imperfect generated image depicts. Real images
  score about 0.99 (their recovered triangles are within tau of them).
- threshold_loose: tau_loose (RMS pixel error), for reference.
- residual_p10, residual_median, residual_p90: quantiles of the residuals (RMS pixel error, lower
  is better) of all the images passed: they rank generators when both precisions are 0.
"""
from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from distributions.triangles import FACTORS, PERIOD, Triangles, factors_from_vertices, vertices

PERMS = list(itertools.permutations(range(3)))
_CACHE: dict[tuple, dict] = {}
WIDTH = 16          # channels of the regressor's first convolution
QUANTILE = 0.99     # of the real images' residuals (tau) and nearest-neighbour distances (rho)
LOOSE_SHIFT = 0.25  # pixels: tau_loose = tau + median RMS change of a real image moved this far


# The triangle a recovery falls back to when refining an image's vertices fails (non-finite): an
# equilateral one, centred, circumradius 0.6 of the half-width. Its render is a point of the
# manifold (after clip), so the residual stays an upper bound on the distance to it.
FALLBACK = 0.6 * torch.tensor([[math.cos(a), math.sin(a)] for a in (math.pi / 2, 7 * math.pi / 6, 11 * math.pi / 6)])


def regressor(size: int) -> nn.Module:
    """CNN with coordinate channels: [n, 1, size, size] coverage -> vertices [n, 6]."""
    return nn.Sequential(
        CoordChannels(),
        nn.Conv2d(3, WIDTH, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(WIDTH, 2 * WIDTH, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(7), nn.Flatten(),
        nn.Linear(2 * WIDTH * 49, 8 * WIDTH), nn.ReLU(), nn.Linear(8 * WIDTH, 6),
    )


class CoordChannels(nn.Module):
    def forward(self, x):
        n, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.cat([x, xx.expand(n, 1, h, w), yy.expand(n, 1, h, w)], 1)


def set_loss(pred: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Mean over triangles of the smallest squared vertex error over the 6 orderings."""
    err = torch.stack([((pred - v[:, p]) ** 2).sum((1, 2)) for p in PERMS], 1)
    return err.amin(1).mean()


def wasserstein1(u: torch.Tensor, v: torch.Tensor, period: float | None = None) -> float:
    """W1 between the empirical distributions of u and v (1-D), on a circle when ``period``."""
    if len(u) == 0 or len(v) == 0:
        return math.nan
    u, v = u.double().flatten(), v.double().flatten()
    if period is not None:
        u, v = u.remainder(period), v.remainder(period)
        ends = torch.tensor([0.0, period], dtype=u.dtype, device=u.device)
        grid = torch.cat([ends[:1], torch.cat([u, v]).sort().values, ends[1:]])
    else:
        grid = torch.cat([u, v]).sort().values
    step = grid.diff()
    at = grid[:-1]
    diff = (torch.searchsorted(u.sort().values, at, right=True) / len(u)
            - torch.searchsorted(v.sort().values, at, right=True) / len(v))
    if period is not None:      # W1 on the circle: min over c of integral |F - G - c| (c: weighted median)
        order = diff.argsort()
        cum = step[order].cumsum(0)
        diff = diff - diff[order][torch.searchsorted(cum, cum[-1] / 2).clamp(max=len(cum) - 1)]
    return float((diff.abs() * step).sum())


class TriangleMatcher:
    """Recovery of the closest triangle and manifold metrics for one ``triangles`` distribution.

    seed: randomness of training and calibration. train_steps, batch_size: regressor training
    (about 15 s of one CPU core at the defaults). refine_steps: Adam steps of the vertex
    refinement. n_calibrate, n_holdout: real images for the precision threshold and for recall
    and the factor distances."""

    def __init__(self, dist: Triangles, *, seed: int = 0, train_steps: int = 400, batch_size: int = 128,
                 refine_steps: int = 60, n_calibrate: int = 1000, n_holdout: int = 1000):
        if not isinstance(dist, Triangles):
            raise ValueError(f"dist={dist!r} is not allowed; expected a 'triangles' distribution")
        for name, value, low in (("seed", seed, 0), ("train_steps", train_steps, 0), ("batch_size", batch_size, 1),
                                 ("refine_steps", refine_steps, 0), ("n_calibrate", n_calibrate, 2),
                                 ("n_holdout", n_holdout, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r} is not allowed; expected an integer >= {low}")
        self.dist, self.seed, self.refine_steps = dist, seed, refine_steps
        self._key = (repr(dist), seed, train_steps, batch_size, refine_steps, n_calibrate, n_holdout)
        self._settings = dict(train_steps=train_steps, batch_size=batch_size,
                              n_calibrate=n_calibrate, n_holdout=n_holdout)
        self._state: dict | None = None

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self) -> "TriangleMatcher":
        """Train the regressor and calibrate tau; cached per distribution and settings."""
        if self._key not in _CACHE:
            s = self._settings
            net = self._train(s["train_steps"], s["batch_size"])
            self._state = {"net": net, "ref": {}}
            g = torch.Generator().manual_seed(self.seed + 1)
            cal, cal_f = self.dist.sample(s["n_calibrate"], generator=g, return_factors=True)
            held, held_f = self.dist.sample(s["n_holdout"], generator=g, return_factors=True)
            tau = float(torch.quantile(self.recover(cal)[1].double(), QUANTILE))
            self._state.update(threshold=tau, threshold_loose=tau + self._shift_change(cal, cal_f),
                               held=held, held_f=held_f)
            _CACHE[self._key] = self._state
        self._state = _CACHE[self._key]
        return self

    @property
    def threshold(self) -> float:
        """tau: residuals below it count as on the manifold."""
        return self.fit()._state["threshold"]

    @property
    def threshold_loose(self) -> float:
        """tau_loose = tau + delta: residuals below it count as loosely on the manifold."""
        return self.fit()._state["threshold_loose"]

    def _shift_change(self, x: torch.Tensor, f: dict[str, torch.Tensor]) -> float:
        """delta: median RMS pixel change of the images x (factors f) when their triangles move
        ``LOOSE_SHIFT`` pixels in a random direction (not clipped: only the pixel change counts)."""
        g = torch.Generator().manual_seed(self.seed + 3)
        turn = 2 * math.pi * torch.rand(len(x), generator=g, dtype=torch.float64)
        step = LOOSE_SHIFT * 2 / self.dist.image_size           # pixels -> half-widths
        moved = {**f, "x": f["x"].double() + step * turn.cos(), "y": f["y"].double() + step * turn.sin()}
        change = (self.dist.render(moved) - x).pow(2).mean((1, 2, 3)).sqrt()
        return float(change.double().median())

    def _train(self, steps: int, batch: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = regressor(self.dist.image_size)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=max(steps, 1))
        g = torch.Generator().manual_seed(self.seed)
        wide = Triangles(**{**self.dist.params, "n_components": 1, "gap_fraction": 0.0, "split": "rotation",
                            "rotation_range": PERIOD, "min_angle": max(1.0, self.dist.params["min_angle"] - 10)})
        for _ in range(steps):
            x, f = wide.sample(batch, generator=g, return_factors=True)
            loss = set_loss(net(self._coverage(x)).view(-1, 3, 2), vertices(f).float())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        return net.eval()

    def _coverage(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dist
        return (x - d.background) / (d.foreground - d.background)

    # -- recovery ----------------------------------------------------------------------------------
    def recover(self, images: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Closest triangle of each image: (factors {name: float32 [n]} of the refined vertices,
        ``component`` their nearest interval; residual float32 [n]: RMS(x - render(clip(f))), the
        distance to the triangle at those factors moved into the support)."""
        f, resid, _, _ = self._recover(images)
        return f, resid

    def _recover(self, images):
        """factors, residual to the support, residual to the support with its gaps filled in, and
        the renders of the recovered triangles moved into the support (the projections)."""
        x = self._check(images)
        if self._state is None:
            self.fit()
        v = self._refine(x, torch.cat([self._init(p) for p in x.split(1024)]))
        lost = ~torch.isfinite(v).flatten(1).all(1)          # images far outside [0, 1] blow the refinement up:
        v[lost] = FALLBACK.to(v)                              # any triangle bounds their distance (far off)
        f = {k: t.float() for k, t in factors_from_vertices(v).items()}
        f["component"] = self.dist.component_of(f[self.dist.split_factor])[0]
        rms = lambda y: (x.double() - y).pow(2).mean((1, 2, 3)).sqrt().float()    # noqa: E731  (no overflow)
        d = self.dist
        proj = d.render(d.clip(f))
        return f, rms(proj), rms(d.render(d.clip(f, gaps=True))), proj

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> torch.Tensor:
        """Vertices [n, 3, 2] to start from: the regressor's predictions on the 8 symmetries of
        the square image (turns by 90 degrees, mirror), mapped back; the one whose soft render
        fits best."""
        net, best, best_loss = self._state["net"].to(x.device), None, None
        for flip in (False, True):
            for k in range(4):
                p = net(self._coverage(torch.rot90(x.flip(-1) if flip else x, k, dims=(-2, -1)))).view(-1, 3, 2)
                for _ in range(k):                                  # undo the turn (y is up)
                    p = torch.stack([p[..., 1], -p[..., 0]], -1)
                if flip:
                    p = torch.stack([-p[..., 0], p[..., 1]], -1)
                loss = (self.dist.draw(p, soft=True) - x).pow(2).mean((1, 2, 3))
                if best is None:
                    best, best_loss = p, loss
                else:
                    better = loss < best_loss
                    best, best_loss = torch.where(better[:, None, None], p, best), torch.minimum(loss, best_loss)
        return best

    def _refine(self, x: torch.Tensor, v0: torch.Tensor) -> torch.Tensor:
        """Adam on the vertices, minimising the soft render's squared error (each image alone)."""
        v = v0.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([v], lr=0.02)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(self.refine_steps, 1), eta_min=1e-3)
        for _ in range(self.refine_steps):
            loss = (self.dist.draw(v, soft=True) - x).pow(2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        return v.detach()

    def _check(self, images) -> torch.Tensor:
        shape = tuple(self.dist.event_shape)
        if not isinstance(images, torch.Tensor) or tuple(images.shape[1:]) != shape or not images.is_floating_point():
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            want = ", ".join(map(str, shape))
            raise ValueError(f"images={got} is not allowed; expected a floating tensor [n, {want}]")
        if len(images) == 0:
            raise ValueError("images has 0 rows, which is not allowed; expected at least 1")
        if not bool(torch.isfinite(images).all()):
            raise ValueError("images has non-finite values, which is not allowed; drop those rows first")
        return images.float()

    # -- metrics -----------------------------------------------------------------------------------
    def recall_tolerance(self, m: int) -> float:
        """rho_m: 99th percentile of the held-out images' distance to the nearest of m real ones."""
        return self._reference(m)["rho"]

    def _reference(self, m: int) -> dict:
        """For m fresh real images: rho_m and the W1 of their factors to the held-out ones (what a
        perfect generator scores: finite samples are never at W1 = 0)."""
        ref = self._state["ref"]
        if m not in ref:
            x, f = self.dist.sample(m, generator=torch.Generator().manual_seed(self.seed + 2), return_factors=True)
            held, held_f = self._state["held"], self._state["held_f"]
            ref[m] = {"rho": float(torch.quantile(self._nearest(held, x).double(), QUANTILE)),
                      **{f"w1_{k}_real": wasserstein1(f[k], held_f[k], PERIOD if k == "rotation" else None)
                         for k in FACTORS[:-1]}}
        return ref[m]

    @staticmethod
    def _nearest(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """RMS pixel distance from every image of a to its nearest image of b: [len(a)]."""
        a, b = a.flatten(1), b.to(a.device).flatten(1)
        if len(b) == 0:
            return torch.full((len(a),), math.inf, device=a.device)
        d = torch.cat([torch.cdist(p, b).amin(1) for p in a.split(max(1, 2 ** 22 // len(b)))])
        return d / math.sqrt(a.shape[1])

    def evaluate(self, images: torch.Tensor) -> dict[str, float]:
        """Precision, recall, per-factor W1 and per-interval masses (see the module docstring)."""
        f, resid, filled, proj = self._recover(images)
        st, dist = self._state, self.dist
        ok, clean = resid < st["threshold"], filled < st["threshold"]
        loose = resid < st["threshold_loose"]
        ref = self._reference(len(images))
        rho = ref["rho"]
        held = st["held"].to(images.device)
        share = lambda b: b.double().mean().item() if len(b) else math.nan     # noqa: E731
        r = resid.double()
        out = {"precision": share(ok), "precision_with_gaps": share(clean),
               "recall": share(self._nearest(held, images.float()[ok]) < rho),
               "precision_loose": share(loose),
               "recall_loose": share(self._nearest(held, proj[loose]) < rho),
               **{f"residual_{name}": r.quantile(q, interpolation="lower").item()   # median as torch.median
                  for name, q in (("median", 0.5), ("p10", 0.1), ("p90", 0.9))},
               "threshold": st["threshold"], "threshold_loose": st["threshold_loose"],
               "recall_tolerance": rho}
        true = {k: t.to(images.device) for k, t in st["held_f"].items()}
        for name in FACTORS[:-1]:
            out[f"w1_{name}"] = wasserstein1(f[name][ok], true[name], PERIOD if name == "rotation" else None)
            out[f"w1_{name}_real"] = ref[f"w1_{name}_real"]
        k = len(dist.intervals)
        idx, inside = dist.component_of(f[dist.split_factor][ok])
        counts = torch.bincount(idx[inside], minlength=k).double()
        for i in range(k):
            out[f"mass_{i}"] = (counts[i] / max(len(idx), 1)).item()
        out["components_captured"] = float((counts / max(len(idx), 1) >= 0.25 / k).sum())
        p = counts / counts.sum().clamp_min(1)
        out["component_kl"] = float((p[p > 0] * (p[p > 0] * k).log()).sum()) if counts.sum() > 0 else math.nan
        out["gap_mass"] = share(~dist.component_of(f[dist.split_factor][clean])[1])
        return out


def final_placement(metrics: dict, dist: Triangles) -> tuple[dict, list[float]]:
    """The placement of a run's final images (``metrics.verdicts.placement``'s keys) from the
    matcher's final metrics as ``metrics.evaluate`` names them, and the intervals' true weights:
    on the manifold (residual < tau: manifold_precision), in a gap (within tau of the manifold with
    its cuts filled and the split factor in a cut: gap_mass x manifold_precision_with_gaps),
    blurred (every other finite image), each interval's share of the on-manifold images, and
    manifold_recall as the coverage. The
    matcher runs once, at the end, so a triangles run is judged at its final evaluation only."""
    on = metrics.get("manifold_precision", 0.0)
    gap = metrics.get("gap_mass", 0.0) * metrics.get("manifold_precision_with_gaps", 0.0)
    nonfinite = metrics.get("nonfinite_fraction", 0.0)
    mass = [metrics.get(f"mass_{i}", 0.0) for i in range(len(dist.intervals))]
    total = sum(mass)
    widths = [hi - lo for lo, hi in dist.intervals]
    return ({"on_support": on, "gap_mass": gap, "blur_mass": max(0.0, 1 - on - gap - nonfinite),
             "nonfinite_fraction": nonfinite, "component_mass": [m / total if total else 0.0 for m in mass],
             **({"coverage": metrics["manifold_recall"]} if "manifold_recall" in metrics else {})},
            [w / sum(widths) for w in widths])

