"""Metrics for generated graphs against a ``graphs`` distribution (REFERENCES §4).

Rounding rule: a generated adjacency may be relaxed (values in [0, 1]) or non-symmetric; it
becomes a graph by thresholding its symmetrised off-diagonal: edge {i, j} iff
(a_ij + a_ji) / 2 > 0.5, diagonal zero (``distributions.graph_ops.binarize``). The node signal,
when the family has one, is the last column and is used as it is.

Descriptors of a graph (per-node values, sorted, so each is a vector of length n):
    degree      d_i / (n - 1)              in [0, 1]
    clustering  c_i (networkx's definition) in [0, 1]
    spectrum    eigenvalues of the normalised Laplacian D^-1/2 (D - A) D^-1/2, in [0, 2]
A sorted vector is the quantile function of the graph's distribution of node values, so
    rbf        k = exp(-W2^2 / (2 sigma^2)),  W2^2 = mean_i (u_i - v_i)^2
    laplacian  k = exp(-W1 / sigma),          W1  = mean_i |u_i - v_i|
are Gaussian / Laplacian kernels of the Wasserstein distance between the two graphs' node-value
distributions: proper (positive definite) kernels, unlike GraphRNN's Gaussian-EMD and GRAN's
Gaussian-TV (O'Bray et al. 2022). MMD^2 is the unbiased U-statistic
    sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (n(n-1)) - 2 sum_ij k(x_i, y_j) / (mn),
reported for every kernel and sigma in SIGMAS with its two-sample jackknife standard error
(``_se``), an approximation: in null simulations (m = 120..150 graphs) the spread of MMD^2 was
0.65 to 1.4 times the mean SE. SIGMAS span the W1 / W2 distances seen within one family
(about 0.01 to 0.1) and between far-apart families (0.3 to 0.5 for c = 0.5 against c = 2).

For comparison with the literature, ``gtv_mmd2_*`` is GRAN's: histograms normalised to sum 1
(degree 0..n-1; clustering 100 bins on [0, 1]; normalised-Laplacian eigenvalues clipped to
[0, 2] in 200 bins on [-1e-5, 2]), kernel exp(-TV^2 / (2 sigma^2)) with TV = sum |p - q| / 2,
the biased V-statistic (means over all pairs, i = j included), sigma = 1, 0.1, 1.
"""
from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import torch

from distributions.graph_ops import (adjacency, binarize, clustering, dirichlet_energy, graph_stats,
                                     normalized_laplacian, signal)

SIGMAS = (0.03, 0.1, 0.3)
KERNELS = ("rbf", "laplacian")
GTV_SIGMA = {"degree": 1.0, "clustering": 0.1, "spectrum": 1.0}
CHUNK = 2 ** 22          # kernel entries per block
# The family's true values (its traits) beside the fake and real ones; absent without the trait.
TRUE = {"edge_density_true": "edge_density", "connected_true": "p_connected", "components_mean_true": "mean_components"}


# -- descriptors -------------------------------------------------------------------------------
def descriptors(a: torch.Tensor) -> dict[str, torch.Tensor]:
    """Sorted per-node degree / (n - 1), clustering and normalised-Laplacian eigenvalues of
    graphs A [B, n, n] (0/1 symmetric): each float64 [B, n]."""
    a = a.to(torch.float64)
    n = a.shape[-1]
    return {
        "degree": (a.sum(-1) / max(n - 1, 1)).sort(-1).values,
        "clustering": clustering(a).sort(-1).values,
        "spectrum": torch.linalg.eigvalsh(normalized_laplacian(a)).clamp(0, 2),
    }


def histograms(a: torch.Tensor) -> dict[str, torch.Tensor]:
    """GRAN's histograms of graphs A [B, n, n], normalised to sum 1 (see module doc)."""
    a = a.to(torch.float64)
    n = a.shape[-1]
    d = descriptors(a)
    deg = torch.nn.functional.one_hot(a.sum(-1).long(), n).to(torch.float64).mean(1)
    return {"degree": deg, "clustering": _hist(d["clustering"], 0.0, 1.0, 100),
            "spectrum": _hist(d["spectrum"], -1e-5, 2.0, 200)}


def _hist(v: torch.Tensor, lo: float, hi: float, bins: int) -> torch.Tensor:
    """numpy.histogram's bins (edges from numpy.linspace, the last bin closed) per row, / count."""
    edges = torch.from_numpy(np.linspace(lo, hi, bins + 1)).to(v.device)
    idx = (torch.bucketize(v, edges, right=True) - 1).clamp(0, bins - 1)
    out = torch.zeros(v.shape[0], bins, dtype=torch.float64, device=v.device)
    return out.scatter_add_(1, idx, torch.ones_like(v)) / v.shape[1]


