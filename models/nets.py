"""Network building blocks of one member: MLPs (optional layer/batch norm) and maxout critics.

Spectral normalisation is applied where members are stacked (models/members.py).

``depth`` is the number of hidden layers, each ``width`` units wide; a final linear layer maps
to ``out_dim``. "3 x 64" means depth 3, width 64.
"""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
NORMS = ("none", "layer", "batch")


def _norm(kind: str, width: int) -> list[nn.Module]:
    if kind == "layer":
        return [nn.LayerNorm(width)]
    if kind == "batch":
        return [nn.BatchNorm1d(width)]
    return []


def mlp(in_dim: int, out_dim: int, *, width: int, depth: int, activation: str = "relu",
        norm: str = "none") -> nn.Sequential:
    """``depth`` x [linear, norm, activation], then a linear output layer."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width), *_norm(norm, width), ACTIVATIONS[activation]()]
        d = width
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class Maxout(nn.Module):
    """``out_dim`` units, each the maximum over ``pieces`` linear functions (Goodfellow et al. 2013)."""

    def __init__(self, in_dim: int, out_dim: int, pieces: int):
        super().__init__()
        self.out_dim, self.pieces = out_dim, pieces
        self.linear = nn.Linear(in_dim, out_dim * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).unflatten(-1, (self.out_dim, self.pieces)).amax(-1)


def maxout_mlp(in_dim: int, out_dim: int, *, width: int, depth: int, pieces: int,
               norm: str = "none") -> nn.Sequential:
    """The PacGAN critic: ``depth`` maxout layers of ``width`` units, then a linear output layer."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [Maxout(d, width, pieces), *_norm(norm, width)]
        d = width
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)
