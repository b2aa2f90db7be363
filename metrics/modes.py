"""Mode statistics for families with discrete modes (PacGAN / VEEGAN protocol, REFERENCES §1).

Each sample goes to the mode with the smallest sigma-normalised distance (``Modes.assign``); it
is *high quality* if that distance is < ``threshold`` (strict). Non-finite samples are never
high quality. Only high-quality samples enter the mode histogram p (p_k = share of the
high-quality samples whose nearest mode is k); w are the true mode weights.

    hq_fraction        high-quality samples / all samples
    captured           number of modes with >= min_count high-quality samples
    captured_fraction  captured / n_modes
    mass               p as a list (sums to 1)
    reverse_kl         KL(p || w) = sum_k p_k log(p_k / w_k), unsmoothed (the PacGAN number;
                       empty modes contribute 0, so it stays finite)
    forward_kl         KL(w || p~) with p~_k = (c_k + 1/2) / (C + K/2), c_k the counts, C their sum
                       (add-1/2 smoothing: finite when modes are missed, at most about log(2C/w_min))
    js                 Jensen-Shannon divergence of p and w, natural log (0 .. log 2), unsmoothed
    captured_modes     sorted list of the captured mode indices (for mode-hopping analysis)

With no high-quality sample p is undefined and the three divergences are NaN (``evaluate``
lists them as skipped). For a 2-D isotropic Gaussian mode the true mass inside r sigma is
1 - exp(-r^2 / 2): 98.9% at the default r = 3.
"""
from __future__ import annotations

import math

import torch

from . import checks


def mode_stats(samples: torch.Tensor, modes, threshold: float = 3.0, *, min_count: int = 1) -> dict:
    """Mode statistics of ``samples`` [n, D] against ``modes`` (a ``distributions.Modes``)."""
    if modes is None:
        raise ValueError("modes=None is not allowed; expected a distributions.Modes "
                         "(this family has no discrete modes)")
    checks.points("samples", samples, finite=False)
    D = modes.centres.shape[1]
    if samples.shape[1] != D:
        raise ValueError(f"samples has dimension D={samples.shape[1]}, which is not allowed; "
                         f"expected the modes' dimension D={D}")
    threshold = checks.positive("threshold", threshold)
    checks.integer("min_count", min_count, low=1)

    finite = torch.isfinite(samples).all(dim=1)
    idx, dist = modes.assign(torch.where(finite[:, None], samples, torch.zeros_like(samples)))
    hq = finite & (dist < threshold)
    K = modes.n_modes
    counts = torch.bincount(idx[hq], minlength=K).double().cpu()
    w = modes.weights.double().cpu()
    total = float(counts.sum())
    captured = (counts >= min_count).nonzero()[:, 0].tolist()
    out = {
        "hq_fraction": total / samples.shape[0],
        "captured": len(captured),
        "captured_fraction": len(captured) / K,
        "mass": (counts / total).tolist() if total else [0.0] * K,
        "reverse_kl": math.nan, "forward_kl": math.nan, "js": math.nan,
        "captured_modes": captured,
    }
    if total:
        p = counts / total
        smooth = (counts + 0.5) / (total + K / 2)
        mix = (p + w) / 2
        out["reverse_kl"] = _kl(p, w)
        out["forward_kl"] = _kl(w, smooth)
        out["js"] = (_kl(p, mix) + _kl(w, mix)) / 2
    return out


def _kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """sum p log(p / q) over p > 0 (0 log 0 = 0)."""
    keep = p > 0
    return float((p[keep] * (p[keep] / q[keep]).log()).sum().clamp_min(0.0))
