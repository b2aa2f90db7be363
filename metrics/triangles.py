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
            cal = self.dist.sample(s["n_calibrate"], generator=g)
            held, held_f = self.dist.sample(s["n_holdout"], generator=g, return_factors=True)
            self._state.update(threshold=float(torch.quantile(self.recover(cal)[1].double(), QUANTILE)),
                               held=held, held_f=held_f)
            _CACHE[self._key] = self._state
        self._state = _CACHE[self._key]
        return self

    @property
    def threshold(self) -> float:
        """tau: residuals below it count as on the manifold."""
        return self.fit()._state["threshold"]

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
        f, resid, _ = self._recover(images)
        return f, resid

    def _recover(self, images):
        """factors, residual to the support, residual to the support with its gaps filled in."""
        x = self._check(images)
        if self._state is None:
            self.fit()
        v = self._refine(x, torch.cat([self._init(p) for p in x.split(1024)]))
        f = {k: t.float() for k, t in factors_from_vertices(v).items()}
        f["component"] = self.dist.component_of(f[self.dist.split_factor])[0]
        rms = lambda y: (x - y).pow(2).mean((1, 2, 3)).sqrt()      # noqa: E731
        d = self.dist
        return f, rms(d.render(d.clip(f))), rms(d.render(d.clip(f, gaps=True)))

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
        f, resid, filled = self._recover(images)
        st, dist = self._state, self.dist
        ok, clean = resid < st["threshold"], filled < st["threshold"]
        ref = self._reference(len(images))
        rho = ref["rho"]
        held = st["held"].to(images.device)
        share = lambda b: b.double().mean().item() if len(b) else math.nan     # noqa: E731
        out = {"precision": share(ok), "precision_with_gaps": share(clean),
               "recall": share(self._nearest(held, images.float()[ok]) < rho),
               "residual_median": resid.double().median().item() if len(resid) else math.nan,
               "threshold": st["threshold"], "recall_tolerance": rho}
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
