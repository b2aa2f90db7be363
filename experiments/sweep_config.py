"""Sweep configs: a run config plus the axes to sweep, laid out as a fixed list of trials.

    study: ring_modes            # optional, default: the file's name
    data:  {family: mixture, layout: ring, std: 0.05}
    model: {model: gan, loss: non_saturating}       # or models: {gan: {...}, vae: {...}}
    train: {steps: 1000, eval_every: 250}
    grid:                        # SECTION.KEY -> list, or {low, high, num[, log]} (ints stay ints)
      data.n_modes: [4, 8, 16]
      data.radius: {low: 0.5, high: 2.0, num: 4}
      model.d_steps: [1, 5]      # a hyper-parameter can be an axis too
    seeds: 3                     # seeds 0, 1, 2 (or a list)
    search:                      # optional: the same hyper-parameter draws in every cell
      budget: 4                  # draws per cell
      seed: 0
      design: sobol              # or lhs: see _draws
      space:
        model.lr_g: {low: 1.0e-4, high: 1.0e-2, log: true}
        model.batch_size: [64, 256]
        vae: {model.lr: {low: 1.0e-4, high: 1.0e-2, log: true}}   # for one named model only
    objective: {metric: modes_captured, direction: maximize}
    ensemble: 32                 # optional: train up to 32 compatible GAN trials as one batched
                                 # batched module (experiments.train.run_group); default 1 = one at a time

Trials = named models x grid points x draws x seeds; each is a complete run config with a
readable ``key``, validated before any trial starts.
"""
from __future__ import annotations

import copy
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from .yamlio import SECTIONS, read_yaml, section

MAX_TRIALS = 100_000         # a sweep's trials are laid out and validated up front
TOP_KEYS = {                  # key: meaning (learnlab keys sweep)
    "study": "the study's name (letters, digits, '.', '_', '-'); default: the file's name",
    "data": "the data section of the run config (family and knobs; learnlab show --list)",
    "model": "one model's section (learnlab keys gan|vae|flow|diffusion); or give models",
    "models": "named model sections, name -> section, each a facet of the results",
    "train": "the train section (learnlab keys train)",
    "grid": "SECTION.KEY -> list, or {low, high, num[, log]}: the axes of the grid (knobs or hyper-parameters)",
    "seeds": "an integer n (seeds 0..n-1) or a list of distinct seeds; default 1",
    "search": "{budget, seed, design, space}: hyper-parameter draws, the same in every cell; space per model name or common",
    "objective": "{metric, direction}: the metric Optuna records (learnlab metrics --list)",
    "ensemble": "trials trained together as one batched module (1 = one at a time); default 1",
    "tuned_on": "the tuning study whose winning draws (learnlab results STUDY --tuned) this config fixes; recorded",
}


@dataclass(frozen=True)
class TrialSpec:
    key: str                     # unique, readable: model / grid point / draw / seed
    variant: str                 # name of the model entry
    point: dict                  # grid axis -> value
    draw: int                    # index of the hyper-parameter draw (0 without search)
    hparams: dict                # searched key -> value
    seed: int
    config: dict                 # the resolved run config


@dataclass(frozen=True)
class Sweep:
    study: str
    metric: str
    direction: str
    axes: dict                   # axis -> list of values
    trials: list[TrialSpec]
    raw: dict                    # the config as read (stored with the study)
    space: dict = None           # Optuna parameter name -> distribution (what the dashboard shows)
    ensemble: int = 1            # trials a worker may train as one batched ensemble


def _err(where: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"sweep: {where}={value!r} is not allowed; expected {allowed}")


