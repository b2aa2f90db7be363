"""evaluate(): names, skipped reasons, JSON, determinism, ground-truth known answers, bad samples."""
import json
import math

import pytest
import torch

import distributions
from metrics import Evaluation, evaluate

SAMPLE_METRICS = {"precision", "recall", "density", "coverage", "mmd2", "energy_distance",
                  "sliced_wasserstein", "c2st_accuracy", "nonfinite_fraction"}
MODE_METRICS = {"modes_captured", "modes_captured_fraction", "mode_hq_fraction", "mode_reverse_kl",
                "mode_forward_kl", "mode_js"}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def ring():
    return distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)


def test_true_samples_of_a_mixture(ring):
    ev = evaluate(ring, ring.sample(2000, generator=gen(1)))
    assert isinstance(ev, Evaluation) and all(isinstance(v, float) for v in ev.values())
    assert all(math.isfinite(v) for v in ev.values())
    names = SAMPLE_METRICS | MODE_METRICS | {f"mode_mass_{k}" for k in range(8)} | {
        "log_prob_mean", "log_prob_real_mean", "support_precision", "blur_mass", "gap_mass", "components_held",
        "components_held_fraction", "held_js", "quality"}
    assert set(ev) == names
    assert set(ev.skipped) == {"support_coverage"} and "support_points" in ev.skipped["support_coverage"]
    assert ev["modes_captured"] == 8 and ev["nonfinite_fraction"] == 0
    assert abs(ev["mode_hq_fraction"] - (1 - math.exp(-4.5))) < 0.01
    assert ev["support_precision"] == ev["mode_hq_fraction"]          # both: within 3 sigma of a mode
    assert abs(ev["coverage"] - (1 - 2 ** -5)) < 0.03
    assert abs(ev["c2st_accuracy"] - 0.5) < 0.05
    assert abs(ev["log_prob_mean"] - ev["log_prob_real_mean"]) < 0.1
    assert ev.settings["mode_threshold"] == 3.0 and ev.settings["support_tolerance"] == 3.0
    assert json.loads(json.dumps(ev.record())) == ev.record()
    assert evaluate(ring, ring.sample(2000, generator=gen(1))) == ev     # deterministic


def test_manifold_skips_modes_and_measures_the_support():
    dist = distributions.make("manifold", shape="circle", noise=0.02)
    ev = evaluate(dist, dist.sample(1500, generator=gen(2)), c2st=False)
    assert not MODE_METRICS & set(ev)
    assert ev.skipped["modes_captured"] == dist.missing["modes"]
    assert ev.skipped["c2st_accuracy"] == "c2st=False"
    # tolerance = noise * sqrt(chi2_1^-1(Q)): the same 98.9% of true samples as 3 sigma in 2-D
    assert ev.settings["support_tolerance"] == pytest.approx(0.02 * 2.539251, rel=1e-6)
    assert abs(ev["support_precision"] - (1 - math.exp(-4.5))) < 0.01
    assert abs(ev["support_coverage"] - (1 - 2 ** -5)) < 0.03
    assert set(ev).isdisjoint(ev.skipped)

    half = dist.sample(3000, generator=gen(3))
    half = half[half[:, 1] > 0][:1500]
    ev_half = evaluate(dist, half, c2st=False)
    assert abs(ev_half["support_coverage"] - 0.5) < 0.05
    assert ev_half["support_precision"] > 0.95            # on the support, just half of it
    # quality: the harmonic mean of on-support share and (k-NN) coverage, whatever loses the mass
    assert ev["quality"] == pytest.approx(2 / (1 / ev["support_precision"] + 1 / ev["coverage"]))
    assert ev["quality"] > 0.95 and abs(ev_half["quality"] - 2 * 0.5 / 1.5) < 0.05


def test_quality_falls_alike_for_dropped_modes_and_blur(ring):
    x = ring.sample(4000, generator=gen(7))
    dropped = x[torch.cdist(x, ring.modes.centres.to(x.dtype)).argmin(1) < 4][:2000]     # 4 of 8 modes
    blurred = torch.cat([x[:1000], x[1000:2000] + torch.randn(1000, 2, generator=gen(8))])
    q_drop, q_blur = (evaluate(ring, s, c2st=False)["quality"] for s in (dropped, blurred))
    assert abs(q_drop - 2 * 0.5 / 1.5) < 0.05               # on the support, half of it: 2/3
    assert 0.55 < q_blur < 0.75                              # half the samples off it: ~2/3 too


