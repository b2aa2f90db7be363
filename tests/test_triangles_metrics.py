"""metrics.triangles: recovery of the closest triangle, precision / recall against the known
manifold, per-factor distances and per-interval masses. One small matcher (300 training steps)
is fitted once for the module."""
import math

import pytest
import torch

import distributions
from distributions.triangles import FACTORS
from metrics.triangles import TriangleMatcher, wasserstein1

M = 500       # generated images per evaluation


@pytest.fixture(scope="module")
def setup():
    d = distributions.make("triangles", n_components=3, gap_fraction=0.5)
    m = TriangleMatcher(d, seed=0, train_steps=300, n_calibrate=500, n_holdout=500).fit()
    return d, m


def test_real_images_score_near_one(setup):
    d, m = setup
    ev = m.evaluate(d.sample(M, generator=torch.Generator().manual_seed(5)))
    assert ev["precision"] >= 0.97 and ev["recall"] >= 0.95
    assert ev["components_captured"] == 3 and ev["component_kl"] < 0.02 and ev["gap_mass"] < 0.03
    for i in range(3):
        assert ev[f"mass_{i}"] == pytest.approx(1 / 3, abs=0.07)
    for k in FACTORS[:-1]:                  # as close as another real sample, up to recovery error
        assert ev[f"w1_{k}"] < 2 * ev[f"w1_{k}_real"] + (0.3 if k.startswith(("rotation", "angle")) else 0.003), k
    assert ev["threshold"] < 0.02


def test_noise_and_blank_images_score_near_zero(setup):
    d, m = setup
    g = torch.Generator().manual_seed(6)
    noise = torch.rand(M, *d.event_shape, generator=g)
    blank = torch.full((M, *d.event_shape), d.background)
    for x in (noise, blank):
        ev = m.evaluate(x)
        assert ev["precision"] <= 0.01 and ev["recall"] <= 0.01
        assert ev["residual_median"] > 5 * ev["threshold"]


def test_one_of_k_intervals_scores_recall_one_over_k(setup):
    d, m = setup
    x, f = d.sample(4 * M, generator=torch.Generator().manual_seed(7), return_factors=True)
    ev = m.evaluate(x[f["component"] == 0][:M])
    assert ev["precision"] >= 0.97
    assert ev["recall"] == pytest.approx(1 / 3, abs=0.07)
    assert ev["mass_0"] >= 0.97 and ev["components_captured"] == 1
    assert ev["component_kl"] == pytest.approx(math.log(3), abs=0.05)
    assert ev["w1_rotation"] > 10 and ev["w1_scale"] < 0.01      # the dropped pieces show in rotation only


def test_triangles_in_the_gaps_are_off_the_manifold(setup):
    d, m = setup
    f = d.sample_factors(M, generator=torch.Generator().manual_seed(8))
    f["rotation"] = torch.tensor([30.0, 70.0, 110.0])[f["component"]]      # centres of the 3 gaps
    ev = m.evaluate(d.render(f))
    assert ev["precision"] <= 0.05
    assert ev["precision_with_gaps"] >= 0.95 and ev["gap_mass"] >= 0.95


def test_recovery_finds_the_true_factors(setup):
    d, m = setup
    x, f = d.sample(M, generator=torch.Generator().manual_seed(9), return_factors=True)
    g, resid = m.recover(x)
    assert set(g) == set(FACTORS) and resid.shape == (M,)
    assert float((resid < m.threshold).double().mean()) >= 0.97
    bound = {"scale": 0.004, "rotation": 0.3, "x": 0.002, "y": 0.002, "angle_0": 0.5, "angle_1": 0.5}
    for k, b in bound.items():
        err = (g[k].double() - f[k].double()).abs()
        if k == "rotation":
            err = torch.minimum(err, 120 - err)
        assert float(err.median()) < b, k                    # units: half-widths and degrees
        assert float(err.quantile(0.95)) < 5 * b, k
    assert float((g["component"] == f["component"]).double().mean()) >= 0.99


def test_wasserstein1_known_answers():
    u = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    assert wasserstein1(u, u + 0.25) == pytest.approx(0.25, abs=1e-9)
    assert wasserstein1(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0, 1.0, 1.0])) == pytest.approx(0.0)
    assert wasserstein1(torch.tensor([1.0]), torch.tensor([119.0]), period=120) == pytest.approx(2.0)
    a = (u * 20 + 110) % 120                                 # an arc across 0, turned by 7 degrees
    assert wasserstein1(a, (a + 7) % 120, period=120) == pytest.approx(7.0, abs=1e-6)
    assert wasserstein1(a, (a + 7) % 120) > 20
    assert math.isnan(wasserstein1(torch.zeros(0), u))


def test_matcher_rejects_bad_arguments(setup):
    d, m = setup
    with pytest.raises(ValueError, match="train_steps=-1"):
        TriangleMatcher(d, train_steps=-1)
    with pytest.raises(ValueError, match="'triangles' distribution"):
        TriangleMatcher(distributions.make("mixture"))
    with pytest.raises(ValueError, match=r"images=\(4, 28, 28\) is not allowed"):
        m.recover(torch.zeros(4, 28, 28))
    with pytest.raises(ValueError, match="non-finite"):
        m.evaluate(torch.full((2, 1, 28, 28), math.nan))
