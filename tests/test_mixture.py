import math

import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

import distributions


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


CASES = [
    dict(layout="ring", n_modes=8, std=0.05),
    dict(layout="grid", n_modes=9, std=0.3, anisotropy=3.0, orientation=30.0, imbalance=4.0),
    dict(layout="random", n_modes=5, std=0.2, dim=3, seed=7),
    dict(layout="ring", n_modes=6, std=0.1, anisotropy=2.0, orientation=90.0, dim=4, ambient_dim=10),
]


def reference(d):
    """torch.distributions in the intrinsic space, built from the analytic parameters."""
    return MixtureSameFamily(Categorical(d._weights), MultivariateNormal(d._centres, scale_tril=d._tril))


@pytest.mark.parametrize("kw", CASES)
def test_shapes_dtypes_and_determinism(kw):
    d = distributions.make("mixture", **kw)
    x = d.sample(300, generator=gen(1))
    assert x.shape == (300, *d.event_shape) and x.dtype == torch.float32
    assert torch.equal(x, d.sample(300, generator=gen(1)))
    assert not torch.equal(x, d.sample(300, generator=gen(2)))
    assert d.log_prob(x).shape == (300,) and d.support_distance(x).shape == (300,)


@pytest.mark.parametrize("kw", CASES)
def test_log_prob_matches_mixture_same_family(kw):
    d = distributions.make("mixture", **kw)
    x = d.sample(500, generator=gen(3)).double()
    y = d.intrinsic(x)
    assert torch.allclose(d.log_prob(x), reference(d).log_prob(y), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kw", CASES)
def test_moments_match_analytic(kw):
    d = distributions.make("mixture", **kw)
    w, c = d._weights, d._centres
    cov_k = d._tril @ d._tril.transpose(1, 2)
    mean = w @ c
    cov = (w[:, None, None] * (cov_k + c[:, :, None] * c[:, None, :])).sum(0) - torch.outer(mean, mean)
    E = d._embed                                                     # ambient = intrinsic @ E
    mean, cov = mean @ E, E.T @ cov @ E
    x = d.sample(200_000, generator=gen(4)).double()
    scale = cov.diagonal().max().sqrt()
    assert (x.mean(0) - mean).abs().max() < 0.02 * scale
    assert (torch.cov(x.T) - cov).abs().max() < 0.03 * scale ** 2


def test_log_prob_integrates_to_one_in_2d():
    d = distributions.make("mixture", n_modes=5, radius=1.0, std=0.15, anisotropy=2.5, orientation=40, imbalance=3)
    g = torch.linspace(-2.2, 2.2, 700, dtype=torch.float64)
    h = float(g[1] - g[0])
    mass = d.log_prob(torch.cartesian_prod(g, g)).exp().sum() * h * h
    assert abs(float(mass) - 1) < 1e-3


def test_modes_and_support_distance():
    d = distributions.make("mixture", layout="grid", n_modes=4, spacing=2.0, std=0.1)
    m = d.modes
    assert m.n_modes == 4 and torch.allclose(m.weights.sum(), torch.tensor(1.0))
    # at a centre the distance is 0; one std away along an axis it is 1
    c = m.centres
    assert torch.allclose(d.support_distance(c), torch.zeros(4), atol=1e-6)
    assert torch.allclose(d.support_distance(c + torch.tensor([0.1, 0.0])), torch.ones(4), atol=1e-5)
    # a point far off: sigma-normalised distance to the nearest centre (1, 1) is ||(3, 4)|| / 0.1
    assert torch.allclose(d.support_distance(torch.tensor([[4.0, 5.0]])), torch.tensor([50.0]))


def test_anisotropic_distance_is_mahalanobis():
    d = distributions.make("mixture", n_modes=1, std=0.2, anisotropy=4.0, orientation=90.0, radius=1.0)
    # one mode at (1, 0); a ring measures orientation from the radial direction, so 90 degrees
    # puts the major axis (std 0.2) along y and the minor one (0.05) along x
    pts = torch.tensor([[1.0, 0.2], [1.05, 0.0], [1.0, -0.4]])
    assert torch.allclose(d.support_distance(pts), torch.tensor([1.0, 1.0, 2.0]), atol=1e-5)


def test_off_subspace_distance_uses_the_smallest_std():
    d = distributions.make("mixture", n_modes=3, std=0.1, dim=2, ambient_dim=6, seed=2)
    c = d.modes.centres[0]
    normal = torch.randn(6, generator=gen(0))
    normal = normal - d._embed.T.float() @ (d._embed.float() @ normal)  # orthogonal to the plane
    normal = normal / normal.norm()
    assert torch.allclose(d.support_distance((c + 0.3 * normal)[None]), torch.tensor([3.0]), atol=1e-4)


def test_traits():
    d = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01, imbalance=1.0)
    t = d.traits
    assert t["n_modes"] == 8 and t["intrinsic_dim"] == 2 and t["ambient_dim"] == 2
    assert t["min_separation"] == pytest.approx(2 * math.sin(math.pi / 8) / 0.01)
    assert t["weight_entropy"] == pytest.approx(math.log(8))
    heavy = distributions.make("mixture", n_modes=4, imbalance=8.0)
    assert float(heavy._weights.max() / heavy._weights.min()) == pytest.approx(8.0)
    assert heavy.traits["weight_entropy"] < math.log(4)


def test_params_record_what_was_made():
    d = distributions.make("mixture", layout="grid", n_modes=25, std=0.05)
    again = distributions.make("mixture", **d.params)
    assert torch.equal(d.sample(50, generator=gen()), again.sample(50, generator=gen()))


def test_separation_sets_std_from_the_layout():
    d = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, separation=10.0)
    assert d.traits["min_separation"] == pytest.approx(10.0)
    assert d.traits["std"] == pytest.approx(2 * math.sin(math.pi / 8) / 10)
    g = distributions.make("mixture", layout="grid", n_modes=9, spacing=2.0, separation=4.0)
    assert g.traits["std"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="separation=4.0 is not allowed: give std or separation"):
        distributions.make("mixture", std=0.1, separation=4.0)
