"""Training runs: the unit of every sweep, alone or as members of one batched module.

``run_group(configs, out_dirs)`` trains K run configs as the K members of one module (see
:func:`signature`: same model, schedule and data shape; data knobs and seeds may differ) under
one Lightning ``Trainer``; ``run(config, out_dir)`` is the same with K = 1. Each member writes
into its own folder exactly what it would write alone:
  config.json   the resolved config (every default filled in)
  result.json   status (complete / diverged / failed + reason), diverged_at, steps, runtime,
                traits, final metrics, collapse summary, evaluation history (up to any divergence),
                execution settings (threads, device, members, library and code versions)
  model.pt      the member's final weights (``models.load`` rebuilds it, K = 1)
  samples.npz   its final evaluation samples (``fake``, [n, *event_shape]) and their seed
  samples/      a PNG of generated against real samples at every evaluation
  RUN NAME/     TensorBoard: losses and evaluation metrics, the sample pictures, HParams (config,
                traits, final metrics, verdict flags); the name is the sweep key (``sweep_config.key_name``)
Member k follows the trajectory of its single run to float tolerance (models/base.py); a
diverging member is frozen and recorded at its step while the others go on. Nothing here raises
for a failing run: the failure is the record. If a group of K > 1 fails as a whole (an error,
not a divergence), its members are rerun alone, so no trial is lost to its group.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
import traceback
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pytorch_lightning as pl
import torch

import models
from distributions.data import DistributionDataModule
from metrics import evaluate
from metrics.verdicts import Thresholds, components, judge, summarize

from .config import make_distribution, validate
from .evaluation import EvaluationCallback
from .snapshots import save_scatter
from .version import code_version

SCHEDULE = ("steps", "eval_every", "eval_samples", "final_real", "accelerator", "plots", "tensorboard",
            "steps_per_batch", "threads")


def signature(config: Mapping[str, Any]) -> str:
    """Runs with equal signatures can train as members of one module. ``config`` must be valid."""
    model = {k: v for k, v in config["model"].items() if k not in models.MAY_DIFFER}
    return json.dumps({"model": model, "train": {k: config["train"][k] for k in SCHEDULE},
                       "n_train": config["data"]["n_train"],
                       "event_shape": list(make_distribution(config).event_shape)}, sort_keys=True)


class Snapshots(pl.Callback):
    """Save member ``member``'s generated-against-real PNGs every ``every`` steps (and at the end),
    also into the member's TensorBoard ``logger`` (its "samples" images) when it has one."""

    def __init__(self, real: torch.Tensor, every: int, folder: Path, seed: int, member: int = 0, logger=None):
        self.real, self.every, self.folder, self.seed = real.numpy(), every, folder, seed
        self.member, self._step, self.logger = member, 0, logger

    def save(self, module, step: int) -> None:
        g = torch.Generator(device=module.device).manual_seed(self.seed)
        fake = module.sample(len(self.real), generator=g, member=self.member).float().cpu().numpy()
        fake = fake.reshape(len(fake), *self.real.shape[1:])
        save_scatter(self.folder / f"step_{step:07d}.png", self.real, fake, f"step {step}", self.logger, step)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        before, self._step = self._step, module.steps          # a batch may hold several steps
        if self._step // self.every > before // self.every and module.stopped_at[self.member] is None:
            self.save(module, self._step)

    def on_train_end(self, trainer, module):
        if module.steps % self.every and module.stopped_at[self.member] is None:
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
                              "traits": dist.traits, "metrics": {}, "skipped": {}, "verdict": None,
                              "history": [], "code_version": code_version(), "runtime_s": 0.0}
    return cfg, dist, record, out


def execution(cfg: dict, device: torch.device, members: int, member: int) -> dict:
    """What besides config and seed a record depends on."""
    versions = {name: metadata.version(dist) for name, dist in
                (("torch", "torch"), ("pytorch_lightning", "pytorch-lightning"), ("optuna", "optuna"))}
    return {"threads": torch.get_num_threads(), "device": str(device), "members": members, "member": member,
            "versions": versions, "code_version": code_version()}


def quiet_logs() -> None:
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")


