"""Collapse over training: an evaluation history -> collapsed?, onset step, mode hopping.

A history is a list of dicts in step order, as ``experiments.evaluation.EvaluationCallback``
keeps them: {"step": int, "coverage": float, ...} and, for families with modes,
"captured": [indices of the captured modes] and "n_modes": int.

    collapsed      the last evaluation has coverage < coverage_threshold
    onset_step     step of the first evaluation of the final run of evaluations below the
                   threshold (after it, coverage stays below); None when not collapsed
    ever_covered   some evaluation reached the threshold: False means the run never learned the
                   support rather than losing it
    peak_coverage, peak_step   the best evaluation
    mode_hopping   some consecutive pair of evaluations, both capturing between 1 and
                   ``low_modes`` modes (default: half of n_modes), loses a mode and gains another
                   (the captured set changes while its size stays low); None without modes
    n_hops, hop_steps          how many such pairs, and the later step of each
    modes_visited  sorted union of the captured sets over those low evaluations
    final          the last evaluation, as stored
"""
from __future__ import annotations

import math

from . import checks


def collapse_summary(history: list[dict], *, coverage_threshold: float = 0.5,
                     low_modes: int | None = None) -> dict:
    """Summarise an evaluation history (see module docstring); the result is plain JSON data."""
    if not isinstance(history, (list, tuple)) or not history:
        raise ValueError(f"history={history!r} is not allowed; expected a non-empty list of "
                         "{'step': int, 'coverage': float, ...} dicts")
    for i, h in enumerate(history):
        if not isinstance(h, dict) or "step" not in h or "coverage" not in h:
            raise ValueError(f"history[{i}]={h!r} is not allowed; expected a dict with 'step' and 'coverage'")
        if not math.isfinite(h["coverage"]):
            raise ValueError(f"history[{i}]['coverage']={h['coverage']!r} is not allowed; expected a finite number")
    steps = [h["step"] for h in history]
    if steps != sorted(steps):
        raise ValueError(f"history steps {steps} are not allowed; expected increasing steps")
    checks.positive("coverage_threshold", coverage_threshold)

    cov = [float(h["coverage"]) for h in history]
    below = [c < coverage_threshold for c in cov]
    collapsed = below[-1]
    onset = None
    if collapsed:
        i = len(below) - 1
        while i > 0 and below[i - 1]:
            i -= 1
        onset = steps[i]
    peak = max(range(len(cov)), key=cov.__getitem__)
    out = {
        "collapsed": collapsed,
        "onset_step": onset,
        "ever_covered": not all(below),
        "peak_coverage": cov[peak],
        "peak_step": steps[peak],
        "coverage_threshold": float(coverage_threshold),
        "mode_hopping": None, "n_hops": None, "hop_steps": None, "modes_visited": None,
        "final": dict(history[-1]),
    }
    if all("captured" in h for h in history):
        out.update(_hopping(history, low_modes))
    return out


def _hopping(history: list[dict], low_modes: int | None) -> dict:
    if low_modes is None:
        n_modes = history[-1].get("n_modes")
        if n_modes is None:
            raise ValueError("low_modes=None is not allowed when history entries have no 'n_modes'; "
                             "pass low_modes (an integer >= 1)")
        low_modes = max(1, n_modes // 2)
    checks.integer("low_modes", low_modes, low=1)
    sets = [frozenset(h["captured"]) for h in history]
    low = [1 <= len(s) <= low_modes for s in sets]
    hops = [history[i]["step"] for i in range(1, len(sets))
            if low[i - 1] and low[i] and sets[i - 1] - sets[i] and sets[i] - sets[i - 1]]
    visited = sorted(set().union(*[s for s, lo in zip(sets, low) if lo]))
    return {"mode_hopping": bool(hops), "n_hops": len(hops), "hop_steps": hops,
            "modes_visited": [int(v) for v in visited], "low_modes": low_modes}
