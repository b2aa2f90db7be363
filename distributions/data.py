"""Feeding a distribution to a Lightning model.

:class:`DistributionDataModule` yields whole batches [batch_size, *event_shape] made on the
training device: the loader hands out only a step counter, and ``on_after_batch_transfer``
(which runs on the device) turns it into data -- no workers, no per-sample collation.

- ``n_train=None``: infinite data, fresh samples every step from a device generator seeded
  with ``seed`` (the stream differs between CPU and GPU, as their generators do).
- ``n_train=N``: a fixed training set of N samples drawn on the CPU with ``seed`` (identical on
  every device) and moved to the device once; each step draws a batch of indices with
  replacement from the seeded device generator.

``steps`` makes one epoch exactly that many batches (train with ``max_epochs=1``), whatever a
module counts as a Lightning step (``max_steps`` counts optimizer steps; a manually optimised
module with two optimizers can take two per batch).
"""
from __future__ import annotations

from typing import Iterator

import pytorch_lightning as pl
import torch

from .base import Distribution


class _Steps:
    """Step counters: ``steps`` of them (one epoch), or endless when ``steps`` is None."""

    def __init__(self, steps: int | None):
        self.steps = steps

    def __len__(self) -> int:
        if self.steps is None:
            raise TypeError("an endless stream has no length")
        return self.steps

    def __iter__(self) -> Iterator[torch.Tensor]:
        step = 0
        while self.steps is None or step < self.steps:
            yield torch.tensor(step)
            step += 1


class DistributionDataModule(pl.LightningDataModule):
    def __init__(self, dist: Distribution, *, batch_size: int, n_train: int | None = None, seed: int = 0,
                 steps: int | None = None):
        super().__init__()
        for name, value, low in (("batch_size", batch_size, 1), ("n_train", n_train, 1), ("seed", seed, 0),
                                 ("steps", steps, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ValueError(f"data: {name}={value!r} is not allowed; expected an integer >= {low}")
        self.dist, self.batch_size, self.n_train, self.seed, self.steps = dist, batch_size, n_train, seed, steps
        self._state: tuple[torch.device, torch.Generator, torch.Tensor | None] | None = None

    def train_dataloader(self) -> _Steps:
        return _Steps(self.steps)

    def _device_state(self, device: torch.device):
        if self._state is None or self._state[0] != device:
            gen = torch.Generator(device=device).manual_seed(self.seed)
            data = None
            if self.n_train is not None:
                cpu = torch.Generator().manual_seed(self.seed)
                data = self.dist.sample(self.n_train, generator=cpu).to(device)
            self._state = (device, gen, data)
        return self._state

    def batch(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The next training batch, made on ``device``."""
        device, gen, data = self._device_state(torch.device(device))
        if data is None:
            return self.dist.sample(self.batch_size, generator=gen)
        idx = torch.randint(len(data), (self.batch_size,), generator=gen, device=device)
        return data[idx]

    def batches(self, device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
        """Endless batches for a plain PyTorch loop (the same stream the Trainer sees)."""
        while True:
            yield self.batch(device)

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> torch.Tensor:
        return self.batch(batch.device)
