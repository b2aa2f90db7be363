"""The graphs family: exact connectivity facts, agreement with networkx's generators, node
orders, signals, log_prob and knob validation."""
import itertools
import math

import networkx as nx
import numpy as np
import pytest
import torch

import distributions
from distributions import graph_ops as ops
from distributions.graphs import adjacency, critical_radius, signal


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def nx_graph(a):
    return nx.from_numpy_array(a.double().numpy())


def close(p1, n1, p2, n2=None, z=4.0):
    """Proportion p1 of n1 trials within z standard errors of p2: an exact probability when
    n2 is None, else another proportion of n2 trials."""
    var = p2 * (1 - p2) / n1 if n2 is None else p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    return abs(p1 - p2) <= z * math.sqrt(var) + 1e-3


# -- Erdos-Renyi connectivity (REFERENCES §4) ------------------------------------------------------
REFERENCE = {0.5: 0.00, 1.0: 0.36, 1.5: 0.86, 2.0: 0.98}    # 500 simulated graphs, 2 decimals


def test_exact_er_formulas_match_enumeration():
    n, pairs = 5, list(itertools.combinations(range(5), 2))
    for p in (0.2, 0.5, 0.9):
        conn = comps = 0.0
        for edges in itertools.product((0, 1), repeat=len(pairs)):
            G = nx.empty_graph(n)
            G.add_edges_from(e for e, on in zip(pairs, edges) if on)
            w = p ** sum(edges) * (1 - p) ** (len(pairs) - sum(edges))
            conn += w * nx.is_connected(G)
            comps += w * nx.number_connected_components(G)
        assert ops.er_connected(n, p)[n] == pytest.approx(conn, abs=1e-12)
        assert ops.er_mean_components(n, p) == pytest.approx(comps, abs=1e-12)


@pytest.mark.parametrize("c", sorted(REFERENCE))
def test_er_connected_probability(c):
    n = 16
    p = c * math.log(n) / n
    exact = ops.er_connected(n, p)[n]
    d = distributions.make("graphs", connectivity=c)
    assert d.traits["p_connected"] == exact and d.trait_method["p_connected"] == "exact"
    # REFERENCES' figures come from 500 graphs rounded to 2 decimals: within their sampling error.
    assert abs(REFERENCE[c] - exact) <= 3 * math.sqrt(exact * (1 - exact) / 500) + 0.005
    ours = ops.graph_stats(adjacency(d.sample(20000, generator=gen(1))))["connected"].mean().item()
    assert close(ours, 20000, exact)
    rng = np.random.default_rng(int(c * 10))
    theirs = np.mean([nx.is_connected(nx.gnp_random_graph(n, p, seed=int(s)))
                      for s in rng.integers(0, 2 ** 31, 1000)])
    assert close(theirs, 1000, exact)


@pytest.mark.parametrize("kw", [dict(connectivity=0.5), dict(connectivity=1.0), dict(model="rgg", radius=1.5),
                                dict(model="sbm", communities=3, p_out=0.0, p_in=0.5), dict(model="ws", rewiring=0.9)])
def test_zero_laplacian_eigenvalues_count_components(kw):
    a = adjacency(distributions.make("graphs", **kw).sample(300, generator=gen(2))).double()
    stats = ops.graph_stats(a)
    graphs = [nx_graph(g) for g in a]
    theirs = torch.tensor([nx.number_connected_components(G) for G in graphs], dtype=torch.float64)
    assert torch.equal(stats["components"], theirs)
    assert theirs.min() < theirs.max() or kw.get("model") == "ws"    # the check saw several counts
    lam2 = torch.tensor([nx.laplacian_spectrum(G)[1] for G in graphs])
    connected = stats["connected"] == 1
    assert torch.allclose(stats["algebraic_connectivity"][connected], lam2[connected], atol=1e-9)
    assert (stats["algebraic_connectivity"][~connected] == 0).all() and (lam2[~connected] < 1e-9).all()


# -- signals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,knob,qa_qb", [("gmrf", dict(epsilon=0.3), (1.0, 0.3)),
                                             ("filtered", dict(smoothness=2.0), (2.0, 1.0))])
