"""Evaluation during training: a Lightning callback that wires a generator to cheap metrics.

    cb = EvaluationCallback(dist, every_n_steps=500)
    trainer = pl.Trainer(callbacks=[cb], ...); trainer.fit(module, datamodule)
    metrics.verdicts.summarize(cb.history)

Every ``every_n_steps`` training steps (and once more when training ends, unless the last
step was just evaluated) the callback draws ``n_samples`` of member ``member`` with a generator
seeded with ``seed`` (``pl_module.sample(n, generator=g, member=member)``, the only thing it
assumes of the module), so every evaluation sees the same latent batch (PacGAN's fixed z) and
training randomness is untouched. A member known to have diverged (``stopped_at``) is no longer
evaluated. It computes

    nonfinite_fraction   share of sample rows with a NaN / inf entry (never a crash)
    coverage             PRDC coverage, k = ``k``, against ``n_real`` fixed real samples, each
                         sample flattened (images: pixel space; graphs: the adjacency rounded by
                         metrics.graphs' rule, so a labelled-graph coverage, plus the signal)
    modes_captured, mode_hq_fraction   mode_stats, for families with modes; non-finite
                         samples are never high quality
    captured, n_modes    the captured mode indices (history only: for mode hopping)
    mode_mass            each mode's share of the high-quality samples (history only: which modes
                         hold the mass, for mode hopping; "captured" needs just one sample)
    on_support, blur_mass, gap_mass, component_mass, and the verdict flags (diverged,
                         dropped_modes, misweighted, blurred, bridged, collapsed, learned, held, dropped,
                         held_js): metrics.verdicts.placement / judge, for families with a
                         support distance (``thresholds``: metrics.verdicts.Thresholds)

logs the numbers as ``eval/<name>`` to the member's logger (the trainer's k-th when it has one per
member, else all of them; and, for one member, to ``callback_metrics`` for monitors), and appends {"step": steps trained, "global_step": optimizer steps, ...} to
``history``. Every value is finite. Steps are the module's ``steps`` count where it has one
(models.LabModule: a Lightning batch [k, B, D] is k steps), else Lightning batches; with k steps
per batch, an evaluation falls at the end of the batch that reaches a multiple of
``every_n_steps`` (exactly on it when k divides ``every_n_steps``).
"""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch

from metrics.evaluate import chi_threshold, support_tolerance
from metrics.manifold import coverage, knn_radii
from metrics.modes import mode_stats
from metrics.verdicts import Thresholds, components, judge, placement


