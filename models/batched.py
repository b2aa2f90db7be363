"""Batched layers: K independent members of one MLP architecture evaluated in one call.

A :class:`BatchedLinear` holds weight [K, in, out] and bias [K, 1, out] and maps x [K, B, in] to
``x @ weight + bias`` [K, B, out] (``torch.bmm``, then the bias added in place: on CPU that is
~2x faster than ``torch.baddbmm`` with a broadcast bias): member k sees only its own slice, so
gradients of a loss summed over members are exactly the per-member gradients (CORL's vectorised
linear layer). Activations after a batched layer run in place on its fresh output (allocating
[K, B, width] tensors, not computing, was what made them slow).

Members are built from ordinary modules (:func:`stack_mlps` stacks K ``nets.mlp`` Sequentials),
so each member starts exactly where its own single model would, given the same RNG stream.

:class:`FastMLP` trains such a stack faster than the modules' per-layer autograd (models.members
uses it): one autograd node per net whose backward computes, in place and in reused buffers, the
same gradients (bias and weight gradients, activation gradients from torch's own kernels). On the
2-core CPU at width 64 it is most of what took an ensemble of K = 8..128 members from 1.6-2.2x to
2.2-2.3x the speed of a plain loop over the members (benchmarks/ensemble.py).
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


def _backward_from_output(act: nn.Module):
    """``g <- g * act'`` in place, computed from the activation's output ``y`` with torch's own
    backward kernels (what autograd runs for the in-place activation), or None if unsupported."""
    aten = torch.ops.aten
    if type(act) is nn.ReLU:
        return lambda g, y: aten.threshold_backward.grad_input(g, y, 0, grad_input=g)
    if type(act) is nn.LeakyReLU and act.negative_slope >= 0:
        return lambda g, y: aten.leaky_relu_backward.grad_input(g, y, act.negative_slope, True, grad_input=g)
    if type(act) is nn.Tanh:
        return lambda g, y: aten.tanh_backward.grad_input(g, y, grad_input=g)
    if type(act) is nn.ELU and act.alpha >= 0:
        return lambda g, y: aten.elu_backward.grad_input(g, act.alpha, 1, 1, True, y, grad_input=g)
    return None


class FastMLP:
    """A batched MLP (``stack_mlps`` of Linear/activation layers) as one autograd node with a
    hand-written backward, for CPU speed:

    - members go through all layers in blocks of about ``block_bytes`` of activations (forward, and
      backward likewise), so a layer's output is still in cache when the next layer reads it;
    - hidden activations and gradients live in buffers reused from step to step (fresh [K, B, width]
      tensors cost page faults on every step), activation gradients are computed in place, and the
      thin first and last layers (2-D data, one critic output) get the faster of the two layouts.

    First-order only (no double backward: not for gradient penalties). ``FastMLP.of(net)`` is None
    for nets it cannot run; ``mlp(x, param_grads=False)`` computes no weight gradients (as
    ``requires_grad_(False)`` would). Only the output and the gradients leave it; a graph freed
    without a backward leaves its buffers to the garbage collector."""

    block_bytes = 1 << 19    # 2-core CPU, K=128, width 64: 12% faster than one block; smaller: more calls, slower

    def __init__(self, linears: list[BatchedLinear], acts: list[InPlace]):
        self.weights, self.biases = [l.weight for l in linears], [l.bias for l in linears]
        self.params = [t for layer in linears for t in (layer.weight, layer.bias)]
        self.acts = [a.fn for a in acts]
        self.act_backs = [_backward_from_output(a.act) for a in acts]
        self.width = max(w.shape[2] for w in self.weights)
        self._free: dict[tuple, list[torch.Tensor]] = {}

    @classmethod
    def of(cls, net: nn.Sequential) -> "FastMLP | None":
        layers = list(net)
        linears, acts = layers[0::2], layers[1::2]
        if (len(layers) % 2 == 0 or not all(type(l) is BatchedLinear for l in linears)
                or not all(isinstance(a, InPlace) and _backward_from_output(a.act) for a in acts)):
            return None
        return cls(linears, acts)

    def _take(self, *shape: int, like: torch.Tensor) -> torch.Tensor:
        free = self._free.get(shape)
        return free.pop() if free else like.new_empty(shape)

    def _give(self, bufs) -> None:
        for t in bufs:
            self._free.setdefault(tuple(t.shape), []).append(t)

    def blocks(self, k: int, n: int) -> list:
        """Functions cutting [K, ...] tensors into member blocks (one identity if small enough as a
        whole, or off the CPU: the blocks fit CPU caches, on a GPU they would only add launches)."""
        per_member = 4 * n * self.width
        if k * per_member <= 2 * self.block_bytes or self.weights[0].device.type != "cpu":
            return [lambda t: t]
        size = max(1, self.block_bytes // per_member)
        return [lambda t, s=slice(i, i + size): t[s] for i in range(0, k, size)]

    def run(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input of every linear layer (hidden ones in buffers), then the output."""
        k, n = x.shape[:2]
        hs = [x] + [self._take(k, n, w.shape[2], like=x) for w in self.weights[:-1]]
        out = x.new_empty(k, n, self.weights[-1].shape[2])
        for cut in self.blocks(k, n):
            h = cut(x)
            for w, b, act, buf in zip(self.weights, self.biases, self.acts, hs[1:]):
                h = act(torch.bmm(h, cut(w), out=cut(buf)).add_(cut(b)))
            torch.bmm(h, cut(self.weights[-1]), out=cut(out)).add_(cut(self.biases[-1]))
        return hs + [out]

    def __call__(self, x: torch.Tensor, param_grads: bool = True) -> torch.Tensor:
        if torch.is_grad_enabled() and (x.requires_grad or param_grads):
            return _MLPFunction.apply(x, self, *(self.params if param_grads else ()))
        hs = self.run(x)
        self._give(hs[1:-1])
        return hs[-1]

    def backward(self, hs, g_out, param_grads: bool, input_grad: bool):
        k, n = g_out.shape[:2]
        ws = self.weights
        grads = [torch.empty_like(p) for p in self.params] if param_grads else []
        g_in = g_out.new_empty(k, ws[0].shape[1], n) if input_grad else None   # transposed, see below
        for cut in self.blocks(k, n):
            g, own = cut(g_out), False
            for i in range(len(ws) - 1, -1, -1):
                w, h = cut(ws[i]), cut(hs[i])
                if param_grads:
                    torch.sum(g, 1, keepdim=True, out=cut(grads[2 * i + 1]))
                    if w.shape[2] == 1:     # h^T g is a slow matrix-vector product, g^T h (same numbers) is not
                        torch.bmm(g.transpose(1, 2), h, out=cut(grads[2 * i]).view(-1, 1, w.shape[1]))
                    else:
                        torch.bmm(h.transpose(1, 2), g, out=cut(grads[2 * i]))
                if i == 0:
                    break
                buf = self._take(*h.shape, like=h)
                if w.shape[2] == 1:                              # an outer product: one multiply per element
                    g_next = torch.mul(g, w.transpose(1, 2), out=buf)
                else:
                    g_next = torch.bmm(g, w.transpose(1, 2), out=buf)
                self.act_backs[i - 1](g_next, h)
                if own:
                    self._give([g])
                g, own = g_next, True
            if input_grad:          # W g^T, transposed back: faster than g W^T for a thin input (2-D data)
                torch.bmm(cut(ws[0]), g.transpose(1, 2), out=cut(g_in))
            if own:
                self._give([g])
        self._give(hs[1:])
        return (g_in.transpose(1, 2) if input_grad else None), grads


class _MLPFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, mlp: FastMLP, *params):
        hs = mlp.run(x)
        ctx.mlp = mlp
        ctx.save_for_backward(*hs[:-1])
        return hs[-1]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        g_in, grads = ctx.mlp.backward(ctx.saved_tensors, g, len(ctx.needs_input_grad) > 2, ctx.needs_input_grad[0])
        return (g_in, None, *grads)