def test_mean_dirichlet_energy_matches_formula(kind, knob, qa_qb):
    qa, qb = qa_qb
    d = distributions.make("graphs", connectivity=1.5, signal=kind, **knob)
    x = d.sample(10000, generator=gen(3)).double()
    a, s = adjacency(x), signal(x)
    energy = ops.dirichlet_energy(a, s)
    assert torch.allclose(energy, (s[:, None, :] @ ops.laplacian(a) @ s[:, :, None]).flatten(), rtol=1e-9)
    lam = torch.linalg.eigvalsh(ops.laplacian(a)).clamp_min(0)
    expected = (lam / (qa * lam + qb)).sum(-1)                   # E[x^T L x | A]
    assert abs(energy.mean() - expected.mean()) < 4 * (energy - expected).std() / math.sqrt(len(x))
    assert d.traits["dirichlet_energy"] == pytest.approx(expected.mean().item(), rel=0.03)


def test_signal_covariance_on_a_fixed_graph():
    a = adjacency(distributions.make("graphs", connectivity=1.5).sample(1, generator=gen(4))).double()
    x = ops.smooth_signal(a.expand(40000, -1, -1), 1.0, 0.5, gen(5))
    cov = torch.linalg.inv(ops.laplacian(a[0]) + 0.5 * torch.eye(16, dtype=torch.float64))
    emp = x.T @ x / len(x)
    assert (emp - cov).abs().max() < 0.05 * cov.diagonal().max()


# -- samples ---------------------------------------------------------------------------------------
CONFIGS = [dict(), dict(model="sbm", mixed=True, communities=3, order="bfs"),
           dict(model="ws", order="degree", signal="gmrf"), dict(model="rgg", order="natural", signal="filtered"),
           dict(model="sbm", order="natural", n_nodes=9)]


@pytest.mark.parametrize("kw", CONFIGS)
def test_samples_are_graphs_and_seeded(kw):
    d = distributions.make("graphs", **kw)
    x = d.sample(200, generator=gen(6))
    n = d.n_nodes
    assert x.dtype == torch.float32 and x.shape == (200, *d.event_shape)
    assert d.event_shape == ((n, n + 1) if kw.get("signal") else (n, n))
    assert ops.is_graph(adjacency(x)).all()
    assert (signal(x) is None) == ("signal" not in kw)
    assert torch.equal(x, d.sample(200, generator=gen(6)))
    assert not torch.equal(x, d.sample(200, generator=gen(7)))
    assert d.sample(0, generator=gen(6)).shape == (0, *d.event_shape)


def dense(graphs):
    return torch.stack([torch.as_tensor(nx.to_numpy_array(G, nodelist=range(len(G)))) for G in graphs])


def degree_pmf(a):
    """Fraction of nodes with each degree 0..n-1 over a batch of adjacencies."""
    return torch.bincount(a.sum(-1).long().flatten(), minlength=a.shape[-1]).double() / a.shape[0] / a.shape[1]


def assert_same_pmf(p, n1, q, n2):
    for a, b in zip(p.tolist(), q.tolist()):
        assert close(a, n1, b, n2), (p, q)


