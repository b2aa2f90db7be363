"""metrics.graphs: MMD^2 against brute force and GRAN's recipe, its behaviour on equal and
different families, the rounding rule, uniqueness / novelty, modes and evaluate_graphs."""
import json
import math

import networkx as nx
import numpy as np
import pytest
import scipy.linalg
import torch

import distributions
from distributions import graph_ops as ops
from metrics import graphs as M


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def sample(seed, n=300, **kw):
    return ops.adjacency(distributions.make("graphs", **kw).sample(n, generator=gen(seed))).double()


# -- MMD^2 -----------------------------------------------------------------------------------------
def brute_kernel(u, v, kind, sigma):
    d = len(u)
    if kind == "rbf":
        return math.exp(-sum((a - b) ** 2 for a, b in zip(u, v)) / d / (2 * sigma ** 2))
    return math.exp(-sum(abs(a - b) for a, b in zip(u, v)) / d / sigma)


def brute_mmd2(x, y, kind, sigma):
    m, n = len(x), len(y)
    kxx = sum(brute_kernel(x[i], x[j], kind, sigma) for i in range(m) for j in range(m) if i != j)
    kyy = sum(brute_kernel(y[i], y[j], kind, sigma) for i in range(n) for j in range(n) if i != j)
    kxy = sum(brute_kernel(x[i], y[j], kind, sigma) for i in range(m) for j in range(n))
    return kxx / (m * (m - 1)) + kyy / (n * (n - 1)) - 2 * kxy / (m * n)


@pytest.mark.parametrize("kind", M.KERNELS)
def test_unbiased_mmd2_and_jackknife_match_brute_force(kind):
    g = gen(1)
    x, y = torch.rand(7, 5, generator=g, dtype=torch.float64), torch.rand(9, 5, generator=g, dtype=torch.float64) + 0.2
    xl, yl = x.tolist(), y.tolist()
    for sigma in (0.05, 0.3, 2.0):
        value, se = M.mmd2(x, y, kernel=kind, sigma=sigma)
        assert value == pytest.approx(brute_mmd2(xl, yl, kind, sigma), abs=1e-12)
        loo_x = [brute_mmd2(xl[:i] + xl[i + 1:], yl, kind, sigma) for i in range(7)]
        loo_y = [brute_mmd2(xl, yl[:j] + yl[j + 1:], kind, sigma) for j in range(9)]
        var = 6 / 7 * np.sum((np.array(loo_x) - np.mean(loo_x)) ** 2) + 8 / 9 * np.sum((np.array(loo_y) - np.mean(loo_y)) ** 2)
        assert se == pytest.approx(math.sqrt(var), rel=1e-9)
    whole, old = M.mmd2(x, y, kernel=kind, sigma=0.3), M.CHUNK
    try:                                  # row blocks of 1 or 2 rows give the same sums
        M.CHUNK = 16
        assert M.mmd2(x, y, kernel=kind, sigma=0.3) == pytest.approx(whole, abs=1e-14)
    finally:
        M.CHUNK = old


def test_mmd2_is_zero_on_one_family_and_positive_between_c_half_and_two():
    same = M.descriptors(sample(2, 400, connectivity=1.0)), M.descriptors(sample(3, 400, connectivity=1.0))
    far = M.descriptors(sample(4, 400, connectivity=0.5)), M.descriptors(sample(5, 400, connectivity=2.0))
    for desc in same[0]:
        near_zero = M.mmd2_grid(same[0][desc], same[1][desc])
        positive = M.mmd2_grid(far[0][desc], far[1][desc])
        for key, (v, se) in near_zero.items():
            assert abs(v) < 3 * se, (desc, key, v, se)
            v2, se2 = positive[key]
            assert v2 > 10 * se2 and v2 > 20 * abs(v), (desc, key, v2, se2)


def test_jackknife_se_is_roughly_calibrated():
    values, ses = [], []
    for r in range(40):
        x, y = (M.descriptors(sample(100 + 2 * r + i, 120, model="sbm"))["spectrum"] for i in (0, 1))
        v, se = M.mmd2(x, y, kernel="rbf", sigma=0.1)
        values.append(v), ses.append(se)
    ratio = np.std(values) / np.mean(ses)
    assert 0.6 < ratio < 1.6, ratio


