"""One model on one distribution: the unit of every sweep.

``run(config, out_dir)`` trains, evaluates and writes into ``out_dir``:
  config.json   the resolved config (every default filled in)
  result.json   status (complete / diverged / failed + reason), diverged_at, runtime, traits,
                final metrics, collapse summary, evaluation history (up to any divergence), code version
  samples/      a PNG of generated against real samples at every evaluation
  events.*      TensorBoard scalars (losses, evaluation metrics)
It never raises for a failing run: the failure is the record.
"""
from __future__ import annotations

import json
import logging
import math
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Mapping

import pytorch_lightning as pl
import torch

import models
from distributions.data import DistributionDataModule
from metrics import evaluate
from metrics.collapse import collapse_summary

from .config import make_distribution, validate
from .evaluation import EvaluationCallback
from .snapshots import save_scatter
from .version import code_version


class Snapshots(pl.Callback):
    """Save generated-against-real PNGs every ``every`` training steps (and at the end)."""

    def __init__(self, real: torch.Tensor, every: int, folder: Path, seed: int):
        self.real, self.every, self.folder, self.seed = real.flatten(1).numpy(), every, folder, seed
        self._step = 0

    def save(self, module, step: int) -> None:
        g = torch.Generator(device=module.device).manual_seed(self.seed)
        fake = module.sample(len(self.real), generator=g).float().cpu().flatten(1).numpy()
        save_scatter(self.folder / f"step_{step:07d}.png", self.real, fake, f"step {step}")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        before, self._step = self._step, module.steps          # a batch may hold several steps
        if self._step // self.every > before // self.every:
            self.save(module, self._step)

    def on_train_end(self, trainer, module):
        if module.steps % self.every:
            self.save(module, module.steps)


def begin(config: Mapping[str, Any], out_dir: str | Path) -> tuple[dict, Any, dict, Path]:
    """Validate ``config``, write out_dir/config.json; returns (config, distribution, an empty
    record, out_dir). Raises ValueError for a bad config (before any work)."""
    cfg = validate(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    dist = make_distribution(cfg)
    record: dict[str, Any] = {"status": "failed", "reason": None, "diverged_at": None, "steps": 0,
                              "traits": dist.traits, "metrics": {}, "skipped": {}, "collapse": None,
                              "history": [], "code_version": code_version(), "runtime_s": 0.0}
    return cfg, dist, record, out


def quiet_logs() -> None:
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")


def monitors(cfg: dict, dist, out: Path) -> tuple[EvaluationCallback, Snapshots | None]:
    """The evaluation callback and (when ``train.plots``) the sample snapshots of one run."""
    tr, seed = cfg["train"], cfg["train"]["seed"]
    evaluator = EvaluationCallback(dist, every_n_steps=tr["eval_every"], n_samples=tr["eval_samples"], seed=seed)
    shots = None
    if tr["plots"]:
        real = dist.sample(1000, generator=torch.Generator().manual_seed(seed + 1))
        shots = Snapshots(real, tr["eval_every"], out / "samples", seed)
    return evaluator, shots


def conclude(record: dict, module, steps: int, history: list[dict], dist, cfg: dict) -> None:
    """Fill ``record`` from a trained module (``status``, ``diverged_at``, ``sample``): the
    evaluations before any divergence, their collapse summary, and the final metrics -- of
    fresh samples, or for a diverged run the last finite evaluation (never NaN metrics)."""
    tr, seed = cfg["train"], cfg["train"]["seed"]
    # evaluations up to the divergence (later ones would measure a NaN model; the callback's own values are finite)
    before = [h for h in history if module.diverged_at is None or h["step"] <= module.diverged_at]
    record.update(status=module.status, diverged_at=module.diverged_at, steps=steps, history=before)
    record["collapse"] = collapse_summary(before) if before else None
    if module.diverged_at is None:
        g = torch.Generator(device=module.device).manual_seed(seed + 2)
        fake = module.sample(tr["eval_samples"], generator=g).float()
        real = dist.sample(tr["final_real"], generator=torch.Generator(device=module.device).manual_seed(seed + 3))
        result = evaluate(dist, fake.reshape(len(fake), *dist.event_shape), real=real)
        record["metrics"], record["skipped"] = dict(result), dict(getattr(result, "skipped", {}))
    elif before:
        last = before[-1]
        record["metrics"] = {k: v for k, v in last.items() if isinstance(v, float) and math.isfinite(v)}
        record["metrics_step"] = last["step"]


def failed(record: dict, err: Exception) -> None:
    record["status"] = "failed"
    record["reason"] = f"{type(err).__name__}: {err}"
    record["traceback"] = traceback.format_exc(limit=8)


def save(record: dict, out: Path) -> dict:
    (out / "result.json").write_text(json.dumps(record, indent=2, default=_json_default))
    return record


def run(config: Mapping[str, Any], out_dir: str | Path, *, quiet: bool = True, save_state: bool = False) -> dict:
    """Train one run of ``config`` (validated here too) and return its record. ``save_state``
    also writes the trained module's final ``state_dict`` to ``out_dir/model.pt``."""
    cfg, dist, record, out = begin(config, out_dir)
    tr, seed = cfg["train"], cfg["train"]["seed"]
    start = time.perf_counter()
    try:
        if quiet:
            quiet_logs()
        pl.seed_everything(seed, verbose=False)
        module = models.build(cfg["model"], data_dim=math.prod(dist.event_shape), event_shape=dist.event_shape)
        data = DistributionDataModule(dist, batch_size=cfg["model"]["batch_size"], n_train=cfg["data"]["n_train"],
                                      seed=seed, steps=tr["steps"], steps_per_batch=tr["steps_per_batch"])
        evaluator, shots = monitors(cfg, dist, out)
        logger = pl.loggers.TensorBoardLogger(out, name="", version="") if tr["tensorboard"] else False
        trainer = pl.Trainer(max_epochs=1, accelerator=tr["accelerator"], devices=1, logger=logger,
                             callbacks=[evaluator] + ([shots] if shots else []),
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(module, datamodule=data)
        if save_state:
            torch.save(module.state_dict(), out / "model.pt")
        conclude(record, module, module.steps, evaluator.history, dist, cfg)
    except Exception as err:             # a failing run is a record, not a crash
        failed(record, err)
    record["runtime_s"] = time.perf_counter() - start
    return save(record, out)


def _json_default(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