def test_er_and_sbm_samplers_match_networkx():
    rng = np.random.default_rng(8)
    seeds = [int(s) for s in rng.integers(0, 2 ** 31, 1500)]
    n, p = 16, 1.0 * math.log(16) / 16
    ours = adjacency(distributions.make("graphs").sample(6000, generator=gen(8))).double()
    theirs = dense(nx.gnp_random_graph(n, p, seed=s) for s in seeds)
    assert close(ours.mean().item() * n / (n - 1), 6000 * 120, p)
    assert close(theirs.mean().item() * n / (n - 1), 1500 * 120, p)
    assert_same_pmf(degree_pmf(ours), 6000 * 16, degree_pmf(theirs), 1500 * 16)

    sizes = ops.block_sizes(3, n)
    assert sizes == [6, 5, 5]
    probs = [[0.7 if i == j else 0.1 for j in range(3)] for i in range(3)]
    d = distributions.make("graphs", model="sbm", communities=3, p_in=0.7, p_out=0.1, order="natural")
    ours = adjacency(d.sample(6000, generator=gen(9))).double()
    theirs = dense(nx.stochastic_block_model(sizes, probs, seed=s) for s in seeds)
    lab = ops.block_labels(torch.tensor([3]), n)[0]
    inside = (lab[:, None] == lab[None]) & ~torch.eye(n, dtype=torch.bool)
    outside = lab[:, None] != lab[None]
    for mask, q in ((inside, 0.7), (outside, 0.1)):
        assert close(ours[:, mask].mean().item(), 6000 * int(mask.sum()) // 2, theirs[:, mask].mean().item(),
                     1500 * int(mask.sum()) // 2)
        assert close(ours[:, mask].mean().item(), 6000 * int(mask.sum()) // 2, q)
    assert_same_pmf(degree_pmf(ours), 6000 * 16, degree_pmf(theirs), 1500 * 16)
    assert d.traits["edge_density"] == pytest.approx(ours.mean().item() * n / (n - 1), abs=0.005)


def test_ws_and_rgg_samplers_match_networkx():
    rng = np.random.default_rng(10)
    seeds = [int(s) for s in rng.integers(0, 2 ** 31, 1500)]
    d = distributions.make("graphs", model="ws", neighbours=4, rewiring=0.3, order="natural")
    ours = adjacency(d.sample(4000, generator=gen(10))).double()
    theirs = [nx.watts_strogatz_graph(16, 4, 0.3, seed=s) for s in seeds]
    assert (ours.sum((1, 2)) == 16 * 4).all()                        # rewiring keeps the edge count
    assert_same_pmf(degree_pmf(ours), 4000 * 16, degree_pmf(dense(theirs)), 1500 * 16)
    ours_c = ops.clustering(ours).mean(1)
    theirs_c = torch.tensor([nx.average_clustering(G) for G in theirs])
    se = math.sqrt(ours_c.var() / 4000 + theirs_c.var() / 1500)
    assert abs(ours_c.mean() - theirs_c.mean()) < 4 * se

    d = distributions.make("graphs", model="rgg", radius=1.5)
    r = 1.5 * critical_radius(16)
    ours = ops.graph_stats(adjacency(d.sample(6000, generator=gen(11))).double())
    theirs = [nx.random_geometric_graph(16, r, seed=s) for s in seeds]
    assert close(ours["connected"].mean().item(), 6000, float(np.mean([nx.is_connected(G) for G in theirs])), 1500)
    assert 0.3 < ours["connected"].mean() < 0.7                        # near the threshold
    assert abs(ours["density"].mean() - d.traits["edge_density"]) < 4 * ours["density"].std() / math.sqrt(6000)
    assert d.trait_method["edge_density"] == "exact" and "monte carlo" in d.trait_method["p_connected"]


# -- node orders and factors ----------------------------------------------------------------------
def test_orders_relabel_the_same_graphs():
    base = dict(model="sbm", mixed=True, communities=3)
    natural = distributions.make("graphs", order="natural", **base).sample(300, generator=gen(12))
    for order in ("random", "degree", "bfs"):
        d = distributions.make("graphs", order=order, **base)
        x, f = d.sample_with_factors(300, generator=gen(12))
        assert torch.equal(x, ops.permute_graph(natural, f["order"]))
        assert torch.equal(f["order"].sort(1).values, torch.arange(16).expand(300, -1))
    # natural order keeps blocks contiguous; a random order spreads p_in over all pairs
    d = distributions.make("graphs", model="sbm", p_in=0.9, p_out=0.0)
    for order, expected in (("natural", 0.9), ("random", d.traits["edge_density"])):
        x = distributions.make("graphs", model="sbm", p_in=0.9, p_out=0.0, order=order).sample(4000, generator=gen(13))
        assert close(x[:, 0, 1].mean().item(), 4000, expected)


def test_degree_and_bfs_orders_are_canonical():
    x = adjacency(distributions.make("graphs", connectivity=0.8, order="degree").sample(300, generator=gen(14)))
    deg = x.sum(-1)
    assert (deg[:, 1:] <= deg[:, :-1]).all()
    for a in adjacency(distributions.make("graphs", connectivity=0.8, order="bfs").sample(100, generator=gen(15))):
        G, deg = nx_graph(a), a.sum(-1)
        for comp in nx.connected_components(G):
            nodes = sorted(comp)
            assert nodes == list(range(nodes[0], nodes[-1] + 1))      # components are contiguous
            assert deg[nodes[0]] == deg[nodes].max()                  # started at a top degree
            parents = [min(G[v]) for v in nodes[1:]]
            assert all(p < v for p, v in zip(parents, nodes[1:]))     # reached from an earlier node
            assert parents == sorted(parents)                         # breadth first
            for i in range(len(parents) - 1):
                if parents[i] == parents[i + 1]:                      # siblings by degree
                    assert deg[nodes[i + 1]] >= deg[nodes[i + 2]]


def test_factors_of_mixed_sbm_and_rgg():
    d = distributions.make("graphs", model="sbm", mixed=True, communities=4)
    x, f = d.sample_with_factors(8000, generator=gen(16))
    counts = torch.bincount(f["communities"], minlength=5)[1:]
    assert (counts - 2000).abs().max() < 4 * math.sqrt(8000 * 0.25 * 0.75)
    assert d.community_modes == (1, 2, 3, 4) and d.traits["n_modes"] == 4
    d = distributions.make("graphs", model="rgg", radius=2.0, order="bfs")
    x, f = d.sample_with_factors(50, generator=gen(17))
    dist = torch.cdist(f["positions"], f["positions"])
    near = (dist <= 2.0 * critical_radius(16)) & ~torch.eye(16, dtype=torch.bool)
    assert torch.equal(near.float(), x)


# -- log_prob --------------------------------------------------------------------------------------
def all_graphs(n):
    pairs = list(itertools.combinations(range(n), 2))
    out = torch.zeros(2 ** len(pairs), n, n)
    for i, edges in enumerate(itertools.product((0, 1), repeat=len(pairs))):
        for (u, v), on in zip(pairs, edges):
            out[i, u, v] = out[i, v, u] = on
    return out


@pytest.mark.parametrize("kw", [dict(n_nodes=4, connectivity=1.5), dict(n_nodes=4, order="natural"),
                                dict(model="sbm", n_nodes=4, order="natural", p_in=0.7, p_out=0.2),
                                dict(model="sbm", n_nodes=4, order="natural", mixed=True, communities=3)])
def test_log_prob_is_exact_on_labelled_graphs(kw):
    d = distributions.make("graphs", **kw)
    graphs = all_graphs(4)
    prob = d.log_prob(graphs).exp()
    assert prob.sum().item() == pytest.approx(1.0, abs=1e-12)
    x = d.sample(40000, generator=gen(18))
    code = (x.flatten(1) * 2.0 ** torch.arange(16)).sum(1).long()
    ids = (graphs.flatten(1) * 2.0 ** torch.arange(16)).sum(1).long()
    freq = (code[:, None] == ids[None]).double().mean(0)
    assert ((freq - prob).abs() <= 4 * (prob * (1 - prob) / 40000).sqrt() + 1e-3).all()


def test_log_prob_with_signal_and_invalid_input():
    d = distributions.make("graphs", signal="gmrf", epsilon=0.2)
    x = d.sample(50, generator=gen(19)).double()
    a, s = adjacency(x), signal(x)
    p = math.log(16) / 16
    e = a.sum((1, 2)) / 2
    ref = e * math.log(p) + (120 - e) * math.log(1 - p)
    prec = ops.laplacian(a) + 0.2 * torch.eye(16, dtype=torch.float64)
    ref = ref + torch.distributions.MultivariateNormal(torch.zeros(16, dtype=torch.float64),
                                                       precision_matrix=prec).log_prob(s)
    assert torch.allclose(d.log_prob(x), ref, atol=1e-8)
    bad = x.clone()
    bad[0, 0, 1] = 0.5
    bad[1, 0, 0] = 1.0
    bad[2, 0, 1] = 1 - bad[2, 1, 0]                      # asymmetric
    lp = d.log_prob(bad)
    assert torch.isinf(lp[:3]).all() and torch.isfinite(lp[3:]).all()
    with pytest.raises(ValueError, match="shape"):
        d.log_prob(x[:, :, :16])


@pytest.mark.parametrize("kw,why", [(dict(order="bfs"), "labellings"), (dict(model="sbm"), "assignment"),
                                    (dict(model="ws", order="natural"), "rewiring"), (dict(model="rgg"), "positions")])
def test_missing_capabilities_say_why(kw, why):
    d = distributions.make("graphs", **kw)
    assert {"log_prob", "support_distance", "modes"}.isdisjoint(d.capabilities)
    with pytest.raises(NotImplementedError, match=why):
        d.log_prob(d.sample(2, generator=gen()))
    with pytest.raises(NotImplementedError, match="discrete"):
        d.support_distance(d.sample(2, generator=gen()))
    assert d.modes is None


# -- knobs -----------------------------------------------------------------------------------------
BAD = [
    (dict(model="ba"), "model", "'ba'", "'er', 'sbm', 'ws', 'rgg'"),
    (dict(n_nodes=1), "n_nodes", "1", ">= 2"),
    (dict(n_nodes=16.5), "n_nodes", "16.5", "an integer"),
    (dict(connectivity=-0.1), "connectivity", "-0.1", ">= 0"),
    (dict(connectivity=6.0), "connectivity", "6.0", "c <= 5.771"),
    (dict(model="sbm", connectivity=1.0), "connectivity", "1.0", "model='er'"),
    (dict(communities=2), "communities", "2", "model='sbm'"),
    (dict(model="sbm", communities=0), "communities", "0", ">= 1"),
    (dict(model="sbm", communities=17), "communities", "17", "<= n_nodes=16"),
    (dict(model="sbm", mixed=True, communities=1), "communities", "1", "2 <= communities"),
    (dict(model="sbm", mixed="yes"), "mixed", "'yes'", "True or False"),
    (dict(model="sbm", p_in=1.5), "p_in", "1.5", "<= 1"),
    (dict(model="sbm", p_out=-0.1), "p_out", "-0.1", ">= 0"),
    (dict(model="ws", neighbours=3), "neighbours", "3", "even"),
    (dict(model="ws", neighbours=16), "neighbours", "16", "< n_nodes=16"),
    (dict(model="ws", rewiring=1.1), "rewiring", "1.1", "<= 1"),
    (dict(model="er", rewiring=0.1), "rewiring", "0.1", "model='ws'"),
    (dict(model="rgg", radius=0.0), "radius", "0.0", "> 0"),
    (dict(radius=1.0), "radius", "1.0", "model='rgg'"),
    (dict(order="sorted"), "order", "'sorted'", "'random', 'bfs', 'degree', 'natural'"),
    (dict(signal="heat"), "signal", "'heat'", "'none', 'gmrf', 'filtered'"),
    (dict(signal="gmrf", epsilon=0.0), "epsilon", "0.0", "> 0"),
    (dict(epsilon=0.1), "epsilon", "0.1", "signal='gmrf'"),
    (dict(signal="gmrf", smoothness=1.0), "smoothness", "1.0", "signal='filtered'"),
    (dict(signal="filtered", smoothness=-1.0), "smoothness", "-1.0", ">= 0"),
    (dict(colour="red"), "colour", "'red'", "allowed knobs"),
]


@pytest.mark.parametrize("kw,name,value,allowed", BAD)
def test_invalid_knob_is_named(kw, name, value, allowed):
    with pytest.raises(ValueError) as err:
        distributions.make("graphs", **kw)
    msg = str(err.value)
    assert msg.startswith("graphs: ") and f"{name}={value}" in msg and allowed in msg, msg
    assert "\n" not in msg


def test_registered_and_described():
    fam = distributions.families()["graphs"]
    knobs = fam.describe()["knobs"]
    assert knobs["model"]["allowed"] == "one of 'er', 'sbm', 'ws', 'rgg'" and knobs["p_in"]["applies"] == "model=sbm"
    d = distributions.make("graphs", model="sbm", communities=3)
    assert d.params == {"model": "sbm", "n_nodes": 16, "communities": 3, "order": "random", "signal": "none"}
    assert all(isinstance(v, float) for v in d.traits.values())
