"""Argument checks shared by the metrics: each error names the argument, the value and what is allowed."""
from __future__ import annotations

import math

import torch


def points(name: str, x, *, min_rows: int = 1, finite: bool = True) -> torch.Tensor:
    """``x`` must be a floating tensor [n, D] with n >= ``min_rows`` (and finite values)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}={type(x).__name__} is not allowed; expected a torch.Tensor [n, D]")
    if x.dim() != 2:
        raise ValueError(f"{name} has shape {tuple(x.shape)}, which is not allowed; expected [n, D]")
    if not x.is_floating_point():
        raise ValueError(f"{name} has dtype {x.dtype}, which is not allowed; expected a floating dtype")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} has {x.shape[0]} rows, which is not allowed; expected at least {min_rows}")
    if x.shape[1] < 1:
        raise ValueError(f"{name} has shape {tuple(x.shape)}, which is not allowed; expected D >= 1")
    if finite and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise ValueError(f"{name} has {bad} rows with non-finite values, which is not allowed; "
                         "drop them first (metrics.evaluate does and reports nonfinite_fraction)")
    return x


def same_space(a_name: str, a: torch.Tensor, b_name: str, b: torch.Tensor) -> None:
    """Two point sets must share the dimension D and the device."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{b_name} has dimension D={b.shape[1]}, which is not allowed; "
                         f"expected the dimension of {a_name}, D={a.shape[1]}")
    if a.device != b.device:
        raise ValueError(f"{b_name} is on device {b.device}, which is not allowed; "
                         f"expected the device of {a_name}, {a.device}")


def integer(name: str, value, *, low: int, high: int | None = None, why: str = "") -> int:
    """An int (not bool) in [low, high]."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        allowed = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
        raise ValueError(f"{name}={value!r} is not allowed; expected {allowed}{why}")
    return value


def positive(name: str, value) -> float:
    """A finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} is not allowed; expected a finite number > 0")
    return float(value)
