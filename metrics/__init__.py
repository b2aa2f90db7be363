"""Learnability metrics: samples (+ the distribution's ground truth) -> scores.

    from metrics import evaluate                  # evaluate(dist, samples) -> Evaluation {name: float}
    from metrics.modes import mode_stats          # PacGAN / VEEGAN mode statistics
    from metrics.manifold import prdc             # precision, recall, density, coverage
    from metrics.distances import mmd, energy_distance, sliced_wasserstein
    from metrics.c2st import c2st_accuracy        # classifier two-sample test
    from metrics.verdicts import summarize        # evaluation history -> outcome, onsets, hopping
    from metrics import registry                  # every metric declared once (learnlab metrics --list)

Metrics take tensors and ground truth, never modules; pairwise computations run in chunks on
the samples' device. ``experiments.evaluation.EvaluationCallback`` wires them into training.
"""
from .evaluate import Evaluation, evaluate

__all__ = ["Evaluation", "evaluate"]
