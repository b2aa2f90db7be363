"""The triangles family: exact rasterisation, blur, factors, gaps, knobs, determinism."""
import itertools
import math

import pytest
import torch

import distributions
from distributions import raster
from distributions.triangles import FACTORS, factors_from_vertices, orientation, vertices


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def shoelace(p):
    (ax, ay), (bx, by), (cx, cy) = (p[:, i].unbind(-1) for i in range(3))
    return 0.5 * ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)).abs()


def same_triangles(v, w):
    """Largest vertex distance under the best vertex ordering, per triangle."""
    return torch.stack([(w[:, list(p)] - v).norm(dim=-1).amax(1)
                        for p in itertools.permutations(range(3))], 1).amin(1)


def test_images_shape_range_polarity_and_factors_to_images():
    d = distributions.make("triangles")
    x, f = d.sample(200, generator=gen(1), return_factors=True)
    assert x.shape == (200, 1, 28, 28) and x.dtype == torch.float32 and d.event_shape == (1, 28, 28)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert set(f) == set(FACTORS) and f["component"].dtype == torch.int64
    assert torch.equal(d.render(f), x)                          # the factors generate the images
    light = distributions.make("triangles", polarity="light_on_dark")
    assert torch.allclose(light.render(f), 1 - x)
    assert torch.equal(distributions.make("triangles").sample(200, generator=gen(1)), x)
    assert not torch.equal(d.sample(200, generator=gen(2)), x)


def test_rasterised_area_matches_shoelace_within_one_percent():
    d = distributions.make("triangles", image_size=128, min_angle=20)
    f = d.sample_factors(100, generator=gen(3))
    cov = 1 - d.render(f)[:, 0]                                  # dark on light: coverage = 1 - x
    area = shoelace(d.pixels(vertices(f)))
    assert float(((cov.sum((1, 2)) - area) / area).abs().max()) < 0.01
    # outline of width w inside the edges: A - A (1 - w / r)^2, r the inradius
    out = distributions.make("triangles", image_size=128, style="outline", line_width=3.0)
    f = out.sample_factors(100, generator=gen(4))
    p = out.pixels(vertices(f))
    a = shoelace(p)
    r = 2 * a / (p - p.roll(1, 1)).norm(dim=-1).sum(1)
    want = a * (1 - (1 - 3.0 / r).clamp_min(0) ** 2)
    got = (1 - out.render(f)[:, 0]).sum((1, 2))
    assert float(((got - want) / want).abs().max()) < 0.01
    # the differentiable twin covers the same area, and looks the same at 28 x 28
    p = d.pixels(vertices(d.sample_factors(50, generator=gen(5))))
    soft = raster.soft_coverage(p.float(), 128).sum((1, 2))
    assert float(((soft - shoelace(p)) / shoelace(p)).abs().max()) < 0.01
    small = distributions.make("triangles")
    v = vertices(small.sample_factors(200, generator=gen(5))).float()
    assert float((small.draw(v, soft=True) - small.draw(v)).pow(2).mean().sqrt()) < 0.02


@pytest.mark.parametrize("width", [None, 1.5])
def test_vectorised_raster_equals_brute_force(width):
    v = torch.rand(200, 3, 2, generator=gen(6), dtype=torch.float64) * 30 - 1     # some outside the image
    for S in (1, 3, 8):
        assert torch.equal(raster.coverage(v, 28, S, width), raster.coverage_reference(v, 28, S, width))
    flat = torch.tensor([[[3.2, 5.1], [20.7, 5.1], [10.3, 20.6]], [[3.3, 5.1], [3.3, 20.2], [10.1, 20.2]]])
    assert torch.equal(raster.coverage(flat, 28, 8, width), raster.coverage_reference(flat, 28, 8, width))


