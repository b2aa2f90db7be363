"""metrics.triangles: recovery of the closest triangle, precision / recall against the known
manifold (strict and loose), residual quantiles, per-factor distances and per-interval masses.
One small matcher (300 training steps) is fitted once for the module."""
import math

import pytest
import torch

import distributions
from distributions.triangles import FACTORS
from metrics.triangles import LOOSE_SHIFT, TriangleMatcher, wasserstein1

M = 500       # generated images per evaluation


def quantiles_ordered(ev):
    return ev["residual_p10"] <= ev["residual_median"] <= ev["residual_p90"]


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
    assert ev["precision_loose"] >= 0.99 and ev["recall_loose"] >= 0.95
    assert quantiles_ordered(ev) and ev["residual_p90"] < ev["threshold"]
    _, resid = m.recover(d.sample(M, generator=torch.Generator().manual_seed(15)))   # another real sample
    for name, q in (("p10", 0.1), ("median", 0.5), ("p90", 0.9)):
        assert ev[f"residual_{name}"] == pytest.approx(float(resid.double().quantile(q)), rel=0.25), name


def test_loose_threshold_is_tau_plus_a_quarter_pixel_shift(setup):
    """tau_loose - tau: the median RMS change of a real image moved a quarter pixel (here along x
    rather than in a random direction); 28 x 28 sharp triangles: about 0.038."""
    d, m = setup
    x, f = d.sample(M, generator=torch.Generator().manual_seed(10), return_factors=True)
    moved = d.render({**f, "x": f["x"] + LOOSE_SHIFT * 2 / d.image_size})
    delta = float((moved - x).pow(2).mean((1, 2, 3)).sqrt().median())
    assert 0.03 < delta < 0.05
    assert m.threshold_loose - m.threshold == pytest.approx(delta, rel=0.15)
    ev = m.evaluate(x[:10])
    assert ev["threshold_loose"] == m.threshold_loose and ev["threshold"] == m.threshold


def ghost(d, x, f, degrees):
    """The mean of each image and its triangle turned by ``degrees`` towards the centre of its
    interval (so that the best single triangle stays inside the support): a doubled edge."""
    mid = torch.tensor(d.intervals).mean(1)[f["component"]]
    turned = {**f, "rotation": f["rotation"] + degrees * torch.sign(mid - f["rotation"])}
    return (x + d.render(turned)) / 2


@pytest.mark.parametrize("kind", ["noise", "ghost"])
def test_slightly_wrong_triangles_pass_the_loose_threshold_only(setup, kind):
    """Real images plus Gaussian pixel noise of std 0.02 (residual about 0.02), or the mean of a
    triangle and itself turned by 5 degrees (residual about 0.012): far beyond tau (about 0.005),
    well within tau_loose (about 0.043)."""
    d, m = setup
    x, f = d.sample(M, generator=torch.Generator().manual_seed(11), return_factors=True)
    if kind == "noise":
        x = x + 0.02 * torch.randn(x.shape, generator=torch.Generator().manual_seed(12))
    else:
        x = ghost(d, x, f, 5.0)
    ev = m.evaluate(x)
    assert ev["precision"] <= 0.05 and ev["recall"] <= 0.2
    assert ev["precision_loose"] >= 0.95 and ev["recall_loose"] >= 0.95
    assert quantiles_ordered(ev)
    assert 2 * ev["threshold"] < ev["residual_median"] < ev["threshold_loose"] / 2
    if kind == "noise":                     # noise is almost all off the 6-D manifold
        assert ev["residual_median"] == pytest.approx(0.02, rel=0.1)


def test_noise_blank_and_grey_images_score_near_zero(setup):
    d, m = setup
    g = torch.Generator().manual_seed(6)
    noise = torch.rand(M, *d.event_shape, generator=g)
    blank = torch.full((M, *d.event_shape), d.background)
    grey = torch.full((M, *d.event_shape), 0.5)
    for x in (noise, blank, grey):
        ev = m.evaluate(x)
        assert ev["precision"] <= 0.01 and ev["recall"] <= 0.01
        assert ev["precision_loose"] <= 0.01 and ev["recall_loose"] <= 0.01
        assert ev["residual_median"] > 5 * ev["threshold"] and ev["residual_median"] > 3 * ev["threshold_loose"]
        assert quantiles_ordered(ev)


def test_images_far_outside_the_pixel_range_are_scored_far_off_not_an_error(setup):
    """A diverging generator's images (finite, up to 1e33: a DDPM sampler that blew up) break the
    vertex refinement; the recovery falls back to a fixed triangle, so they score residuals of
    their own size and precision 0 instead of failing the run."""
    d, m = setup
    g = torch.Generator().manual_seed(8)
    huge = torch.randn(60, *d.event_shape, generator=g) * torch.logspace(2, 33, 60)[:, None, None, None]
    f, resid = m.recover(huge)
    assert torch.isfinite(resid).all() and (resid > 0.5 * huge.flatten(1).double().pow(2).mean(1).sqrt().float()).all()
    assert all(torch.isfinite(v).all() for v in f.values())
    ev = m.evaluate(huge)
    assert ev["precision"] == ev["precision_loose"] == ev["recall"] == 0.0 and ev["residual_p10"] > 10


def test_residual_quantiles_of_a_few_images(setup):
    d, m = setup
    x = d.sample(3, generator=torch.Generator().manual_seed(13))
    shift = torch.tensor([0.0, 0.02, 0.1])[:, None, None, None]          # residuals about 0.003, 0.02, 0.1
    x = torch.cat([x + shift, torch.full_like(x[:1], 0.5)])               # and 0.5
    ev = m.evaluate(x)
    _, resid = m.recover(x)
    r = sorted(resid.tolist())                # quantiles of 4 values, the lower one (as torch.median)
    assert (ev["residual_p10"], ev["residual_median"], ev["residual_p90"]) == pytest.approx((r[0], r[1], r[2]))
    assert ev["precision"] == 1 / 4 and ev["precision_loose"] == 2 / 4
    for n in (1, 2):
        assert quantiles_ordered(m.evaluate(x[:n]))


def test_one_of_k_intervals_scores_recall_one_over_k(setup):
    d, m = setup
    x, f = d.sample(4 * M, generator=torch.Generator().manual_seed(7), return_factors=True)
    ev = m.evaluate(x[f["component"] == 0][:M])
    assert ev["precision"] >= 0.97
    assert ev["recall"] == pytest.approx(1 / 3, abs=0.07)
    assert ev["precision_loose"] >= 0.97 and ev["recall_loose"] == pytest.approx(1 / 3, abs=0.07)
    assert ev["mass_0"] >= 0.97 and ev["components_captured"] == 1
    assert ev["component_kl"] == pytest.approx(math.log(3), abs=0.05)
    assert ev["w1_rotation"] > 10 and ev["w1_scale"] < 0.01      # the dropped pieces show in rotation only


def test_triangles_in_the_gaps_are_off_the_manifold(setup):
    d, m = setup
    f = d.sample_factors(M, generator=torch.Generator().manual_seed(8))
    f["rotation"] = torch.tensor([30.0, 70.0, 110.0])[f["component"]]      # centres of the 3 gaps
    ev = m.evaluate(d.render(f))
    assert ev["precision"] <= 0.05
    assert ev["precision_loose"] <= 0.05        # 10 degrees from every interval: well beyond tau_loose
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
