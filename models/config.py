"""Model configs are plain dicts checked against a table of :class:`Key` specs.

Every problem raises one ``ValueError`` line that names the key, the value and what is allowed,
so a sweep can be validated before its first trial. ``None`` as a default means "not set": the
key applies only to some settings of another key (see each model's ``check``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Mapping


@dataclass(frozen=True)
class Key:
    """One config key: ``kind`` is "int", "float", "bool" or "choice"."""

    default: Any
    meaning: str
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(repr, self.choices))
        if self.kind == "bool":
            return "True or False"
        parts = [f"{'>' if self.low_open else '>='} {self.low:g}"] if self.low is not None else []
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return ("an integer" if self.kind == "int" else "a number") + (" " + " and ".join(parts) if parts else "")

    def check(self, model: str, name: str, value: Any) -> Any:
        """``value`` converted to the key's type, or ``ValueError``."""
        if value is None and self.default is None:
            return None
        bad = ValueError(f"{model} config: key {name}={value!r} is not allowed; expected {self.allowed()}")
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise bad
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if isinstance(value, bool) or not isinstance(value, Real):
            raise bad
        if self.kind == "int":
            if not (isinstance(value, Integral) or float(value).is_integer()):
                raise bad
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise bad
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise bad
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise bad
        return value


def resolve(model: str, keys: dict[str, Key], config: Mapping[str, Any]) -> dict[str, Any]:
    """Unknown keys, types and ranges; returns every key with defaults filled in."""
    if not isinstance(config, Mapping):
        raise ValueError(f"{model} config: expected a dict of keys, got {type(config).__name__}")
    unknown = [k for k in config if k not in keys]
    if unknown:
        raise ValueError(f"{model} config: unknown key {unknown[0]}={config[unknown[0]]!r}; "
                         f"allowed keys: {', '.join(keys)}")
    return {name: key.check(model, name, config.get(name, key.default)) for name, key in keys.items()}


def inconsistent(model: str, name: str, value: Any, why: str) -> ValueError:
    """Error for a value that is allowed on its own but not together with the other keys."""
    return ValueError(f"{model} config: key {name}={value!r} is not allowed: {why}")


def describe(keys: dict[str, Key]) -> dict[str, dict]:
    """The keys as plain data: default, allowed values, meaning."""
    return {n: {"default": k.default, "allowed": k.allowed(), "meaning": k.meaning} for n, k in keys.items()}


def adam_keys() -> dict[str, Key]:
    """The keys of a model trained by one Adam (VAE, flow, diffusion), declared once: lr, its
    betas, the batch size, the divergence check interval and the NaN test hook."""
    return {
        "lr": Key(1e-3, "Adam learning rate", low=0, low_open=True),
        "beta1": Key(0.9, "Adam beta1", low=0, high=1, high_open=True),
        "beta2": Key(0.999, "Adam beta2", low=0, high=1, high_open=True),
        "batch_size": Key(256, "samples per batch (the DataModule's batch_size)", "int", low=1),
        "check_every": Key(50, "steps between divergence checks and loss logging (one sync each)", "int", low=1),
        "debug_nan_at_step": Key(None, "test hook: make the loss NaN at this step", "int", low=0),
    }
