import math

import pytest
import torch

import distributions
from distributions.base import project


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


SHAPES = [
    dict(shape="circle"),
    dict(shape="circle", n_components=4, gap_fraction=0.3),
    dict(shape="line", n_components=3, gap_fraction=0.2),
    dict(shape="wavy_ring", frequency=10, amplitude=0.3),
    dict(shape="spiral", turns=2.0),
    dict(shape="moons"),
    dict(shape="swiss_roll"),
    dict(shape="circle", ambient_dim=7, seed=3),
]


@pytest.mark.parametrize("kw", SHAPES)
def test_shapes_determinism_and_clean_samples_on_support(kw):
    d = distributions.make("manifold", **kw)
    x = d.sample(500, generator=gen(1))
    assert x.shape == (500, *d.event_shape) and x.dtype == torch.float32
    assert torch.equal(x, d.sample(500, generator=gen(1)))
    clean = distributions.make("manifold", **{**kw, "noise": 0.0})
    x0 = clean.sample(2000, generator=gen(2)).double()
    assert float(clean.support_distance(x0).max()) < 1e-4
    # noisy samples sit about one noise std (times sqrt of the codimension) off the support
    codim = d.event_shape[0] - d.traits["intrinsic_dim"]
    rms = float(d.support_distance(x.double()).pow(2).mean().sqrt())
    assert rms == pytest.approx(0.02 * math.sqrt(codim), rel=0.15)


def test_support_distance_is_analytic_off_the_support():
    arcs = distributions.make("manifold", shape="circle", n_components=2, gap_fraction=0.5, radius=2.0, noise=0.0)
    # two arcs of a quarter turn each: [0, pi/2] and [pi, 3pi/2]
    inside = torch.tensor([[2.5 * math.cos(0.7), 2.5 * math.sin(0.7)], [0.0, 0.0], [-1.0, -1.0]], dtype=torch.float64)
    want = torch.tensor([0.5, 2.0, abs(math.sqrt(2) - 2)], dtype=torch.float64)
    assert torch.allclose(arcs.support_distance(inside), want, atol=1e-6)
    gap = torch.tensor([[2 * math.cos(3 * math.pi / 4), 2 * math.sin(3 * math.pi / 4)]], dtype=torch.float64)
    end = torch.tensor([[0.0, 2.0]], dtype=torch.float64)   # nearest arc end at angle pi/2
    assert torch.allclose(arcs.support_distance(gap), (gap - end).norm(dim=1), atol=1e-6)
    line = distributions.make("manifold", shape="line", length=2.0, n_components=2, gap_fraction=0.5, noise=0.0)
    # pieces [-1, -0.5] and [0.5, 1] on the x axis
    pts = torch.tensor([[0.7, 0.3], [0.0, 0.0], [2.0, -1.0]], dtype=torch.float64)
    assert torch.allclose(line.support_distance(pts), torch.tensor([0.3, 0.5, math.sqrt(2)], dtype=torch.float64), atol=1e-9)
    roll = distributions.make("manifold", shape="swiss_roll", height=2.0, noise=0.0)
    top = roll.support_points(200).double()
    lifted = top.clone()
    lifted[:, 1] = 1.0 + 0.25      # above the roll's top edge by 0.25
    assert torch.allclose(roll.support_distance(lifted), torch.full((len(top),), 0.25, dtype=torch.float64), atol=1e-5)


def test_moments_of_circle_and_line():
    c = distributions.make("manifold", shape="circle", radius=1.5, noise=0.1)
    x = c.sample(200_000, generator=gen(3)).double()
    assert x.mean(0).abs().max() < 0.01
    assert torch.allclose(torch.cov(x.T), (1.5 ** 2 / 2 + 0.01) * torch.eye(2, dtype=torch.float64), atol=0.01)
    line = distributions.make("manifold", shape="line", length=3.0, noise=0.05)
    x = line.sample(200_000, generator=gen(4)).double()
    assert torch.allclose(torch.cov(x.T), torch.diag(torch.tensor([9 / 12 + 0.0025, 0.0025], dtype=torch.float64)), atol=0.005)


@pytest.mark.parametrize("kw", [
    dict(shape="circle", n_components=3, gap_fraction=0.4),
    dict(shape="wavy_ring", frequency=5, amplitude=0.4),
    dict(shape="line", n_components=2, gap_fraction=0.3),
    dict(shape="moons"),
])
def test_log_prob_integrates_to_one_in_2d(kw):
    d = distributions.make("manifold", noise=0.06, **kw)
    g = torch.linspace(-2.6, 2.6, 420, dtype=torch.float64)
    h = float(g[1] - g[0])
    grid = torch.cartesian_prod(g, g) + torch.tensor([0.5 if kw["shape"] == "moons" else 0.0, 0.0], dtype=torch.float64)
    mass = float(d.log_prob(grid).exp().sum() * h * h)
    assert abs(mass - 1) < 1e-3


def test_log_prob_line_matches_closed_form():
    d = distributions.make("manifold", shape="line", length=2.0, noise=0.1)
    x = d.sample(200, generator=gen(5)).double()
    n = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 0.1)
    along = (n.cdf(1 - x[:, 0]) - n.cdf(-1 - x[:, 0])) / 2.0
    exact = along.log() + n.log_prob(x[:, 1])
    assert torch.allclose(d.log_prob(x), exact, atol=1e-6)


def test_log_prob_in_ambient_space_and_noise_zero():
    flat = distributions.make("manifold", shape="circle", noise=0.1)
    high = distributions.make("manifold", shape="circle", noise=0.1, ambient_dim=4, seed=1)
    x = high.sample(100, generator=gen(6)).double()
    y, off = project(x, high._embed)
    want = flat.log_prob(y) + torch.distributions.Normal(0.0, 0.1).log_prob(torch.zeros(())).double() * 2 - off ** 2 / 0.02
    assert torch.allclose(high.log_prob(x), want, atol=1e-6)
    clean = distributions.make("manifold", shape="circle", noise=0.0)
    assert "log_prob" not in clean.capabilities
    with pytest.raises(NotImplementedError, match="noise=0"):
        clean.log_prob(x[:, :2])


def test_traits_describe_connectedness_and_smoothness():
    d = distributions.make("manifold", shape="circle", n_components=4, gap_fraction=0.2, radius=1.0, noise=0.01)
    t = d.traits
    assert t["n_components"] == 4 and t["gap_fraction"] == 0.2
    assert t["component_gap"] == pytest.approx(2 * math.sin(0.2 * math.pi / 4), rel=1e-4)
    assert t["max_curvature"] == pytest.approx(1.0, rel=1e-3)
    assert t["support_size"] == pytest.approx(0.8 * 2 * math.pi, rel=1e-6)
    smooth = distributions.make("manifold", shape="wavy_ring", frequency=3, amplitude=0.1).traits["max_curvature"]
    rough = distributions.make("manifold", shape="wavy_ring", frequency=12, amplitude=0.3).traits["max_curvature"]
    assert rough > 10 * smooth
    assert distributions.make("manifold", shape="moons").traits["n_components"] == 2


def test_support_points_are_even_and_on_support():
    d = distributions.make("manifold", shape="circle", n_components=2, gap_fraction=0.5, noise=0.0)
    p = d.support_points(1000).double()
    assert p.shape == (1000, 2) and float(d.support_distance(p).max()) < 1e-5
    gaps = torch.cdist(p, p).fill_diagonal_(math.inf).min(dim=1).values
    assert float(gaps.max() / gaps.min()) < 1.01     # evenly spaced by length
