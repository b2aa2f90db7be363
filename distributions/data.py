"""Feeding a distribution to a Lightning model.

:class:`DistributionDataModule` yields whole batches [batch_size, *event_shape] made on the
training device: the loader hands out only a step counter, and ``on_after_batch_transfer``
(which runs on the device) turns it into data -- no workers, no per-sample collation.

- ``n_train=None``: infinite data, fresh samples every step from a device generator seeded
  with ``seed`` (the stream differs between CPU and GPU, as their generators do).
- ``n_train=N``: a fixed training set of N samples drawn on the CPU with ``seed`` (identical on
  every device) and moved to the device once; each step draws a batch of indices with
  replacement from the seeded device generator.

Members: given a list of distributions (one per member of a batched model; they may differ in
knobs, not in event shape) and a list of seeds, every batch is [K, batch_size, *event_shape],
member k's rows drawn exactly as a one-distribution module with seed k would draw them.

``steps`` makes one epoch exactly that many training steps (train with ``max_epochs=1``),
whatever a module counts as a Lightning step (``max_steps`` counts optimizer steps; a manually
optimised module with two optimizers can take two per batch).

``steps_per_batch=k`` hands the module k consecutive batches at once, stacked [k, batch_size,
*event_shape] (the last one shorter when k does not divide ``steps``): the same stream as k = 1,
in a tenth of the Lightning batches for k = 10, which spreads Lightning's fixed per-batch cost
(hooks, loop bookkeeping; ~0.4 ms here) over k steps. models.LabModule trains such a batch as k
steps; with k = 1 batches are [batch_size, *event_shape] as usual.
"""
from __future__ import annotations

from typing import Iterator, Sequence

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
    def __init__(self, dist: Distribution | Sequence[Distribution], *, batch_size: int, n_train: int | None = None,
                 seed: int | Sequence[int] = 0, steps: int | None = None, steps_per_batch: int = 1):
        super().__init__()
        self.members = not isinstance(dist, Distribution)
        dists, seeds = (list(dist), list(seed)) if self.members else ([dist], [seed])
        if len(dists) != len(seeds) or not dists:
            raise ValueError(f"data: {len(dists)} distributions for {len(seeds)} seeds; expected one seed each")
        if len({tuple(d.event_shape) for d in dists}) > 1:
            raise ValueError("data: the members' distributions differ in event shape; expected one shape")
        for name, value, low in (("batch_size", batch_size, 1), ("n_train", n_train, 1), *(("seed", s, 0) for s in seeds),
                                 ("steps", steps, 1), ("steps_per_batch", steps_per_batch, 1)):
            optional = name in ("n_train", "steps")
            if not (optional and value is None) and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ValueError(f"data: {name}={value!r} is not allowed; expected an integer >= {low}")
        self.dists, self.seeds, self.batch_size, self.n_train, self.steps = dists, seeds, batch_size, n_train, steps
        self.steps_per_batch, self._served = steps_per_batch, 0
        self._state: tuple[torch.device, list] | None = None

    def train_dataloader(self) -> _Steps:
        k = self.steps_per_batch
        self._served = 0                                # steps handed out this epoch (no device sync)
        return _Steps(None if self.steps is None else -(-self.steps // k))

    def _device_state(self, device: torch.device) -> list:
        if self._state is None or self._state[0] != device:
            state = []
            for dist, seed in zip(self.dists, self.seeds):
                data = None
                if self.n_train is not None:
                    data = dist.sample(self.n_train, generator=torch.Generator().manual_seed(seed)).to(device)
                state.append((dist, torch.Generator(device=device).manual_seed(seed), data))
            self._state = (device, state)
        return self._state[1]

    def batch(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The next training batch, made on ``device`` ([K, batch_size, ...] for members)."""
        device = torch.device(device)
        out = []
        for dist, gen, data in self._device_state(device):
            if data is None:
                out.append(dist.sample(self.batch_size, generator=gen))
            else:
                out.append(data[torch.randint(len(data), (self.batch_size,), generator=gen, device=device)])
        return torch.stack(out) if self.members else out[0]

    def batches(self, device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
        """Endless batches for a plain PyTorch loop (the same stream the Trainer sees)."""
        while True:
            yield self.batch(device)

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> torch.Tensor:
        k = self.steps_per_batch
        if k == 1:
            return self.batch(batch.device)
        if self.steps is not None:                      # the last Lightning batch may hold fewer steps
            k = min(k, self.steps - self._served)
        self._served += k
        return torch.stack([self.batch(batch.device) for _ in range(k)])