def _axis_values(name: str, spec: Any) -> list:
    if isinstance(spec, list):
        if not spec:
            raise _err(f"grid.{name}", spec, "a non-empty list or {low, high, num[, log]}")
        if len({json.dumps(v, sort_keys=True, default=repr) for v in spec}) < len(spec):
            raise _err(f"grid.{name}", spec, "distinct values (a repeated value is the same trials twice)")
        return spec
    if isinstance(spec, Mapping) and {"low", "high", "num"} <= set(spec) <= {"low", "high", "num", "log"}:
        low, high, num, log = spec["low"], spec["high"], spec["num"], spec.get("log", False)
        if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_TRIALS:
            raise _err(f"grid.{name}.num", num, f"an integer >= 1 and <= {MAX_TRIALS}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or high < low:
            raise _err(f"grid.{name}", dict(spec), "numbers with low <= high")
        if log and low <= 0:
            raise _err(f"grid.{name}.low", low, "> 0 on a log axis")
        vals = np.geomspace(low, high, num) if log else np.linspace(low, high, num)
        if isinstance(low, int) and isinstance(high, int) and not log:
            ints = sorted(set(int(round(v)) for v in vals))
            return ints
        return [float(v) for v in vals]
    raise _err(f"grid.{name}", spec, "a non-empty list or {low, high, num[, log]}")


STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_study(study: Any, field: str = "study") -> str:
    """A study name is also a folder name (lightning_logs/<study>): refuse anything else."""
    if not isinstance(study, str) or not STUDY_NAME.fullmatch(study):
        raise _err(field, study, "a name of letters, digits, '.', '_' and '-' that starts with a letter "
                   "or digit, e.g. ring_modes")
    return study


def _check_path(where: str, path: Any) -> tuple[str, str]:
    if not isinstance(path, str):
        raise _err(where, path, "SECTION.KEY, e.g. data.n_modes")
    if path == "train.seed":
        raise ValueError(f"sweep: {where} is not allowed; expected the seeds in seeds: N or seeds: [0, 1, ...] "
                         "(every trial's train.seed is set from them)")
    parts = path.split(".")
    if len(parts) != 2 or parts[0] not in SECTIONS or not parts[1]:
        raise _err(where, path, f"SECTION.KEY with SECTION in {', '.join(SECTIONS)}")
    if parts[1] in ("family", "model"):
        raise _err(where, path, "a knob or hyper-parameter (family and model kind are fixed per named model)")
    return parts[0], parts[1]


def _set(config: dict, path: str, value: Any) -> None:
    section, key = path.split(".")
    config.setdefault(section, {})[key] = value


DESIGNS = ("sobol", "lhs")


def _draws(space: Mapping[str, Any], budget: int, seed: int, design: str = "sobol") -> list[dict]:
    """``budget`` points of the search space (knobs in name order), seeded: ``sobol``, a scrambled
    Sobol sequence (the default, which every committed study used), or ``lhs``, a Latin hypercube
    whose centred discrepancy is lowered by random coordinate swaps (scipy's "random-cd"). Use lhs
    for six or more knobs: over the first 16 Sobol points the 1st and 6th coordinates share their
    leading bit for every scramble seed, so a list knob first in name order and one sixth move
    together (a rank correlation of 0.90 in the design of a 16-draw cross study)."""
    if not space:
        return [{}] * budget
    from scipy.stats import qmc
    names = sorted(space)
    if budget == 1:
        u = np.random.default_rng(seed).random((1, len(names)))
    elif design == "lhs":
        u = qmc.LatinHypercube(d=len(names), optimization="random-cd", seed=seed).random(budget)
    else:
        u = qmc.Sobol(d=len(names), scramble=True, seed=seed).random(budget)
    out = []
    for row in u:
        point = {}
        for name, x in zip(names, row):
            spec = space[name]
            if isinstance(spec, list):
                point[name] = spec[min(int(x * len(spec)), len(spec) - 1)]
            else:
                lo, hi, log = spec["low"], spec["high"], spec.get("log", False)
                v = math.exp(math.log(lo) + x * (math.log(hi) - math.log(lo))) if log else lo + x * (hi - lo)
                point[name] = int(round(v)) if isinstance(lo, int) and isinstance(hi, int) else float(v)
        out.append(point)
    return out


def _check_space(where: str, space: Mapping) -> None:
    for path, spec in space.items():
        _check_path(f"{where}.{path}", path)
        ok = (isinstance(spec, list) and spec) or (
            isinstance(spec, Mapping) and {"low", "high"} <= set(spec) <= {"low", "high", "log"}
            and all(isinstance(spec[k], (int, float)) and not isinstance(spec[k], bool) for k in ("low", "high"))
            and spec["low"] <= spec["high"] and not (spec.get("log") and spec["low"] <= 0))
        if not ok:
            raise _err(f"{where}.{path}", spec, "a non-empty list or {low, high[, log]} with 0 < low <= high on a log scale")


def key_name(key: str) -> str:
    """A sweep key ('{"data.n_modes": 8, "draw": 0, "model": "gan", "seed": 1}') as a run name:
    'gan n_modes=8 draw=0 seed=1'."""
    try:
        k = json.loads(key)
    except ValueError:                        # not a sweep's key: shown as it is
        return str(key)
    if not isinstance(k, dict):
        return str(key)
    parts = [str(k.pop("model", ""))] + [f"{name.split('.')[-1]}={v}" for name, v in k.items()]
    return " ".join(p for p in parts if p)


def _validate(cfg: dict) -> dict:
    from .config import validate          # imported here: it loads torch, which listing a layout does not need
    return validate(cfg)


def load_sweep(path: str | Path, study: str | None = None) -> Sweep:
    """``study`` None: the config's study, else the file's name; an empty name is refused."""
    raw = read_yaml(path, "sweep config")
    return build_sweep(raw, raw.get("study", Path(path).stem) if study is None else study)


def outline(path: str | Path) -> tuple[str, int, dict]:
    """(study, number of trials, the config as a study stores it) of a sweep config file, its
    top-level keys checked but no trial laid out: what listing sweeps needs, in milliseconds."""
    raw = read_yaml(path, "sweep config")
    study = raw.get("study", Path(path).stem)
    return study, build_sweep(raw, study, check=False, count_only=True), json.loads(json.dumps(raw, default=str))


def _covering(name: str, seen, spec):
    """The Optuna distribution recorded for a searched name: ``spec``'s, widened to cover ``seen``
    (another model kind's range under the same name, e.g. model.lr of a VAE and of a flow), so
    every kind's drawn values lie inside it."""
    if seen is not None and isinstance(seen, CategoricalDistribution) != isinstance(spec, list):
        raise ValueError(f"sweep: search.space: {name} is a list of values for one model kind and a range for "
                         "another, which is not allowed; expected one kind of space per name")
    if isinstance(spec, list):
        return CategoricalDistribution(list(dict.fromkeys([*(seen.choices if seen else ()), *spec])))
    low, high, log = spec["low"], spec["high"], bool(spec.get("log"))
    if seen is not None:
        low, high, log = min(low, seen.low), max(high, seen.high), log and seen.log
    kind = IntDistribution if isinstance(low, int) and isinstance(high, int) else FloatDistribution
    return kind(low, high, log=log)


def build_sweep(raw: Mapping[str, Any], study: str, check: bool = True, count_only: bool = False) -> Sweep:
    """Lay out and validate every trial of a sweep config; raises one ValueError line. With
    ``check`` False the trials' run configs are left unresolved and unvalidated (only the layout:
    study, keys, axes); with ``count_only`` the number of trials is returned instead (``outline``)."""
    unknown = sorted(set(raw) - set(TOP_KEYS), key=str)
    if unknown:
        raise ValueError(f"sweep: unknown key {unknown[0]!r}; allowed: {', '.join(TOP_KEYS)}")
    check_study(study)
    for name in ("data", "model", "models", "train", "grid", "search", "objective"):
        section(raw, name, "sweep")
    if "model" in raw and "models" in raw:
        raise ValueError("sweep: give either model (one) or models (named), not both")
    variants = raw.get("models") or {"default": raw.get("model") or {"model": "gan"}}
    if not isinstance(variants, Mapping) or not all(isinstance(v, Mapping) for v in variants.values()):
        raise _err("models", variants, "a mapping name -> model config")

    grid = raw.get("grid") or {}
    if not isinstance(grid, Mapping):
        raise _err("grid", grid, "a mapping SECTION.KEY -> values")
    for name in grid:
        _check_path(f"grid.{name}", name)
    axes = {name: _axis_values(name, spec) for name, spec in grid.items()}

    seeds = raw.get("seeds", 1)
    if isinstance(seeds, int) and not isinstance(seeds, bool) and 1 <= seeds <= MAX_TRIALS:
        seeds = list(range(seeds))
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
            and len(set(seeds)) == len(seeds)):
        raise _err("seeds", raw.get("seeds"), f"an integer >= 1 and <= {MAX_TRIALS} or a list of distinct integers >= 0")

    search = dict(section(raw, "search", "sweep"))
    bad = sorted(set(search) - {"budget", "seed", "design", "space"}, key=str)
    if bad:
        raise ValueError(f"sweep: unknown key search.{bad[0]}; allowed: budget, seed, design, space")
    design = search.get("design", "sobol")
    if design not in DESIGNS:
        raise _err("search.design", design, f"one of {', '.join(DESIGNS)}")
    budget, draw_seed = search.get("budget", 1), search.get("seed", 0)
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= MAX_TRIALS:
        raise _err("search.budget", budget, f"an integer >= 1 and <= {MAX_TRIALS}")
    if isinstance(draw_seed, bool) or not isinstance(draw_seed, int) or draw_seed < 0:
        raise _err("search.seed", draw_seed, "an integer >= 0")
    space = dict(section(search, "space", "sweep: search"))
    common = {k: v for k, v in space.items() if k not in variants}
    _check_space("search.space", common)
    per_variant = {}
    for name in variants:
        own = section(space, name, "sweep: search.space")
        _check_space(f"search.space.{name}", own)
        per_variant[name] = {**common, **own}
    overlap = sorted(set(axes) & set(common))
    if overlap:
        raise ValueError(f"sweep: {overlap[0]} is both a grid axis and searched; pick one")

    if "tuned_on" in raw:
        check_study(raw["tuned_on"], "tuned_on")
    ensemble = raw.get("ensemble", 1)
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise _err("ensemble", ensemble, "an integer >= 1 (trials per batched ensemble; 1 = one at a time)")

    objective = dict(raw.get("objective") or {})
    metric, direction = objective.get("metric"), objective.get("direction", "maximize")
    if not isinstance(metric, str) or not metric:
        raise _err("objective.metric", metric, "the name of a metric (e.g. modes_captured, coverage)")
    if direction not in ("maximize", "minimize"):
        raise _err("objective.direction", direction, "'maximize' or 'minimize'")

    count = len(variants) * math.prod(len(v) for v in axes.values()) * budget * len(seeds)
    if count > MAX_TRIALS:
        raise ValueError(f"sweep: {count} trials (models x grid points x search.budget x seeds) are not allowed; "
                         f"expected at most {MAX_TRIALS}")
    if count_only:
        return count
    base = {s: copy.deepcopy(dict(raw.get(s) or {})) for s in ("data", "train")}
    trials: list[TrialSpec] = []
    points = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    for vname, vconf in variants.items():
        draws = _draws(per_variant[vname], budget, draw_seed, design)
        for point in points:
            for d, hp in enumerate(draws):
                for seed in seeds:
                    cfg = {**copy.deepcopy(base), "model": copy.deepcopy(dict(vconf))}
                    for k, v in {**point, **hp}.items():
                        _set(cfg, k, v)
                    _set(cfg, "train.seed", seed)
                    key = json.dumps({"model": vname, **point, "draw": d, "seed": seed}, sort_keys=True)
                    try:
                        resolved = _validate(cfg) if check else cfg
                    except ValueError as err:
                        where = ", ".join(f"{k}={v!r}" for k, v in {"model": vname, **point, **hp}.items())
                        raise ValueError(f"sweep trial ({where}): {err}") from None
                    trials.append(TrialSpec(key, vname, point, d, hp, seed, resolved))
    if not trials:
        raise ValueError("sweep: the grid is empty")
    space = {"model": CategoricalDistribution(list(variants)), "seed": CategoricalDistribution(seeds),
             **{name: CategoricalDistribution(values) for name, values in axes.items()}}
    for own in per_variant.values():
        for name, spec in own.items():
            space[name] = _covering(name, space.get(name), spec)
    return Sweep(study, metric, direction, axes, trials, json.loads(json.dumps(raw, default=str)), space, ensemble)