def gran_reference(graphs_a, graphs_b):
    """GRAN's recipe, written out plainly with networkx, numpy and scipy."""
    def hists(G):
        deg = np.array(nx.degree_histogram(G), dtype=float)
        clu, _ = np.histogram(list(nx.clustering(G).values()), bins=100, range=(0.0, 1.0))
        eig = np.clip(scipy.linalg.eigvalsh(nx.normalized_laplacian_matrix(G).todense()), 0, 2)
        spe, _ = np.histogram(eig, bins=200, range=(-1e-5, 2))
        return [deg / deg.sum(), clu / clu.sum(), spe / spe.sum()]

    def gtv(p, q, sigma):
        size = max(len(p), len(q))
        p, q = np.pad(p, (0, size - len(p))), np.pad(q, (0, size - len(q)))
        tv = np.abs(p - q).sum() / 2
        return math.exp(-tv * tv / (2 * sigma * sigma))

    def disc(s1, s2, sigma):
        return sum(gtv(p, q, sigma) for p in s1 for q in s2) / (len(s1) * len(s2))

    ha, hb = [hists(G) for G in graphs_a], [hists(G) for G in graphs_b]
    out = {}
    for i, (name, sigma) in enumerate(M.GTV_SIGMA.items()):
        a, b = [h[i] for h in ha], [h[i] for h in hb]
        out[name] = disc(a, a, sigma) + disc(b, b, sigma) - 2 * disc(a, b, sigma)
    return out


def test_gaussian_tv_matches_a_plain_reimplementation():
    a = torch.cat([sample(6, 25, connectivity=0.5), sample(7, 15, model="ws", rewiring=0.5)])
    b = torch.cat([sample(8, 20, connectivity=1.5), sample(9, 15, model="rgg", radius=1.5)])
    ref = gran_reference([nx.from_numpy_array(g.numpy()) for g in a], [nx.from_numpy_array(g.numpy()) for g in b])
    ha, hb = M.histograms(a), M.histograms(b)
    for name, sigma in M.GTV_SIGMA.items():
        assert M.gaussian_tv_mmd2(ha[name], hb[name], sigma) == pytest.approx(ref[name], abs=1e-12), name
        assert ref[name] > 1e-4


def test_descriptors_match_networkx():
    a = torch.cat([sample(10, 30, connectivity=0.7), sample(11, 30, model="ws")])
    d = M.descriptors(a)
    for i, g in enumerate(a):
        G = nx.from_numpy_array(g.numpy())
        assert d["degree"][i].tolist() == sorted(k / 15 for _, k in G.degree())
        assert d["clustering"][i].tolist() == sorted(nx.clustering(G).values())
        spec = np.sort(nx.normalized_laplacian_spectrum(G))
        assert np.allclose(d["spectrum"][i].numpy(), np.clip(spec, 0, 2), atol=1e-10)


# -- rounding, uniqueness, modes ------------------------------------------------------------------
def test_rounding_rule():
    a = torch.tensor([[[0.9, 0.7, 0.2],
                       [0.2, 0.3, 0.9],
                       [0.9, 0.6, 0.0]]])
    # pairs: (0,1) mean 0.45 -> no edge; (0,2) 0.55 -> edge; (1,2) 0.75 -> edge; diagonal dropped
    assert ops.binarize(a).tolist() == [[[0, 0, 1], [0, 0, 1], [1, 1, 0]]]
    b = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])                  # one direction only: exactly 0.5
    assert ops.binarize(b).sum() == 0


def test_uniqueness_and_novelty():
    real = sample(12, 200, connectivity=2.0)
    perm = ops.node_order(real, "random", gen(13))
    relabelled = ops.permute_graph(real, perm)
    unique, novel, unique_real = M.uniqueness_novelty(relabelled, real)
    assert novel == 0 and unique == unique_real > 0.95
    copies = real[:1].expand(50, -1, -1)
    assert M.uniqueness_novelty(copies, real)[:2] == (1 / 50, 0.0)
    assert M.uniqueness_novelty(sample(14, 200, connectivity=2.0), real)[1] > 0.95


