"""How a run failed, from the ground truth: per evaluation and per run, each outcome with its onset.

Where each sample lies (:func:`placement`; ``s`` = ``dist.support_distance``, ``tol`` the support
tolerance of ``metrics.evaluate``, ``g`` = ``dist.gap_distance``, all in the same units):

    on support   s < tol (for a mixture: a high-quality sample, within the mode threshold)
    in a gap     s >= 2 tol and g < s - tol: beyond a blur shell of two tolerances, and nearer the
                 gaps than the tolerance band of the support. The gaps are what a connected support
                 would add: the removed pieces of a cut curve, straight connectors between fixed
                 components, the segments joining neighbouring modes of a mixture.
    blurred      off the support and not in a gap (around the pieces, or anywhere else)
    non-finite   a NaN / inf row (in no class above)

Beside the placement, an evaluation carries ``coverage``: PRDC coverage (k = 5) of a fixed real set
by the samples (``experiments.evaluation``; triangles: manifold recall), the share of the data
with a sample among its neighbours. Near 0.97 for a perfect generator; 0.5 is a line half
covered, or 2-D modes narrowed to 0.4 of their width (measured in tests/test_verdicts.py).

The four shares sum to 1. Each gap has a corridor, a quarter of its length either side
(``distributions.base.corridor``; g is inf beyond), so the middle of a ring of four modes, nearer
the chords than the modes but far from both, is blur, not a bridge. The shell keeps a blurred mode out of the gaps: an isotropic 3-std blur
of well separated modes puts under 5% of its samples there; between modes closer than about
4 tol (12 std in 2-D) there is no gap region at all and off-support mass counts as blur.

Components are the modes (mixtures) or the support's pieces (curves): a component is *held* when
it gets at least ``held`` x its true share of the on-support samples (0.5: 1/(2K) for K equal
modes). Per evaluation (:func:`judge`), with the thresholds of :class:`Thresholds`:

    diverged       non-finite share >= ``diverged``
    dropped_modes  some component is not held (``dropped``: which) while another is: a run with
                   nothing on the support has dropped no component in particular; it failed by
                   blur, bridges or divergence (so a triangles run of one piece is never "dropped")
    misweighted    held components, wrong weights: the Jensen-Shannon divergence (nats) between the
                   held components' on-support shares and their true weights, both renormalised
                   over the held set, >= ``misweight_js`` (0.01: about a 2 : 1 imbalance of halves)
    blurred        blurred share >= ``blur``
    bridged        share in the gaps >= ``gap``, and at least the blurred share: the off-support
                   mass lies mainly in the gaps (a model filling the disc inside a cut circle puts
                   some mass nearer the removed arcs too, but most of it elsewhere: blurred)
    collapsed      coverage < ``collapse`` (0.5): the samples cover under half of the data, though
                   they may sit on the support and reach every component (a line drawn as one
                   point, modes drawn as dots); an evaluation without coverage is not judged on it
    learned        none of the above

Per run (:func:`summarize`, from the evaluation history in step order): the final evaluation's
flags; ``hopping`` when the held set changes while small (at most ``low_modes`` x K held, before
and after; a change loses a held component and gains another) at least ``min_hops`` times -- each change is counted once, so the count does not
depend on how often the run was evaluated as long as every held set is seen; ``ever_learned``;
``never_learned`` (no evaluation was judged learned); ``outcome``, the first final flag of
diverged, dropped_modes, bridged, blurred, collapsed, misweighted, else learned (so a run that blurred from
its first evaluation to its last reads blurred, with never_learned beside it); and ``onset`` {flag: step}: the first evaluation of the
final unbroken run of evaluations with that flag, for runs that learned at some point (a run
that never learned has no onset: it did not lose what it never had). Everything is plain JSON.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

FLAGS = ("diverged", "dropped_modes", "misweighted", "blurred", "bridged", "collapsed")
OUTCOMES = ("diverged", "dropped_modes", "bridged", "blurred", "collapsed", "misweighted", "learned")


@dataclass(frozen=True)
class Thresholds:
    held: float = 0.5
    misweight_js: float = 0.01
    blur: float = 0.1
    gap: float = 0.1
    collapse: float = 0.5
    diverged: float = 0.5
    low_modes: float = 0.5
    min_hops: int = 2

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name == "min_hops":
                ok, allowed = isinstance(value, int) and not isinstance(value, bool) and value >= 1, "an integer >= 1"
            elif name == "misweight_js":
                ok, allowed = _number(value) and 0 < value <= math.log(2), "a number in (0, log 2]"
            else:
                ok, allowed = _number(value) and 0 < value <= 1, "a number in (0, 1]"
            if not ok:
                raise ValueError(f"verdict threshold {name}={value!r} is not allowed; expected {allowed}")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def components(dist):
    """(true weights [C], function x -> component index [n]) of a family with modes or pieces, or None."""
    if dist.modes is not None:
        return dist.modes.weights.double().cpu(), lambda x: dist.modes.assign(x)[0]
    if hasattr(dist, "component"):
        return dist.component_weights.double().cpu(), dist.component
    return None


@torch.no_grad()
def placement(dist, samples: torch.Tensor, tol: float) -> dict:
    """Shares of ``samples`` [n, D] on the support, blurred, in the gaps, non-finite, and the
    on-support samples' share per component (``component_mass``, when the family has components)."""
    n = samples.shape[0]
    finite = torch.isfinite(samples).all(dim=1)
    x = samples[finite].double()
    s = dist.support_distance(x)
    on = s < tol
    gap = torch.zeros_like(on)
    if "gap_distance" in dist.capabilities and len(x):
        gap = (s >= 2 * tol) & (dist.gap_distance(x) < s - tol)
    out = {"on_support": on.sum().item() / n, "gap_mass": gap.sum().item() / n,
           "blur_mass": (~on & ~gap).sum().item() / n, "nonfinite_fraction": 1 - len(x) / n}
    comp = components(dist)
    if comp is not None:
        weights, which = comp
        counts = torch.bincount(which(x[on]).cpu(), minlength=len(weights)).double() if on.any() else \
            torch.zeros(len(weights), dtype=torch.float64)
        out["component_mass"] = (counts / max(counts.sum().item(), 1.0)).tolist()
    return out


