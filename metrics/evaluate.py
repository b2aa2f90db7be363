"""``evaluate(dist, samples)``: every metric the distribution's ground truth allows, by name.

    ev = evaluate(dist, samples)        # an Evaluation: a plain {name: float} dict ...
    ev["coverage"], ev.skipped          # ... plus {name: reason} for what was not computed
    json.dumps(ev.record())             # {"metrics": ..., "skipped": ..., "settings": ...}

``samples`` is [n, *dist.event_shape] (any device); the sample-based metrics see each sample
flattened to a vector. ``json.dumps(ev)`` gives the metrics alone, ``ev.record()`` keeps the
reasons and the thresholds used.

Families with their own ground truth plug in their evaluator by capability (``EVALUATORS``;
same Evaluation type): ``triangle_factors`` -> metrics.triangles.TriangleMatcher (its precision /
recall as manifold_*, + pixel-space sample metrics, precision and recall renamed pixel_*),
``graph_structure`` -> metrics.graphs.evaluate_graphs. Every name returned is declared in
metrics.registry (``learnlab metrics --list``).

Metric names (all floats; a metric is either in the dict or in ``skipped``, never both):

    nonfinite_fraction     share of sample rows with a NaN / inf entry
    modes_captured, modes_captured_fraction, mode_hq_fraction, mode_reverse_kl, mode_forward_kl,
    mode_js, mode_mass_<k>                       metrics.modes.mode_stats (families with modes)
    precision, recall      improved precision / recall, k = 3      metrics.manifold.prdc
    density, coverage      density / coverage, k = 5
    mmd2, energy_distance, sliced_wasserstein    metrics.distances
    c2st_accuracy          metrics.c2st.c2st_accuracy (k-NN classifier)
    log_prob_mean          mean true log-density of the finite samples (where log_prob exists);
    log_prob_real_mean     the same for the real samples, its reference (= minus the entropy)
    support_precision      share of samples within ``support_tolerance`` of the true support
    blur_mass, gap_mass    shares off the support: blurred / in the gaps (metrics.verdicts.placement)
    components_held, components_held_fraction, held_js   modes or pieces held (metrics.verdicts.judge)
    support_coverage       share of ``dist.support_points(n)`` covered (metrics.manifold.support_coverage)
    quality                harmonic mean of support_precision and coverage (triangles: manifold
                           precision and recall): the one continuous score of a run (``quality``)

Conventions. Non-finite samples count as failures where a metric is a share of the samples
(mode_hq_fraction, precision, density, support_precision: they are in no ball and near no
mode); the two-sample distances, recall, coverage, c2st and log_prob_mean use the finite rows
only. ``real`` defaults to ``len(samples)`` fresh samples from ``dist`` drawn with
``generator`` (default: seeded with ``REFERENCE_SEED``, a stream a user's samples do not share
by accident), so results are deterministic; a warning says when samples and real share rows. The MMD kernel's base bandwidth
is the median pairwise distance of 1,000 further true samples: the same kernel for every
generator evaluated with the same seed, and independent of both sets, so MMD^2 stays unbiased.

Thresholds, recorded in ``settings``. Both give a true sample the 2-D "3 sigma" probability
Q = 1 - exp(-9/2) = 98.9%, whatever the dimension:
- mode threshold (sigma units): sqrt(chi2_d^-1(Q)) with d the intrinsic dimension
  (traits["intrinsic_dim"]); exactly 3 for d = 2 as in PacGAN / VEEGAN.
- support tolerance: for families with modes ``support_distance`` is sigma-normalised and the
  tolerance is the mode threshold; for families with a ``noise`` trait (isotropic noise of that
  std, Euclidean ``support_distance``) it is max(noise * sqrt(chi2_c^-1(Q)), floor), c = ambient
  minus intrinsic dimension, floor = 1% of the real samples' RMS distance to their mean.
"""
from __future__ import annotations

import math
import warnings

import torch
from scipy.stats import chi2

from . import checks, registry
from .c2st import c2st_accuracy
from .distances import SCALES, energy_distance, median_bandwidth, mmd, sliced_wasserstein
from .manifold import prdc, support_coverage
from .modes import mode_stats
from .verdicts import Thresholds, components, judge, placement

