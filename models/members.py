"""Member-batched networks: K independent copies of one architecture with a leading member axis.

``stack(nets)`` turns K ordinary modules of one architecture (each built by the single-model
code from its member's seed) into one network whose every parameter is [K, ...] and which maps
x [K, B, ...] to [K, B, ...], member k seeing only its own slice -- so the gradient of a loss
summed over members is exactly each member's own, and one elementwise optimiser (Adam) over the
stacked parameters is K independent optimisers. Two implementations, one interface:

- :class:`BatchedMLP` for plain MLPs (Linear layers and parameter-free activations): weight
  [K, in, out] and ``torch.bmm`` (CORL's vectorised linear layer), trained through
  :class:`models.batched.FastMLP` where no double backward is needed (the fast path);
- :class:`VmapNet` for everything else (conv nets, maxout, GCN critics, layer / batch norm,
  spectral norm): the parameters and buffers stacked by ``torch.func.stack_module_state`` and
  the module run under ``torch.func.vmap(functional_call)``. Spectral normalisation (one power
  iteration per training forward, as ``torch.nn.utils.parametrizations.spectral_norm``) is done
  here, batched over members, on every weight of two or more dimensions.

Both run any subset of members (``net(x, members=slice(k, k + 1))``: member k alone, the same
ops as the K = 1 network) and give member k's parameters as the state of a K = 1 network.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from .batched import BatchedLinear, FastMLP, stack_mlps

ALL = slice(None)


def stack(nets: Sequence[nn.Module], *, spectral_norm: bool = False, fast: bool = True) -> nn.Module:
    """One member-batched network of ``nets`` (K modules of one architecture). ``fast=False``
    keeps a plain MLP off the FastMLP path (needed where the loss differentiates twice)."""
    if not spectral_norm and all(_plain_mlp(n) for n in nets):
        return BatchedMLP(nets, fast=fast)
    return VmapNet(nets, spectral_norm=spectral_norm)


def _plain_mlp(net: nn.Module) -> bool:
    return isinstance(net, nn.Sequential) and all(
        type(l) is nn.Linear or not any(True for _ in l.parameters()) and not any(True for _ in l.buffers())
        for l in net)


class BatchedMLP(nn.Module):
    def __init__(self, nets: Sequence[nn.Sequential], fast: bool = True):
        super().__init__()
        self.layers = stack_mlps(nets)
        self.K = len(nets)
        self.fast = FastMLP.of(self.layers) if fast else None

    def member_weights(self, member: int) -> list[torch.Tensor]:
        """Member ``member``'s weight matrices in forward order (models.lipschitz.certified)."""
        return [layer.weight[member] for layer in self.layers if isinstance(layer, BatchedLinear)]

    def forward(self, x: torch.Tensor, members: slice = ALL, param_grads: bool = True) -> torch.Tensor:
        if members == ALL and self.fast is not None:
            return self.fast(x, param_grads=param_grads)
        for layer in self.layers:
            if isinstance(layer, BatchedLinear):
                x = torch.bmm(x, layer.weight[members]).add_(layer.bias[members])
            else:
                x = layer(x)
        return x


class VmapNet(nn.Module):
    def __init__(self, nets: Sequence[nn.Module], spectral_norm: bool = False):
        super().__init__()
        params, buffers = stack_module_state(list(nets))
        self.K = len(nets)
        self._names = {name: name.replace(".", "__") for name in (*params, *buffers)}
        self.params = nn.ParameterDict({self._names[n]: nn.Parameter(p.detach()) for n, p in params.items()})
        for n, b in buffers.items():
            self.register_buffer(self._names[n], b.detach().clone())
        self._buffer_names = list(buffers)
        self.base = [copy.deepcopy(nets[0]).to("meta")]          # a list: not a registered submodule
        self.sn = [n for n, p in params.items() if spectral_norm and p.dim() >= 3]   # [K, out, ...] weights
        for n in self.sn:   # power-iteration vectors warmed up by 15 steps as torch does (from a fixed start,
            w = params[n].detach().flatten(2)                     # not a random one: no RNG draw)
            self.register_buffer(self._names[n] + "__u", F.normalize(w.new_ones(w.shape[:2]), dim=-1))
            self.register_buffer(self._names[n] + "__v", F.normalize(w.new_ones(w.shape[0], w.shape[2]), dim=-1))
            for _ in range(15):
                self._power_step(n, w, ALL)

    def _power_step(self, name: str, mat: torch.Tensor, members: slice) -> None:
        u, v = getattr(self, self._names[name] + "__u")[members], getattr(self, self._names[name] + "__v")[members]
        with torch.no_grad():
            v.copy_(F.normalize(torch.bmm(u.unsqueeze(1), mat).squeeze(1), dim=-1, eps=1e-12))
            u.copy_(F.normalize(torch.bmm(mat, v.unsqueeze(2)).squeeze(2), dim=-1, eps=1e-12))

    def _weights(self, members: slice) -> tuple[dict, dict]:
        p = {n: self.params[s][members] for n, s in self._names.items() if s in self.params}
        b = {n: getattr(self, self._names[n])[members] for n in self._buffer_names}
        for n in self.sn:
            p[n] = self._normalised(n, p[n], members)
        return p, b

    def _normalised(self, name: str, w: torch.Tensor, members: slice) -> torch.Tensor:
        """``w / sigma(w)`` per member, sigma by one power-iteration step in training mode."""
        mat = w.flatten(2)                                        # [k, out, in']
        if self.training:
            self._power_step(name, mat.detach(), members)
        # copies: a later forward updates the vectors in place while this graph may still need them
        u = getattr(self, self._names[name] + "__u")[members].clone()
        v = getattr(self, self._names[name] + "__v")[members].clone()
        sigma = torch.bmm(u.unsqueeze(1), torch.bmm(mat, v.unsqueeze(2))).view(-1, *([1] * (w.dim() - 1)))
        return w / sigma

    def member_weights(self, member: int) -> list[torch.Tensor]:
        """Member ``member``'s weights of two or more dimensions in forward order, as applied (divided
        by the spectral norm estimate where it is on; eval mode: no power step)."""
        training = self.training
        self.eval()
        params, _ = self._weights(slice(member, member + 1))
        self.train(training)
        return [w[0].flatten(1) for n, w in params.items() if n.endswith("weight") and w.dim() >= 3]

    def forward(self, x: torch.Tensor, members: slice = ALL, param_grads: bool = True) -> torch.Tensor:
        base = self.base[0]
        base.train(self.training)
        params, buffers = self._weights(members)
        return vmap(lambda p, b, xx: functional_call(base, (p, b), (xx,)))(params, buffers, x)
