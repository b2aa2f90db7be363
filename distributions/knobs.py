"""Knob descriptions and their validation.

Every family declares its knobs as :class:`Knob` objects; :func:`validate` checks a keyword
dictionary against them before any work starts and raises a ``ValueError`` that names the knob,
the value and what is allowed.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Knob:
    """One keyword of a family.

    ``type`` is ``int``, ``float``, ``str`` or ``bool``. ``low``/``high`` bound numbers (inclusive
    unless ``low_open``/``high_open``); ``choices`` lists the allowed strings. A ``default`` of
    ``None`` means "not set": the family either derives it or the knob only applies to some
    settings of another knob (``applies`` says which, as documentation), unless ``required``.
    """

    name: str
    type: type
    default: Any
    meaning: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    applies: str | None = None
    required: bool = False

    def allowed(self) -> str:
        """Human-readable statement of the allowed values."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.type is bool:
            return "True or False"
        kind = "an integer" if self.type is int else "a number" if self.type is float else "a string"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return kind + (" " + " and ".join(parts) if parts else "")

    def describe(self) -> dict:
        """The knob as plain data (what ``distributions.families()`` shows)."""
        return {
            "type": self.type.__name__,
            "default": self.default,
            "allowed": self.allowed(),
            "meaning": self.meaning,
            **({"applies": self.applies} if self.applies else {}),
            **({"required": True} if self.required else {}),
        }

    def check(self, value: Any, family: str) -> Any:
        """Return ``value`` converted to the knob's type, or raise ``ValueError``."""
        def fail(why: str = "") -> ValueError:
            return ValueError(
                f"{family}: knob {self.name}={value!r} is not allowed{why}; expected {self.allowed()}"
            )

        if value is None:
            if self.default is None and not self.required:
                return None
            raise fail(" (it is required)" if self.required else "")
        if self.type is bool:
            if not isinstance(value, bool):
                raise fail()
            return value
        if self.type is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise fail()
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail()
        if self.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise fail()
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise fail()
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise fail()
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise fail()
        return value


def validate(family: str, knobs: dict[str, Knob], given: dict[str, Any]) -> dict[str, Any]:
    """Check ``given`` against ``knobs``: unknown names, types and ranges. Returns all knobs,
    defaults filled in (``None`` where a knob is unset)."""
    unknown = sorted(set(given) - set(knobs))
    if unknown:
        raise ValueError(
            f"{family}: unknown knob {unknown[0]}={given[unknown[0]]!r}; "
            f"allowed knobs: {', '.join(knobs)}"
        )
    return {name: k.check(given.get(name, k.default), family) for name, k in knobs.items()}


def inconsistent(family: str, name: str, value: Any, why: str) -> ValueError:
    """Error for a value that is in range but does not fit the other knobs."""
    return ValueError(f"{family}: knob {name}={value!r} is not allowed: {why}")


BYTES_PER_VALUE = 32    # one sample value: its float64 draw, the float32 copy and working space


def memory_limit() -> int:
    """Bytes that one set of samples may take: half of this machine's physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (AttributeError, ValueError, OSError):       # no sysconf (Windows): assume 16 GB
        return 8 << 30


def check_fits(where: str, name: str, n: int, event_shape: tuple[int, ...]) -> None:
    """Refuse ``n`` samples of ``event_shape`` that would not fit in :func:`memory_limit`, before
    any is drawn: one line naming ``name``, the value and the most that fits. Knob maxima bound
    what a family allocates when made; this bounds what its samples take."""
    per = BYTES_PER_VALUE * math.prod(event_shape)
    limit = memory_limit()
    if n * per > limit:
        raise ValueError(f"{where}: {name}={n!r} is not allowed; expected at most {limit // per} samples of shape "
                         f"{list(event_shape)} (about {n * per / 2**30:.3g} GiB asked, {limit / 2**30:.3g} GiB allowed: "
                         "half of this machine's memory)")
