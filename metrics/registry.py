"""Every metric and verdict of the lab, declared once: what computes it, the ground truth it needs,
its direction, unit, short label and one-line definition. ``evaluate``, the evaluation callback,
tables, plots and figure labels read it; ``learnlab metrics --list`` prints it.

    registry.get("coverage").label          # a Metric; one ValueError line (with the closest
    registry.direction("mmd2")               # names) for a name that does not exist
    registry.check(names)                   # every name declared? (patterns: mode_mass_<k>, ...)

A name may be a pattern: ``<...>`` stands for one token (``mode_mass_<k>`` covers mode_mass_0,
mode_mass_1, ...). Ground truth ("requires") is a distribution capability (``dist.capabilities``):
samples (none), modes, log_prob, support_distance, gap_distance, support_points, components
(modes or pieces), triangle_factors, graph_structure. A family plugs in its own evaluator by the
capability it requires (``evaluate.EVALUATORS``), never by its name.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    source: str          # what computes it
    requires: str        # ground truth: a capability, or "samples"
    direction: str       # higher | lower | neither (better is higher / lower; neither: compare with real)
    unit: str
    label: str
    definition: str

    def matches(self, name: str) -> bool:
        return _pattern(self.name).fullmatch(name) is not None


def _pattern(name: str) -> re.Pattern:
    return re.compile(".+".join(re.escape(part) for part in re.split(r"<[^>]+>", name)))


def _literal(name: str) -> int:
    return len(re.sub(r"<[^>]+>", "", name))


S, M, G, T, V = "metrics.manifold.prdc", "metrics.modes.mode_stats", "metrics.graphs.evaluate_graphs", \
    "metrics.triangles.TriangleMatcher", "metrics.verdicts.placement"
_ROWS = [
    # name, source, requires, direction, unit, label, definition
    ("nonfinite_fraction", "metrics.evaluate", "samples", "lower", "share", "non-finite", "share of samples with a NaN / inf entry"),
    ("precision", S, "samples", "higher", "share", "precision", "share of samples inside some real sample's k-NN ball (k = 3; images: pixel space)"),
    ("recall", S, "samples", "higher", "share", "recall", "share of real samples inside some sample's k-NN ball (k = 3)"),
    ("density", S, "samples", "higher", "ratio", "density", "mean count of real k-NN balls (k = 5) holding a sample, over k"),
    ("coverage", S, "samples", "higher", "share", "coverage", "share of real samples whose k-NN ball (k = 5) holds a sample"),
    ("mmd2", "metrics.distances.mmd", "samples", "lower", "squared RKHS distance", "MMD²", "unbiased MMD² with a mixture of RBF kernels at the median bandwidth"),
    ("energy_distance", "metrics.distances.energy_distance", "samples", "lower", "distance", "energy distance", "energy distance between samples and real samples"),
    ("sliced_wasserstein", "metrics.distances.sliced_wasserstein", "samples", "lower", "distance", "sliced W", "sliced Wasserstein-1 distance over random projections"),
    ("c2st_accuracy", "metrics.c2st.c2st_accuracy", "samples", "lower", "accuracy", "C2ST acc.", "held-out accuracy of a k-NN classifier telling samples from real (0.5 = indistinguishable)"),
    ("modes_captured", M, "modes", "higher", "count", "modes", "modes with at least one high-quality sample (within the mode threshold)"),
    ("modes_captured_fraction", M, "modes", "higher", "share", "modes captured", "modes_captured / number of modes"),
    ("mode_hq_fraction", M, "modes", "higher", "share", "high quality", "share of samples within the mode threshold of their nearest mode"),
    ("mode_hq_percent", M, "modes", "higher", "percent", "high quality %", "mode_hq_fraction in percent (the papers' unit)"),
    ("mode_reverse_kl", M, "modes", "lower", "nats", "reverse KL", "KL(high-quality mode histogram || true weights), PacGAN's number"),
    ("mode_forward_kl", M, "modes", "lower", "nats", "forward KL", "KL(true weights || add-1/2 smoothed histogram)"),
    ("mode_js", M, "modes", "lower", "nats", "mode JS", "Jensen-Shannon divergence of the mode histogram and the true weights"),
    ("mode_mass_<k>", M, "modes", "neither", "share", "mass of mode k", "mode k's share of the high-quality samples"),
    ("log_prob_mean", "metrics.evaluate", "log_prob", "neither", "nats", "log p(samples)", "mean true log-density of the samples (compare log_prob_real_mean)"),
    ("log_prob_real_mean", "metrics.evaluate", "log_prob", "neither", "nats", "log p(real)", "mean true log-density of real samples (minus the entropy)"),
    ("log_likelihood", "experiments.train.likelihoods", "samples", "higher", "nats", "model log-lik",
     "the model's mean log-likelihood of the held-out real samples: exact for a flow, a lower bound for a VAE (IWAE) and a diffusion model (ELBO)"),
    ("likelihood_gap", "experiments.train.likelihoods", "log_prob", "lower", "nats", "log-lik gap",
     "the true mean log-density minus log_likelihood on the same held-out samples: KL(p || model) for a flow, an upper bound on it for a bound"),
    ("support_precision", V, "support_distance", "higher", "share", "on support", "share of samples within the support tolerance of the true support"),
    ("blur_mass", V, "support_distance", "lower", "share", "blurred", "share of samples off the support and not in a gap (metrics.verdicts)"),
    ("gap_mass", V, "gap_distance", "lower", "share", "in gaps", "share of samples in the gaps between components (metrics.verdicts; triangles: rotations cut out)"),
    ("components_held", "metrics.verdicts.judge", "components", "higher", "count", "held", "components (modes / pieces) with at least half their true share of the on-support samples"),
    ("components_held_fraction", "metrics.verdicts.judge", "components", "higher", "share", "held fraction", "components_held / number of components"),
    ("held_js", "metrics.verdicts.judge", "components", "lower", "nats", "held JS", "JS divergence of the held components' shares and true weights, renormalised over them"),
    ("support_coverage", "metrics.manifold.support_coverage", "support_points", "higher", "share", "support coverage", "share of evenly spread support points with a sample among their real neighbours"),
    ("quality", "metrics.evaluate.quality", "support_distance", "higher", "share", "quality",
     "harmonic mean of support_precision and coverage (triangles: manifold precision and recall): on the support and all of it"),
    ("g_lipschitz_local", "models.lipschitz.local", "samples", "neither", "ratio", "G Lipschitz (local)",
     "a GAN generator's largest Jacobian spectral norm at 1000 latent draws: a lower bound on its Lipschitz constant"),
    ("g_lipschitz_bound", "models.lipschitz.certified", "samples", "neither", "ratio", "G Lipschitz (bound)",
     "product of the generator's exact layer spectral norms (x g_lipschitz): an upper bound on its Lipschitz constant"),
    ("runtime_s", "experiments.train", "a run", "lower", "seconds", "runtime", "wall seconds of the trial (its share of a batched group's)"),
    # triangles (metrics.triangles.TriangleMatcher; evaluate renames its keys manifold_*)
    ("pixel_precision", S, "triangle_factors", "higher", "share", "pixel precision", "k-NN precision in pixel space (k = 3)"),
    ("pixel_recall", S, "triangle_factors", "higher", "share", "pixel recall", "k-NN recall in pixel space (k = 3)"),
    ("manifold_precision", T, "triangle_factors", "higher", "share", "on manifold", "share of images within the strict residual threshold of a true triangle"),
    ("manifold_recall", T, "triangle_factors", "higher", "share", "manifold recall", "share of held-out real images near an on-manifold image"),
    ("manifold_precision_loose", T, "triangle_factors", "higher", "share", "on manifold (loose)", "manifold precision at the loose threshold: tau + the residual of a quarter-pixel shift"),
    ("manifold_recall_loose", T, "triangle_factors", "higher", "share", "manifold recall (loose)", "manifold recall at the loose residual threshold"),
    ("manifold_precision_with_gaps", T, "triangle_factors", "higher", "share", "on manifold with gaps", "manifold precision counting triangles whose rotation lies in a gap"),
    ("residual_<q>", T, "triangle_factors", "lower", "RMS pixel", "residual", "quantile of the finite images' RMS residual to their recovered triangle (p10, median, p90)"),
    ("components_captured", T, "triangle_factors", "higher", "count", "components", "rotation components with an on-manifold image"),
    ("component_kl", T, "triangle_factors", "lower", "nats", "component KL", "KL of the components' image shares from their true shares"),
    ("mass_<k>", T, "triangle_factors", "neither", "share", "mass of component k", "component k's share of the on-manifold images"),
    ("w1_<factor>", T, "triangle_factors", "lower", "factor units", "W1 factor", "Wasserstein-1 distance of a recovered factor's distribution from the truth"),
    ("w1_<factor>_real", T, "triangle_factors", "neither", "factor units", "W1 factor (real)", "the same for held-out real images: the matcher's floor"),
    # graphs (metrics.graphs.evaluate_graphs)
    ("mmd2_<stat>_<kernel>_<sigma>", G, "graph_structure", "lower", "squared RKHS distance", "graph MMD²", "MMD² of a graph statistic (degree, clustering, spectrum) under a kernel"),
    ("mmd2_<stat>_<kernel>_<sigma>_se", G, "graph_structure", "neither", "squared RKHS distance", "graph MMD² s.e.", "standard error of that MMD²"),
    ("gtv_mmd2_<stat>", G, "graph_structure", "lower", "squared RKHS distance", "GTV MMD²", "MMD² of the statistic under the Gaussian total-variation kernel"),
    ("connected_<set>", G, "graph_structure", "neither", "share", "connected", "share of connected graphs (fake / real / true probability)"),
    ("components_mean_<set>", G, "graph_structure", "neither", "count", "components", "mean number of connected components"),
    ("components_tv", G, "graph_structure", "lower", "share", "components TV", "total variation between component-count distributions"),
    ("edge_density_<set>", G, "graph_structure", "neither", "share", "edge density", "mean share of node pairs joined"),
    ("algebraic_connectivity_<set>", G, "graph_structure", "neither", "eigenvalue", "algebraic connectivity", "mean second-smallest Laplacian eigenvalue"),
    ("asymmetry", G, "graph_structure", "lower", "share", "asymmetry", "share of adjacency entries differing from their transpose"),
    ("rounding_gap", G, "graph_structure", "lower", "share", "rounding gap", "mean distance of edge values from 0 / 1 before rounding"),
    ("unique", G, "graph_structure", "higher", "share", "unique", "share of distinct generated graphs"),
    ("unique_real", G, "graph_structure", "neither", "share", "unique (real)", "share of distinct real graphs"),
    ("novel", G, "graph_structure", "neither", "share", "novel", "share of generated graphs not among the real ones"),
    ("n_<set>", G, "graph_structure", "neither", "count", "graphs", "graphs compared"),
    ("mode_share_<k>", G, "graph_structure", "neither", "share", "share with k communities", "share of graphs whose eigengap names k communities (mixed block models)"),
    ("mode_tv", G, "graph_structure", "lower", "share", "community-count TV", "total variation between the fake and real shares of community counts (mixed block models)"),
    ("mode_coverage", G, "graph_structure", "higher", "share", "community modes held", "share of community counts whose fake share is at least half the real one (mixed block models)"),
    ("dirichlet_energy_<set>", G, "graph_structure", "neither", "energy", "Dirichlet energy", "mean x^T L x of the node signal over graphs (fake / real / true)"),
    ("dirichlet_energy_rel_error", G, "graph_structure", "neither", "ratio", "Dirichlet energy error", "fake over real Dirichlet energy, minus 1 (0: the signal is as smooth as the data's)"),
    ("signal_variance_<set>", G, "graph_structure", "neither", "variance", "signal variance", "mean squared node signal"),
    ("rayleigh_<set>", G, "graph_structure", "neither", "ratio", "Rayleigh quotient", "mean x^T L x / x^T x of the node signal: roughness relative to size"),
]
METRICS: dict[str, Metric] = {r[0]: Metric(*r) for r in _ROWS}

# Verdicts (metrics.verdicts): per-run flags that tables aggregate as rates (agg "rate").
VERDICTS = {
    "learned": "every component held, right weights, off-support shares under the thresholds, half the data covered",
    "dropped_modes": "some component (mode / piece) holds less than half its true share (mode collapse)",
    "misweighted": "held components with wrong weights (JS over the held set >= 0.01 nats)",
    "blurred": "at least 10% of the samples off the support and not in a gap",
    "bridged": "at least 10% of the samples in the gaps, and no less than the blurred share",
    "collapsed": "the samples cover under half of the data (coverage < 0.5), though perhaps on the support",
    "hopping": "the small held set changes (one lost, another gained) at least twice",
    "diverged": "half the samples non-finite, or training stopped on a non-finite loss",
    "never_learned": "no evaluation was ever judged learned (such a run has no onset)",
}


def get(name: str) -> Metric:
    """The declaration of ``name`` (or of the pattern covering it)."""
    if name in METRICS:
        return METRICS[name]
    found = [m for m in METRICS.values() if m.matches(name)]
    if found:                                          # the most specific pattern
        return max(found, key=lambda m: _literal(m.name))
    close = difflib.get_close_matches(name, [*METRICS, *VERDICTS], n=3)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise ValueError(f"metric {name!r} does not exist{hint} (`learnlab metrics --list` shows every metric)")


def known(name: str) -> bool:
    return name in VERDICTS or any(m.matches(name) for m in METRICS.values())


def direction(name: str) -> str:
    """higher | lower | neither; 'neither' for a name that is not a metric (a trait, a column)."""
    if name in VERDICTS:
        return "higher" if name == "learned" else "lower"
    return get(name).direction if known(name) else "neither"


def label(name: str) -> str:
    """A short axis / column label (the name itself when it is not a metric)."""
    return get(name).label if known(name) and name not in VERDICTS else name.replace("_", " ")


def is_share(name: str) -> bool:
    return known(name) and name not in VERDICTS and get(name).unit == "share"


def check(names) -> None:
    """One ValueError line for the first name that is not declared."""
    for name in names:
        if not known(name):
            get(name)


def glossary() -> str:
    """Every metric and verdict, one line each (``learnlab metrics --list``)."""
    lines = [f"{'metric':32} {'better':7} {'unit':22} {'needs':17} definition"]
    for m in METRICS.values():
        lines.append(f"{m.name:32} {m.direction:7} {m.unit:22} {m.requires:17} {m.definition}")
    lines.append("")
    lines.append("verdicts (metrics.verdicts; per run, aggregated as rates)")
    lines += [f"{name:32} {text}" for name, text in VERDICTS.items()]
    return "\n".join(lines)