def conclude(record: dict, module, member: int, history: list[dict], dist, cfg: dict, out: Path) -> None:
    """Fill ``record`` from member ``member`` of a trained module: the evaluations before any
    divergence, the run's verdict (metrics.verdicts.summarize), and the final metrics -- of fresh samples (saved to
    samples.npz), or for a diverged run the last finite evaluation (never NaN metrics)."""
    tr, seed = cfg["train"], cfg["train"]["seed"]
    diverged_at = module.diverged_at[member]
    # evaluations up to the divergence (later ones measured a model past its bad step)
    before = [h for h in history if diverged_at is None or h["step"] <= diverged_at]
    steps = module.steps if module.stopped_at[member] is None else module.stopped_at[member]
    record.update(status=module.status(member), diverged_at=diverged_at, steps=steps, history=before)
    judged = all("learned" in h for h in before)             # families with a support distance
    if judged and (before or diverged_at is not None):
        comp = components(dist)
        record["verdict"] = summarize(before, comp and len(comp[0]), Thresholds(**tr["verdict"]),
                                      diverged_at=diverged_at)
    g = torch.Generator(device=module.device).manual_seed(seed + 2)
    fake = module.sample(tr["eval_samples"], generator=g, member=member).float()
    np.savez_compressed(out / "samples.npz", fake=fake.reshape(len(fake), *dist.event_shape).cpu().numpy(),
                        seed=seed + 2, step=steps)
    models.save(module, member, out / "model.pt")
    if diverged_at is None:
        real = dist.sample(tr["final_real"], generator=torch.Generator(device=module.device).manual_seed(seed + 3))
        result = evaluate(dist, fake.reshape(len(fake), *dist.event_shape), real=real,
                          verdict=Thresholds(**tr["verdict"]))
        record["metrics"], record["skipped"] = dict(result), dict(getattr(result, "skipped", {}))
        record["metrics"].update(likelihoods(module, member, dist, real, seed))
        if hasattr(module, "lipschitz"):                     # a GAN: its generator's constant
            g = torch.Generator(device=module.device).manual_seed(seed + 5)
            record["metrics"].update(module.lipschitz(member, g))
        if "log_likelihood" in record["metrics"] and "log_prob" not in dist.capabilities:
            record["skipped"]["likelihood_gap"] = dist.missing.get("log_prob", "no log_prob")
        if record["verdict"] is None and "triangle_factors" in dist.capabilities:
            record["verdict"] = final_verdict(record["metrics"], dist, steps, Thresholds(**tr["verdict"]))
    elif before:
        last = before[-1]
        record["metrics"] = {k: v for k, v in last.items() if isinstance(v, float) and math.isfinite(v)}
        record["metrics_step"] = last["step"]


def final_verdict(metrics: dict, dist, step: int, th: Thresholds) -> dict:
    """The verdict of a family judged by its final metrics only (triangles: the matcher runs once):
    ``summarize`` of one evaluation, marked ``judged_at``."""
    from metrics.triangles import final_placement
    entry, weights = final_placement(metrics, dist)
    entry = {"step": step, **entry}
    verdict = summarize([{**entry, **judge(entry, weights, th)}], len(weights), th)
    return {**verdict, "judged_at": "the final evaluation only"}


LIKELIHOOD_ROWS = 1000     # held-out real samples the model's log-likelihood is measured on
LIKELIHOOD_DRAWS = 100     # importance draws per sample of a VAE's IWAE bound


@torch.no_grad()
def likelihoods(module, member: int, dist, real: torch.Tensor, seed: int) -> dict:
    """For a model with a likelihood (``module.log_likelihood``: a flow's exact value, a VAE's
    IWAE bound, a diffusion model's ELBO): its mean log-likelihood of the first LIKELIHOOD_ROWS
    held-out real samples (``real``, the final metrics' reference) and, where the family has
    ``log_prob``, the truth's minus the model's on the same rows (metrics.registry). Empty for a GAN."""
    if not hasattr(module, "log_likelihood"):
        return {}
    rows = real[:LIKELIHOOD_ROWS]
    g = torch.Generator(device=module.device).manual_seed(seed + 4)
    ll = module.log_likelihood(rows.reshape(len(rows), -1).to(module.device, torch.float32), member=member,
                               generator=g, k=LIKELIHOOD_DRAWS).double().mean().item()
    if not math.isfinite(ll):
        return {}
    out = {"log_likelihood": ll}
    if "log_prob" in dist.capabilities:
        out["likelihood_gap"] = dist.log_prob(rows.double()).mean().item() - ll
    return out


def failed(record: dict, err: Exception) -> None:
    record["status"] = "failed"
    record["reason"] = f"{type(err).__name__}: {err}"
    record["traceback"] = traceback.format_exc(limit=8)


def save(record: dict, out: Path) -> dict:
    """Write result.json whole or not at all (a killed write leaves no half record to adopt)."""
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=_json_default))
    os.replace(tmp, out / "result.json")
    return record


def run(config: Mapping[str, Any], out_dir: str | Path, *, quiet: bool = True) -> dict:
    """Train one run of ``config`` (validated here too) and return its record."""
    return run_group([config], [out_dir], quiet=quiet)[0]


