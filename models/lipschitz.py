"""A generator's Lipschitz constant, certified and measured: what the push-forward bound of
REFERENCES.md §7 needs (a generator L-Lipschitz on a connected Gaussian latent puts mass a and b
on two sets D apart only if Phi^-1(a) + Phi^-1(b) <= -D / L; analysis.theory tests it).

    certified(weights, scale)   scale x the product of the exact spectral norms of the weight
                                matrices: an upper bound on the Lipschitz constant of an MLP whose
                                activations are 1-Lipschitz and which has no normalisation layer
    local(fn, z)                the largest spectral norm of fn's Jacobian at the rows of z: a lower
                                bound on the constant (it is attained somewhere, maybe not at z)
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

ONE_LIPSCHITZ = ("relu", "leaky_relu", "tanh", "elu")     # models.nets.ACTIVATIONS with slope <= 1


def certified(weights: Sequence[torch.Tensor], scale: float = 1.0) -> float:
    """``scale`` x prod_l ||W_l||_2 (exact spectral norms, float64)."""
    return scale * math.prod(torch.linalg.matrix_norm(w.detach().double(), ord=2).item() for w in weights)


def local(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> float:
    """max over the rows of ``z`` [n, d] of ||J_fn(z_i)||_2, for ``fn`` mapping [n, d] -> [n, D]
    row by row (no batch statistics): one backward pass per output coordinate."""
    z = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = fn(z)
        D = out.shape[1]
        rows = [torch.autograd.grad(out[:, j].sum(), z, retain_graph=j < D - 1)[0] for j in range(D)]
    jac = torch.stack(rows, 1).double()                    # [n, D, d]
    return torch.linalg.matrix_norm(jac, ord=2).max().item()
