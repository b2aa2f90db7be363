"""What every model kind shares: K members, the training step loop, per-member divergence.

A module holds K members (``seeds``, one per member; a single run is K = 1): every parameter has
a leading member axis (models/members.py), member k's networks are built by the single-model
code right after ``torch.manual_seed(seeds[k])``, and its noise (latents, reparameterisation,
penalty interpolation) comes from its own ``torch.Generator`` seeded from its seed (``noise_seed``)
-- so member k of an ensemble follows the trajectory of the same seed trained alone (K = 1) to
float tolerance, on any device. Losses are [K] per step; their sum is backpropagated, so each
member's gradient is its own, and one Adam over the stacked parameters is elementwise.

Batches: [K, B, *event_shape] (one step; member k's data is ``x[k]``) or [S, K, B, *event_shape]
(S steps in one Lightning batch, which spreads Lightning's per-batch cost over S steps). A K = 1
module also takes the plain [B, *event] and [S, B, *event]. Shaped data (images, graphs) is
flattened, so ``train_step`` sees [K, B, data_dim]. A step is one update of the first optimiser
(GAN: the critic), the only one stepped through Lightning, so ``trainer.global_step`` counts
steps and ``Trainer(max_steps=...)`` stops at exactly that many. Training runs on one device in
32-bit precision (64-bit for checks of float rounding; checked when fitting starts).

Divergence, without a host sync per step: each step writes its [K] losses into an on-device
window; a member whose loss or gradient is non-finite is frozen from that step on (its gradients
and Adam moments zeroed, so its update is exactly 0 and its parameters stay those before the bad
step) while the others go on unaffected. Every ``check_every`` steps the window comes to the host
in one transfer: ``diverged_at[k]`` is member k's first bad step (0-based) and ``stopped_at[k]``
the step count at that check (where a single run stops); when every member has diverged the
Trainer is asked to stop. Window means go to ``history[k]`` and, with one Lightning logger per
member (or one logger for K = 1), to member k's logger as ``train/<loss>`` at the step count.
"""
from __future__ import annotations

import math
from typing import Sequence

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import SingleDeviceStrategy