def test_more_blur_never_sharpens():
    f = distributions.make("triangles").sample_factors(100, generator=gen(7))
    tv, grad = [], []
    for s in (0.0, 0.3, 0.6, 1.0, 1.5, 2.5, 4.0):
        x = distributions.make("triangles", blur=s).render(f)[:, 0].double()
        dx, dy = x.diff(dim=2).abs(), x.diff(dim=1).abs()
        tv.append(dx.sum((1, 2)) + dy.sum((1, 2)))
        grad.append(torch.maximum(dx.amax((1, 2)), dy.amax((1, 2))))
    for a, b in itertools.pairwise(tv):
        assert bool((b <= a + 1e-6).all())
    for a, b in itertools.pairwise(grad):
        assert bool((b <= a + 1e-6).all())
    assert float(tv[-1].mean()) < 0.8 * float(tv[0].mean())
    # the discrete Gaussian is a semigroup: blur 0.6 then 0.8 = blur 1.0 (small triangles: no
    # coverage leaves the image)
    small = distributions.make("triangles", scale_min=0.4, scale_max=0.45, jitter=0.0)
    c = 1 - small.render(small.sample_factors(50, generator=gen(7)))[:, 0]
    assert torch.allclose(raster.blur(raster.blur(c, 0.6), 0.8), raster.blur(c, 1.0), atol=1e-5)


@pytest.mark.parametrize("kw", [dict(n_components=3, gap_fraction=0.5),
                                dict(n_components=4, gap_fraction=0.3, rotation_range=90.0),
                                dict(n_components=2, gap_fraction=0.4, split="size", scale_min=0.3)])
def test_factor_histograms_show_the_gaps(kw):
    d = distributions.make("triangles", **kw)
    f = d.sample_factors(20000, generator=gen(8))
    value = f[d.split_factor].double()
    idx, inside = d.component_of(value)
    assert bool(inside.all()) and torch.equal(idx, f["component"])
    k = kw["n_components"]
    assert d.traits["n_components"] == k and d.traits["component_gap"] > 0
    counts = torch.bincount(idx, minlength=k).double() / len(idx)
    assert float((counts - 1 / k).abs().max()) < 0.02
    lo, hi = d.intervals[0][0], d.intervals[-1][1]
    hist = torch.histc(value, bins=200, min=lo, max=hi)
    centres = lo + (torch.arange(200, dtype=torch.float64) + 0.5) * (hi - lo) / 200
    in_piece = d.component_of(centres)[1]
    half_bin = (hi - lo) / 400
    near_edge = torch.stack([(centres - e).abs() < half_bin for iv in d.intervals for e in iv]).any(0)
    assert float(hist[~in_piece & ~near_edge].sum()) == 0          # nothing in the gaps
    assert bool((hist[in_piece & ~near_edge] > 0).all())           # every piece is filled


def test_factors_round_trip_and_rotation_is_invariant():
    for m in (5.0, 30.0, 55.0):
        d = distributions.make("triangles", min_angle=m)
        f = d.sample_factors(5000, generator=gen(9))
        g = factors_from_vertices(vertices(f))
        for k in g:
            err = (g[k] - f[k].double()).abs()
            if k == "rotation":
                err = torch.minimum(err, 120 - err)
            assert float(err.max()) < 1e-3, (m, k)
        assert float(f["angle_0"].min()) >= m - 1e-4 and float((180 - f["angle_0"] - f["angle_1"]).min()) >= m - 1e-4
    v = torch.rand(5000, 3, 2, generator=gen(10), dtype=torch.float64) - 0.5         # any triangle
    assert float(same_triangles(vertices(factors_from_vertices(v)), v).max()) < 1e-6
    psi = orientation(v)
    assert torch.allclose(orientation(v[:, [2, 0, 1]]), psi) and torch.allclose(orientation(v.flip(1)), psi)
    t = math.radians(25.0)
    rot = torch.tensor([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]], dtype=torch.float64)
    turned = orientation(v @ rot)
    diff = (turned - psi - 25.0).remainder(120)
    assert float(torch.minimum(diff, 120 - diff).max()) < 1e-6


def test_clip_keeps_the_support_and_moves_outsiders_in():
    d = distributions.make("triangles", n_components=3, gap_fraction=0.5, min_angle=40)
    f = d.sample_factors(500, generator=gen(11))
    c = d.clip(f)
    for k in FACTORS[:-1]:
        assert torch.allclose(c[k], f[k], atol=1e-4), k
    wild = {"scale": torch.full((4,), 0.9), "rotation": torch.tensor([25.0, 35.0, 115.0, 65.0]),
            "x": torch.tensor([0.3, -0.3, 0.0, 0.01]), "y": torch.zeros(4),
            "angle_0": torch.tensor([10.0, 60.0, 100.0, 45.0]), "angle_1": torch.tensor([80.0, 60.0, 30.0, 45.0])}
    c = d.clip(wild)
    assert bool(d.component_of(c["rotation"])[1].all())
    assert c["rotation"].tolist() == pytest.approx([20.0, 40.0, 0.0, 60.0], abs=1e-4)   # nearest ends
    a2 = 180 - c["angle_0"] - c["angle_1"]
    assert float(torch.stack([c["angle_0"], c["angle_1"], a2]).min()) >= 40 - 1e-4
    assert float(c["scale"].max()) <= 0.7 + 1e-6 and float(c["x"].abs().max()) <= 0.05 + 1e-6
    assert d.clip(wild, gaps=True)["rotation"].tolist() == pytest.approx([25.0, 35.0, 115.0, 65.0], abs=1e-4)