def test_graphs_have_no_quality():
    dist = distributions.make("graphs", model="er", n_nodes=8)
    ev = evaluate(dist, dist.sample(60, generator=gen(9)), c2st=False)
    assert "quality" not in ev and "ground-truth precision" in ev.skipped["quality"]


@pytest.mark.parametrize("knobs", [dict(model="sbm", mixed=True, communities=3), dict(signal="gmrf", epsilon=0.1)])
def test_every_graph_metric_is_declared(knobs):
    """Mixed block models add community-count modes, signals add smoothness: evaluate declares
    them all (an undeclared name is a ValueError that stops a sweep before its first trial)."""
    dist = distributions.make("graphs", n_nodes=10, **knobs)
    ev = evaluate(dist, dist.sample(200, generator=torch.Generator().manual_seed(3)), c2st=False)
    assert ("mode_coverage" in ev) == ("mixed" in knobs) and ("dirichlet_energy_rel_error" in ev) == ("signal" in knobs)
    assert ev.get("mode_coverage", 1.0) == 1.0 and abs(ev.get("dirichlet_energy_rel_error", 0.0)) < 0.2


def test_noiseless_manifold_has_no_log_prob():
    dist = distributions.make("manifold", shape="line", noise=0.0)
    ev = evaluate(dist, dist.sample(500, generator=gen(4)), c2st=False)
    assert ev.skipped["log_prob_mean"] == dist.missing["log_prob"]
    assert ev["support_precision"] == 1.0


def test_nonfinite_and_far_samples_are_reported_not_fatal(ring):
    x = ring.sample(1000, generator=gen(5))
    x[:100, 0] = float("nan")
    x[100:150] = float("inf")
    ev = evaluate(ring, x, c2st=False)
    assert ev["nonfinite_fraction"] == pytest.approx(0.15)
    assert all(math.isfinite(v) for v in ev.values())
    assert ev["mode_hq_fraction"] < 0.85 + 1e-9 and ev["precision"] <= 0.85 + 1e-9
    assert ev["support_precision"] <= 0.85 + 1e-9

    nan = evaluate(ring, torch.full((200, 2), float("nan")), c2st=False)
    assert nan["nonfinite_fraction"] == 1.0 and nan["modes_captured"] == 0 and nan["support_precision"] == 0
    assert {"precision", "mmd2", "mode_reverse_kl", "log_prob_mean"} <= set(nan.skipped)

    far = evaluate(ring, torch.full((200, 2), 50.0) + torch.randn(200, 2, generator=gen(6)), c2st=False)
    assert far["modes_captured"] == 0 and far["precision"] == 0 and far["coverage"] == 0
    assert "histogram is undefined" in far.skipped["mode_reverse_kl"]


def test_one_mode_generator(ring):
    x = ring.modes.centres[2] + 0.01 * torch.randn(1000, 2, generator=gen(7))
    ev = evaluate(ring, x, c2st=False)
    assert ev["modes_captured"] == 1 and ev["mode_mass_2"] == 1.0
    assert ev["components_held"] == 1 and ev["blur_mass"] < 0.02 and ev["gap_mass"] == 0   # dropped, not blurred
    assert ev["mode_reverse_kl"] == pytest.approx(math.log(8))
    assert ev["recall"] < 0.2 and ev["coverage"] < 0.2 and ev["precision"] > 0.9


def test_bad_samples(ring):
    with pytest.raises(ValueError, match=r"samples has shape \(10, 3\).*\[n >= 1, 2\]"):
        evaluate(ring, torch.zeros(10, 3))
    with pytest.raises(ValueError, match=r"samples has shape \(0, 2\).*\[n >= 1, 2\]"):
        evaluate(ring, torch.zeros(0, 2))
    with pytest.raises(ValueError, match=r"threshold=0 is not allowed.*> 0"):
        evaluate(ring, torch.zeros(10, 2), threshold=0)
    with pytest.raises(ValueError, match=r"real has shape \(10, 5\)"):
        evaluate(ring, torch.zeros(10, 2), real=torch.zeros(10, 5))
