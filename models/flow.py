"""A RealNVP normalizing flow (Dinh et al. 2017) for vector data, as a LightningModule with K
members batched (models/base.py).

``layers`` affine coupling layers map data x to z ~ N(0, I). Layer i keeps the entries of one
parity (even indices for even i, odd ones for odd i: alternating masks, so every entry is
transformed) and maps each other entry x_b -> x_b exp(s) + t, with (t, a) from an MLP conditioner
of the kept entries and the log-scale soft-clamped, s = a / (1 + |a| / max_log_scale), as zuko's
``MonotonicAffineTransform`` does. Each conditioner's output layer starts at zero, so a new flow
is the identity and p(x) = N(x; 0, I). log p(x) = log N(f(x); 0, I) + (sum of every layer's s) is
exact; ``sample`` runs the inverse on z ~ N(0, I). The training loss is each member's mean
negative log-likelihood of its batch. Shaped data (images) is modelled as flat vectors.
"""
from __future__ import annotations

import functools
import math

import torch

from .base import LabModule
from .config import Key, adam_keys, resolve
from .members import ALL, stack
from .nets import ACTIVATIONS, mlp

LOG_2PI = math.log(2 * math.pi)

KEYS = {
    "model": Key("flow", "model kind", "choice", choices=("flow",)),
    "layers": Key(4, "affine coupling layers; they alternate which half (even or odd entries) they transform",
                  "int", low=1),
    "width": Key(64, "hidden width of each coupling layer's conditioner MLP", "int", low=1),
    "depth": Key(2, "hidden layers of each conditioner MLP", "int", low=0),
    "activation": Key("relu", "hidden activation of the conditioner MLPs", "choice", choices=tuple(ACTIVATIONS)),
    "max_log_scale": Key(3.0, "bound B of each layer's log-scale, soft-clamped as a / (1 + |a| / B): larger "
                         "lets one layer stretch more, smaller keeps training stable", low=0, low_open=True),
    **adam_keys(),
}


def check(config: dict) -> dict:
    """Validate a flow config; returns it with every default filled in."""
    return resolve("flow", KEYS, config)


def check_shape(event_shape: tuple[int, ...]) -> None:
    """One-line ``ValueError`` for data a coupling layer cannot split (fewer than 2 entries)."""
    if math.prod(event_shape) < 2:
        raise ValueError(f"flow config: key model='flow' is not allowed for data of event shape "
                         f"{tuple(event_shape)}: a coupling layer needs at least 2 entries to split")


def nets(cfg: dict, data_dim: int) -> list[torch.nn.Sequential]:
    """One member's conditioners, one per layer: kept entries -> (shift, raw log-scale) of the others,
    the output layer zeroed (the identity flow)."""
    out = []
    for i in range(cfg["layers"]):
        kept = len(range(i % 2, data_dim, 2))
        net = mlp(kept, 2 * (data_dim - kept), width=cfg["width"], depth=cfg["depth"], activation=cfg["activation"])
        with torch.no_grad():
            net[-1].weight.zero_()
            net[-1].bias.zero_()
        out.append(net)
    return out


def coupling(i: int, x: torch.Tensor, conditioner, max_log_scale: float):
    """Layer i on x [..., D]: its kept entries, shift t and soft-clamped log-scale s of the others,
    ``conditioner`` mapping kept entries to (t, raw log-scale): one member's ``nets(...)[i]`` or a
    member-batched network."""
    kept = x[..., i % 2::2]
    shift, raw = conditioner(kept.contiguous()).chunk(2, dim=-1)
    return kept, shift, raw / (1 + raw.abs() / max_log_scale)