def test_traits_missing_and_data_module():
    d = distributions.make("triangles", n_components=2, gap_fraction=0.5, blur=0.5)
    assert d.capabilities == {"triangle_factors"} and set(d.missing) == {"log_prob", "support_distance", "modes"}
    with pytest.raises(NotImplementedError, match="no density"):
        d.log_prob(torch.zeros(1, 1, 28, 28))
    assert d.traits["intrinsic_dim"] == 6 and d.traits["blur"] == 0.5 and d.traits["gap_pixels"] > 0
    one = distributions.make("triangles", scale_min=0.6, scale_max=0.6, jitter=0.0, min_angle=60)
    assert one.traits["intrinsic_dim"] == 1
    from distributions.data import DistributionDataModule
    assert DistributionDataModule(d, batch_size=16, seed=1).batch().shape == (16, 1, 28, 28)


BAD = [
    (dict(image_size=4), "image_size", "4", ">= 8"),
    (dict(image_size=28.5), "image_size", "28.5", "an integer"),
    (dict(supersample=0), "supersample", "0", ">= 1"),
    (dict(scale_min=0.0), "scale_min", "0.0", "> 0"),
    (dict(scale_max=0.8), "scale_max", "0.8", "<= 0.75"),
    (dict(scale_min=0.6, scale_max=0.5), "scale_min", "0.6", "scale_max=0.5"),
    (dict(scale_max=0.75, jitter=0.1), "jitter", "0.1", "inside the image"),
    (dict(rotation_range=200.0), "rotation_range", "200.0", "<= 120"),
    (dict(jitter=-0.1), "jitter", "-0.1", ">= 0"),
    (dict(min_angle=61.0), "min_angle", "61.0", "<= 60"),
    (dict(min_angle=0.0), "min_angle", "0.0", ">= 1"),
    (dict(blur=-1.0), "blur", "-1.0", ">= 0"),
    (dict(blur=float("inf")), "blur", "inf", "a number"),
    (dict(style="dotted"), "style", "'dotted'", "'filled', 'outline'"),
    (dict(line_width=2.0), "line_width", "2.0", "'outline'"),
    (dict(style="outline", line_width=0.0), "line_width", "0.0", "> 0"),
    (dict(polarity="grey"), "polarity", "'grey'", "'dark_on_light'"),
    (dict(n_components=0), "n_components", "0", ">= 1"),
    (dict(n_components=3), "gap_fraction", "0.0", "needs gaps"),
    (dict(gap_fraction=1.0), "gap_fraction", "1.0", "< 1"),
    (dict(rotation_range=60.0, gap_fraction=0.2), "gap_fraction", "0.2", "no gap"),
    (dict(split="size", scale_min=0.5, scale_max=0.5, n_components=2, gap_fraction=0.2), "split", "'size'", "range"),
    (dict(rotation_range=0.0, n_components=2, gap_fraction=0.2), "split", "'rotation'", "range"),
    (dict(split="colour"), "split", "'colour'", "'rotation', 'size'"),
    (dict(size=28), "size", "28", "allowed knobs"),
]


@pytest.mark.parametrize("kw,name,value,allowed", BAD)
def test_invalid_knob_is_named(kw, name, value, allowed):
    with pytest.raises(ValueError) as err:
        distributions.make("triangles", **kw)
    msg = str(err.value)
    assert f"{name}={value}" in msg, msg
    assert allowed in msg, msg
    assert "\n" not in msg


def test_sample_rejects_bad_n_and_device():
    d = distributions.make("triangles")
    with pytest.raises(ValueError, match="n=-1"):
        d.sample(-1)
    with pytest.raises(ValueError, match="n=2.0"):
        d.sample(2.0, return_factors=True)
    assert d.sample(0).shape == (0, 1, 28, 28)
