"""Classifier two-sample test (C2ST, REFERENCES §3): held-out accuracy of a classifier trained
to tell real from fake. 0.5 means indistinguishable, 1.0 perfectly separable.

Protocol: both sets are shuffled by ``generator`` and cut to the same size (at most
``max_per_class``), so chance is exactly 0.5; each class is split in half, train / test.

classifier="knn" (default): majority vote of the k nearest training points (Euclidean, k the
    odd number nearest sqrt(n_train)); no training, local, so it sees mode widths and gaps
    that a small network smooths over.
classifier="mlp": D -> hidden -> hidden -> 1 ReLU network on features standardised with the
    training mean and std, initialised from ``generator``, full-batch Adam (lr 1e-2, ``steps``
    steps) on the logistic loss; better for global differences in many dimensions.
Deterministic given the generator on CPU.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import checks
from .pairwise import cpu_workers, for_chunks, prepare, rows_per_chunk, sq_block


@cpu_workers
def c2st_accuracy(real: torch.Tensor, fake: torch.Tensor, *, classifier: str = "knn",
                  generator: torch.Generator | None = None, hidden: int = 32, steps: int = 200,
                  max_per_class: int = 5000) -> float:
    """Held-out accuracy of a real-vs-fake classifier (needs at least 2 points per set)."""
    checks.points("real", real, min_rows=2)
    checks.points("fake", fake, min_rows=2)
    checks.same_space("real", real, "fake", fake)
    if classifier not in ("knn", "mlp"):
        raise ValueError(f"classifier={classifier!r} is not allowed; expected 'knn' or 'mlp'")
    for name, v in (("hidden", hidden), ("steps", steps)):
        checks.integer(name, v, low=1)
    checks.integer("max_per_class", max_per_class, low=2)
    dev = real.device
    if generator is None:
        generator = torch.Generator(device=dev).manual_seed(0)
    n = min(real.shape[0], fake.shape[0], max_per_class)
    half = n // 2
    r = real[torch.randperm(real.shape[0], generator=generator, device=dev)[:n]].float()
    f = fake[torch.randperm(fake.shape[0], generator=generator, device=dev)[:n]].float()
    x_train = torch.cat([r[:half], f[:half]])
    x_test = torch.cat([r[half:], f[half:]])
    y_train = torch.cat([torch.ones(half, device=dev), torch.zeros(half, device=dev)])
    y_test = torch.cat([torch.ones(n - half, device=dev), torch.zeros(n - half, device=dev)])
    if classifier == "knn":
        return _knn_accuracy(x_train, y_train, x_test, y_test)
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-12)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return _mlp_accuracy(x_train, y_train, x_test, y_test, generator, hidden, steps)


def _knn_accuracy(x_train, y_train, x_test, y_test) -> float:
    k = max(1, 2 * round((math.sqrt(len(x_train)) - 1) / 2) + 1)
    centre = x_train.double().mean(0)
    A, B = prepare(x_test, centre), prepare(x_train, centre)

    def block(lo, hi):
        idx = sq_block(A, B, lo, hi).topk(k, dim=1, largest=False).indices
        vote = y_train[idx].mean(dim=1) > 0.5
        return (vote == (y_test[lo:hi] > 0.5)).sum()

    parts = for_chunks(block, len(x_test), rows_per_chunk(len(x_train)), x_test.device)
    return torch.stack(parts).sum().item() / len(x_test)


def _mlp_accuracy(x_train, y_train, x_test, y_test, generator, hidden, steps) -> float:
    dev = x_train.device
    sizes = [x_train.shape[1], hidden, hidden, 1]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        w = torch.randn(a, b, generator=generator, device=dev) * math.sqrt(2 / a)
        params += [w.requires_grad_(), torch.zeros(b, device=dev, requires_grad=True)]

    def logits(x):
        for i in range(0, len(params), 2):
            x = x @ params[i] + params[i + 1]
            if i + 2 < len(params):
                x = F.relu(x)
        return x[:, 0]

    with torch.enable_grad():
        opt = torch.optim.Adam(params, lr=1e-2)
        for _ in range(steps):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(logits(x_train), y_train).backward()
            opt.step()
    with torch.no_grad():
        return ((logits(x_test) > 0).float() == y_test).float().mean().item()
