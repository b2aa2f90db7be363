"""Network building blocks: MLPs (optional layer/batch norm, spectral norm) and maxout critics.

``depth`` is the number of hidden layers, each ``width`` units wide; a final linear layer maps
to ``out_dim``. "3 x 64" means depth 3, width 64.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
NORMS = ("none", "layer", "batch")


def linear(in_dim: int, out_dim: int, spectral_norm: bool = False) -> nn.Module:
    layer = nn.Linear(in_dim, out_dim)
    return _spectral_norm(layer) if spectral_norm else layer


def _norm(kind: str, width: int) -> list[nn.Module]:
    if kind == "layer":
        return [nn.LayerNorm(width)]
    if kind == "batch":
        return [nn.BatchNorm1d(width)]
    return []


def mlp(in_dim: int, out_dim: int, *, width: int, depth: int, activation: str = "relu",
        norm: str = "none", spectral_norm: bool = False) -> nn.Sequential:
    """``depth`` x [linear, norm, activation], then a linear output layer."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [linear(d, width, spectral_norm), *_norm(norm, width), ACTIVATIONS[activation]()]
        d = width
    layers.append(linear(d, out_dim, spectral_norm))
    return nn.Sequential(*layers)


class Maxout(nn.Module):
    """``out_dim`` units, each the maximum over ``pieces`` linear functions (Goodfellow et al. 2013)."""

    def __init__(self, in_dim: int, out_dim: int, pieces: int, spectral_norm: bool = False):
        super().__init__()
        self.out_dim, self.pieces = out_dim, pieces
        self.linear = linear(in_dim, out_dim * pieces, spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).unflatten(-1, (self.out_dim, self.pieces)).amax(-1)


def maxout_mlp(in_dim: int, out_dim: int, *, width: int, depth: int, pieces: int,
               norm: str = "none", spectral_norm: bool = False) -> nn.Sequential:
    """The PacGAN critic: ``depth`` maxout layers of ``width`` units, then a linear output layer."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [Maxout(d, width, pieces, spectral_norm), *_norm(norm, width)]
        d = width
    layers.append(linear(d, out_dim, spectral_norm))
    return nn.Sequential(*layers)