Q = 1 - math.exp(-4.5)
# The default real reference stream: a seed no user picks by accident (not 0, 1, 42, ...).
REFERENCE_SEED = 0x5EED_0F_2EA1


class Evaluation(dict):
    """{metric name: float}, with ``skipped`` {name: reason} and ``settings`` {name: value}."""

    def __init__(self, metrics: dict, skipped: dict, settings: dict):
        super().__init__({k: float(v) for k, v in metrics.items()})
        self.skipped, self.settings = dict(skipped), dict(settings)

    def record(self) -> dict:
        """Everything as plain JSON data."""
        return {"metrics": dict(self), "skipped": dict(self.skipped), "settings": dict(self.settings)}


def chi_threshold(dim: float) -> float:
    """Radius (in std units) holding probability Q of a dim-dimensional standard Gaussian."""
    return round(math.sqrt(chi2.ppf(Q, dim)), 6)


def evaluate(dist, samples: torch.Tensor, *, real: torch.Tensor | None = None,
             generator: torch.Generator | None = None, threshold: float | None = None,
             k_pr: int = 3, k_dc: int = 5, n_support: int = 1000, c2st: bool = True,
             verdict: Thresholds | None = None) -> Evaluation:
    """All metrics for ``samples`` [n, *dist.event_shape] of a generator trained on ``dist``
    (see the module docstring). Sample-based metrics see each sample flattened to a vector.

    threshold: mode threshold in sigma units (default: the chi rule above). c2st=False skips the
    classifier test. verdict: the thresholds of metrics.verdicts (held components)."""
    event = tuple(dist.event_shape)
    if not isinstance(samples, torch.Tensor) or tuple(samples.shape[1:]) != event or samples.shape[0] < 1:
        shape = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__
        raise ValueError(f"samples has shape {shape}, which is not allowed; expected [n >= 1, "
                         f"{', '.join(map(str, event))}] (the distribution's event shape)")
    if generator is None:
        generator = torch.Generator(device=samples.device).manual_seed(REFERENCE_SEED)
    if real is None:
        real = dist.sample(samples.shape[0], generator=generator, device=samples.device)
    _warn_if_shared(samples, real)
    if not isinstance(real, torch.Tensor) or tuple(real.shape[1:]) != event:
        raise ValueError(f"real has shape {tuple(getattr(real, 'shape', ()))}, which is not allowed; "
                         f"expected [n, {', '.join(map(str, event))}] (the distribution's event shape)")
    checks.points("real", real.flatten(1), min_rows=2)
    checks.same_space("samples", samples.flatten(1), "real", real.flatten(1))
    if threshold is None:
        threshold = chi_threshold(dist.traits.get("intrinsic_dim", math.prod(event)))
    threshold = checks.positive("threshold", threshold)

    own = [fn for need, fn in EVALUATORS.items() if need in dist.capabilities]
    if own:                                                # images, graphs: the family's own metrics
        return _declared(_with_quality(own[0](dist, samples, real, generator, k_pr, k_dc, c2st), dist))
    n = samples.shape[0]
    finite = torch.isfinite(samples.flatten(1)).all(dim=1)
    fake = samples[finite]
    out, skipped = {"nonfinite_fraction": 1 - fake.shape[0] / n}, {}
    settings = {"n_samples": n, "n_real": real.shape[0], "mode_threshold": threshold,
                "k_precision_recall": k_pr, "k_density_coverage": k_dc}
    parts = [_modes(dist, samples, threshold),
             _sample_based(dist, real, fake, n, generator, k_pr, k_dc, c2st, settings),
             _ground_truth(dist, real, samples, fake, threshold, k_dc, n_support, settings, verdict or Thresholds())]
    for metrics, skips in parts:
        out.update(metrics)
        skipped.update(skips)
    return _declared(_with_quality(Evaluation(out, skipped, settings), dist))


# The quality score, defined once: the harmonic mean of a ground-truth precision (share of the
# samples on the true support) and a recall (share of the real distribution the samples reach).
QUALITY_PAIRS = (("support_precision", "coverage"), ("manifold_precision", "manifold_recall"))