# -- MMD ---------------------------------------------------------------------------------------
def kernel(x: torch.Tensor, y: torch.Tensor, kind: str, sigma: float) -> torch.Tensor:
    """k(x_i, y_j) for descriptor rows x [m, d], y [n, d]: rbf, laplacian (module doc) or
    gtv (GRAN's Gaussian-TV on pmfs)."""
    if kind == "gtv":
        tv = torch.cdist(x, y, p=1) / 2
        return torch.exp(-tv * tv / (2 * sigma * sigma))
    return _from_distances(_distances(x, y), kind, sigma)


def _distances(x, y):
    """(mean squared, mean absolute) coordinate difference of every pair: W2^2 and W1."""
    sq = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist") ** 2 / x.shape[1]
    return sq, torch.cdist(x, y, p=1) / x.shape[1]


def _from_distances(dist, kind: str, sigma: float) -> torch.Tensor:
    if kind == "rbf":
        return torch.exp(-dist[0] / (2 * sigma * sigma))
    if kind == "laplacian":
        return torch.exp(-dist[1] / sigma)
    raise ValueError(f"kernel={kind!r} is not allowed; expected one of 'rbf', 'laplacian', 'gtv'")


def _sums(x, y, grid, diagonal: bool):
    """For each (kind, sigma) in grid: row sums and column sums of K(x, y), computed in row
    blocks; diagonal=False drops the k(x_i, x_i) terms."""
    out = {key: (torch.zeros(len(x), dtype=torch.float64, device=x.device),
                 torch.zeros(len(y), dtype=torch.float64, device=x.device)) for key in grid}
    step = max(1, CHUNK // max(len(y), 1))
    for lo in range(0, len(x), step):
        dist = _distances(x[lo:lo + step], y)
        for key, (rows, cols) in out.items():
            k = _from_distances(dist, *key)
            if not diagonal:
                k.diagonal(offset=lo).zero_()
            rows[lo:lo + step] = k.sum(1)
            cols += k.sum(0)
    return out


def mmd2_grid(x: torch.Tensor, y: torch.Tensor, kernels=KERNELS, sigmas=SIGMAS) -> dict:
    """Unbiased MMD^2 between descriptor sets x [m, d] and y [n, d] (m, n >= 3) and its
    two-sample jackknife standard error (leave one x or one y out), for every kernel and sigma:
    {(kernel, sigma): (mmd2, se)}. Pairwise distances are computed once for the whole grid."""
    x, y = x.to(torch.float64), y.to(torch.float64)
    m, n = len(x), len(y)
    if m < 3 or n < 3:
        raise ValueError(f"mmd2 needs at least 3 samples on each side, got {m} and {n}")
    grid = [(k, float(s)) for k in kernels for s in sigmas]
    for k, s in grid:
        if k not in KERNELS:
            raise ValueError(f"kernel={k!r} is not allowed; expected one of 'rbf', 'laplacian'")
        if not s > 0:
            raise ValueError(f"sigma={s!r} is not allowed; expected a number > 0")
    xx, yy, xy = _sums(x, x, grid, False), _sums(y, y, grid, False), _sums(x, y, grid, True)
    out = {}
    for key in grid:
        (rx, _), (ry, _), (cx, cy) = xx[key], yy[key], xy[key]
        sxx, syy, sxy = rx.sum(), ry.sum(), cx.sum()
        value = sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)
        drop_x = (sxx - 2 * rx) / ((m - 1) * (m - 2)) + syy / (n * (n - 1)) - 2 * (sxy - cx) / ((m - 1) * n)
        drop_y = sxx / (m * (m - 1)) + (syy - 2 * ry) / ((n - 1) * (n - 2)) - 2 * (sxy - cy) / (m * (n - 1))
        var = ((m - 1) / m * ((drop_x - drop_x.mean()) ** 2).sum()
               + (n - 1) / n * ((drop_y - drop_y.mean()) ** 2).sum())
        out[key] = (value.item(), var.sqrt().item())
    return out


def mmd2(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "rbf", sigma: float = 0.1) -> tuple[float, float]:
    """(unbiased MMD^2, jackknife standard error) for one kernel and sigma; see ``mmd2_grid``."""
    return mmd2_grid(x, y, (kernel,), (sigma,))[(kernel, float(sigma))]


