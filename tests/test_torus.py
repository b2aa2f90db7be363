"""Known answers for the torus family: pieces, distances and gaps agree with brute force over a
dense sample of the clean support, and the verdicts read a model's typical failures on a torus."""
import math

import pytest
import torch

import distributions
from metrics.evaluate import support_tolerance
from metrics.verdicts import judge, placement


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _angles(d, per_arc):
    """A regular grid of angles over every arc of one circle of ``d`` (float64)."""
    return torch.cat([j * d._period + torch.linspace(0, d._arc, per_arc, dtype=torch.float64) for j in range(d._n)])


def _product(d, theta):
    """Points of the torus of ``d`` at the rows of angles theta [m, k], embedded."""
    y = d._r * torch.stack([theta.cos(), theta.sin()], -1).reshape(len(theta), -1)
    return y @ d._embed


@pytest.mark.parametrize("k, arcs, pieces", [(1, 1, 1), (2, 1, 1), (2, 3, 9), (3, 2, 8), (1, 5, 5)])
def test_pieces_are_products_of_arcs_and_equally_filled(k, arcs, pieces):
    d = distributions.make("torus", k=k, arcs=arcs, gap_fraction=0.3 if arcs > 1 else 0.0, noise=0.0)
    assert d.traits["n_components"] == pieces and len(d.component_weights) == pieces
    assert d.traits["intrinsic_dim"] == k and d.event_shape == (2 * k,)
    assert d.traits["loops"] == (k if arcs == 1 else 0)
    x = d.sample(20000, generator=_g()).double()
    assert d.support_distance(x).max().item() < 1e-6                    # float32 samples
    share = torch.bincount(d.component(x), minlength=pieces).double() / len(x)
    assert torch.allclose(share, torch.full((pieces,), 1 / pieces, dtype=torch.float64), atol=0.015)
    assert ("gap_distance" in d.capabilities) == (arcs > 1)


def test_known_distances():
    d = distributions.make("torus", k=2, radius=2.0, noise=0.0)
    origin = torch.zeros(1, 4, dtype=torch.float64)
    assert d.support_distance(origin).item() == pytest.approx(2 * math.sqrt(2))          # r in each of 2 planes
    assert d.support_distance(torch.tensor([[3.0, 0, 0, 2.0]], dtype=torch.float64)).item() == pytest.approx(1.0)
    cut = distributions.make("torus", k=1, arcs=2, gap_fraction=0.5, noise=0.0)      # arcs [0, pi/2], [pi, 3pi/2]
    p = torch.tensor([[0.0, -1.0]], dtype=torch.float64)                               # 3pi/2: arc 1's end
    assert cut.support_distance(p).item() == pytest.approx(0.0, abs=1e-12)
    q = torch.tensor([[math.cos(-math.pi / 4), math.sin(-math.pi / 4)]], dtype=torch.float64)   # mid-gap
    assert cut.support_distance(q).item() == pytest.approx(2 * math.sin(math.pi / 8))   # chord to either end
    assert cut.gap_distance(q).item() == pytest.approx(0.0, abs=1e-12)
    assert cut.traits["component_gap"] == pytest.approx(2 * math.sin(math.pi / 4))


@pytest.mark.parametrize("knobs", [dict(k=2, arcs=3, gap_fraction=0.3), dict(k=2, arcs=1, gap_fraction=0.4),
                                   dict(k=1, arcs=4, gap_fraction=0.5, ambient_dim=5, seed=3)])
