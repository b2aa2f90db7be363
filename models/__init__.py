"""Generative models as LightningModules, built from plain validated config dicts; every module
holds K members (one seed each) trained together in one batched step (models/base.py).

    import models
    cfg = models.validate_config({"model": "gan", "loss": "wgan_gp", "gp_weight": 0.1})  # defaults filled
    module = models.build(cfg, data_dim=2, seeds=[0])          # one member: a single run of seed 0
    ensemble = models.build(cfg, data_dim=2, seeds=[0, 1, 2])  # member k = the single run of seed k
    models.build({"model": "gan", "arch": "conv"}, 784, event_shape=(1, 28, 28))   # images (graphs: arch graph)
    flow = models.build({"model": "flow", "layers": 4}, data_dim=2)   # RealNVP: flow.log_prob(x, member=k) exact
    ddpm = models.build({"model": "diffusion", "timesteps": 1000}, data_dim=2)   # DDPM: ddpm.elbo(x, member=k) a bound
    trainer.fit(module, datamodule)               # batches [K, batch_size, data_dim] (K = 1: [batch_size, data_dim])
    module.sample(2500, generator=g, member=k)    # [2500, 2] on the module's device
    module.diverged_at[k], module.status(k), module.history[k]

``models.keys()`` describes every model's config keys (default, allowed values, meaning);
``models.objectives.OBJECTIVES`` lists the GAN losses by name.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pytorch_lightning as pl

from . import diffusion, flow, gan, objectives, vae
from .config import describe
from .diffusion import Diffusion
from .flow import Flow
from .gan import GAN
from .vae import VAE

__all__ = ["Diffusion", "Flow", "GAN", "VAE", "MAY_DIFFER", "MODELS", "build", "check_shape", "incompatibility",
           "keys", "load", "objectives", "save", "validate_config"]

MODELS = {"gan": (GAN, gan), "vae": (VAE, vae), "flow": (Flow, flow), "diffusion": (Diffusion, diffusion)}


def validate_config(config: Mapping[str, Any]) -> dict:
    """Check a model config; return it with every default filled in, or raise ``ValueError``."""
    if not isinstance(config, Mapping):
        raise ValueError(f"model config: expected a dict of keys, got {type(config).__name__}")
    model = config.get("model")
    if not isinstance(model, str) or model not in MODELS:
        raise ValueError(f"model config: key model={model!r} is not allowed; expected one of "
                         f"{', '.join(map(repr, MODELS))}")
    return MODELS[model][1].check(config)


MAY_DIFFER = ("debug_nan_at_step",)      # model keys that may differ between the members of one module


def build(config: Mapping[str, Any] | Sequence[Mapping[str, Any]], data_dim: int,
          event_shape: tuple[int, ...] | None = None, seeds: Sequence[int] = (0,)) -> pl.LightningModule:
    """The LightningModule of ``config`` for data of ``data_dim`` dimensions, shaped ``event_shape``
    (default ``(data_dim,)``; images [C, H, W] for ``arch: conv``, graphs [N, N(+1)] for ``arch:
    graph``), with one member per seed; member k's initial weights are drawn after
    ``torch.manual_seed(seeds[k])`` (torch's global RNG is left as it was). ``config`` may be a list,
    one config per member, equal but for ``MAY_DIFFER``. The module trains on batches
    [K, B, *event_shape] (or flat [K, B, data_dim]; K = 1 also [B, ...]) and samples flat rows
    [n, data_dim] of one member."""
    if isinstance(data_dim, bool) or not isinstance(data_dim, int) or data_dim < 1:
        raise ValueError(f"models.build: data_dim={data_dim!r} is not allowed; expected an integer >= 1")
    configs = [config] if isinstance(config, Mapping) else list(config)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"models.build: seeds={list(seeds)!r} is not allowed; expected integers >= 0, one per member")
    if len(configs) not in (1, len(seeds)):
        raise ValueError(f"models.build: {len(configs)} configs for {len(seeds)} seeds; expected one config or one per seed")
    cfgs = [validate_config(c) for c in configs]
    reason = incompatibility(cfgs)
    if reason:
        raise ValueError(f"models.build: the member configs cannot train as one module: {reason}")
    check_shape(cfgs[0], data_dim if event_shape is None else event_shape)
    nan_at = [c["debug_nan_at_step"] for c in cfgs] * (len(seeds) if len(cfgs) == 1 else 1)
    return MODELS[cfgs[0]["model"]][0](cfgs[0], data_dim, event_shape, seeds=list(seeds), nan_at=nan_at)


def incompatibility(configs: Sequence[Mapping[str, Any]]) -> str | None:
    """Why these (validated) configs cannot be members of one module, in one line; None if they can."""
    first = configs[0]
    for i, cfg in enumerate(configs[1:], 1):
        diff = sorted(k for k in set(cfg) | set(first) if k not in MAY_DIFFER and cfg.get(k) != first.get(k))
        if diff:
            return (f"config {i} differs from config 0 in {', '.join(diff)} "
                    f"({', '.join(f'{k}={cfg.get(k)!r} vs {first.get(k)!r}' for k in diff)})")
    return None


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
    if model == "flow":
        flow.check_shape(shape)


def keys(model: str) -> dict[str, dict]:
    """Config keys of ``model``: default, allowed values and meaning."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(map(repr, MODELS))}")
    return describe(MODELS[model][1].KEYS)


def save(module: pl.LightningModule, member: int, path) -> None:
    """Write member ``member`` of ``module`` to ``path``: what ``load`` needs to rebuild it alone."""
    import torch
    torch.save({"config": module.config, "data_dim": module.data_dim, "event_shape": list(module.event_shape),
                "seed": module.seeds[member], "state_dict": module.member_state_dict(member),
                "steps": module.steps, "diverged_at": module.diverged_at[member]}, path)


def load(path, map_location="cpu") -> pl.LightningModule:
    """The K = 1 module saved by ``save`` (weights as trained; nothing is drawn or trained)."""
    import torch
    saved = torch.load(path, map_location=map_location, weights_only=True)
    cfg = {**saved["config"], "debug_nan_at_step": None}
    module = build(cfg, saved["data_dim"], tuple(saved["event_shape"]), seeds=[saved["seed"]])
    module.load_state_dict(saved["state_dict"])
    module.steps, module.diverged_at = saved["steps"], [saved["diverged_at"]]
    return module.to(map_location)
