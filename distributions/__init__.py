"""Synthetic distribution families with exact ground truth and knobs for every trait.

    import distributions
    dist = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)
    x = dist.sample(2500, generator=torch.Generator().manual_seed(0))
    distributions.families()   # name -> Family: each knob's type, allowed values and meaning

To add a family: subclass ``Distribution`` (see ``mixture.py``), declare its ``knobs``, and
``register`` it below.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import Distribution, Modes
from .boxes import Boxes
from .file import File
from .graphs import Graphs
from .knobs import Knob
from .manifold import Manifold
from .mixture import Mixture
from .torus import Torus
from .triangles import Triangles

__all__ = ["Distribution", "Family", "Knob", "Modes", "families", "make", "register"]


@dataclass(frozen=True)
class Family:
    name: str
    cls: type[Distribution]

    @property
    def summary(self) -> str:
        return self.cls.summary

    @property
    def knobs(self) -> dict[str, Knob]:
        return self.cls.knobs

    def describe(self) -> dict:
        return {"summary": self.summary, "knobs": {n: k.describe() for n, k in self.knobs.items()}}


_FAMILIES: dict[str, Family] = {}


def register(cls: type[Distribution]) -> type[Distribution]:
    """Add a family to the registry under ``cls.family``."""
    _FAMILIES[cls.family] = Family(cls.family, cls)
    return cls


def families() -> dict[str, Family]:
    """Every registered family by name."""
    return dict(_FAMILIES)


def make(name: str, **knobs) -> Distribution:
    """Build a member of family ``name``; every knob is validated before any work starts."""
    if name not in _FAMILIES:
        raise ValueError(f"unknown family {name!r}; allowed: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name].cls(**knobs)


register(Mixture)
register(Manifold)
register(Boxes)
register(Torus)
register(Triangles)
register(Graphs)
register(File)
