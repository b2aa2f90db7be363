"""Generative models as LightningModules, built from plain validated config dicts.

    import models
    cfg = models.validate_config({"model": "gan", "loss": "wgan_gp", "gp_weight": 0.1})  # defaults filled
    module = models.build(cfg, data_dim=2)        # a LightningModule; seed torch first for reproducibility
    trainer.fit(module, datamodule)               # batches: tensors [batch_size, data_dim]
    module.sample(2500, generator=g)              # [2500, 2] on the module's device
    module.diverged_at, module.status, module.history

``models.keys()`` describes every model's config keys (default, allowed values, meaning);
``models.objectives.OBJECTIVES`` lists the GAN losses by name.
"""
from __future__ import annotations

from typing import Any, Mapping

import pytorch_lightning as pl

from . import gan, objectives, vae
from .config import describe
from .gan import GAN
from .vae import VAE

__all__ = ["GAN", "VAE", "MODELS", "build", "keys", "objectives", "validate_config"]

MODELS = {"gan": (GAN, gan), "vae": (VAE, vae)}


def validate_config(config: Mapping[str, Any]) -> dict:
    """Check a model config; return it with every default filled in, or raise ``ValueError``."""
    if not isinstance(config, Mapping):
        raise ValueError(f"model config: expected a dict of keys, got {type(config).__name__}")
    model = config.get("model")
    if model not in MODELS:
        raise ValueError(f"model config: key model={model!r} is not allowed; expected one of "
                         f"{', '.join(map(repr, MODELS))}")
    return MODELS[model][1].check(config)


def build(config: Mapping[str, Any], data_dim: int) -> pl.LightningModule:
    """The LightningModule of ``config`` for data of ``data_dim`` dimensions. Initial weights come
    from torch's global RNG: seed it first (``pl.seed_everything(seed)``) for reproducible runs."""
    if isinstance(data_dim, bool) or not isinstance(data_dim, int) or data_dim < 1:
        raise ValueError(f"models.build: data_dim={data_dim!r} is not allowed; expected an integer >= 1")
    cfg = validate_config(config)
    return MODELS[cfg["model"]][0](cfg, data_dim)


def keys(model: str) -> dict[str, dict]:
    """Config keys of ``model``: default, allowed values and meaning."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(map(repr, MODELS))}")
    return describe(MODELS[model][1].KEYS)