class EvaluationCallback(pl.Callback):
    def __init__(self, dist, *, every_n_steps: int = 500, n_samples: int = 2500, n_real: int | None = None,
                 seed: int = 0, k: int = 5, threshold: float | None = None, member: int = 0,
                 thresholds: Thresholds | None = None):
        for name, v, low in (("every_n_steps", every_n_steps, 1), ("n_samples", n_samples, 1),
                             ("seed", seed, 0), ("k", k, 1), ("member", member, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"EvaluationCallback: {name}={v!r} is not allowed; expected an integer >= {low}")
        n_real = n_samples if n_real is None else n_real
        if isinstance(n_real, bool) or not isinstance(n_real, int) or n_real <= k:
            raise ValueError(f"EvaluationCallback: n_real={n_real!r} is not allowed; expected an integer > k={k}")
        if threshold is None:
            threshold = chi_threshold(dist.traits.get("intrinsic_dim", math.prod(dist.event_shape)))
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
            raise ValueError(f"EvaluationCallback: threshold={threshold!r} is not allowed; expected a number > 0")
        self.dist, self.every, self.n_samples, self.seed, self.k = dist, every_n_steps, n_samples, seed, k
        self.member = member
        self.threshold, self.modes = float(threshold), dist.modes
        self.real = self._vectors(dist.sample(n_real, generator=torch.Generator().manual_seed(seed)))
        self._radius = knn_radii(self.real, k)
        self.thresholds = Thresholds() if thresholds is None else thresholds
        self.tolerance = None                      # verdicts need the support distance
        if "support_distance" in dist.capabilities:
            self.tolerance = support_tolerance(dist, self.real, self.threshold)[0]
        comp = components(dist)
        self.weights = None if comp is None else comp[0].tolist()
        self.history: list[dict] = []
        self._batches = 0
        self._step = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._batches += 1
        before, self._step = self._step, int(getattr(pl_module, "steps", self._batches))
        if self._step // self.every > before // self.every and self._live(pl_module):
            values = self._record(trainer, pl_module)
            if getattr(pl_module, "K", 1) == 1:
                # For monitors (EarlyStopping, pruning) in callback_metrics; the logger gets them below.
                pl_module.log_dict(values, on_step=True, on_epoch=False, logger=False)

    def on_train_end(self, trainer, pl_module):
        if self._step and (not self.history or self.history[-1]["step"] != self._step) and self._live(pl_module):
            self._record(trainer, pl_module)

    def _live(self, pl_module) -> bool:
        stopped = getattr(pl_module, "stopped_at", None)
        return stopped is None or stopped[self.member] is None

    def _record(self, trainer, pl_module) -> dict[str, float]:
        loggers = trainer.loggers
        if len(loggers) > 1 and len(loggers) == getattr(pl_module, "K", 1):
            loggers = [loggers[self.member]]
        return self.record(pl_module, self._step, int(trainer.global_step), loggers)

    def record(self, module, step: int, global_step: int | None = None, loggers=()) -> dict[str, float]:
        """Measure ``module`` now, as the evaluation after ``step`` steps: append it to ``history``
        and log it to ``loggers`` (also usable without a Trainer, e.g. for ensemble members)."""
        entry = {"step": step, "global_step": step if global_step is None else global_step, **self.measure(module)}
        self.history.append(entry)
        values = {f"eval/{k}": v for k, v in entry.items() if isinstance(v, float)}
        # Straight to the loggers: pl_module.log would drop steps off log_every_n_steps.
        for logger in loggers:
            logger.log_metrics(values, step=step)
        return values

    def _vectors(self, x: torch.Tensor) -> torch.Tensor:
        """Samples [n, *event_shape] as rows [n, D]; graphs rounded to 0/1 edges (NaN stays NaN)."""
        if "graph_structure" in self.dist.capabilities:
            from distributions.graph_ops import binarize
            n = self.dist.event_shape[0]
            a = x[..., :n]
            a = torch.where(torch.isfinite(a), binarize(a.nan_to_num()), a)
            x = torch.cat([a.to(x.dtype), x[..., n:]], -1)
        return x.reshape(x.shape[0], -1)

    @torch.no_grad()
    def measure(self, pl_module) -> dict:
        """The cheap metrics of ``pl_module.sample(n_samples)`` under the fixed seed."""
        g = torch.Generator(device=pl_module.device).manual_seed(self.seed)
        x = pl_module.sample(self.n_samples, generator=g, member=self.member).detach()
        x = self._vectors(x.reshape(x.shape[0], *self.dist.event_shape))
        finite = torch.isfinite(x).all(dim=1)
        fake = x[finite].float()
        real = self.real.to(x.device)
        out = {"nonfinite_fraction": 1 - finite.double().mean().item(),
               "coverage": coverage(real, fake, self.k, radius=self._radius.to(x.device)) if len(fake) else 0.0}
        if self.modes is not None:
            st = mode_stats(x, self.modes, self.threshold)
            out.update(modes_captured=float(st["captured"]), mode_hq_fraction=st["hq_fraction"],
                       captured=st["captured_modes"], n_modes=self.modes.n_modes, mode_mass=st["mass"])
        if self.tolerance is not None:
            where = placement(self.dist, x, self.tolerance)
            out.update(where, **judge({**where, "coverage": out["coverage"]}, self.weights, self.thresholds))
        return out
