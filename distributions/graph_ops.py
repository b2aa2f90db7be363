"""Batched operations on dense undirected graphs: adjacency tensors A [B, n, n], float, 0/1,
symmetric, zero diagonal. Samplers, node orders, Laplacians and the statistics the graph family
and ``metrics.graphs`` share. Everything runs on the tensors' device in float64.

Definitions used throughout:
- degree d_i = sum_j A_ij; Laplacian L = D - A; Dirichlet energy of a signal x: x^T L x.
- normalised Laplacian (networkx's convention) N = D^-1/2 (D - A) D^-1/2 with D^-1/2 = 0 at
  isolated nodes, so an isolated node contributes the eigenvalue 0; spectrum in [0, 2].
- clustering c_i = (A^3)_ii / (d_i (d_i - 1)) (0 when d_i < 2), networkx's definition.
- components: the number of zero eigenvalues of L. A connected graph on s nodes has
  lambda_2 >= 4 / (s diam) > 4 / s^2 (Mohar 1991), so eigenvalues below 1 / n^2 are zeros.
"""
from __future__ import annotations

import math

import torch

F64 = torch.float64


# -- sample layout -----------------------------------------------------------------------------
def adjacency(x: torch.Tensor) -> torch.Tensor:
    """The adjacency part [..., n, n] of a sample [..., n, n] or [..., n, n + 1]."""
    return x[..., : x.shape[-2]]


def signal(x: torch.Tensor) -> torch.Tensor | None:
    """The node signal [..., n] (last column) of a sample [..., n, n + 1]; None without one."""
    n = x.shape[-2]
    return x[..., n] if x.shape[-1] == n + 1 else None


def binarize(a: torch.Tensor) -> torch.Tensor:
    """Round a relaxed or non-symmetric adjacency to a graph: edge {i, j} (i != j) iff
    (a_ij + a_ji) / 2 > 0.5. Returns float64 0/1, symmetric, zero diagonal."""
    s = (a.to(F64) + a.to(F64).transpose(-1, -2)) / 2 > 0.5
    eye = torch.eye(a.shape[-1], dtype=torch.bool, device=a.device)
    return (s & ~eye).to(F64)


def is_graph(a: torch.Tensor) -> torch.Tensor:
    """Per graph: every entry 0 or 1, symmetric, zero diagonal. bool [B]."""
    binary = ((a == 0) | (a == 1)).flatten(-2).all(-1)
    sym = (a == a.transpose(-1, -2)).flatten(-2).all(-1)
    return binary & sym & (a.diagonal(dim1=-2, dim2=-1) == 0).all(-1)


# -- statistics --------------------------------------------------------------------------------
def laplacian(a: torch.Tensor) -> torch.Tensor:
    return torch.diag_embed(a.sum(-1)) - a


def normalized_laplacian(a: torch.Tensor) -> torch.Tensor:
    d = a.sum(-1)
    inv = torch.where(d > 0, d.clamp_min(1e-300).rsqrt(), torch.zeros_like(d))
    return torch.diag_embed((d > 0).to(a.dtype)) - inv[..., :, None] * a * inv[..., None, :]


def clustering(a: torch.Tensor) -> torch.Tensor:
    """Local clustering coefficient of every node: [B, n]."""
    d = a.sum(-1)
    closed = ((a @ a) * a).sum(-1)                     # (A^3)_ii = 2 x triangles at i
    return torch.where(d >= 2, closed / (d * (d - 1)).clamp_min(1), torch.zeros_like(d))


def components(eigs: torch.Tensor) -> torch.Tensor:
    """Number of components from ascending Laplacian eigenvalues [B, n] (see module doc)."""
    n = eigs.shape[-1]
    return (eigs < 1.0 / n ** 2).sum(-1)


