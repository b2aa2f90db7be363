"""The interface every family implements, and the ``Modes`` record of discrete modes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from .knobs import Knob, validate


@dataclass(frozen=True)
class Modes:
    """Discrete modes of a family, in ambient coordinates.

    ``centres`` [K, D], ``weights`` [K] (sum to 1), ``scales`` [K] (each mode's std along its
    major axis) and ``whiten`` [K, D, D]: ``|| (x - centres[k]) @ whiten[k].T ||`` is the
    sigma-normalised (Mahalanobis) distance of x to mode k. Off the embedded subspace (ambient
    dimension above the intrinsic one) the distance is measured in units of the mode's smallest std.
    """

    centres: torch.Tensor
    weights: torch.Tensor
    scales: torch.Tensor
    whiten: torch.Tensor

    @property
    def n_modes(self) -> int:
        return int(self.centres.shape[0])

    def distances(self, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        """Sigma-normalised distance of every row of ``x`` [n, D] to every mode: [n, K]."""
        c = self.centres.to(x.device, x.dtype)
        w = self.whiten.to(x.device, x.dtype)
        out = []
        for part in x.split(chunk):
            diff = part[:, None, :] - c[None]                      # [n, K, D]
            z = torch.einsum("nkd,ked->nke", diff, w)              # whitened
            out.append(z.norm(dim=-1))
        return torch.cat(out) if out else x.new_zeros(0, self.n_modes)

    def assign(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest mode by sigma-normalised distance: (index [n], distance [n])."""
        d = self.distances(x)
        dist, idx = d.min(dim=1)
        return idx, dist


class Distribution:
    """A family member made from validated keyword-only knobs.

    Subclasses set ``family``, ``knobs`` and ``summary``, implement ``_setup`` (consistency
    checks and precomputation) and ``_sample_float64``; they may override ``log_prob``,
    ``support_distance`` and ``modes``. A capability a member lacks raises
    ``NotImplementedError`` with the reason, and is absent from ``capabilities``.
    """

    family: ClassVar[str]
    summary: ClassVar[str]
    knobs: ClassVar[dict[str, Knob]]
    cacheable: ClassVar[bool] = True     # False: a member depends on more than its knobs (files, the cwd)

    def __init__(self, **given: Any) -> None:
        resolved = validate(self.family, self.knobs, given)
        self.params = {k: v for k, v in resolved.items() if v is not None}
        self._setup(**resolved)

    # -- to implement -------------------------------------------------------------------------
    def _setup(self, **knobs: Any) -> None:
        raise NotImplementedError

    def _sample_float64(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    event_shape: tuple[int, ...]
    traits: dict[str, float]
    missing: dict[str, str]   # capability -> why it is absent

    # -- public -------------------------------------------------------------------------------
    ground_truth: ClassVar[frozenset[str]] = frozenset()    # family-specific: components, triangle_factors, ...

    @property
    def capabilities(self) -> frozenset[str]:
        every = {"log_prob", "support_distance", "modes"}
        if type(self).gap_distance is not Distribution.gap_distance:     # only families that define gaps
            every.add("gap_distance")
        return frozenset(every - set(self.missing)) | self.ground_truth

    def _resolve_generator(self, n: int, generator: torch.Generator | None,
                           device: torch.device | str | None) -> tuple[torch.Generator, torch.device]:
        """Check ``n`` and return the generator (a fresh random one if None) and the device."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{self.family}: sample n={n!r} is not allowed; expected an integer >= 0")
        if generator is None:
            generator = torch.Generator(device=device or "cpu")
            generator.seed()
        dev = generator.device if device is None else torch.device(device)
        if dev.type != generator.device.type:
            raise ValueError(f"{self.family}: sample device={dev} differs from the generator's "
                             f"device {generator.device}; create the generator on {dev}")
        return generator, dev

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` samples, float32 [n, *event_shape], on the generator's device (or ``device``)."""
        generator, dev = self._resolve_generator(n, generator, device)
        return self._sample_float64(n, generator, dev).to(torch.float32)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(self.missing.get("log_prob", "log_prob is not available"))

    def support_distance(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(self.missing.get("support_distance", "no support distance"))

    def gap_distance(self, x: torch.Tensor) -> torch.Tensor:
        """Distance (in ``support_distance``'s units) to the gaps between the support's components,
        ``inf`` outside every gap's corridor (see :func:`corridor`)."""
        raise NotImplementedError(self.missing.get("gap_distance", "no gaps between components"))

    @property
    def modes(self) -> Modes | None:
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"distributions.make({self.family!r}, {args})"


CORRIDOR = 0.25     # a gap's corridor half-width, as a share of the gap's length


def corridor(distance: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """``distance`` [..., G] to each of G gaps of ``length`` [G], kept within the gap's corridor
    (at most ``CORRIDOR`` x its length) and ``inf`` beyond; the nearest over gaps, [...].

    The gap region needs a width: without one, everything nearer a gap than the support is "in a
    gap", and the middle of a ring of four modes (nearer the chords joining neighbours than the
    modes) would read as a bridge."""
    inside = distance <= CORRIDOR * length
    return torch.where(inside, distance, torch.full_like(distance, float("inf"))).min(dim=-1).values


def geometric_weights(n: int, imbalance: float) -> torch.Tensor:
    """[n] float64 weights summing to 1 that fall geometrically in order: the first over the last
    is ``imbalance``."""
    w = imbalance ** (-torch.arange(n, dtype=torch.float64) / max(n - 1, 1))
    return w / w.sum()


def neighbour_links(centres: torch.Tensor, pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Segments (a [G, d], b [G, d]) joining each centre to its nearest neighbours (ties within 1%),
    each pair once; ``pair`` [K, K] holds the centres' distances with ``inf`` on the diagonal."""
    near = pair <= pair.min(dim=1, keepdim=True).values * 1.01
    i, j = torch.nonzero(near | near.T, as_tuple=True)
    keep = i < j
    return centres[i[keep]], centres[j[keep]]


def segment_distance(y: torch.Tensor, a: torch.Tensor, b: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Euclidean distance of every row of ``y`` [n, d] to each segment a[g] -- b[g] ([G, d]): [n, G]."""
    a, b = a.to(y.device, y.dtype), b.to(y.device, y.dtype)
    ab = b - a
    out = []
    for part in y.split(chunk):
        t = (((part[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1)).clamp(0, 1)
        out.append((part[:, None] - a - t[..., None] * ab).norm(dim=-1))
    return torch.cat(out) if out else y.new_zeros(0, len(a))


def project(x: torch.Tensor, embed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(coordinates [n, d] of ``x`` [n, D] in the subspace spanned by the orthonormal rows of
    ``embed`` [d, D], the norm [n] of what lies off it)."""
    E = embed.to(x.device, x.dtype)
    y = x @ E.T
    return y, (x - y @ E).norm(dim=1)


def random_isometry(dim: int, ambient_dim: int, seed: int) -> torch.Tensor:
    """Fixed embedding E [dim, ambient_dim] with orthonormal rows; identity when the dims agree."""
    if ambient_dim == dim:
        return torch.eye(dim, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(ambient_dim, dim, generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))        # unique QR: a fixed seed gives a fixed map
    return q.T.contiguous()
