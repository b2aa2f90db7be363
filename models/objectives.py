"""GAN objectives, compare_gan style: each loss is one small function, chosen by name.

``r = C(x_real)`` and ``f = C(x_fake)`` are critic outputs of shape [n] (one per packed input) or
[K, n] (K members: every loss then reduces over the last axis and returns [K]), ``sigma`` the
logistic function. ``-log sigma(a) = softplus(-a)``, ``-log(1 - sigma(a)) = softplus(a)``.
Every critic loss is minimised by the critic, every generator loss by the generator.
Definitions: REFERENCES.md section 5.

An :class:`Objective` pairs a critic loss, a generator loss, an optional extra critic term
(gradient penalty, GAN-QP's quadratic term) and the constants that term needs; ``None`` as a
constant's default means the config must set it (e.g. ``gp_weight``: 10 for images, 0.1 for toys).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


# -- critic and generator losses ---------------------------------------------------------------
def logistic_d(r: Tensor, f: Tensor) -> Tensor:
    """-log sigma(r) - log(1 - sigma(f)): the critic loss of minimax and non-saturating GANs."""
    return F.softplus(-r).mean(-1) + F.softplus(f).mean(-1)


def minimax_g(r: Tensor | None, f: Tensor) -> Tensor:
    """log(1 - sigma(f))."""
    return -F.softplus(f).mean(-1)


def non_saturating_g(r: Tensor | None, f: Tensor) -> Tensor:
    """-log sigma(f)."""
    return F.softplus(-f).mean(-1)


def wasserstein_d(r: Tensor, f: Tensor) -> Tensor:
    """f - r."""
    return f.mean(-1) - r.mean(-1)


def wasserstein_g(r: Tensor | None, f: Tensor) -> Tensor:
    """-f (WGAN-GP, WGAN-div and hinge)."""
    return -f.mean(-1)


def hinge_d(r: Tensor, f: Tensor) -> Tensor:
    """relu(1 - r) + relu(1 + f)."""
    return F.relu(1 - r).mean(-1) + F.relu(1 + f).mean(-1)


def least_squares_d(r: Tensor, f: Tensor) -> Tensor:
    """(r - 1)^2 + f^2."""
    return ((r - 1) ** 2).mean(-1) + (f ** 2).mean(-1)


def least_squares_g(r: Tensor | None, f: Tensor) -> Tensor:
    """(f - 1)^2."""
    return ((f - 1) ** 2).mean(-1)


def rsgan_d(r: Tensor, f: Tensor) -> Tensor:
    """-log sigma(r - f), over pairs of a real and a fake sample."""
    return F.softplus(f - r).mean(-1)


def rsgan_g(r: Tensor, f: Tensor) -> Tensor:
    """-log sigma(f - r)."""
    return F.softplus(r - f).mean(-1)


def ragan_d(r: Tensor, f: Tensor) -> Tensor:
    """-log sigma(r - E f) - log(1 - sigma(f - E r))."""
    return F.softplus(f.mean(-1, keepdim=True) - r).mean(-1) + F.softplus(f - r.mean(-1, keepdim=True)).mean(-1)


def ragan_g(r: Tensor, f: Tensor) -> Tensor:
    """-log sigma(f - E r) - log(1 - sigma(r - E f)): the critic loss with real and fake swapped."""
    return ragan_d(f, r)


def gan_qp_g(r: Tensor, f: Tensor) -> Tensor:
    """r - f (its gradient for the generator equals that of -f)."""
    return (r - f).mean(-1)


# -- extra critic terms ------------------------------------------------------------------------
# x_real, x_fake: [n, D] or [K, n, D]; alpha: [n, 1] or [K, n, 1], uniform on [0, 1)
def _grad_norm(critic: Callable[[Tensor], Tensor], x_real: Tensor, x_fake: Tensor, alpha: Tensor) -> Tensor:
    """||grad C(x_hat)|| at x_hat = x_real + alpha (x_fake - x_real). Members are independent, so
    the gradient of their summed outputs is each member's own."""
    x = (x_real + alpha * (x_fake - x_real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.norm(dim=-1)


def gradient_penalty(critic, x_real: Tensor, x_fake: Tensor, alpha: Tensor, gp_weight: float) -> Tensor:
    """WGAN-GP: gp_weight * E (||grad C(x_hat)|| - 1)^2, x_hat uniform on lines from real to fake."""
    return gp_weight * ((_grad_norm(critic, x_real, x_fake, alpha) - 1) ** 2).mean(-1)


def div_penalty(critic, x_real: Tensor, x_fake: Tensor, alpha: Tensor, div_k: float, div_p: float) -> Tensor:
    """WGAN-div: div_k * E ||grad C(x_hat)||^div_p, x_hat as in WGAN-GP."""
    return div_k * (_grad_norm(critic, x_real, x_fake, alpha) ** div_p).mean(-1)


def qp_penalty(r: Tensor, f: Tensor, x_real: Tensor, x_fake: Tensor, qp_lambda: float) -> Tensor:
    """GAN-QP: E (r - f)^2 / (2 qp_lambda ||x_real - x_fake||), the norm a mean absolute difference."""
    dist = (x_real - x_fake).abs().mean(-1)
    return ((r - f) ** 2 / (2 * qp_lambda * dist)).mean(-1)


# -- registry ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    """One GAN objective. ``penalty(critic, x_real, x_fake, r, f, alpha, **constants)`` is added to
    the critic loss; ``interpolates``: it differentiates the critic at x_hat (x_real and x_fake mixed
    by ``alpha``; twice-differentiable critic needed), otherwise ``alpha`` is None.
    ``g_uses_real``: the generator loss needs C(x_real) (relativistic losses)."""

    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor | None, Tensor], Tensor]
    summary: str
    penalty: Callable[..., Tensor] | None = None
    constants: dict[str, float | None] = field(default_factory=dict)
    g_uses_real: bool = False
    interpolates: bool = False


OBJECTIVES: dict[str, Objective] = {
    "non_saturating": Objective(logistic_d, non_saturating_g, "original GAN, generator maximises log sigma(f)"),
    "minimax": Objective(logistic_d, minimax_g, "original GAN, generator minimises log(1 - sigma(f))"),
    "wgan_gp": Objective(
        wasserstein_d, wasserstein_g, "Wasserstein critic with gradient penalty (Gulrajani et al. 2017)",
        penalty=lambda c, xr, xf, r, f, a, gp_weight: gradient_penalty(c, xr, xf, a, gp_weight),
        constants={"gp_weight": None}, interpolates=True),
    "hinge": Objective(hinge_d, wasserstein_g, "hinge critic loss, generator maximises f"),
    "least_squares": Objective(least_squares_d, least_squares_g, "LSGAN with targets 0/1/1 (Mao et al. 2017)"),
    "rsgan": Objective(rsgan_d, rsgan_g, "relativistic standard GAN (Jolicoeur-Martineau 2018)",
                       g_uses_real=True),
    "ragan": Objective(ragan_d, ragan_g, "relativistic average GAN (Jolicoeur-Martineau 2018)",
                       g_uses_real=True),
    "wgan_div": Objective(
        wasserstein_d, wasserstein_g, "Wasserstein divergence (Wu et al. 2018)",
        penalty=lambda c, xr, xf, r, f, a, div_k, div_p: div_penalty(c, xr, xf, a, div_k, div_p),
        constants={"div_k": 2.0, "div_p": 6.0}, interpolates=True),
    "gan_qp": Objective(
        wasserstein_d, gan_qp_g, "GAN-QP, quadratic potential (Su 2018)",
        penalty=lambda c, xr, xf, r, f, a, qp_lambda: qp_penalty(r, f, xr, xf, qp_lambda),
        constants={"qp_lambda": 10.0}, g_uses_real=True),
}

# Every constant any objective uses, with the objectives that use it.
CONSTANTS: dict[str, tuple[str, ...]] = {}
for _name, _obj in OBJECTIVES.items():
    for _c in _obj.constants:
        CONSTANTS[_c] = CONSTANTS.get(_c, ()) + (_name,)


def get(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(map(repr, OBJECTIVES))}")
    return OBJECTIVES[name]