def gaussian_tv_mmd2(p: torch.Tensor, q: torch.Tensor, sigma: float) -> float:
    """GRAN's biased MMD^2 between pmf rows p [m, bins] and q [n, bins] (module doc)."""
    p, q = p.to(torch.float64), q.to(torch.float64)
    return (kernel(p, p, "gtv", sigma).mean() + kernel(q, q, "gtv", sigma).mean()
            - 2 * kernel(p, q, "gtv", sigma).mean()).item()


# -- structure, uniqueness, modes ----------------------------------------------------------------
def tv_counts(u: torch.Tensor, v: torch.Tensor, size: int) -> float:
    """Total variation between the empirical distributions of integers u, v in [0, size)."""
    pu = torch.bincount(u.long(), minlength=size).double() / len(u)
    pv = torch.bincount(v.long(), minlength=size).double() / len(v)
    return 0.5 * (pu - pv).abs().sum().item()


def wl_hashes(a: torch.Tensor, iterations: int = 3) -> list[str]:
    """networkx Weisfeiler-Lehman hash of each graph: equal for isomorphic graphs; rare
    non-isomorphic graphs (e.g. regular ones) collide, so counts of distinct hashes are lower
    bounds on counts of isomorphism classes."""
    out = []
    with warnings.catch_warnings():     # networkx 3.5 notes that hashes changed in 3.5
        warnings.filterwarnings("ignore", message="The hashes produced", category=UserWarning)
        for g in a.detach().cpu().numpy():
            G = nx.Graph()
            G.add_nodes_from(range(len(g)))
            G.add_edges_from(zip(*np.nonzero(np.triu(g, 1))))
            out.append(nx.weisfeiler_lehman_graph_hash(G, iterations=iterations))
    return out


def uniqueness_novelty(fake: torch.Tensor, real: torch.Tensor) -> tuple[float, float, float]:
    """(unique, novel, unique_real): distinct WL hashes / count among the fake graphs, the
    fraction of fake graphs whose hash is not among the real ones (pass the training set to
    measure novelty w.r.t. training), and the real graphs' own uniqueness as a reference."""
    hf, hr = wl_hashes(fake), wl_hashes(real)
    seen = set(hr)
    return len(set(hf)) / len(hf), sum(h not in seen for h in hf) / len(hf), len(seen) / len(hr)


def community_count(a: torch.Tensor, modes: tuple[int, ...]) -> torch.Tensor:
    """The number of communities of each graph among ``modes``, by the eigengap heuristic: the k
    maximising lambda_{k+1} - lambda_k of the normalised Laplacian (ascending, 1-based)."""
    lam = torch.linalg.eigvalsh(normalized_laplacian(a.to(torch.float64)))
    ks = torch.tensor(modes, device=a.device)
    gaps = lam[:, ks] - lam[:, ks - 1]
    return ks[gaps.argmax(-1)]


def mode_stats(fake: torch.Tensor, real: torch.Tensor, modes: tuple[int, ...]) -> dict[str, float]:
    """Community-count modes of a mixed family, both sets classified by ``community_count`` (so
    its errors hit both alike): the share of each mode among the fake graphs, mode_tv (total
    variation between the fake and real shares) and mode_coverage (fraction of modes whose fake
    share is at least half their real share)."""
    kf, kr = community_count(fake, modes), community_count(real, modes)
    sf = torch.stack([(kf == k).double().mean() for k in modes])
    sr = torch.stack([(kr == k).double().mean() for k in modes])
    out = {f"mode_share_{k}": sf[i].item() for i, k in enumerate(modes)}
    out["mode_tv"] = 0.5 * (sf - sr).abs().sum().item()
    out["mode_coverage"] = (sf >= 0.5 * sr).double().mean().item()
    return out