def test_community_count_recovers_the_mixed_modes():
    d = distributions.make("graphs", model="sbm", mixed=True, communities=3)
    x, f = d.sample_with_factors(2000, generator=gen(15))
    k = M.community_count(ops.adjacency(x), d.community_modes)
    assert (k == f["communities"]).double().mean() > 0.95
    real = ops.adjacency(d.sample(1000, generator=gen(16)))
    good = M.mode_stats(ops.adjacency(d.sample(1000, generator=gen(17))), real, d.community_modes)
    assert good["mode_coverage"] == 1.0 and good["mode_tv"] < 0.05
    two = sample(18, 1000, model="sbm", communities=2)              # collapsed onto one mode
    bad = M.mode_stats(two, real, d.community_modes)
    assert bad["mode_coverage"] == pytest.approx(1 / 3) and bad["mode_tv"] > 0.5 and bad["mode_share_2"] > 0.9


# -- evaluate_graphs -------------------------------------------------------------------------------
def test_evaluate_a_perfect_and_a_wrong_generator():
    d = distributions.make("graphs", connectivity=0.5)
    real = d.sample(500, generator=gen(19))
    good = M.evaluate_graphs(d, d.sample(500, generator=gen(20)), real=real)
    json.dumps(good, allow_nan=False)
    assert good["edge_density_fake"] == pytest.approx(good["edge_density_true"], abs=0.01)
    assert good["connected_true"] == pytest.approx(0.00711, abs=1e-5) and good["components_tv"] < 0.1
    wrong = distributions.make("graphs", connectivity=2.0).sample(500, generator=gen(21))
    bad = M.evaluate_graphs(d, wrong, real=real)
    assert bad["components_tv"] > 0.9 and bad["connected_fake"] > 0.9
    for key in good:
        if key.startswith(("mmd2_", "gtv_")) and not key.endswith("_se"):
            assert bad[key] > 20 * max(abs(good[key]), 1e-4), key
    # relaxed, non-symmetric output that rounds back to the real graphs scores like them
    noise = 0.4 * torch.rand(real.shape, generator=gen(22))
    relaxed = (real - noise).abs()
    relaxed[:, 0, 0] = 0.9
    again = M.evaluate_graphs(d, relaxed, real=real)
    assert again["asymmetry"] > 0.1 and again["rounding_gap"] > 0.1
    assert again["novel"] == 0 and again["components_tv"] == 0
    assert again["mmd2_degree_rbf_0.1"] < 0 and again["gtv_mmd2_spectrum"] == 0


def test_evaluate_is_deterministic_and_drops_nonfinite():
    d = distributions.make("graphs", model="sbm", mixed=True, communities=3, signal="gmrf", epsilon=0.5)
    fake = d.sample(300, generator=gen(23))
    fake[:30, 0, 1] = float("nan")
    out = M.evaluate_graphs(d, fake, generator=gen(24))
    assert out == M.evaluate_graphs(d, fake, generator=gen(24))
    assert out["nonfinite_fraction"] == pytest.approx(0.1) and out["n_fake"] == 270
    assert {"mode_coverage", "mode_tv", "dirichlet_energy_fake", "rayleigh_real"} <= set(out)
    assert abs(out["dirichlet_energy_rel_error"]) < 0.1
    rough = fake[30:].clone()
    rough[..., -1] = torch.randn(270, 16, generator=gen(25))           # white noise: not smooth
    worse = M.evaluate_graphs(d, rough, generator=gen(24))
    assert worse["dirichlet_energy_rel_error"] > 0.5 and worse["rayleigh_fake"] > 1.5 * worse["rayleigh_real"]
    with pytest.raises(ValueError, match=r"samples=\(10, 16, 16\) is not allowed"):
        M.evaluate_graphs(d, torch.zeros(10, 16, 16))