def run_group(configs: Sequence[Mapping[str, Any]], out_dirs: Sequence[str | Path], *, quiet: bool = True,
              names: Sequence[str] | None = None) -> list[dict]:
    """Train ``configs`` as the members of one module and return their records (in order).
    Configs whose signatures differ are rejected (ValueError) before any work. ``names``: each
    run's TensorBoard name (default ``run_name``; a sweep gives its keys, ``sweep_config.key_name``)."""
    if len(configs) != len(out_dirs) or not configs:
        raise ValueError(f"run_group: {len(configs)} configs for {len(out_dirs)} out_dirs; expected one each")
    cfgs = [validate(c) for c in configs]
    if len({signature(c) for c in cfgs}) > 1:
        raise ValueError("run_group: the configs cannot train as one module (experiments.train.signature "
                         "differs); run them in separate groups")
    members = [begin(c, o) for c, o in zip(cfgs, out_dirs)]          # (cfg, dist, record, out)
    start = time.perf_counter()
    try:
        return _train(members, quiet, start, names)
    except Exception as err:             # a failing run is a record, not a crash
        if len(members) > 1:             # never lose a trial to its group: run each alone
            return [run_group([c], [o], quiet=quiet, names=names and [n])[0]
                    for c, o, n in zip(cfgs, out_dirs, names or [None] * len(cfgs))]
        _, _, record, out = members[0]
        failed(record, err)
        record["runtime_s"] = time.perf_counter() - start
        return [save(record, out)]


def _train(members: list, quiet: bool, start: float, names: Sequence[str] | None = None) -> list[dict]:
    cfgs, dists = [m[0] for m in members], [m[1] for m in members]
    tr, K = cfgs[0]["train"], len(members)
    if quiet:
        quiet_logs()
    torch.set_num_threads(tr["threads"])
    seeds = [c["train"]["seed"] for c in cfgs]
    shape = dists[0].event_shape
    module = models.build([c["model"] for c in cfgs], data_dim=math.prod(shape), event_shape=shape, seeds=seeds)
    data = DistributionDataModule(dists, batch_size=cfgs[0]["model"]["batch_size"], n_train=cfgs[0]["data"]["n_train"],
                                  seed=seeds, steps=tr["steps"], steps_per_batch=tr["steps_per_batch"])
    evaluators = [EvaluationCallback(d, every_n_steps=tr["eval_every"], n_samples=tr["eval_samples"], seed=s, member=k,
                                     thresholds=Thresholds(**c["train"]["verdict"]))
                  for k, (d, s, c) in enumerate(zip(dists, seeds, cfgs))]
    names = names or [run_name(c) for c in cfgs]
    loggers = [pl.loggers.TensorBoardLogger(out, name="", version=name, default_hp_metric=False)
               for (*_, out), name in zip(members, names)] if tr["tensorboard"] else []
    shots = []
    if tr["plots"]:
        shots = [Snapshots(d.sample(1000, generator=torch.Generator().manual_seed(s + 1)), tr["eval_every"],
                           out / "samples", s, member=k, logger=loggers[k] if loggers else None)
                 for k, (d, s, (*_, out)) in enumerate(zip(dists, seeds, members))]
    trainer = pl.Trainer(max_epochs=1, accelerator=tr["accelerator"], devices=1, logger=loggers or False,
                         callbacks=[*evaluators, *shots], enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(module, datamodule=data)
    share = (time.perf_counter() - start) / K
    records = []
    for k, (cfg, dist, record, out) in enumerate(members):
        try:
            conclude(record, module, k, evaluators[k].history, dist, cfg, out)
        except Exception as err:                                      # noqa: BLE001 - a record, not a crash
            failed(record, err)
        record["runtime_s"] = share
        record["execution"] = execution(cfg, module.device, K, k)
        if loggers:
            loggers[k].log_hyperparams(*hparams(cfg, record))
            loggers[k].finalize("success")
        records.append(save(record, out))
    return records


def run_name(cfg: dict) -> str:
    """A TensorBoard run's name when the sweep gives none: the model kind, family and seed."""
    return f"{cfg['model']['model']} {cfg['data']['family']} seed={cfg['train']['seed']}"


def hparams(cfg: dict, record: dict) -> tuple[dict, dict]:
    """(hyper-parameters, metrics) for TensorBoard's HParams view: every config key (data.*,
    model.*, train.*) and trait (trait.*) with a scalar value; the final metrics and the verdict's
    flags (verdict/*, 0 or 1) and status."""
    params = {f"{sec}.{k}": v for sec in ("data", "model", "train") for k, v in cfg[sec].items()
              if isinstance(v, (int, float, str, bool)) or v is None}
    params.update({f"trait.{k}": v for k, v in (record.get("traits") or {}).items() if isinstance(v, (int, float))})
    params = {k: ("null" if v is None else v) for k, v in params.items()}
    metrics = {f"final/{k}": float(v) for k, v in (record.get("metrics") or {}).items()
               if isinstance(v, (int, float)) and math.isfinite(v)}
    metrics.update({f"verdict/{k}": float(bool(v)) for k, v in (record.get("verdict") or {}).items()
                    if isinstance(v, bool)})
    metrics["status/complete"] = float(record.get("status") == "complete")
    return params, metrics


def _json_default(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