# -- everything --------------------------------------------------------------------------------
def evaluate_graphs(dist, samples: torch.Tensor, *, real: torch.Tensor | None = None,
                    generator: torch.Generator | None = None) -> dict[str, float]:
    """Every graph metric that applies, as a flat {name: float}.

    ``samples`` [m, *dist.event_shape] (rounded by the module's rule; graphs with non-finite
    entries are dropped and counted in nonfinite_fraction). ``real``: true samples to compare with
    (the training set, for novelty); by default m fresh ones drawn with ``generator`` (default:
    seed 0 on the samples' device). Signal metrics appear only with a signal, mode metrics only
    for a mixed family. Keys (``*_fake`` / ``*_real`` / ``*_true``: generated set, real set, the
    family's traits where it has them, see ``TRUE``):
        asymmetry, rounding_gap     mean |a_ij - a_ji| and mean |(a_ij + a_ji)/2 - rounded| off the
                                    diagonal: how far raw outputs are from graphs
        edge_density, connected, components_mean, algebraic_connectivity  (means over graphs)
        components_tv               TV between the fake and real distributions of component counts
        mmd2_{degree,clustering,spectrum}_{rbf,laplacian}_{sigma} (+ _se), gtv_mmd2_{...}
        unique, novel, unique_real  see ``uniqueness_novelty``
        dirichlet_energy, signal_variance, rayleigh (x^T L x / x^T x), dirichlet_energy_rel_error
        mode_share_k, mode_tv, mode_coverage  see ``mode_stats``
    """
    shape = tuple(dist.event_shape)
    for name, x in (("samples", samples), ("real", real)):
        if x is not None and (not isinstance(x, torch.Tensor) or tuple(x.shape[1:]) != shape
                              or x.dim() != 3 or not x.is_floating_point()):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name}={got} is not allowed; expected a floating tensor [m, {shape[0]}, {shape[1]}]")
    finite = torch.isfinite(samples).flatten(1).all(1)
    fake = samples[finite].to(torch.float64)
    if len(fake) < 3:
        raise ValueError(f"samples has {len(fake)} finite graphs, which is not allowed; expected at least 3")
    if real is None:
        if generator is None:
            generator = torch.Generator(device=samples.device).manual_seed(0)
        real = dist.sample(len(fake), generator=generator)
    real = real.to(samples.device, torch.float64)
    n = shape[0]
    raw = adjacency(fake)
    fa, ra = binarize(raw), binarize(adjacency(real))
    off = ~torch.eye(n, dtype=torch.bool, device=fa.device)
    sym = (raw + raw.transpose(-1, -2)) / 2
    out = {
        "n_fake": float(len(fake)), "n_real": float(len(real)),
        "nonfinite_fraction": 1.0 - finite.double().mean().item(),
        "asymmetry": (raw - raw.transpose(-1, -2)).abs()[:, off].mean().item(),
        "rounding_gap": (sym - fa).abs()[:, off].mean().item(),
    }
    sf, sr, traits = graph_stats(fa), graph_stats(ra), dist.traits
    for key, stat in (("edge_density", "density"), ("connected", "connected"),
                      ("components_mean", "components"), ("algebraic_connectivity", "algebraic_connectivity")):
        out[f"{key}_fake"], out[f"{key}_real"] = sf[stat].mean().item(), sr[stat].mean().item()
    out.update({k: traits[t] for k, t in TRUE.items() if t in traits})
    out["components_tv"] = tv_counts(sf["components"], sr["components"], n + 1)

    df, dr = descriptors(fa), descriptors(ra)
    for desc in df:
        for (kind, s), (v, se) in mmd2_grid(df[desc], dr[desc]).items():
            out[f"mmd2_{desc}_{kind}_{s:g}"], out[f"mmd2_{desc}_{kind}_{s:g}_se"] = v, se
    hf, hr = histograms(fa), histograms(ra)
    for desc, s in GTV_SIGMA.items():
        out[f"gtv_mmd2_{desc}"] = gaussian_tv_mmd2(hf[desc], hr[desc], s)
    out["unique"], out["novel"], out["unique_real"] = uniqueness_novelty(fa, ra)

    xf, xr = signal(fake), signal(real)
    if xf is not None:
        ef, er = dirichlet_energy(fa, xf), dirichlet_energy(ra, xr)
        out.update(dirichlet_energy_fake=ef.mean().item(), dirichlet_energy_real=er.mean().item(),
                   dirichlet_energy_true=traits["dirichlet_energy"],
                   signal_variance_fake=(xf ** 2).mean().item(), signal_variance_real=(xr ** 2).mean().item(),
                   rayleigh_fake=(ef / (xf ** 2).sum(-1).clamp_min(1e-300)).mean().item(),
                   rayleigh_real=(er / (xr ** 2).sum(-1).clamp_min(1e-300)).mean().item())
        out["dirichlet_energy_rel_error"] = (out["dirichlet_energy_fake"] / out["dirichlet_energy_real"] - 1
                                             if out["dirichlet_energy_real"] > 0 else 0.0)
    if getattr(dist, "community_modes", None):
        out.update(mode_stats(fa, ra, dist.community_modes))
    return {k: float(v) for k, v in out.items()}
