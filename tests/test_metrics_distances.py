"""MMD^2, energy distance, sliced Wasserstein and C2ST: brute-force agreement, known answers,
monotone response to a shift, bad input."""
import math

import pytest
import scipy.stats
import torch

from metrics.c2st import c2st_accuracy
from metrics.distances import SCALES, energy_distance, median_bandwidth, mmd, sliced_wasserstein


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def dists(a, b):
    return ((a.double()[:, None] - b.double()[None]) ** 2).sum(-1).sqrt()


def mmd_reference(x, y, bandwidths):
    def k(a, b):
        d2 = dists(a, b) ** 2
        return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths) / len(bandwidths)
    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return float((kxx.sum() - kxx.diag().sum()) / (n * (n - 1)) + (kyy.sum() - kyy.diag().sum()) / (m * (m - 1))
                 - 2 * k(x, y).mean())


def energy_reference(x, y):
    n, m = len(x), len(y)
    return float(2 * dists(x, y).mean() - dists(x, x).sum() / (n * (n - 1)) - dists(y, y).sum() / (m * (m - 1)))


@pytest.mark.parametrize("D", [1, 3, 32])
def test_mmd_and_energy_match_brute_force(D):
    g = gen(D)
    x, y = torch.randn(300, D, generator=g) + 5, 1.2 * torch.randn(200, D, generator=g) + 5.3
    pooled = torch.cat([x, y])                                  # 500 points: no subsampling
    d = dists(pooled, pooled)
    s0 = d[torch.triu_indices(500, 500, 1).unbind()].median().item()
    assert median_bandwidth(pooled) == pytest.approx(s0, rel=1e-12)
    bw = [s0 * s for s in SCALES]
    ref = mmd_reference(x, y, bw)
    assert mmd(x, y) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert mmd(x, y, chunk=1000) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert energy_distance(x, y, chunk=999) == pytest.approx(energy_reference(x, y), rel=1e-9, abs=1e-12)


def test_identical_distributions_give_mmd_zero_within_its_standard_error():
    # The null distribution of MMD^2 is skewed (mostly slightly negative, a few large positive
    # values), so the unbiasedness check needs a few dozen replicates.
    values = torch.tensor([mmd(torch.randn(100, 2, generator=gen(2 * i)), torch.randn(100, 2, generator=gen(2 * i + 1)))
                           for i in range(40)])
    se = values.std().item()                               # standard error of one estimate
    assert abs(values.mean().item()) < 3 * se / math.sqrt(len(values))
    assert abs(values[0].item()) < 3 * se
    shifted = mmd(torch.randn(100, 2, generator=gen(100)), torch.randn(100, 2, generator=gen(101)) + 0.5)
    assert shifted > 5 * se


def test_shifting_one_set_raises_every_distance_monotonically():
    x, base = torch.randn(400, 2, generator=gen(3)), torch.randn(400, 2, generator=gen(4))
    shifts = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    for fn in (mmd, energy_distance, sliced_wasserstein):
        values = [fn(x, base + torch.tensor([s, 0.0])) for s in shifts]
        assert all(a < b for a, b in zip(values, values[1:])), (fn.__name__, values)


def test_sliced_wasserstein_is_exact_in_one_dimension():
    g = gen(5)
    x, y = torch.randn(30, 1, generator=g), 2 * torch.randn(45, 1, generator=g) + 1
    # p = 1 against scipy; p = 2 against the quantile functions on the common grid of 1/90
    assert sliced_wasserstein(x, y, p=1, n_projections=4) == pytest.approx(
        scipy.stats.wasserstein_distance(x[:, 0].double().numpy(), y[:, 0].double().numpy()), rel=1e-9)
    t = (torch.arange(90, dtype=torch.float64) + 0.5) / 90
    qx = x[:, 0].double().sort().values[(t * 30).floor().long()]
    qy = y[:, 0].double().sort().values[(t * 45).floor().long()]
    assert sliced_wasserstein(x, y, p=2, n_projections=4) == pytest.approx(((qx - qy) ** 2).mean().sqrt().item(), rel=1e-9)


def test_sliced_wasserstein_of_a_pure_shift():
    x = torch.randn(500, 3, generator=gen(6))
    shift = torch.tensor([0.0, 0.0, 2.0])
    # W2 along theta of a shifted copy is |theta . shift|; the mean of theta_3^2 on the sphere is 1/3
    sw = sliced_wasserstein(x, x + shift, n_projections=4000, generator=gen(7))
    assert sw == pytest.approx(2 / math.sqrt(3), rel=0.03)
    assert sliced_wasserstein(x, x) == 0.0


@pytest.mark.parametrize("classifier", ["knn", "mlp"])
def test_c2st_chance_for_identical_and_high_for_separated(classifier):
    x, y = torch.randn(800, 2, generator=gen(8)), torch.randn(800, 2, generator=gen(9))
    acc = lambda a, b, seed=0: c2st_accuracy(a, b, classifier=classifier, generator=gen(seed), steps=60)
    assert abs(acc(x, y) - 0.5) < 0.07                     # 4 standard errors of an 800-point test set
    assert acc(x, y + 3.0) > 0.9
    circle = x / x.norm(dim=1, keepdim=True)                # same mean, different shape
    assert acc(circle, y) > 0.7
    assert acc(x, y, 1) == acc(x, y, 1)


def test_knn_c2st_sees_mode_width():
    import distributions
    dist = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)
    real, fake = dist.sample(1000, generator=gen(1)), dist.sample(1000, generator=gen(2))
    wide = fake + 0.03 * torch.randn(1000, 2, generator=gen(3))
    assert abs(c2st_accuracy(real, fake) - 0.5) < 0.06
    assert c2st_accuracy(real, wide) > 0.6


def test_bad_arguments():
    x = torch.randn(10, 2)
    for fn in (mmd, energy_distance, sliced_wasserstein, c2st_accuracy):
        with pytest.raises(ValueError, match=r"has dimension D=3.*D=2"):
            fn(x, torch.randn(10, 3))
        with pytest.raises(ValueError, match=r"has 0 rows"):
            fn(x, torch.zeros(0, 2))
    with pytest.raises(ValueError, match=r"y has 1 rows.*at least 2"):
        mmd(x, torch.randn(1, 2))
    with pytest.raises(ValueError, match=r"bandwidths=0.0 is not allowed.*> 0"):
        mmd(x, x, bandwidths=[1.0, 0.0])
    with pytest.raises(ValueError, match=r"bandwidths=\[\] is not allowed"):
        mmd(x, x, bandwidths=[])
    with pytest.raises(ValueError, match=r"classifier='svm' is not allowed.*'knn' or 'mlp'"):
        c2st_accuracy(x, x, classifier="svm")
    with pytest.raises(ValueError, match=r"n_projections=0 is not allowed.*>= 1"):
        sliced_wasserstein(x, x, n_projections=0)