def test_distances_and_pieces_agree_with_brute_force(knobs):
    d = distributions.make("torus", noise=0.0, **knobs)
    k = d._k
    per = 400 if k == 1 else 120
    dense = _product(d, torch.cartesian_prod(*[_angles(d, per)] * k).reshape(-1, k))
    step = d._r * d._arc / per
    angles = torch.rand(400, k, generator=_g(1), dtype=torch.float64) * 2 * math.pi     # near the uncut torus
    q = _product(d, angles) + 0.1 * torch.randn(400, d.event_shape[0], generator=_g(2), dtype=torch.float64)
    q[:100] *= 0.6                                                                    # and inside it
    near = torch.cdist(q, dense).min(1)
    assert (d.support_distance(q) - near.values).abs().max().item() < 2 * step
    assert (d.component(q) == d.component(dense)[near.indices]).float().mean().item() > 0.97   # ties at the seams
    # the gaps: the full torus's points with an angle in a gap, within a quarter of a gap's length
    m = 2000 if k == 1 else 400
    full = torch.cartesian_prod(*[torch.arange(m, dtype=torch.float64) * 2 * math.pi / m] * k).reshape(-1, k)
    step = max(step, d._r * 2 * math.pi / m)
    in_gap = ((full % d._period) > d._arc).any(-1)
    gaps = _product(d, full[in_gap])
    g = d.gap_distance(q)
    bf = torch.cdist(q, gaps).min(1).values
    inside = bf <= 0.25 * d.traits["gap_length"] - 2 * step
    assert inside.sum() > 10 and torch.isinf(g[bf > 0.25 * d.traits["gap_length"] + 2 * step]).all()
    assert (g[inside] - bf[inside]).abs().max().item() < 2 * step


def test_embedding_keeps_distances_and_puts_noise_off_the_subspace():
    flat = distributions.make("torus", k=2, arcs=2, gap_fraction=0.2, noise=0.0)
    high = distributions.make("torus", k=2, arcs=2, gap_fraction=0.2, noise=0.0, ambient_dim=9, seed=4)
    q = torch.randn(200, 4, generator=_g(2), dtype=torch.float64)
    off = torch.randn(200, 9, generator=_g(3), dtype=torch.float64) * 0.1
    off = off - off @ high._embed.T @ high._embed                                      # orthogonal to the torus
    x = q @ high._embed + off
    assert torch.allclose(high.support_distance(x), flat.support_distance(q).hypot(off.norm(dim=1)))
    assert torch.equal(high.component(x), flat.component(q))
    noisy = distributions.make("torus", k=2, noise=0.05, ambient_dim=9, seed=4).sample(20000, generator=_g(4))
    resid = noisy.double() - noisy.double() @ high._embed.T @ high._embed
    assert resid.square().sum(1).mean().item() / 5 == pytest.approx(0.05 ** 2, rel=0.05)   # 5 extra axes


TORUS = distributions.make("torus", k=2, arcs=2, gap_fraction=0.4, noise=0.01)


def _verdict(dist, x):
    tol = support_tolerance(dist, dist.sample(1000, generator=_g(9)), 3.0)[0]
    where = placement(dist, x.float(), tol)
    return where, judge(where, dist.component_weights)


def test_verdicts_on_a_torus():
    where, v = _verdict(TORUS, TORUS.sample(2500, generator=_g()))
    assert v["learned"] and where["on_support"] > 0.95
    # the uncut torus: the mass in the gaps is a bridge
    uncut = distributions.make("torus", k=2, noise=0.01).sample(2500, generator=_g(1))
    where, v = _verdict(TORUS, uncut)
    assert v["bridged"] and where["gap_mass"] > 0.4 and not v["dropped_modes"]
    # circles of half the radius: off the support and not in a gap, blur
    where, v = _verdict(TORUS, TORUS.sample(2500, generator=_g(2)) * 0.5)
    assert v["blurred"] and not v["bridged"] and where["blur_mass"] > 0.9
    # one piece of four: dropped
    x = TORUS.sample(8000, generator=_g(3)).double()
    _, v = _verdict(TORUS, x[TORUS.component(x) == 2][:2500])
    assert v["dropped_modes"] and v["held"] == [2]


@pytest.mark.parametrize("knobs, says", [(dict(arcs=3), "gap_fraction=0.0"), (dict(k=3, arcs=20, gap_fraction=0.1),
                                                                              "arcs=20"),
                                         (dict(k=3, ambient_dim=5), "ambient_dim=5"), (dict(gap_fraction=1.0),
                                                                                      "gap_fraction=1.0")])
def test_bad_knobs_name_the_knob(knobs, says):
    with pytest.raises(ValueError, match=f"torus: (unknown )?knob {says}") as e:
        distributions.make("torus", **knobs)
    assert "\n" not in str(e.value)
