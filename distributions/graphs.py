"""Random graphs of a fixed size: connectedness, communities, rewiring, geometry, node order and
smooth node signals as knobs.

A sample is one float32 tensor: the adjacency [n, n] (0/1, symmetric, zero diagonal) or, with a
node signal, the adjacency plus the signal as an extra last column, [n, n + 1]. ``adjacency(x)``
and ``signal(x)`` split samples or batches of them.

Models (n = n_nodes):
- er:  Erdos-Renyi G(n, p), p = connectivity * ln(n) / n; c < 1 leaves isolated nodes, c > 1
       is connected with probability -> 1 (n = 16: P(connected) = 0.007, 0.376, 0.837, 0.973
       for c = 0.5, 1, 1.5, 2, exactly).
- sbm: stochastic block model, ``communities`` contiguous blocks of sizes differing by at most
       one, edge probability p_in inside a block and p_out across; ``mixed`` draws the number
       of communities of each graph uniformly from 1..communities (the modes of the family).
- ws:  Watts-Strogatz: ring lattice of degree ``neighbours``, each edge rewired with
       probability ``rewiring`` (networkx's algorithm, run on the whole batch at once).
- rgg: random geometric graph, n uniform points in the unit square joined when at distance
       <= radius * r_c, r_c = sqrt(ln n / (pi n)) the asymptotic critical radius of
       connectivity; boundary effects make small graphs sparser (n = 16: P(connected) is
       about 0.004, 0.47, 0.94 for radius = 1, 1.5, 2).
Node order: ``random`` (a uniform relabelling), ``bfs`` / ``degree`` (canonical up to random
ties, see ``graph_ops.node_order``) or ``natural`` (generation order: blocks contiguous, the
lattice ring in order; er and rgg are exchangeable, so natural is as good as random there).
Signals: x ~ N(0, Q^-1) given the graph, L = D - A; ``gmrf``: Q = L + epsilon I, so
E[x^T L x | A] = sum_i lambda_i / (lambda_i + epsilon); ``filtered``: x = V h with
h ~ N(0, (smoothness Lambda + I)^-1) in the Laplacian eigenbasis, i.e. Q = smoothness L + I.

What makes it harder: connectedness near its threshold (c ~ 1, radius ~ 1), a random node
order (every graph is seen under n! labellings), weak communities (p_in close to p_out), mixed
modes, small-world shortcuts, and signals tied to the graph.

Traits are exact where a formula exists (``trait_method`` says which) and otherwise Monte Carlo
over a fixed set of graphs drawn with seed ``TRAIT_SEED``.
"""
from __future__ import annotations

import math
from functools import cached_property

import torch

from . import graph_ops as ops
from .base import Distribution
from .graph_ops import adjacency, signal  # noqa: F401  (public helpers of the family)
from .knobs import Knob, inconsistent

MODELS = ("er", "sbm", "ws", "rgg")
ORDERS = ("random", "bfs", "degree", "natural")
SIGNALS = ("none", "gmrf", "filtered")
TRAIT_SEED = 0
_APPLIES = {   # knob -> (the knob it depends on, the values where it applies)
    "connectivity": ("model", ("er",)), "communities": ("model", ("sbm",)),
    "p_in": ("model", ("sbm",)), "p_out": ("model", ("sbm",)), "mixed": ("model", ("sbm",)),
    "neighbours": ("model", ("ws",)), "rewiring": ("model", ("ws",)), "radius": ("model", ("rgg",)),
    "epsilon": ("signal", ("gmrf",)), "smoothness": ("signal", ("filtered",)),
}


def critical_radius(n: int) -> float:
    """sqrt(ln n / (pi n)): the radius at which a random geometric graph becomes connected."""
    return math.sqrt(math.log(n) / (math.pi * n))


