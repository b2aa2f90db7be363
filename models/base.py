"""What the GAN and the VAE share: the training step loop, sync-free loss bookkeeping, divergence.

A batch is a tensor [batch_size, data_dim] (one step) or [K, batch_size, data_dim] (K steps in one
Lightning batch, which spreads Lightning's per-batch cost over K steps); shaped data
[batch_size, *event_shape] (images, graphs) is flattened first, so ``train_step`` and ``sample``
always see flat rows. A step is one update of
the first optimiser (GAN: the critic), the only one stepped through Lightning, so
``trainer.global_step`` counts steps and ``Trainer(max_steps=...)`` stops at exactly that many,
also inside a K-step batch. The other updates (GAN generator) and every backward pass call plain
PyTorch, which is why training is restricted to one device in 32-bit precision (checked when
fitting starts).

Each training step writes its losses into a small on-device window (one tensor op, no sync).
Every ``check_every`` steps (and when training ends) the window comes to the host in one
transfer: a non-finite loss, or a non-finite parameter, sets ``diverged_at`` to the first bad
step (0-based step index) and asks the Trainer to stop. Window means go to ``history`` and, when
the Trainer has loggers, straight to them as ``train/<loss>`` at the step count (``self.log``
would tie them to Lightning's batch count and ``log_every_n_steps``).
"""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import SingleDeviceStrategy


class LabModule(pl.LightningModule):
    loss_names: tuple[str, ...] = ()

    def __init__(self, config: dict, data_dim: int, event_shape: tuple[int, ...] | None = None):
        super().__init__()
        event_shape = (int(data_dim),) if event_shape is None else tuple(int(d) for d in event_shape)
        if math.prod(event_shape) != data_dim:
            raise ValueError(f"{type(self).__name__}: event_shape={event_shape} is not allowed; expected "
                             f"a shape of data_dim={data_dim} entries")
        self.save_hyperparameters({"config": dict(config), "data_dim": data_dim, "event_shape": event_shape})
        self.event_shape = event_shape    # batches arrive [B, *event_shape] or flat; train_step sees [B, data_dim]
        self.automatic_optimization = False
        self.config, self.data_dim = dict(config), int(data_dim)
        self.steps = 0                    # batches trained so far
        self.diverged_at: int | None = None
        self.history: list[dict] = []     # {"step": last step of the window, loss name: window mean}
        self._window_start = 0
        self.register_buffer("_window", torch.zeros(config["check_every"], len(self.loss_names)),
                             persistent=False)

    def train_step(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One step on a batch [batch_size, data_dim]; returns the losses named in ``loss_names``."""
        raise NotImplementedError

    def training_step(self, batch, batch_idx):
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        trainer = self.trainer
        e = len(self.event_shape)
        if e > 1 and tuple(x.shape[-e:]) == self.event_shape:      # shaped data (images, graphs): flatten
            x = x.flatten(x.dim() - e)
        for xb in (x if x.dim() == 3 else (x,)):
            if self.diverged_at is not None:
                trainer.should_stop = True             # e.g. fit called again after a divergence
                break
            if 0 <= trainer.max_steps <= trainer.global_step:
                break
            self._record(*self.train_step(xb))

    def on_fit_start(self) -> None:
        strategy, precision = self.trainer.strategy, self.trainer.precision
        if not isinstance(strategy, SingleDeviceStrategy) or precision != "32-true":
            raise ValueError(f"{type(self).__name__} trains on one device in 32-bit precision; got strategy "
                             f"{type(strategy).__name__} and precision {precision!r}: use "
                             f"Trainer(devices=1, precision='32-true')")

    def _record(self, *losses: torch.Tensor) -> None:
        """Store this step's losses on the device; check them every ``check_every`` steps."""
        torch.stack([loss.detach() for loss in losses], out=self._window[self.steps - self._window_start])
        self.steps += 1
        if self.steps - self._window_start == self._window.shape[0]:
            self._check(log=True)

    def _check(self, log: bool = False) -> None:
        n = self.steps - self._window_start
        if n == 0 or self.diverged_at is not None:
            return
        param_sum = torch.stack([p.detach().sum() for p in self.parameters()]).sum()   # inf/nan propagate
        host = torch.cat([self._window[:n].flatten(), param_sum.reshape(1).to(self._window)]).cpu()
        window, params_ok = host[:-1].view(n, -1), bool(torch.isfinite(host[-1]))
        bad = (~torch.isfinite(window)).any(dim=1).nonzero()
        if len(bad) or not params_ok:
            self.diverged_at = self._window_start + (int(bad[0]) if len(bad) else n - 1)
            if self._trainer is not None:
                self.trainer.should_stop = True
        else:
            means = dict(zip(self.loss_names, window.mean(dim=0).tolist()))
            self.history.append({"step": self.steps - 1, **means})
            if log and self._trainer is not None:
                for logger in self.loggers:
                    logger.log_metrics({f"train/{k}": v for k, v in means.items()}, step=self.steps)
        self._window_start = self.steps

    def on_train_end(self) -> None:
        self._check()

    @property
    def status(self) -> str:
        return "complete" if self.diverged_at is None else "diverged"

    def _inject_nan(self, loss: torch.Tensor) -> torch.Tensor:
        """Test hook: config ``debug_nan_at_step`` turns that step's loss into NaN."""
        return loss * math.nan if self.steps == self.config["debug_nan_at_step"] else loss
