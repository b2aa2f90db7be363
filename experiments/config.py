"""Run configs: YAML with three sections, validated whole before any work starts.

    data:  {family: mixture, n_train: null, <the family's knobs>...}
    model: {model: gan, loss: non_saturating, batch_size: 256, ...}   # see models.keys(model)
    train: {steps: 2000, seed: 0, eval_every: 250, ...}               # see TRAIN_KEYS

``--set section.key=value`` overrides (value parsed as YAML) apply before validation.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

import distributions
import models
from metrics.verdicts import Thresholds

SECTIONS = ("data", "model", "train")
DATA_KEYS = {"family": "distribution family (distributions.families())",
             "n_train": "size of a fixed training set; null streams fresh samples every step"}
# name: (default, meaning, check)
TRAIN_KEYS: dict[str, tuple[Any, str, str]] = {
    "steps": (2000, "training steps (one batch of data each); a GAN updates its generator every d_steps of them",
              "int>=1"),
    "seed": (0, "seed of weights, data stream and evaluation noise", "int>=0"),
    "eval_every": (250, "steps between evaluations (verdict history, sample plots)", "int>=1"),
    "eval_samples": (2500, "generated samples per evaluation and for the final metrics", "int>=10"),
    "final_real": (2500, "real samples the final sample-based metrics compare against", "int>=10"),
    "accelerator": ("auto", "Lightning accelerator: auto, cpu or gpu", "choice:auto,cpu,gpu,cuda,mps"),
    "plots": (True, "save a PNG of generated against real samples at every evaluation", "bool"),
    "tensorboard": (True, "log scalars to TensorBoard", "bool"),
    "threads": (1, "torch threads of the process that trains this run (recorded; a record depends only on its "
                "config, seed and these execution settings, not on how many workers a sweep has)", "int>=1"),
    "verdict": ({}, "verdict thresholds (metrics.verdicts.Thresholds): held, misweight_js, blur, gap, diverged, "
                "low_modes, min_hops; keys left out keep their defaults", "verdict"),
    "steps_per_batch": (None, "training steps per Lightning batch (speed only: results are identical); "
                        "must divide eval_every; null = the largest divisor of eval_every up to 10", "auto|int>=1"),
}
AUTO_STEPS_PER_BATCH = 10      # spreads Lightning's ~0.4 ms per batch over 10 small steps (README: speed)


def read_yaml(path: str | Path, what: str = "config") -> dict:
    """A YAML file that must hold a mapping; one-line ValueError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} file {str(path)!r} does not exist")
    with open(path) as f:
        raw = yaml.safe_load(f) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{what} {str(path)!r}: expected a mapping of keys")
    return raw


def load(path: str | Path, overrides: Sequence[str] = ()) -> dict:
    """Read a YAML config, apply ``key.path=value`` overrides, and validate it."""
    return validate(apply_overrides(read_yaml(path), overrides))


def apply_overrides(config: Mapping, overrides: Sequence[str]) -> dict:
    out = copy.deepcopy(dict(config))
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ValueError(f"--set {item!r} is not allowed; expected SECTION.KEY=VALUE, e.g. train.steps=500")
        if parts[0] not in SECTIONS:
            raise ValueError(f"--set {item!r}: unknown section {parts[0]!r}; allowed: {', '.join(SECTIONS)}")
        out.setdefault(parts[0], {})
        out[parts[0]] = dict(out[parts[0]] or {})
        out[parts[0]][parts[1]] = yaml.safe_load(text)
    return out


def _check_train(key: str, value: Any, rule: str) -> Any:
    def fail(allowed: str):
        return ValueError(f"train: key {key}={value!r} is not allowed; expected {allowed}")
    if rule == "verdict":
        if not isinstance(value, Mapping):
            raise fail("a mapping of verdict thresholds, e.g. {blur: 0.2}")
        allowed = [f.name for f in fields(Thresholds)]
        bad = sorted(set(value) - set(allowed))
        if bad:
            raise ValueError(f"train: verdict key {bad[0]!r} is not allowed; expected one of {', '.join(allowed)}")
        return asdict(Thresholds(**value))                 # one line naming a value out of range
    if rule.startswith("auto|"):
        return None if value is None else _check_train(key, value, rule[5:])
    if rule == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
    elif rule.startswith("int>="):
        low = int(rule[5:])
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise fail(f"an integer >= {low}")
    elif rule.startswith("choice:"):
        allowed = rule[7:].split(",")
        if value not in allowed:
            raise fail("one of " + ", ".join(allowed))
    return value


def validate(config: Mapping) -> dict:
    """Return the config with every default filled in, or raise one ``ValueError`` line naming
    the section, the key, the value and what is allowed."""
    unknown = sorted(set(config) - set(SECTIONS))
    if unknown:
        raise ValueError(f"config: unknown section {unknown[0]!r}; allowed: {', '.join(SECTIONS)}")
    data = dict(config.get("data") or {})
    family = data.pop("family", None)
    if family not in distributions.families():
        raise ValueError(f"data: key family={family!r} is not allowed; expected one of "
                         f"{', '.join(sorted(distributions.families()))}")
    n_train = data.pop("n_train", None)
    if n_train is not None and (isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < 1):
        raise ValueError(f"data: key n_train={n_train!r} is not allowed; expected null or an integer >= 1")
    dist = distributions.make(family, **data)              # validates every knob
    model = models.validate_config(dict(config.get("model") or {"model": "gan"}))
    models.check_shape(model, dist.event_shape)             # e.g. a conv model on vector data
    train = dict(config.get("train") or {})
    bad = sorted(set(train) - set(TRAIN_KEYS))
    if bad:
        raise ValueError(f"train: unknown key {bad[0]!r}; allowed: {', '.join(TRAIN_KEYS)}")
    train = {k: _check_train(k, train.get(k, default), rule) for k, (default, _, rule) in TRAIN_KEYS.items()}
    every, k = train["eval_every"], train["steps_per_batch"]
    if k is None:
        train["steps_per_batch"] = max(d for d in range(1, AUTO_STEPS_PER_BATCH + 1) if every % d == 0)
    elif every % k:
        raise ValueError(f"train: key steps_per_batch={k!r} is not allowed; expected null or a divisor of "
                         f"eval_every={every}")
    return {"data": {"family": family, "n_train": n_train, **dist.params}, "model": model, "train": train}


def make_distribution(config: Mapping) -> distributions.Distribution:
    data = {k: v for k, v in config["data"].items() if k not in DATA_KEYS}
    return distributions.make(config["data"]["family"], **data)
