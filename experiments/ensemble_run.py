"""Many runs as one batched ensemble (models.ensemble): the sweep's fast path for GAN trials.

``run_group(configs, out_dirs)`` trains compatible run configs (:func:`signature` equal: same
GAN architecture and optimiser settings, same training schedule, same data shape; data
families, knobs and seeds may differ) as members of ``models.ensemble.EnsembleGAN`` and writes
for each member exactly what ``experiments.train.run`` writes for it alone: config.json,
result.json, sample PNGs, TensorBoard scalars. On the CPU member k follows the trajectory of its
single run to float tolerance (its own data stream, seed and noise; on a GPU its noise stream is
seeded differently, see models/ensemble.py), is evaluated at the same steps
with the same callback code, and its record has the same fields and values (the trajectory
agrees to ~1e-6, so a metric that thresholds a distance can in rare cases differ); only
``runtime_s`` differs (the group's time shared equally) and result.json notes the group size.

A member that diverges is frozen by the ensemble and recorded as diverged at its step, with the
evaluations before it, as a single run would be; the others go on. If the ensemble itself fails
(an error, not a divergence), every member is rerun alone, so no trial is lost to its group.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytorch_lightning as pl
import torch

from distributions.data import DistributionDataModule
from models.ensemble import EnsembleGAN, MAY_DIFFER, incompatibility

from .config import make_distribution, validate
from .train import begin, conclude, failed, monitors, quiet_logs, run, save

SCHEDULE = ("steps", "eval_every", "eval_samples", "final_real", "accelerator", "plots", "tensorboard")


def signature(config: Mapping[str, Any]) -> str | None:
    """Runs with equal signatures can train as one ensemble; None: this run cannot (not an MLP GAN
    the ensemble supports). ``config`` must be valid (``experiments.config.validate``)."""
    model = config["model"]
    if model.get("model") != "gan" or incompatibility([model]) is not None:
        return None
    shape = list(make_distribution(config).event_shape)
    return json.dumps({"model": {k: v for k, v in model.items() if k not in MAY_DIFFER},
                       "train": {k: config["train"][k] for k in SCHEDULE}, "event_shape": shape}, sort_keys=True)


def _device(accelerator: str) -> torch.device:
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def run_group(configs: Sequence[Mapping[str, Any]], out_dirs: Sequence[str | Path], *, chunk: int | None = None,
              quiet: bool = True) -> list[dict]:
    """Train ``configs`` together and return their records (in order). Configs whose signatures
    differ are rejected (ValueError); ``chunk``: at most that many members per batched call."""
    if len(configs) != len(out_dirs):
        raise ValueError(f"run_group: {len(configs)} configs for {len(out_dirs)} out_dirs")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"run_group: chunk={chunk!r} is not allowed; expected an integer >= 1 or None")
    cfgs = [validate(c) for c in configs]
    sigs = {signature(c) for c in cfgs}
    if None in sigs or len(sigs) > 1:
        raise ValueError("run_group: the configs cannot train as one ensemble (experiments.ensemble_run.signature "
                         "differs or is None); run them with experiments.train.run")
    size = len(cfgs) if chunk is None else chunk
    records: list[dict] = []
    for i in range(0, len(cfgs), size):
        part, outs = cfgs[i:i + size], out_dirs[i:i + size]
        try:
            records += _train_part(part, outs, quiet)
        except Exception:                                # noqa: BLE001 - fall back, never lose a trial
            records += [run(c, o, quiet=quiet) for c, o in zip(part, outs)]
    return records


def _train_part(cfgs: list[dict], out_dirs: Sequence[str | Path], quiet: bool) -> list[dict]:
    start = time.perf_counter()
    if quiet:
        quiet_logs()
    members = [begin(c, o) for c, o in zip(cfgs, out_dirs)]          # (cfg, dist, record, out)
    tr = cfgs[0]["train"]
    device = _device(tr["accelerator"])
    dists = [m[1] for m in members]
    shape = dists[0].event_shape
    ens = EnsembleGAN([c["model"] for c in cfgs], math.prod(shape), [c["train"]["seed"] for c in cfgs], device)
    streams = [DistributionDataModule(d, batch_size=c["model"]["batch_size"], n_train=c["data"]["n_train"],
                                      seed=c["train"]["seed"]).batches(device) for c, d in zip(cfgs, dists)]
    watch = [monitors(c, d, out) for c, d, _, out in members]         # (evaluator, snapshots)
    loggers = [pl.loggers.TensorBoardLogger(out, name="", version="") if tr["tensorboard"] else None
               for *_, out in members]
    every = tr["eval_every"]

    def evaluate_members(step: int) -> None:
        for k, ((evaluator, shots), logger) in enumerate(zip(watch, loggers)):
            if ens.diverged_at[k] is not None:                        # known dead: a single run has stopped
                continue
            gan = ens.to_gan(k)
            evaluator.record(gan, step, loggers=[logger] if logger else ())
            if shots is not None:
                shots.save(gan, step)

    for _ in range(tr["steps"]):
        ens.step(torch.stack([next(s).flatten(1) for s in streams]))
        if ens.steps % every == 0:
            evaluate_members(ens.steps)
        if ens.all_diverged:
            break
    ens.check()
    if ens.steps % every and not ens.all_diverged:
        evaluate_members(ens.steps)

    share = (time.perf_counter() - start) / len(cfgs)
    out = []
    for k, (cfg, dist, record, path) in enumerate(members):
        try:
            gan = ens.to_gan(k)
            d, check_every = gan.diverged_at, cfg["model"]["check_every"]
            # a single run stops where its divergence check saw the bad step
            steps = ens.steps if d is None else min(tr["steps"], (d // check_every + 1) * check_every)
            conclude(record, gan, steps, watch[k][0].history, dist, cfg)
            if loggers[k] is not None:
                for h in gan.history:
                    loggers[k].log_metrics({f"train/{n}": h[n] for n in ens.loss_names}, step=h["step"] + 1)
                loggers[k].finalize("success")
        except Exception as err:                                      # noqa: BLE001 - a record, not a crash
            failed(record, err)
        record["runtime_s"] = share
        record["ensemble"] = {"members": len(cfgs), "member": k}
        out.append(save(record, path))
    return out