def quality(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall (0 when either is 0): high only when the samples stay
    on the support *and* reach all of it, so blur, bridges and dropped modes all lower it."""
    return 0.0 if precision <= 0 or recall <= 0 else 2 * precision * recall / (precision + recall)


def _with_quality(ev: Evaluation, dist) -> Evaluation:
    """Add ``quality`` from the first pair of ``QUALITY_PAIRS`` the evaluation holds."""
    for p, r in QUALITY_PAIRS:
        if p in ev and r in ev:
            ev["quality"] = quality(ev[p], ev[r])
            return ev
    ev.skipped["quality"] = ("needs " + " or ".join(f"{p} and {r}" for p, r in QUALITY_PAIRS)
                             + ": no ground-truth precision for this family"
                             + (f" ({dist.missing['support_distance']})" if "support_distance" in dist.missing else ""))
    return ev


def _declared(ev: Evaluation) -> Evaluation:
    """Every name ``evaluate`` returns is declared in metrics.registry (a ValueError otherwise)."""
    registry.check([*ev, *(k for k in ev.skipped if k != "graph_metrics")])
    return ev


def _warn_if_shared(samples: torch.Tensor, real: torch.Tensor) -> None:
    """Warn when the samples and the real reference share rows: scored against themselves."""
    a, b = samples.flatten(1).detach().cpu(), real.flatten(1).detach().cpu()
    if a.shape[1] != b.shape[1] or not len(a):
        return
    shared = torch.isin(a[:, 0], b[:, 0])          # cheap screen on the first coordinate, then rows
    if shared.any():
        rows = {tuple(r) for r in b[torch.isin(b[:, 0], a[shared, 0])].tolist()}
        share = sum(tuple(r) in rows for r in a[shared].tolist()) / len(a)
        if share > 0.01:
            warnings.warn(f"evaluate: {share:.0%} of the samples are also in the real reference set: the "
                          "metrics compare them with themselves (precision, recall, coverage near 1); draw "
                          "the samples from another stream or pass another `real`", stacklevel=3)


MODE_NAMES = ("modes_captured", "modes_captured_fraction", "mode_hq_fraction", "mode_reverse_kl",
              "mode_forward_kl", "mode_js", "mode_mass_<k>")


def _modes(dist, samples, threshold):
    if dist.modes is None:
        return {}, {name: dist.missing.get("modes", "no discrete modes") for name in MODE_NAMES}
    st = mode_stats(samples.flatten(1), dist.modes, threshold)
    out = {"modes_captured": st["captured"], "modes_captured_fraction": st["captured_fraction"],
           "mode_hq_fraction": st["hq_fraction"]}
    skipped = {}
    for name in ("reverse_kl", "forward_kl", "js"):
        if math.isnan(st[name]):
            skipped[f"mode_{name}"] = "no high-quality sample: the mode histogram is undefined"
        else:
            out[f"mode_{name}"] = st[name]
    out.update({f"mode_mass_{k}": p for k, p in enumerate(st["mass"])})
    return out, skipped


def _sample_based(dist, real, fake, n, generator, k_pr, k_dc, c2st, settings):
    out, skipped = {}, {}
    r, f = real.flatten(1), fake.flatten(1)
    m, share = len(f), len(f) / n
    k = max(k_pr, k_dc)
    if m > k and len(r) > k:
        pr, dc = prdc(r, f, k_pr), prdc(r, f, k_dc)
        # Non-finite samples lie in no ball: shares of all samples scale by the finite share.
        out.update(precision=pr["precision"] * share, recall=pr["recall"],
                   density=dc["density"] * share, coverage=dc["coverage"])
    else:
        skipped.update(dict.fromkeys(["precision", "recall", "density", "coverage"],
                                     f"{m} finite samples and {len(r)} real: k-NN metrics need more than k={k}"))
    if m < 2:
        skipped.update(dict.fromkeys(["mmd2", "energy_distance", "sliced_wasserstein", "c2st_accuracy"],
                                     f"{m} finite samples: two-sample distances need at least 2"))
        return out, skipped
    ref = dist.sample(1000, generator=generator, device=real.device)
    bw = [median_bandwidth(ref.flatten(1)) * s for s in SCALES]
    settings["mmd_bandwidths"] = bw
    out["mmd2"] = mmd(r, f, bandwidths=bw)
    out["energy_distance"] = energy_distance(r, f)
    out["sliced_wasserstein"] = sliced_wasserstein(r, f, generator=generator)
    if c2st:
        out["c2st_accuracy"] = c2st_accuracy(r, f, generator=generator)
    else:
        skipped["c2st_accuracy"] = "c2st=False"
    return out, skipped


def _ground_truth(dist, real, samples, fake, threshold, k_dc, n_support, settings, verdict):
    out, skipped = {}, {}
    n, m = len(samples), len(fake)
    if "log_prob" not in dist.capabilities:
        skipped.update(dict.fromkeys(["log_prob_mean", "log_prob_real_mean"], dist.missing["log_prob"]))
    else:
        out["log_prob_real_mean"] = dist.log_prob(real.double()).mean().item()
        lp = dist.log_prob(fake.double()).mean().item() if m else math.nan
        if math.isfinite(lp):
            out["log_prob_mean"] = lp
        else:
            skipped["log_prob_mean"] = "no finite sample" if not m else "log_prob is -inf for some samples"

    tol, why = support_tolerance(dist, real.flatten(1), threshold)
    placed = ("support_precision", "blur_mass", "gap_mass", "components_held", "components_held_fraction",
              "held_js")
    if "support_distance" not in dist.capabilities or tol is None:
        skipped.update(dict.fromkeys(placed, dist.missing.get("support_distance", why)))
    else:
        settings["support_tolerance"] = tol
        where = placement(dist, samples.flatten(1), tol)
        out.update(support_precision=where["on_support"], blur_mass=where["blur_mass"], gap_mass=where["gap_mass"])
        if "gap_distance" not in dist.capabilities:
            skipped["gap_mass"] = dist.missing["gap_distance"]
            del out["gap_mass"]
        comp = components(dist)
        flags = judge(where, None if comp is None else comp[0], verdict)
        if flags["held"] is None:
            skipped.update(dict.fromkeys(placed[3:], "no components (modes or pieces)"))
        else:
            held = len(flags["held"])
            out.update(components_held=held, components_held_fraction=held / len(where["component_mass"]))
            if flags["held_js"] is None:
                skipped["held_js"] = "no component held"
            else:
                out["held_js"] = flags["held_js"]

    if not hasattr(dist, "support_points"):
        why = dist.missing.get("support_points", f"family {dist.family!r} has no support_points")
        skipped["support_coverage"] = why + (
            " (modes_captured_fraction is its support coverage)" if dist.modes is not None else "")
    elif m == 0 or len(real) < k_dc:
        skipped["support_coverage"] = "no finite sample" if not m else f"needs at least k={k_dc} real samples"
    else:
        pts = dist.support_points(n_support).to(real.device)
        settings["support_points"] = len(pts)
        out["support_coverage"] = support_coverage(pts.flatten(1), real.flatten(1),
                                                   fake.flatten(1).to(real.dtype), k_dc)
    return out, skipped


def support_tolerance(dist, real: torch.Tensor, threshold: float) -> tuple[float | None, str]:
    """Tolerance for ``support_precision`` in the units of ``dist.support_distance`` (see module
    docstring), or (None, reason) when the units are not known."""
    if dist.modes is not None:
        return threshold, "sigma units (the mode threshold)"
    traits = dist.traits
    if "noise" not in traits:
        return None, f"family {dist.family!r}: units of support_distance unknown (no modes, no noise trait)"
    D = real.shape[1]
    codim = max(1.0, traits.get("ambient_dim", D) - traits.get("intrinsic_dim", 0))
    r = real.double()
    floor = 0.01 * ((r - r.mean(0)) ** 2).sum(1).mean().sqrt().item()
    return max(traits["noise"] * chi_threshold(codim), floor), "euclidean"


# -- families with their own metrics -----------------------------------------------------------
# Settings of the metrics.triangles.TriangleMatcher that ``evaluate`` fits (once per distribution
# and settings, cached); tests may shrink them.
TRIANGLE_MATCHER: dict = {"seed": 0}


def _split_finite(out: dict, skipped: dict, why: str) -> tuple[dict, dict]:
    """Non-finite values (e.g. a W1 over no on-manifold image) go to ``skipped``."""
    for k, v in list(out.items()):
        if not math.isfinite(v):
            skipped[k] = why
            del out[k]
    return out, skipped


def _common_skips(dist) -> dict:
    skipped = {name: dist.missing.get("modes", "no discrete modes") for name in MODE_NAMES}
    skipped.update(dict.fromkeys(["log_prob_mean", "log_prob_real_mean"],
                                 dist.missing.get("log_prob", "no log_prob")))
    return skipped


def _triangles(dist, samples, real, generator, k_pr, k_dc, c2st) -> Evaluation:
    """Triangle images: metrics.triangles.TriangleMatcher (precision / recall against the true
    manifold, factor W1, component masses), plus the pixel-space sample metrics with precision /
    recall renamed pixel_precision / pixel_recall. Non-finite images count against precision."""
    from .triangles import TriangleMatcher
    n = samples.shape[0]
    finite = torch.isfinite(samples.flatten(1)).all(dim=1)
    fake = samples[finite].float().cpu()
    real = real.float().cpu()
    share = len(fake) / n
    out, skipped = {"nonfinite_fraction": 1 - share}, _common_skips(dist)
    settings = {"n_samples": n, "n_real": real.shape[0], "k_precision_recall": k_pr, "k_density_coverage": k_dc,
                "triangle_matcher": dict(TRIANGLE_MATCHER)}
    names = ("precision", "recall", "precision_with_gaps", "gap_mass", "components_captured", "component_kl",
             "precision_loose", "recall_loose", "residual_p10", "residual_median", "residual_p90")
    if len(fake):
        m = TriangleMatcher(dist, **TRIANGLE_MATCHER).fit()
        tri = m.evaluate(fake)
        settings.update(triangle_threshold=tri.pop("threshold"), recall_tolerance=tri.pop("recall_tolerance"),
                        triangle_threshold_loose=tri.pop("threshold_loose"))
        for key in ("precision", "precision_with_gaps", "precision_loose"):   # non-finite images count against
            tri[key] *= share
        out.update(tri)
    else:
        skipped.update(dict.fromkeys(names, "no finite sample"))
    pix, pix_skipped = _sample_based(dist, real, fake, n, torch.Generator().manual_seed(REFERENCE_SEED), k_pr,
                                     k_dc, c2st, settings)
    for key in ("precision", "recall"):
        if key in pix:
            pix[f"pixel_{key}"] = pix.pop(key)
        if key in pix_skipped:
            pix_skipped[f"pixel_{key}"] = pix_skipped.pop(key)
    out = {MANIFOLD.get(k, k): v for k, v in out.items()}
    skipped = {MANIFOLD.get(k, k): v for k, v in skipped.items()}
    out.update(pix)
    skipped.update(pix_skipped)
    skipped["support_precision"] = "see manifold_precision (residual to the recovered triangle, metrics.triangles)"
    skipped["support_coverage"] = "see manifold_recall (held-out real images near an on-manifold sample)"
    out, skipped = _split_finite(out, skipped, "undefined: no on-manifold sample")
    return Evaluation(out, skipped, settings)


def _graphs(dist, samples, real, generator, k_pr, k_dc, c2st) -> Evaluation:
    """Graphs: metrics.graphs.evaluate_graphs (connectedness, degree / clustering / spectral MMD,
    uniqueness, signal and mode metrics), rounded by its rule."""
    from .graphs import TRUE, evaluate_graphs
    n = samples.shape[0]
    finite = torch.isfinite(samples.flatten(1)).all(dim=1)
    skipped = _common_skips(dist)
    settings = {"n_samples": n, "n_real": real.shape[0]}
    if int(finite.sum()) < 3:
        skipped["graph_metrics"] = f"{int(finite.sum())} finite graphs: graph metrics need at least 3"
        return Evaluation({"nonfinite_fraction": 1 - finite.double().mean().item()}, skipped, settings)
    out = evaluate_graphs(dist, samples.float().cpu(), real=real.float().cpu())
    out, skipped = _split_finite(out, skipped, "undefined for these graphs")
    skipped.update({k: dist.missing.get("traits", f"no trait {t!r}") for k, t in TRUE.items() if t not in dist.traits})
    return Evaluation(out, skipped, settings)


# The triangle matcher's on-manifold precision / recall, named apart from the k-NN ones.
MANIFOLD = {k: f"manifold_{k}" for k in ("precision", "recall", "precision_loose", "recall_loose",
                                          "precision_with_gaps")}
# Families with their own ground truth plug in their evaluator by the capability it requires.
EVALUATORS = {"triangle_factors": _triangles, "graph_structure": _graphs}
