"""Generative models as LightningModules, built from plain validated config dicts.

    import models
    cfg = models.validate_config({"model": "gan", "loss": "wgan_gp", "gp_weight": 0.1})  # defaults filled
    module = models.build(cfg, data_dim=2)        # a LightningModule; seed torch first for reproducibility
    models.build({"model": "gan", "arch": "conv"}, 784, event_shape=(1, 28, 28))   # images (graphs: arch graph)
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

__all__ = ["GAN", "VAE", "MODELS", "build", "check_shape", "keys", "objectives", "validate_config"]

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


def build(config: Mapping[str, Any], data_dim: int, event_shape: tuple[int, ...] | None = None) -> pl.LightningModule:
    """The LightningModule of ``config`` for data of ``data_dim`` dimensions, shaped ``event_shape``
    (default ``(data_dim,)``; images [C, H, W] for ``arch: conv``, graphs [N, N(+1)] for ``arch:
    graph``). The module trains on batches [B, *event_shape] or flat [B, data_dim] and samples flat
    rows [n, data_dim]. Initial weights come from torch's global RNG: seed it first
    (``pl.seed_everything(seed)``) for reproducible runs."""
    if isinstance(data_dim, bool) or not isinstance(data_dim, int) or data_dim < 1:
        raise ValueError(f"models.build: data_dim={data_dim!r} is not allowed; expected an integer >= 1")
    cfg = validate_config(config)
    check_shape(cfg, data_dim if event_shape is None else event_shape)
    return MODELS[cfg["model"]][0](cfg, data_dim, event_shape)


def check_shape(config: Mapping[str, Any], event_shape) -> None:
    """One-line ``ValueError`` naming the key when ``config``'s arch does not fit data of this
    event shape (an int: vectors of that size); a sweep can call it before its first trial."""
    from .conv import image_shape
    from .graph import graph_shape
    shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
    arch, model = config.get("arch", "mlp"), config.get("model")
    if arch == "conv":
        image_shape(shape, model)
    elif arch == "graph":
        graph_shape(shape, model)


def keys(model: str) -> dict[str, dict]:
    """Config keys of ``model``: default, allowed values and meaning."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(map(repr, MODELS))}")
    return describe(MODELS[model][1].KEYS)
