"""What a finished trial stored, read back: the one way analysis/ gets at weights and samples.

Each trial folder (``experiments.train``) holds config.json, result.json, ``model.pt`` (the
trained K = 1 module) and ``samples.npz`` (``fake`` [n, *event_shape], its ``seed`` and
``step``). Nothing here trains or re-runs anything: a folder without an artifact (a study run
before trials stored them, or a failed run) is a one-line ValueError that names the folder.

    folder = trial_folder(row)          # a results row (its log_dir), a mapping or a path
    load_samples(folder)["fake"]        # float32 [n, *event_shape]
    module = load_model(folder)         # eval mode, on the CPU; module.sample(n, generator=g)
    real_samples(folder, 1000)          # the trial's ground truth (config.json), a fixed seed
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def locate(log_dir: str | Path, trials: str | Path | None = None) -> Path | None:
    """The existing folder of a stored ``log_dir`` (``ROOT/STUDY/trials/NNNNN`` as the sweep
    wrote it: absolute, or relative to the sweep's working directory), made absolute; None if it
    is nowhere. With ``trials`` (the study's trials folder under the root it was loaded from)
    ``trials/NNNNN`` is tried first, so a study reads the same from any directory or after a move."""
    path = Path(str(log_dir))
    for folder in ([Path(trials) / path.name] if trials is not None else []) + [path]:
        if folder.is_dir():
            return folder.resolve()
    return None


def trial_folder(record: Mapping[str, Any] | str | Path) -> Path:
    """The folder of a trial, given its results row (or any mapping with ``log_dir``) or a path;
    ``analysis.table.load`` has made a found row's ``log_dir`` absolute already."""
    log_dir = record if isinstance(record, (str, Path)) else record.get("log_dir")
    if log_dir is None or (isinstance(log_dir, float) and np.isnan(log_dir)):
        raise ValueError(f"trial {record.get('trial', '?')} records no log_dir (its trial folder); "
                         "re-run the study to store it")
    folder = locate(log_dir)
    if folder is None:
        raise ValueError(f"trial folder {log_dir} not found (relative paths from {Path.cwd()}); load the "
                         "study with the root it ran under, or re-run the study")
    return folder


def _need(folder: Path, name: str) -> Path:
    path = Path(folder) / name
    if path.is_file():
        return path
    result = Path(folder) / "result.json"
    status = json.loads(result.read_text()) if result.is_file() else {}
    if status.get("status") == "failed":
        why = f"its run failed ({status.get('reason')}), so nothing was stored"
    else:
        why = "the study ran before each trial stored its weights and samples; re-run the study to plot it"
    raise ValueError(f"trial folder {folder} has no {name}: {why}")


def load_config(folder: str | Path) -> dict:
    """The trial's resolved run config (config.json)."""
    return json.loads(_need(Path(folder), "config.json").read_text())


def load_samples(folder: str | Path) -> dict:
    """The trial's final evaluation samples: ``fake`` (float32 [n, *event_shape]), ``seed``
    (of the generator that drew them) and ``step`` (when)."""
    with np.load(_need(Path(folder), "samples.npz")) as npz:
        return {"fake": npz["fake"], "seed": int(npz["seed"]), "step": int(npz["step"])}


def load_model(folder: str | Path):
    """The trial's trained module (K = 1, ``models.load``), in eval mode on the CPU."""
    import models
    return models.load(_need(Path(folder), "model.pt"), map_location="cpu").eval()


def real_samples(folder: str | Path, n: int = 1000) -> np.ndarray:
    """``n`` samples [n, *event_shape] of the trial's distribution, drawn as its snapshots drew
    them (seed = train.seed + 1), so every picture of a trial shows the same real points."""
    import torch

    from experiments.config import make_distribution
    cfg = load_config(folder)
    dist = make_distribution(cfg)
    return dist.sample(n, generator=torch.Generator().manual_seed(cfg["train"]["seed"] + 1)).numpy()


def truth(folder: str | Path) -> dict | None:
    """What a 2-D sample picture draws of the trial's ground truth: ``{"modes": centres [K, 2]}``
    for a family with modes, ``{"support": points [m, 2]}`` on the clean support of a curve, or
    None (images, graphs, more than two dimensions, or no such ground truth)."""
    from experiments.config import make_distribution
    dist = make_distribution(load_config(folder))
    if tuple(dist.event_shape) != (2,):
        return None
    if dist.modes is not None:
        return {"modes": dist.modes.centres.numpy()}
    if hasattr(dist, "support_points"):
        return {"support": dist.support_points(2000).numpy()}
    return None
