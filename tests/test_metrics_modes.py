"""mode_stats: known answers (Gaussian mass inside the threshold, one-mode generators), bad input."""
import math

import pytest
import torch

import distributions
from metrics.modes import mode_stats


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("r", [2.0, 3.0])
def test_true_samples_capture_every_mode_and_gaussian_mass(r):
    dist = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)
    st = mode_stats(dist.sample(20000, generator=gen()), dist.modes, threshold=r)
    assert st["captured"] == 8 and st["captured_fraction"] == 1.0
    assert st["captured_modes"] == list(range(8))
    assert abs(st["hq_fraction"] - (1 - math.exp(-r * r / 2))) < 0.01
    assert abs(sum(st["mass"]) - 1) < 1e-12
    assert st["reverse_kl"] < 0.01 and st["forward_kl"] < 0.01 and st["js"] < 0.01


def test_elongated_embedded_modes_use_sigma_units():
    dist = distributions.make("mixture", layout="grid", n_modes=9, std=0.1, anisotropy=3.0,
                              orientation=30.0, ambient_dim=5)
    st = mode_stats(dist.sample(20000, generator=gen(1)), dist.modes)
    assert st["captured"] == 9
    assert abs(st["hq_fraction"] - (1 - math.exp(-4.5))) < 0.01


def one_mode(dist, k, n=2500, seed=0):
    c = dist.modes.centres[k]
    return c + dist.params["std"] * torch.randn(n, c.shape[0], generator=gen(seed))


def test_one_mode_generator_gives_analytic_divergences():
    dist = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01, imbalance=4.0)
    w = dist.modes.weights.double()
    x = one_mode(dist, 7)                       # the lightest mode
    st = mode_stats(x, dist.modes)
    assert st["captured"] == 1 and st["captured_modes"] == [7]
    assert st["mass"][7] == 1.0
    assert st["reverse_kl"] == pytest.approx(-math.log(w[7]), rel=1e-9)
    C = round(st["hq_fraction"] * len(x))
    smooth = torch.full((8,), 0.5 / (C + 4), dtype=torch.float64)
    smooth[7] = (C + 0.5) / (C + 4)
    assert st["forward_kl"] == pytest.approx(float((w * (w / smooth).log()).sum()), rel=1e-9)
    p = torch.zeros(8, dtype=torch.float64)
    p[7] = 1
    m = (p + w) / 2
    js = 0.5 * float(p[7] * (p[7] / m[7]).log()) + 0.5 * float((w * (w / m).log()).sum())
    assert st["js"] == pytest.approx(js, rel=1e-9)
    assert st["js"] <= math.log(2)


def test_min_count_and_nonfinite_rows():
    dist = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)
    x = torch.cat([one_mode(dist, 0, 100), one_mode(dist, 3, 1)])
    x[5:15, 0] = float("nan")
    x[15:20] = float("inf")
    st = mode_stats(x, dist.modes, min_count=2)
    assert st["captured_modes"] == [0]
    st1 = mode_stats(x, dist.modes)
    assert st1["captured_modes"] == [0, 3]
    hq_finite = mode_stats(torch.cat([x[:5], x[20:]]), dist.modes)["hq_fraction"] * 86
    assert st1["hq_fraction"] == pytest.approx(hq_finite / 101)


def test_no_high_quality_sample_leaves_divergences_undefined():
    dist = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)
    st = mode_stats(torch.full((50, 2), 10.0), dist.modes)
    assert st["captured"] == 0 and st["hq_fraction"] == 0.0
    assert all(math.isnan(st[k]) for k in ("reverse_kl", "forward_kl", "js"))


@pytest.mark.parametrize("kwargs, words", [
    (dict(threshold=0.0), ["threshold=0.0", "> 0"]),
    (dict(threshold=-1), ["threshold=-1", "> 0"]),
    (dict(min_count=0), ["min_count=0", ">= 1"]),
])
def test_bad_arguments_name_themselves(kwargs, words):
    dist = distributions.make("mixture")
    with pytest.raises(ValueError) as e:
        mode_stats(torch.zeros(5, 2), dist.modes, **kwargs)
    assert all(w in str(e.value) for w in words)


def test_bad_samples():
    modes = distributions.make("mixture").modes
    with pytest.raises(ValueError, match=r"samples has dimension D=3.*D=2"):
        mode_stats(torch.zeros(5, 3), modes)
    with pytest.raises(ValueError, match=r"samples has 0 rows.*at least 1"):
        mode_stats(torch.zeros(0, 2), modes)
    with pytest.raises(ValueError, match=r"modes=None"):
        mode_stats(torch.zeros(5, 2), None)