def noise_seed(seed: int) -> int:
    """The seed of a member's noise generator: apart from the stream its weights were drawn from."""
    return (int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2 ** 63


class LabModule(pl.LightningModule):
    loss_names: tuple[str, ...] = ()

    def __init__(self, config: dict, data_dim: int, event_shape: tuple[int, ...] | None = None,
                 seeds: Sequence[int] = (0,), nan_at: Sequence[int | None] | None = None):
        super().__init__()
        event_shape = (int(data_dim),) if event_shape is None else tuple(int(d) for d in event_shape)
        if math.prod(event_shape) != data_dim:
            raise ValueError(f"{type(self).__name__}: event_shape={event_shape} is not allowed; expected "
                             f"a shape of data_dim={data_dim} entries")
        self.seeds = [int(s) for s in seeds]
        self.K = len(self.seeds)
        if self.K < 1:
            raise ValueError(f"{type(self).__name__}: seeds={list(seeds)!r} is not allowed; expected one seed per member")
        self.save_hyperparameters({"config": dict(config), "data_dim": data_dim, "event_shape": event_shape,
                                   "seeds": self.seeds})
        self.event_shape = event_shape
        self.automatic_optimization = False
        self.config, self.data_dim = dict(config), int(data_dim)
        self.nan_at = [config.get("debug_nan_at_step")] * self.K if nan_at is None else list(nan_at)
        self.steps = 0
        self.diverged_at: list[int | None] = [None] * self.K
        self.stopped_at: list[int | None] = [None] * self.K
        self.history: list[list[dict]] = [[] for _ in range(self.K)]
        self._window_start = 0
        self.register_buffer("_window", torch.zeros(config["check_every"], self.K, len(self.loss_names)),
                             persistent=False)
        self.register_buffer("_dead_step", torch.full((self.K,), -1, dtype=torch.long), persistent=False)
        self._all_alive = True
        self._noise: list[torch.Generator] | None = None

    # -- members ------------------------------------------------------------------------------------
    def build_members(self, make) -> list:
        """``make()`` once per member right after ``torch.manual_seed(seed)`` (torch's global RNG
        restored afterwards): the networks a single run of that seed starts from."""
        out = []
        for seed in self.seeds:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                out.append(make())
        return out

    def noise(self) -> list[torch.Generator]:
        """The members' noise generators on the module's device (created on first use)."""
        if self._noise is None or self._noise[0].device != self.device:
            self._noise = [torch.Generator(device=self.device).manual_seed(noise_seed(s)) for s in self.seeds]
        return self._noise

    def draw(self, shape: tuple[int, ...], normal: bool = True) -> torch.Tensor:
        """[K, *shape]: member k's next standard normal (or U[0, 1)) draw from its own generator."""
        out = torch.empty(self.K, *shape, device=self.device, dtype=self._window.dtype)
        for k, g in enumerate(self.noise()):
            (torch.randn if normal else torch.rand)(shape, generator=g, out=out[k])
        return out

    def draw_with(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                  normal: bool = True) -> torch.Tensor:
        """A standard normal (or U[0, 1)) draw of ``shape`` from ``generator`` (torch's global RNG if
        None), on the module's device and dtype: what sampling and evaluation draw with."""
        device = self.device if generator is None else generator.device
        return (torch.randn if normal else torch.rand)(shape, device=device, generator=generator).to(self._window)

    @property
    def alive(self) -> torch.Tensor:
        """[K] bool on the device: members not (yet known to be) diverged."""
        return self._dead_step < 0

    def status(self, member: int = 0) -> str:
        return "complete" if self.diverged_at[member] is None else "diverged"

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member``'s weights as the state of the K = 1 module (``load_state_dict`` of
        ``models.build(config, ..., seeds=[seed])`` takes it)."""
        return {n: t[member:member + 1].detach().clone() for n, t in self.state_dict().items()}

    # -- training -----------------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One step of every member on x [K, B, data_dim]; returns the [K] losses of ``loss_names``."""
        raise NotImplementedError

    def _steps_of(self, x: torch.Tensor) -> torch.Tensor:
        """A Lightning batch as [S, K, B, data_dim]."""
        given, e = tuple(x.shape), len(self.event_shape)
        if tuple(x.shape[x.dim() - e:]) == self.event_shape:
            x = x.flatten(x.dim() - e)
        if x.dim() == 2 or (x.dim() == 3 and self.K == 1 and x.shape[0] != 1):
            x = x.unsqueeze(-3)                   # one member's [B, D] or [S, B, D]
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[1] != self.K or x.shape[-1] != self.data_dim:
            raise ValueError(f"{type(self).__name__}: a batch of shape {given} is not allowed; expected "
                             f"[K={self.K}, B, {', '.join(map(str, self.event_shape))}] or [steps, K, B, ...]")
        return x

    def training_step(self, batch, batch_idx):
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        trainer = self.trainer
        for xb in self._steps_of(x).to(self._window.dtype):
            if all(s is not None for s in self.stopped_at):
                trainer.should_stop = True             # e.g. fit called again after every member diverged
                break
            if 0 <= trainer.max_steps <= trainer.global_step:
                break
            losses = self.train_step(xb)
            torch.stack([loss.detach() for loss in losses], dim=-1, out=self._window[self.steps - self._window_start])
            self.steps += 1
            if self.steps - self._window_start == self._window.shape[0]:
                self._check(log=True)

    def on_fit_start(self) -> None:
        strategy, precision = self.trainer.strategy, self.trainer.precision
        if not isinstance(strategy, SingleDeviceStrategy) or precision not in ("32-true", "64-true"):
            raise ValueError(f"{type(self).__name__} trains on one device in 32-bit (or 64-bit) precision; got "
                             f"strategy {type(strategy).__name__} and precision {precision!r}: use "
                             f"Trainer(devices=1, precision='32-true')")

    def nan_hook(self, loss: torch.Tensor) -> torch.Tensor:
        """Test hook: config ``debug_nan_at_step`` turns that member's loss at that step into NaN."""
        if self.steps not in self.nan_at:
            return loss
        return loss * torch.tensor([math.nan if s == self.steps else 1.0 for s in self.nan_at], device=loss.device)

    def configure_optimizers(self):
        """One Adam over ``self._params`` (a model with more optimisers, the GAN, overrides it)."""
        return torch.optim.Adam(self._params, lr=self.config["lr"], betas=(self.config["beta1"], self.config["beta2"]),
                                fused=self.device.type in ("cpu", "cuda"))

    @torch.no_grad()
    def update_ema(self, ema: torch.nn.Module, params, decay: float) -> None:
        """Move the EMA copy ``ema`` of ``params`` by (1 - decay) towards them, member by member; a
        member frozen by a divergence keeps its EMA as it was."""
        w = (1 - decay) * self.alive.to(self._window.dtype)
        for e, live in zip(ema.parameters(), params):
            e.lerp_(live, w.view(-1, *([1] * (live.dim() - 1))))

    def update(self, opt, params: list[torch.nn.Parameter], loss: torch.Tensor, lightning: bool = False) -> None:
        """Backpropagate the summed [K] ``loss`` into ``params``, freeze members that turned
        non-finite, and step ``opt`` (a LightningOptimizer when ``lightning``: counts global_step)."""
        for p in params:
            p.grad = None
        loss.sum().backward()
        self._mask(params, opt.optimizer if lightning else opt, loss.detach())
        opt.step()

    def _mask(self, params, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        grads = [p.grad for p in params if p.grad is not None]
        cheap = self.device.type == "cpu"        # reading a value costs no sync on the CPU
        if cheap and self._all_alive and torch.stack(torch._foreach_norm(grads + [loss])).sum().isfinite():
            return                               # nearly always: nothing to mask
        bad = ~torch.isfinite(loss + torch.stack([g.flatten(1).sum(1) for g in grads]).sum(0))
        self._dead_step.masked_fill_(bad & self.alive, self.steps)
        dead = ~self.alive
        for p in params:
            if p.grad is None:
                continue
            view = dead.view(-1, *([1] * (p.dim() - 1)))
            p.grad.masked_fill_(view, 0)
            state = opt.state.get(p)
            if state:                            # zero moments + zero gradient = an update of exactly 0
                state["exp_avg"].masked_fill_(view, 0)
                state["exp_avg_sq"].masked_fill_(view, 0)
        if cheap:
            self._all_alive = bool(self.alive.all())

    def _check(self, log: bool = False) -> None:
        n = self.steps - self._window_start
        if n == 0:
            return
        host = torch.cat([self._window[:n].flatten().double(), self._dead_step.double()]).cpu()
        window, dead = host[:-self.K].view(n, self.K, -1), host[-self.K:].long().tolist()
        means = window.mean(dim=0)
        loggers = self.loggers if self._trainer is not None and log else []
        for k in range(self.K):
            if self.stopped_at[k] is not None:
                continue
            if dead[k] >= 0:
                self.diverged_at[k], self.stopped_at[k] = dead[k], self.steps
                continue
            entry = {"step": self.steps - 1, **dict(zip(self.loss_names, means[k].tolist()))}
            self.history[k].append(entry)
            if len(loggers) == self.K:
                loggers[k].log_metrics({f"train/{n}": v for n, v in entry.items() if n != "step"}, step=self.steps)
        if self._trainer is not None and all(s is not None for s in self.stopped_at):
            self.trainer.should_stop = True
        self._window_start = self.steps

    def on_train_end(self) -> None:
        self._check(log=True)