def merge(i: int, kept: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """Layer i's kept and moved entries back into one x [..., D]."""
    x = kept.new_empty(*kept.shape[:-1], kept.shape[-1] + moved.shape[-1])
    x[..., i % 2::2] = kept
    x[..., 1 - i % 2::2] = moved
    return x


def forward(x: torch.Tensor, conditioners, max_log_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """z = f(x) and log |det df/dx| [...] of x [..., D] through the coupling layers of ``conditioners``."""
    log_det = x.new_zeros(x.shape[:-1])
    for i in range(len(conditioners)):
        kept, shift, log_scale = coupling(i, x, conditioners[i], max_log_scale)
        x = merge(i, kept, x[..., 1 - i % 2::2] * log_scale.exp() + shift)
        log_det = log_det + log_scale.sum(-1)
    return x, log_det


def log_prob(x: torch.Tensor, conditioners, max_log_scale: float) -> torch.Tensor:
    """Exact log p(x) [...] of x [..., D]: log N(f(x); 0, I) + log |det df/dx|."""
    z, log_det = forward(x, conditioners, max_log_scale)
    return -0.5 * (z ** 2).sum(-1) - 0.5 * x.shape[-1] * LOG_2PI + log_det


class Flow(LabModule):
    loss_names = ("loss",)

    def __init__(self, config: dict, data_dim: int, event_shape: tuple[int, ...] | None = None,
                 seeds=(0,), nan_at=None):
        cfg = check(config)
        super().__init__(cfg, data_dim, event_shape, seeds, nan_at)
        check_shape(self.event_shape)
        members = self.build_members(lambda: nets(cfg, data_dim))
        self.conditioners = torch.nn.ModuleList(stack(list(layer)) for layer in zip(*members))
        self._params = list(self.parameters())

    # -- the bijection, on [k, n, D] for members ``members`` ------------------------------------------
    def _nets(self, members) -> list:
        return [functools.partial(net, members=members) for net in self.conditioners]

    def _forward(self, x: torch.Tensor, members=ALL) -> tuple[torch.Tensor, torch.Tensor]:
        """z = f(x) and log |det df/dx| [k, n]."""
        return forward(x, self._nets(members), self.config["max_log_scale"])

    def _inverse(self, z: torch.Tensor, members=ALL) -> torch.Tensor:
        conditioners = self._nets(members)
        for i in reversed(range(len(conditioners))):
            kept, shift, log_scale = coupling(i, z, conditioners[i], self.config["max_log_scale"])
            z = merge(i, kept, (z[..., 1 - i % 2::2] - shift) * (-log_scale).exp())
        return z

    def _log_prob(self, x: torch.Tensor, members=ALL) -> torch.Tensor:
        return log_prob(x, self._nets(members), self.config["max_log_scale"])

    # -- one member, on rows [n, data_dim] -------------------------------------------------------------
    def _one(self, x: torch.Tensor, member: int) -> tuple[torch.Tensor, slice]:
        return x.reshape(1, x.shape[0], -1).to(self._window), slice(member, member + 1)

    def transform(self, x: torch.Tensor, member: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Member ``member``'s z = f(x) [n, data_dim] and log |det df/dx| [n] for x [n, data_dim]."""
        z, log_det = self._forward(*self._one(x, member))
        return z[0], log_det[0]

    def inverse(self, z: torch.Tensor, member: int = 0) -> torch.Tensor:
        """Member ``member``'s x = f^-1(z) [n, data_dim]."""
        return self._inverse(*self._one(z, member))[0]

    def log_prob(self, x: torch.Tensor, member: int = 0) -> torch.Tensor:
        """Member ``member``'s exact log p(x) [n] of x [n, data_dim] (differentiable)."""
        return self._log_prob(*self._one(x, member))[0]

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, member: int = 0, **ignored) -> torch.Tensor:
        """The exact log p(x) [n]; accepts (and ignores) the VAE estimator's ``k``, ``generator``, ..."""
        return self.log_prob(x, member)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, member: int = 0) -> torch.Tensor:
        """``n`` samples [n, data_dim] of member ``member``: f^-1(z), z ~ N(0, I) drawn with
        ``generator`` (torch's global RNG if None)."""
        return self._inverse(self.draw_with((1, n, self.data_dim), generator), slice(member, member + 1))[0]

    def train_step(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        loss = self.nan_hook(-self._log_prob(x).mean(-1))                           # [K]
        self.update(self.optimizers(), self._params, loss, lightning=True)
        return (loss,)