def judge(entry: dict, weights, th: Thresholds = Thresholds()) -> dict:
    """The flags of one evaluation from its placement (``placement``'s keys, and ``coverage`` where
    measured), with the components' true ``weights`` (None for a family without components)."""
    cov = entry.get("coverage")
    out = {"diverged": entry["nonfinite_fraction"] >= th.diverged,
           "blurred": entry["blur_mass"] >= th.blur,
           "bridged": entry["gap_mass"] >= th.gap and entry["gap_mass"] >= entry["blur_mass"],
           "collapsed": cov is not None and cov < th.collapse,
           "dropped_modes": False, "misweighted": False, "held": None, "dropped": None, "held_js": None}
    if weights is not None and "component_mass" in entry:
        w = torch.as_tensor(weights, dtype=torch.float64)
        p = torch.as_tensor(entry["component_mass"], dtype=torch.float64)
        held = (p >= th.held * w) & (p > 0)
        out["held"] = held.nonzero()[:, 0].tolist()
        out["dropped"] = (~held).nonzero()[:, 0].tolist()
        out["dropped_modes"] = bool(held.any() and (~held).any())
        if held.any():
            out["held_js"] = _js(p[held] / p[held].sum(), w[held] / w[held].sum())
            out["misweighted"] = out["held_js"] >= th.misweight_js
    out["learned"] = not any(out[f] for f in FLAGS)
    return out


def _js(p: torch.Tensor, q: torch.Tensor) -> float:
    m = (p + q) / 2
    kl = lambda a: float((a[a > 0] * (a[a > 0] / m[a > 0]).log()).sum())
    return max(0.0, (kl(p) + kl(q)) / 2)


def summarize(history: list[dict], n_components: int | None = None, th: Thresholds = Thresholds(), *,
              diverged_at: int | None = None) -> dict:
    """The run's verdict from its evaluations (each with ``step`` and ``judge``'s flags; see the
    module docstring); ``diverged_at``: the step a diverged run stopped (its outcome is diverged)."""
    if not isinstance(history, (list, tuple)):
        raise ValueError(f"history={history!r} is not allowed; expected a list of evaluations")
    steps = [h["step"] for h in history]
    if steps != sorted(steps):
        raise ValueError(f"history steps {steps} are not allowed; expected increasing steps")
    learned = [h["step"] for h in history if h["learned"]]
    last = history[-1] if history else None
    out = {f: bool(last[f]) if last else False for f in (*FLAGS, "learned")}
    out["diverged"] = out["diverged"] or diverged_at is not None
    out.update(ever_learned=bool(learned), never_learned=not learned, learned_step=learned[0] if learned else None,
               n_held=None if not last or last["held"] is None else len(last["held"]),
               dropped=None if not last else last["dropped"], blur_mass=last and last["blur_mass"],
               gap_mass=last and last["gap_mass"], held_js=last and last["held_js"])
    out["outcome"] = next((o for o in OUTCOMES if out[o]), "learned")
    onset = {}
    if learned:
        for flag in FLAGS:
            if out[flag]:
                i = len(history) - 1
                while i > 0 and history[i - 1][flag]:
                    i -= 1
                onset[flag] = steps[i]
        if diverged_at is not None:
            onset["diverged"] = diverged_at
    out["onset"] = onset
    out.update(_hopping(history, n_components, th))
    out["thresholds"] = asdict(th)
    return out


def _hopping(history: list[dict], n_components: int | None, th: Thresholds) -> dict:
    sets = [None if h.get("held") is None else frozenset(h["held"]) for h in history]
    if not n_components or any(s is None for s in sets):
        return {"hopping": None, "n_hops": None, "hop_steps": None}
    low = max(1, math.floor(th.low_modes * n_components))
    small = [1 <= len(s) <= low for s in sets]
    hops = [history[i]["step"] for i in range(1, len(sets))
            if small[i - 1] and small[i] and sets[i - 1] - sets[i] and sets[i] - sets[i - 1]]
    return {"hopping": len(hops) >= th.min_hops, "n_hops": len(hops), "hop_steps": hops}
