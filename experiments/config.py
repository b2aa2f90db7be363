"""Run configs: YAML with three sections, validated whole before any work starts.

    data:  {family: mixture, n_train: null, <the family's knobs>...}
    model: {model: gan, loss: non_saturating, batch_size: 256, ...}   # see models.keys(model)
    train: {steps: 2000, seed: 0, eval_every: 250, ...}               # see TRAIN_KEYS

``--set section.key=value`` overrides (value parsed as YAML) apply before validation.
"""
from __future__ import annotations

import copy
import functools
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import distributions
import models
from distributions.knobs import check_fits
from metrics.verdicts import Thresholds

from .yamlio import SECTIONS, StrictLoader, parse_yaml, read_yaml, section  # noqa: F401 (the config's YAML)

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
        out[parts[0]] = dict(section(out, parts[0]))
        out[parts[0]][parts[1]] = parse_yaml(text, f"--set {item!r}")
    return out


def _check_train(key: str, value: Any, rule: str) -> Any:
    def fail(allowed: str):
        return ValueError(f"train: key {key}={value!r} is not allowed; expected {allowed}")
    if rule == "verdict":
        if not isinstance(value, Mapping):
            raise fail("a mapping of verdict thresholds, e.g. {blur: 0.2}")
        allowed = [f.name for f in fields(Thresholds)]
        bad = sorted(set(value) - set(allowed), key=str)
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


@functools.lru_cache(maxsize=256)
def _checked_data(family: str, knobs) -> tuple[tuple[int, ...], dict]:
    """(event shape, knobs with defaults) of a family's knobs given as JSON: the distribution is
    built once to validate them (a sweep's trials share a few data configs; building a curve
    family takes tens of ms)."""
    dist = distributions.make(family, **(json.loads(knobs) if isinstance(knobs, str) else knobs))  # every knob
    return tuple(dist.event_shape), dist.params


def validate(config: Mapping) -> dict:
    """Return the config with every default filled in, or raise one ``ValueError`` line naming
    the section, the key, the value and what is allowed."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config: {config!r} is not allowed; expected a mapping of sections {', '.join(SECTIONS)}")
    unknown = sorted(set(config) - set(SECTIONS), key=str)
    if unknown:
        raise ValueError(f"config: unknown section {unknown[0]!r}; allowed: {', '.join(SECTIONS)}")
    data = dict(section(config, "data"))
    family = data.pop("family", None)
    if not isinstance(family, str) or family not in distributions.families():
        raise ValueError(f"data: key family={family!r} is not allowed; expected one of "
                         f"{', '.join(sorted(distributions.families()))}")
    n_train = data.pop("n_train", None)
    if n_train is not None and (isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < 1):
        raise ValueError(f"data: key n_train={n_train!r} is not allowed; expected null or an integer >= 1")
    try:
        knobs = json.dumps(data, sort_keys=True)
    except (TypeError, ValueError):                         # not plain data (e.g. numpy values): no cache
        knobs = None
    if not distributions.families()[family].cls.cacheable:     # e.g. a user's file: read (and resolved) anew
        knobs = None
    event_shape, params = _checked_data(family, knobs) if knobs else _checked_data.__wrapped__(family, data)
    model = models.validate_config(dict(section(config, "model") or {"model": "gan"}))
    models.check_shape(model, event_shape)             # e.g. a conv model on vector data
    train = dict(section(config, "train"))
    bad = sorted(set(train) - set(TRAIN_KEYS), key=str)
    if bad:
        raise ValueError(f"train: unknown key {bad[0]!r}; allowed: {', '.join(TRAIN_KEYS)}")
    train = {k: _check_train(k, train.get(k, default), rule) for k, (default, _, rule) in TRAIN_KEYS.items()}
    every, k = train["eval_every"], train["steps_per_batch"]
    if k is None:
        train["steps_per_batch"] = max(d for d in range(1, AUTO_STEPS_PER_BATCH + 1) if every % d == 0)
    elif every % k:
        raise ValueError(f"train: key steps_per_batch={k!r} is not allowed; expected null or a divisor of "
                         f"eval_every={every}")
    for where, key, n in (("data", "n_train", n_train), ("model", "batch_size", model["batch_size"]),
                          ("train", "eval_samples", train["eval_samples"]), ("train", "final_real", train["final_real"])):
        if n is not None:                                  # refuse sizes that cannot fit before any work
            check_fits(where, f"key {key}", n, event_shape)
    return {"data": {"family": family, "n_train": n_train, **copy.deepcopy(params)}, "model": model, "train": train}


def make_distribution(config: Mapping) -> distributions.Distribution:
    data = {k: v for k, v in config["data"].items() if k not in DATA_KEYS}
    return distributions.make(config["data"]["family"], **data)
