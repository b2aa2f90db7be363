"""Networks for graph data (``distributions.graphs``; config ``arch: graph``).

A sample is an adjacency [N, N] or, with a node signal, [N, N + 1] (signal as the last column);
like every model here the networks take and return it flattened. Only the N(N-1)/2 upper
off-diagonal entries are modelled, so every generated adjacency is symmetric with a zero
diagonal by construction.

- GAN generator: an MLP maps z to edge logits (and node signal values), then :class:`EdgeHead`
  (no parameters; its uniform noise is passed in by the model, from each member's generator)
  makes edges, ``straight_through`` (a hard Bernoulli draw via logistic / binary-Gumbel noise,
  with the gradient of its relaxation sigmoid((logit + noise) / temperature)) or ``relaxed`` (the
  relaxation itself, values in (0, 1)).
- critics: an MLP on the flattened (packed) sample, or :class:`GCNCritic`, a dense two-layer
  graph convolution (Kipf and Welling 2017) with sum readout per graph, the m graphs of a packed
  input concatenated before a small MLP head.
- :class:`GraphHead` (VAE): Bernoulli edges from logits, the signal Gaussian (decoder_var rules).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .nets import ACTIVATIONS, mlp


def graph_shape(event_shape, model: str) -> tuple[int, bool]:
    """(n_nodes, has_signal), or the one-line ValueError naming the config key."""
    shape = tuple(event_shape or ())
    if len(shape) != 2 or shape[0] < 2 or shape[1] not in (shape[0], shape[0] + 1):
        raise ValueError(f"{model} config: key arch='graph' is not allowed for data of event shape {shape}: "
                         f"it needs graphs [N, N] or [N, N + 1] (distributions.graphs); use arch 'mlp'")
    return shape[0], shape[1] == shape[0] + 1


class Symmetric(nn.Module):
    """Upper-triangle values [..., E] (+ signal [..., N]) -> flat [..., N*N] or [..., N*(N+1)]."""

    def __init__(self, n: int, signal: bool):
        super().__init__()
        self.n, self.signal = n, signal
        iu = torch.triu_indices(n, n, 1)
        self.register_buffer("flat_idx", iu[0] * n + iu[1], persistent=False)
        self.register_buffer("flat_idx_t", iu[1] * n + iu[0], persistent=False)
        self.n_edges = iu.shape[1]

    def upper(self, x: torch.Tensor) -> torch.Tensor:
        """The upper off-diagonal entries [..., E] of flat samples [..., N*N(+N)]."""
        a = x.unflatten(-1, (self.n, -1))[..., : self.n].flatten(-2)
        return a[..., self.flat_idx]

    def forward(self, e: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        n = self.n
        a = e.new_zeros(*e.shape[:-1], n * n)
        a = a.index_copy(-1, self.flat_idx, e).index_copy(-1, self.flat_idx_t, e)
        if s is None:
            return a
        return torch.cat([a.unflatten(-1, (n, n)), s.unsqueeze(-1)], -1).flatten(-2)


class EdgeHead(nn.Module):
    """Generator net output [..., E (+ N signal)] and uniform noise [..., E] -> flat graphs."""

    def __init__(self, cfg: dict, n: int, signal: bool):
        super().__init__()
        self.sym = Symmetric(n, signal)
        self.signal, self.edges, self.temperature = signal, cfg["edges"], cfg["temperature"]
        self.n_edges = self.sym.n_edges

    def forward(self, out: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        logits, s = (out[..., : self.sym.n_edges], out[..., self.sym.n_edges:]) if self.signal else (out, None)
        u = u.to(logits).clamp(1e-6, 1 - 1e-6)
        soft = torch.sigmoid((logits + u.log() - (-u).log1p()) / self.temperature)
        e = soft if self.edges == "relaxed" else soft + ((soft > 0.5).to(soft) - soft).detach()
        return self.sym(e, s)


class GCNCritic(nn.Module):
    """Flat packed graphs [B, m * N*(N(+1))] -> [B, 1]: node features (1, degree / (N-1), signal),
    two dense GCN layers H' = act(D^-1/2 (A + I) D^-1/2 H W), sum readout, MLP on the m readouts."""

    def __init__(self, n: int, signal: bool, *, width: int, depth: int, pack: int, activation: str):
        super().__init__()
        self.n, self.signal, self.pack = n, signal, pack
        self.cols = n + 1 if signal else n
        self.act = ACTIVATIONS[activation]()
        f = 3 if signal else 2
        self.w1, self.w2 = nn.Linear(f, width), nn.Linear(width, width)
        self.head = mlp(pack * width, 1, width=width, depth=max(depth - 2, 0), activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n = x.shape[0], self.n
        g = x.reshape(b * self.pack, n, self.cols)
        a = g[..., :n]
        a = (a + a.transpose(-1, -2)) / 2 * (1 - torch.eye(n, device=x.device, dtype=x.dtype))
        deg = a.sum(-1, keepdim=True)
        feats = [torch.ones_like(deg), deg / max(n - 1, 1)] + ([g[..., n:]] if self.signal else [])
        h = torch.cat(feats, -1)
        a_hat = a + torch.eye(n, device=x.device, dtype=x.dtype)
        d = a_hat.sum(-1).rsqrt()
        a_hat = d.unsqueeze(-1) * a_hat * d.unsqueeze(-2)
        h = self.act(a_hat @ self.w1(h))
        h = self.act(a_hat @ self.w2(h))
        return self.head(h.sum(-2).reshape(b, -1))


def gan_nets(cfg: dict, event_shape) -> tuple[nn.Module, nn.Module, EdgeHead]:
    """Generator net (z -> edge logits and signal), critic, and the edge head."""
    n, signal = graph_shape(event_shape, "gan")
    head = EdgeHead(cfg, n, signal)
    g = mlp(cfg["latent_dim"], head.n_edges + (n if signal else 0), width=cfg["g_width"], depth=cfg["g_depth"],
            activation=cfg["activation"], norm=cfg["g_norm"])
    if cfg["d_arch"] == "gcn":
        d = GCNCritic(n, signal, width=cfg["d_width"], depth=cfg["d_depth"], pack=cfg["pack"],
                      activation=cfg["activation"])
    else:
        d = mlp(math.prod(event_shape) * cfg["pack"], 1, width=cfg["d_width"], depth=cfg["d_depth"],
                activation=cfg["activation"], norm=cfg["d_norm"])
    return g, d, head


class GraphHead(nn.Module):
    """p(x | z) of a graph VAE: decoder output = [edge logits (E), signal mean (N), signal log std
    (N, decoder_var learned; with shared the VAE appends its own parameter)]; Bernoulli edges,
    Gaussian signal."""

    def __init__(self, n: int, signal: bool, decoder_var: str, decoder_std: float | None):
        super().__init__()
        self.sym, self.signal, self.var, self.std = Symmetric(n, signal), signal, decoder_var, decoder_std
        self.n = n
        self.shared_dim = n if signal and decoder_var == "shared" else 0     # the VAE's shared log std

    def out_dim(self) -> int:
        """Entries the decoder net outputs (a shared log std is appended by the VAE)."""
        return self.sym.n_edges + (self.n * (2 if self.var == "learned" else 1) if self.signal else 0)

    def _split(self, out):
        e = self.sym.n_edges
        logits = out[..., :e]
        if not self.signal:
            return logits, None, None
        mean = out[..., e:e + self.n]
        if self.var in ("learned", "shared"):
            log_std = out[..., e + self.n:]
        else:
            log_std = torch.full_like(mean, math.log(self.std))
        return logits, mean, log_std

    def log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        logits, mean, log_std = self._split(out)
        edges = self.sym.upper(x).expand_as(logits)
        lp = -nn.functional.binary_cross_entropy_with_logits(logits, edges, reduction="none").sum(-1)
        if self.signal:
            s = x.unflatten(-1, (self.n, self.n + 1))[..., self.n]
            lp = lp + (-0.5 * ((s - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return lp

    def sample(self, out: torch.Tensor, generator: torch.Generator | None = None, mean_only: bool = False):
        logits, mean, log_std = self._split(out)
        p = torch.sigmoid(logits)
        device = out.device if generator is None else generator.device
        if mean_only:
            return self.sym(p, mean)
        e = (torch.rand(p.shape, device=device, generator=generator).to(p) < p).to(p)
        s = None if mean is None else mean + log_std.exp() * torch.randn(mean.shape, device=device,
                                                                           generator=generator).to(mean)
        return self.sym(e, s)


def vae_nets(cfg: dict, event_shape) -> tuple[nn.Module, nn.Module, GraphHead]:
    n, signal = graph_shape(event_shape, "vae")
    net = dict(activation=cfg["activation"], norm=cfg["norm"])
    head = GraphHead(n, signal, cfg["decoder_var"], cfg["decoder_std"])
    enc = mlp(math.prod(event_shape), 2 * cfg["latent_dim"], width=cfg["enc_width"], depth=cfg["enc_depth"], **net)
    dec = mlp(cfg["latent_dim"], head.out_dim(), width=cfg["dec_width"], depth=cfg["dec_depth"], **net)
    return enc, dec, head
