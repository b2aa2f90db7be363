"""Batched layers: K independent members of one MLP architecture evaluated in one call.

A :class:`BatchedLinear` holds weight [K, in, out] and bias [K, 1, out] and maps x [K, B, in] to
``x @ weight + bias`` [K, B, out] (``torch.bmm``, then the bias added in place: on CPU that is
~2x faster than ``torch.baddbmm`` with a broadcast bias): member k sees only its own slice, so
gradients of a loss summed over members are exactly the per-member gradients (CORL's vectorised
linear layer). Activations after a batched layer run in place on its fresh output (allocating
[K, B, width] tensors, not computing, was what made them slow).

Members are built from ordinary modules (:func:`stack_mlps` stacks K ``nets.mlp`` Sequentials),
so each member starts exactly where its own single model would, given the same RNG stream.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class BatchedLinear(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        """``weight`` [K, in, out] (each member's ``nn.Linear.weight`` transposed), ``bias`` [K, out]."""
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone().contiguous())
        self.bias = nn.Parameter(bias.detach().clone().reshape(weight.shape[0], 1, -1).contiguous())

    @classmethod
    def stack(cls, layers: Sequence[nn.Linear]) -> "BatchedLinear":
        return cls(torch.stack([l.weight.detach().t() for l in layers]),
                   torch.stack([l.bias.detach() for l in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.bmm(x, self.weight).add_(self.bias)

    def member(self, k: int) -> nn.Linear:
        """Member ``k`` as an ordinary ``nn.Linear`` (a copy; draws nothing from torch's RNG)."""
        layer = nn.utils.skip_init(nn.Linear, self.weight.shape[1], self.weight.shape[2], device=self.weight.device)
        with torch.no_grad():
            layer.weight.copy_(self.weight[k].t())
            layer.bias.copy_(self.bias[k, 0])
        return layer

    def extra_repr(self) -> str:
        k, i, o = self.weight.shape
        return f"members={k}, in_features={i}, out_features={o}"


class InPlace(nn.Module):
    """An elementwise activation applied in place (only after a layer that returns a fresh tensor)."""

    def __init__(self, act: nn.Module):
        super().__init__()
        self.act = act
        if isinstance(act, nn.ReLU):
            self.fn = torch.relu_
        elif isinstance(act, nn.LeakyReLU):
            self.fn = lambda x: F.leaky_relu_(x, act.negative_slope)
        elif isinstance(act, nn.Tanh):
            self.fn = torch.tanh_
        elif isinstance(act, nn.ELU):
            self.fn = lambda x: F.elu_(x, act.alpha)
        elif isinstance(act, nn.SiLU):
            self.fn = lambda x: F.silu(x, inplace=True)
        else:
            self.fn = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return f"{self.act!r}, in place"


def stack_mlps(nets: Sequence[nn.Sequential]) -> nn.Sequential:
    """K Sequentials of one architecture (Linear layers and parameter-free activations, as
    ``nets.mlp`` builds with norm 'none' and no spectral norm) -> one batched Sequential."""
    layers: list[nn.Module] = []
    for parts in zip(*nets):
        first = parts[0]
        if type(first) is nn.Linear:
            layers.append(BatchedLinear.stack(parts))
        elif any(True for _ in first.parameters()) or any(True for _ in first.buffers()):
            raise ValueError(f"stack_mlps: layer {first!r} has parameters or buffers; only Linear layers "
                             "and parameter-free activations can be batched")
        else:
            layers.append(InPlace(first) if layers and isinstance(layers[-1], BatchedLinear) else first)
    return nn.Sequential(*layers)


def unstack_mlp(net: nn.Sequential, k: int) -> nn.Sequential:
    """Member ``k`` of a batched Sequential as an ordinary Sequential (a copy)."""
    return nn.Sequential(*[l.member(k) if isinstance(l, BatchedLinear) else l.act if isinstance(l, InPlace) else l
                           for l in net])