def graph_stats(a: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-graph edge density, component count, connectedness and algebraic connectivity
    (lambda_2 of L, 0 when disconnected), from one batched eigendecomposition."""
    a = a.to(F64)
    n = a.shape[-1]
    eigs = torch.linalg.eigvalsh(laplacian(a))
    comp = components(eigs)
    return {
        "density": a.sum((-1, -2)) / (n * (n - 1)),
        "components": comp.to(F64),
        "connected": (comp == 1).to(F64),
        "algebraic_connectivity": torch.where(comp == 1, eigs[..., 1], torch.zeros_like(eigs[..., 1])),
    }


# -- samplers (B graphs on n nodes, float64 on ``device``) ---------------------------------------
def _undirected(upper: torch.Tensor) -> torch.Tensor:
    up = upper.triu(1)
    return (up | up.transpose(-1, -2)).to(F64)


def erdos_renyi(b: int, n: int, p: float, g: torch.Generator, device) -> torch.Tensor:
    return _undirected(torch.rand(b, n, n, generator=g, device=device, dtype=F64) < p)


def block_labels(k: torch.Tensor, n: int) -> torch.Tensor:
    """Community of each node for k communities [B]: floor(i k / n), sizes differ by at most 1."""
    i = torch.arange(n, device=k.device)
    return torch.div(i[None, :] * k[:, None], n, rounding_mode="floor")


def block_sizes(k: int, n: int) -> list[int]:
    return torch.bincount(block_labels(torch.tensor([k]), n)[0], minlength=k).tolist()


def stochastic_block(k: torch.Tensor, n: int, p_in: float, p_out: float, g, device) -> torch.Tensor:
    """SBM with k[b] contiguous communities in graph b; edge probability p_in inside, p_out across."""
    lab = block_labels(k.to(device), n)
    prob = torch.full((len(k), n, n), p_out, dtype=F64, device=device)
    prob = prob.masked_fill(lab[:, :, None] == lab[:, None, :], p_in)
    return _undirected(torch.rand(len(k), n, n, generator=g, device=device, dtype=F64) < prob)


def watts_strogatz(b: int, n: int, k: int, beta: float, g, device) -> torch.Tensor:
    """networkx's ``watts_strogatz_graph`` run on a batch: the ring lattice (each node joined to
    its k/2 neighbours on each side), then for j = 1..k/2 and u = 0..n-1 in that order, with
    probability beta edge (u, u + j) moves to (u, w), w uniform over the nodes neither u nor its
    neighbours (skipped when there is none) -- what networkx's rejection loop draws."""
    a = torch.zeros(b, n, n, dtype=F64, device=device)
    idx = torch.arange(n, device=device)
    rows = torch.arange(b, device=device)
    for j in range(1, k // 2 + 1):
        a[:, idx, (idx + j) % n] = 1
        a[:, (idx + j) % n, idx] = 1
    for j in range(1, k // 2 + 1):
        for u in range(n):
            v = (u + j) % n
            flip = torch.rand(b, generator=g, device=device, dtype=F64) < beta
            allowed = a[:, u] == 0
            allowed[:, u] = False
            score = torch.rand(b, n, generator=g, device=device, dtype=F64).masked_fill(~allowed, -1)
            w = score.argmax(-1)
            do = (flip & allowed.any(-1)).to(F64)
            a[:, u, v] -= do
            a[:, v, u] -= do
            a[rows, u, w] += do
            a[rows, w, u] += do
    return a


def geometric(b: int, n: int, radius: float, g, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random geometric graph in the unit square: edge iff Euclidean distance <= radius.
    Returns (adjacency, positions [B, n, 2])."""
    pos = torch.rand(b, n, 2, generator=g, device=device, dtype=F64)
    sq = ((pos[:, :, None] - pos[:, None]) ** 2).sum(-1)
    eye = torch.eye(n, dtype=torch.bool, device=device)
    return ((sq <= radius * radius) & ~eye).to(F64), pos


# -- node orders -------------------------------------------------------------------------------
def node_order(a: torch.Tensor, how: str, g: torch.Generator) -> torch.Tensor | None:
    """order [B, n]: the original index of the node put at each position (None: keep).

    random: a uniform permutation. degree: degree descending. bfs: breadth-first from a node
    of highest degree, the children of a node in degree-descending order, the next component
    started again from its highest-degree node. Ties are broken uniformly at random, so the
    canonical orders are functions of the graph up to ties.
    """
    if how == "natural":
        return None
    b, n = a.shape[:2]
    tie = torch.rand(b, n, generator=g, device=a.device, dtype=F64)
    if how == "random":
        return tie.argsort(-1)
    low_deg = (n - 1) - a.sum(-1) + tie                  # ascending = degree descending, random ties
    if how == "degree":
        return low_deg.argsort(-1)
    parent = torch.full((b, n), math.inf, dtype=F64, device=a.device)   # visit step of the parent
    seen = torch.zeros(b, n, dtype=torch.bool, device=a.device)
    order = torch.empty(b, n, dtype=torch.long, device=a.device)
    rows = torch.arange(b, device=a.device)
    for t in range(n):
        # BFS visits next the reached, unvisited node with the earliest-visited parent (children
        # by degree); with none reached it starts the next component at its highest degree.
        key = torch.where(parent < math.inf, parent * n + low_deg, n * n + low_deg)
        nxt = key.masked_fill(seen, math.inf).argmin(-1)
        order[:, t] = nxt
        seen[rows, nxt] = True
        reached = (a[rows, nxt] > 0) & (parent == math.inf)
        parent = parent.masked_fill(reached, t)
    return order


def permute_graph(a: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Relabel the nodes of A [B, n, n]: node i of the result is node order[:, i] of A."""
    n = order.shape[1]
    a = a.gather(1, order[:, :, None].expand(-1, -1, n))
    return a.gather(2, order[:, None, :].expand(-1, n, -1))


def permute_nodes(v: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Reorder per-node values v [B, n, ...] the same way."""
    idx = order.view(*order.shape, *[1] * (v.dim() - 2)).expand(-1, -1, *v.shape[2:])
    return v.gather(1, idx)


# -- smooth signals: x ~ N(0, Q^-1), Q = qa L + qb I -------------------------------------------
def smooth_signal(a: torch.Tensor, qa: float, qb: float, g: torch.Generator) -> torch.Tensor:
    """x = V (qa Lambda + qb I)^-1/2 z with L = V Lambda V^T, z ~ N(0, I): [B, n]."""
    lam, vec = torch.linalg.eigh(laplacian(a))
    z = torch.randn(a.shape[:2], generator=g, device=a.device, dtype=F64)
    return (vec @ (z / (qa * lam.clamp_min(0) + qb).sqrt())[..., None])[..., 0]


def signal_log_density(a: torch.Tensor, x: torch.Tensor, qa: float, qb: float) -> torch.Tensor:
    """log N(x; 0, (qa L + qb I)^-1) for every graph: [B]."""
    lam, vec = torch.linalg.eigh(laplacian(a))
    q = qa * lam.clamp_min(0) + qb
    h = (vec.transpose(-1, -2) @ x[..., None])[..., 0]
    n = x.shape[-1]
    return 0.5 * q.log().sum(-1) - 0.5 * (q * h * h).sum(-1) - 0.5 * n * math.log(2 * math.pi)


def dirichlet_energy(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """x^T L x = 1/2 sum_ij A_ij (x_i - x_j)^2 for every graph: [B]."""
    return 0.5 * (a * (x[..., :, None] - x[..., None, :]) ** 2).sum((-1, -2))


# -- exact Erdos-Renyi facts -------------------------------------------------------------------
def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def er_connected(n: int, p: float) -> list[float]:
    """Exact P(G(m, p) is connected) for m = 0..n by Gilbert's (1959) recursion over the size k
    of the component holding node 1: P_m = 1 - sum_{k<m} C(m-1, k-1) P_k (1-p)^(k(m-k))."""
    lq = math.log1p(-p) if p < 1 else -math.inf
    P = [0.0, 1.0]
    for m in range(2, n + 1):
        s = sum(math.exp(_log_comb(m - 1, k - 1) + math.log(P[k]) + k * (m - k) * lq)
                for k in range(1, m) if P[k] > 0)
        P.append(min(1.0, max(0.0, 1.0 - s)))
    return P


def er_mean_components(n: int, p: float) -> float:
    """Exact E[#components of G(n, p)] = sum_k C(n, k) P_k (1-p)^(k(n-k)) (a k-set is a component
    iff it is connected and has no edge to the rest)."""
    P = er_connected(n, p)
    lq = math.log1p(-p) if p < 1 else -math.inf
    return sum(math.exp(_log_comb(n, k) + math.log(P[k]) + (k * (n - k) * lq if k < n else 0.0))
               for k in range(1, n + 1) if P[k] > 0)