class Graphs(Distribution):
    family = "graphs"
    ground_truth = frozenset({"graph_structure"})
    summary = ("fixed-size random graphs (Erdos-Renyi, block model, Watts-Strogatz, geometric) as "
               "adjacency matrices, with node order and optional smooth node signals")
    knobs = {k.name: k for k in [
        Knob("model", str, "er", "random graph model", choices=MODELS),
        Knob("n_nodes", int, 16, "number of nodes of every graph", low=2, high=256),
        Knob("connectivity", float, None, "c in p = c ln(n) / n; connected w.p. -> 1 above 1 "
             "(default 1.0)", low=0.0, applies="model=er"),
        Knob("communities", int, None, "number of blocks, or the largest number when mixed "
             "(default 2)", low=1, applies="model=sbm"),
        Knob("p_in", float, None, "edge probability inside a block (default 0.8)", low=0.0, high=1.0,
             applies="model=sbm"),
        Knob("p_out", float, None, "edge probability across blocks (default 0.05)", low=0.0, high=1.0,
             applies="model=sbm"),
        Knob("mixed", bool, None, "draw each graph's number of communities uniformly from "
             "1..communities (default False)", applies="model=sbm"),
        Knob("neighbours", int, None, "even lattice degree before rewiring (default 4)", low=2,
             applies="model=ws"),
        Knob("rewiring", float, None, "probability that a lattice edge is rewired (default 0.1)",
             low=0.0, high=1.0, applies="model=ws"),
        Knob("radius", float, None, "connection radius in units of the critical radius "
             "sqrt(ln n / (pi n)) (default 1.0)", low=0.0, low_open=True, applies="model=rgg"),
        Knob("order", str, "random", "node order of the adjacency", choices=ORDERS),
        Knob("signal", str, "none", "node signal appended as a last column", choices=SIGNALS),
        Knob("epsilon", float, None, "x ~ N(0, (L + epsilon I)^-1): smaller is smoother relative to "
             "its size (default 0.1)", low=0.0, low_open=True, applies="signal=gmrf"),
        Knob("smoothness", float, None, "alpha in h ~ N(0, (alpha Lambda + I)^-1): larger is "
             "smoother (default 1.0)", low=0.0, applies="signal=filtered"),
    ]}

    def _setup(self, *, model, n_nodes, connectivity, communities, p_in, p_out, mixed, neighbours,
               rewiring, radius, order, signal, epsilon, smoothness):
        fam, n = self.family, n_nodes
        given = dict(connectivity=connectivity, communities=communities, p_in=p_in, p_out=p_out,
                     mixed=mixed, neighbours=neighbours, rewiring=rewiring, radius=radius,
                     epsilon=epsilon, smoothness=smoothness)
        chosen = dict(model=model, signal=signal)
        for name, value in given.items():
            knob, where = _APPLIES[name]
            if value is not None and chosen[knob] not in where:
                raise inconsistent(fam, name, value, f"it applies to {knob}={where[0]!r}, not {chosen[knob]!r}")
        self.model, self.n_nodes, self.order, self.signal_kind = model, n, order, signal
        self.c = 1.0 if connectivity is None else connectivity
        self.communities = 2 if communities is None else communities
        self.p_in = 0.8 if p_in is None else p_in
        self.p_out = 0.05 if p_out is None else p_out
        self.mixed = bool(mixed)
        self.neighbours = 4 if neighbours is None else neighbours
        self.rewiring = 0.1 if rewiring is None else rewiring
        self.radius = 1.0 if radius is None else radius
        if model == "er" and self.c * math.log(n) / n > 1:
            raise inconsistent(fam, "connectivity", connectivity,
                               f"p = c ln(n)/n must be <= 1, so c <= {n / math.log(n):.4g} for n_nodes={n}")
        if model == "sbm" and self.communities > n:
            raise inconsistent(fam, "communities", communities, f"it must be <= n_nodes={n}")
        if model == "sbm" and self.mixed and not 2 <= self.communities < n:
            raise inconsistent(fam, "communities", self.communities,
                               f"mixed needs 2 <= communities < n_nodes={n}")
        if model == "ws" and (self.neighbours % 2 or self.neighbours >= n):
            raise inconsistent(fam, "neighbours", neighbours, f"it must be even and < n_nodes={n}")
        # Signal precision Q = qa L + qb I.
        self._q = {"none": None, "gmrf": (1.0, 0.1 if epsilon is None else epsilon),
                   "filtered": (1.0 if smoothness is None else smoothness, 1.0)}[signal]
        self.event_shape = (n, n + 1) if self._q else (n, n)
        self.community_modes = tuple(range(1, self.communities + 1)) if model == "sbm" and self.mixed else None

        self.missing = {
            "support_distance": "graphs are discrete: every symmetric 0/1 matrix is a possible graph, "
                                "and the model-specific supports have no useful metric distance",
            "modes": "graphs have no Euclidean mode centres"
                     + ("; the modes are the community counts in community_modes" if self.community_modes else ""),
        }
        if order in ("bfs", "degree"):
            self.missing["log_prob"] = (f"order={order!r} maps every labelling of a graph to one; its "
                                        "probability is a sum over the labellings, intractable in general")
        elif model == "sbm" and order == "random":
            self.missing["log_prob"] = ("a randomly relabelled SBM needs a sum over every assignment of "
                                        "nodes to blocks")
        elif model in ("ws", "rgg"):
            self.missing["log_prob"] = {"ws": "a rewired lattice's probability sums over rewiring histories",
                                        "rgg": "a geometric graph's probability is an integral over "
                                               "point positions"}[model]

    # -- sampling ------------------------------------------------------------------------------
    def _structure(self, b: int, g: torch.Generator, device) -> tuple[torch.Tensor, dict]:
        """B graphs in generation order, float64 [B, n, n], and their generating factors."""
        n = self.n_nodes
        if self.model == "er":
            return ops.erdos_renyi(b, n, self.c * math.log(n) / n, g, device), {}
        if self.model == "sbm":
            if self.mixed:
                k = torch.randint(1, self.communities + 1, (b,), generator=g, device=device)
            else:
                k = torch.full((b,), self.communities, device=device)
            return ops.stochastic_block(k, n, self.p_in, self.p_out, g, device), {"communities": k}
        if self.model == "ws":
            return ops.watts_strogatz(b, n, self.neighbours, self.rewiring, g, device), {}
        a, pos = ops.geometric(b, n, self.radius * critical_radius(n), g, device)
        return a, {"positions": pos}

    def _draw(self, b: int, g: torch.Generator, device) -> tuple[torch.Tensor, dict]:
        a, factors = self._structure(b, g, device)
        order = ops.node_order(a, self.order, g)
        if order is not None:
            a = ops.permute_graph(a, order)
            factors["order"] = order
            if "positions" in factors:
                factors["positions"] = ops.permute_nodes(factors["positions"], order)
        if self._q is None:
            return a, factors
        x = ops.smooth_signal(a, *self._q, g)
        return torch.cat([a, x[..., None]], dim=-1), factors

    def _sample_float64(self, n, generator, device):
        return self._draw(n, generator, device)[0]

    def sample_with_factors(self, n: int, *, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        """``sample`` plus the generating factors: ``communities`` [n] (sbm), ``positions``
        [n, n_nodes, 2] (rgg, in the sample's node order) and ``order`` [n, n_nodes] (generation
        index of the node at each position; absent for order='natural')."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{self.family}: sample n={n!r} is not allowed; expected an integer >= 0")
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"{self.family}: generator={generator!r} is not allowed; expected a torch.Generator")
        x, factors = self._draw(n, generator, generator.device)
        return x.float(), factors

    # -- ground truth --------------------------------------------------------------------------
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-probability of labelled graphs (plus, with a signal, the log-density of the
        signal given the graph): er with order random or natural, sbm with order natural.
        -inf where the adjacency is not a 0/1 symmetric matrix with zero diagonal."""
        if "log_prob" in self.missing:
            raise NotImplementedError(self.missing["log_prob"])
        if tuple(x.shape[1:]) != self.event_shape:
            raise ValueError(f"{self.family}: log_prob x has shape {tuple(x.shape)}, which is not "
                             f"allowed; expected [batch, {', '.join(map(str, self.event_shape))}]")
        x = x.to(torch.float64)
        a, n = adjacency(x), self.n_nodes
        upper = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
        edges = a[:, upper].sum(-1)
        if self.model == "er":
            lp = _bernoulli(edges, n * (n - 1) / 2, self.c * math.log(n) / n)
        else:
            ks = self.community_modes or (self.communities,)
            per_k = []
            for k in ks:
                lab = ops.block_labels(torch.tensor([k], device=x.device), n)[0]
                inside = (lab[:, None] == lab[None, :]) & upper
                e_in = a[:, inside].sum(-1)
                m_in = float(inside.sum())
                e_out, m_out = edges - e_in, n * (n - 1) / 2 - m_in
                per_k.append(_bernoulli(e_in, m_in, self.p_in) + _bernoulli(e_out, m_out, self.p_out))
            lp = torch.logsumexp(torch.stack(per_k), 0) - math.log(len(ks))
        if self._q is not None:
            lp = lp + ops.signal_log_density(a, signal(x), *self._q)
        return lp.masked_fill(~ops.is_graph(a), -math.inf)

    @property
    def trait_samples(self) -> int:
        """Number of graphs behind the Monte Carlo traits (fewer for large graphs)."""
        return min(4000, max(256, 2 ** 22 // self.n_nodes ** 2))

    @cached_property
    def trait_method(self) -> dict[str, str]:
        """How each trait was obtained: 'exact' or the Monte Carlo set it was averaged over."""
        mc = f"monte carlo over {self.trait_samples} graphs, seed {TRAIT_SEED}"
        exact = {"n_nodes", "edge_density", "mean_degree", "connectivity", "edge_probability",
                 "communities", "n_modes", "p_in", "p_out", "neighbours", "rewiring", "radius",
                 "critical_radius", "epsilon", "smoothness"}
        if self.model == "er":
            exact |= {"p_connected", "mean_components"}
        if self.model == "rgg" and 1 < self.radius * critical_radius(self.n_nodes) < math.sqrt(2):
            exact.discard("edge_density"), exact.discard("mean_degree")
        return {k: "exact" if k in exact else mc for k in self.traits}

    @cached_property
    def traits(self) -> dict[str, float]:
        """The knobs in interpretable units, plus expected P(connected), number of components,
        algebraic connectivity and (with a signal) Dirichlet energy E[x^T L x] and per-node
        signal variance. See ``trait_method``."""
        n, t = self.n_nodes, {"n_nodes": float(self.n_nodes)}
        a, _ = self._structure(self.trait_samples, torch.Generator().manual_seed(TRAIT_SEED), "cpu")
        stats = {k: v.mean().item() for k, v in ops.graph_stats(a).items()}
        density = stats["density"]
        if self.model == "er":
            p = self.c * math.log(n) / n
            t.update(connectivity=self.c, edge_probability=p)
            density = p
        elif self.model == "sbm":
            m = n * (n - 1) / 2
            ks = self.community_modes or (self.communities,)
            m_in = [sum(s * (s - 1) / 2 for s in ops.block_sizes(k, n)) for k in ks]
            density = sum(self.p_in * mi / m + self.p_out * (1 - mi / m) for mi in m_in) / len(ks)
            t.update(communities=float(self.communities), n_modes=float(len(ks)), p_in=self.p_in, p_out=self.p_out)
        elif self.model == "ws":
            density = self.neighbours / (n - 1)
            t.update(neighbours=float(self.neighbours), rewiring=self.rewiring)
        else:
            r = self.radius * critical_radius(n)
            if r <= 1:
                density = math.pi * r ** 2 - 8 / 3 * r ** 3 + r ** 4 / 2
            elif r >= math.sqrt(2):
                density = 1.0
            t.update(radius=self.radius, critical_radius=critical_radius(n))
        t.update(edge_density=density, mean_degree=density * (n - 1))
        if self.model == "er":
            p = self.c * math.log(n) / n
            t.update(p_connected=ops.er_connected(n, p)[n], mean_components=ops.er_mean_components(n, p))
        else:
            t.update(p_connected=stats["connected"], mean_components=stats["components"])
        t["mean_algebraic_connectivity"] = stats["algebraic_connectivity"]
        if self._q is not None:
            qa, qb = self._q
            lam = torch.linalg.eigvalsh(ops.laplacian(a)).clamp_min(0)
            if self.signal_kind == "gmrf":
                t["epsilon"] = qb
            else:
                t["smoothness"] = qa
            t["dirichlet_energy"] = (lam / (qa * lam + qb)).sum(-1).mean().item()
            t["signal_variance"] = (1 / (qa * lam + qb)).mean().item()
        return {k: float(v) for k, v in t.items()}


def _bernoulli(k: torch.Tensor, m: float, p: float) -> torch.Tensor:
    """log of p^k (1 - p)^(m - k), with 0 log 0 = 0."""
    p_, q_ = (torch.tensor(v, dtype=k.dtype, device=k.device) for v in (p, 1.0 - p))
    return torch.xlogy(k, p_) + torch.xlogy(m - k, q_)
