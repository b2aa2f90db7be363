"""Known answers for the boxes family: the density integrates to one, pieces and gaps have their
constructed sizes, and the verdicts read a model's typical failures on a checkerboard."""
import math

import pytest
import torch

import distributions
from metrics.evaluate import support_tolerance
from metrics.verdicts import judge, placement


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _grid(lo, hi, n, dims):
    t = torch.linspace(lo, hi, n, dtype=torch.float64)
    return torch.cartesian_prod(*[t] * dims), float(t[1] - t[0]) ** dims


@pytest.mark.parametrize("knobs", [dict(noise=0.02, imbalance=4.0), dict(noise=0.05, gap=0.4, side=3),
                                   dict(noise=0.03, dim=1, ambient_dim=2, side=5)])
def test_density_integrates_to_one(knobs):
    d = distributions.make("boxes", **knobs)
    pts, cell = _grid(-1.4, 1.4, 701, 2)
    assert d.log_prob(pts).exp().sum().item() * cell == pytest.approx(1.0, abs=2e-3)


def test_noiseless_density_is_the_weight_over_the_volume_inside_and_zero_outside():
    d = distributions.make("boxes", noise=0.0, gap=0.3)
    x = d.sample(1000, generator=_g()).double()
    assert d.support_distance(x).max().item() == 0.0
    assert torch.allclose(d.log_prob(x), torch.full((1000,), math.log((1 / 8) / 0.35 ** 2), dtype=torch.float64))
    assert d.log_prob(torch.tensor([[0.0, 0.0]], dtype=torch.float64)).item() == -math.inf   # the corridor between
    far = distributions.make("boxes", noise=0.02).log_prob(torch.tensor([[10.0, 10.0]], dtype=torch.float64))
    assert math.isfinite(far.item()) and far.item() < -1e5


@pytest.mark.parametrize("side, dim, pieces", [(4, 2, 8), (3, 3, 14), (5, 1, 3), (1, 4, 1)])
def test_pieces_are_the_black_cells(side, dim, pieces):
    d = distributions.make("boxes", side=side, dim=dim)
    assert d.traits["n_components"] == pieces and len(d.component_weights) == pieces
    assert ("gap_distance" in d.capabilities) == (pieces > 1)


def test_component_gap_and_sample_shares():
    d = distributions.make("boxes", gap=0.3, noise=0.01, imbalance=4.0, ambient_dim=5, seed=2)
    # cells 0.5 wide, cubes 0.35: diagonal neighbours' nearest corners are 0.15 apart on each axis
    assert d.traits["component_gap"] == pytest.approx(0.15 * math.sqrt(2))
    x = d.sample(40000, generator=_g()).double()
    share = torch.bincount(d.component(x), minlength=8).double() / len(x)
    assert torch.allclose(share, d.component_weights.double(), atol=0.01)
    assert d.component_weights[0] / d.component_weights[-1] == pytest.approx(4.0)
    pts = d.support_points(800)
    assert d.support_distance(pts.double()).max().item() < 1e-6 and len(pts) == 8 * 10 ** 2


def _verdict(dist, x):
    tol = support_tolerance(dist, dist.sample(1000, generator=_g(9)), 3.0)[0]
    where = placement(dist, x.float(), tol)
    return where, judge(where, dist.component_weights)


BOARD = distributions.make("boxes", gap=0.5, noise=0.01)


def test_verdicts_on_a_checkerboard():
    where, v = _verdict(BOARD, BOARD.sample(2500, generator=_g()))
    assert v["learned"] and where["on_support"] > 0.95
    # the whole board filled: the white cells are blur, not bridges
    where, v = _verdict(BOARD, torch.rand(2500, 2, generator=_g(1)) * 2 - 1)
    assert v["blurred"] and not v["bridged"] and where["blur_mass"] > 0.5
    # half the mass on the middles of the segments joining diagonal neighbours (off the cubes): bridged
    a, b = BOARD._links
    t = 0.3 + 0.4 * torch.rand(1250, 1, generator=_g(2), dtype=torch.float64)
    k = torch.randint(0, len(a), (1250,), generator=_g(3))
    x = torch.cat([BOARD.sample(1250, generator=_g(4)).double(), a[k] + t * (b[k] - a[k])])
    where, v = _verdict(BOARD, x)
    assert v["bridged"] and where["gap_mass"] > 0.4
    # three of eight cubes: dropped
    x = BOARD.sample(8000, generator=_g(5)).double()
    x = x[BOARD.component(x) < 3][:2500]
    _, v = _verdict(BOARD, x)
    assert v["dropped_modes"] and v["held"] == [0, 1, 2]


@pytest.mark.parametrize("knobs, says", [(dict(side=20, dim=3), "side=20"), (dict(gap=1.0), "gap=1.0"),
                                         (dict(dim=3, ambient_dim=2), "ambient_dim=2"), (dict(side=0), "side=0")])
def test_bad_knobs_name_the_knob(knobs, says):
    with pytest.raises(ValueError, match=f"boxes: (unknown )?knob {says}") as e:
        distributions.make("boxes", **knobs)
    assert "\n" not in str(e.value)
