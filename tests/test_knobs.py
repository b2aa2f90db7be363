"""Every invalid knob raises a ValueError naming the knob, the value and what is allowed."""
import pytest

import distributions

BAD = [
    ("mixture", dict(n_modes=0), "n_modes", "0", ">= 1"),
    ("mixture", dict(n_modes=2.5), "n_modes", "2.5", "an integer"),
    ("mixture", dict(n_modes="8"), "n_modes", "'8'", "an integer"),
    ("mixture", dict(n_modes=True), "n_modes", "True", "an integer"),
    ("mixture", dict(std=0.0), "std", "0.0", "> 0"),
    ("mixture", dict(std=-1.0), "std", "-1.0", "> 0"),
    ("mixture", dict(std=float("nan")), "std", "nan", "a number"),
    ("mixture", dict(layout="spiral"), "layout", "'spiral'", "'ring', 'grid', 'random'"),
    ("mixture", dict(anisotropy=0.5), "anisotropy", "0.5", ">= 1"),
    ("mixture", dict(imbalance=0.9), "imbalance", "0.9", ">= 1"),
    ("mixture", dict(dim=3, ambient_dim=2), "ambient_dim", "2", ">= dim=3"),
    ("mixture", dict(layout="grid", n_modes=8), "n_modes", "8", "perfect power"),
    ("mixture", dict(layout="grid", radius=1.0, n_modes=4), "radius", "1.0", "spacing"),
    ("mixture", dict(layout="ring", spacing=2.0), "spacing", "2.0", "'grid'"),
    ("mixture", dict(layout="ring", dim=1), "dim", "1", "dim >= 2"),
    ("mixture", dict(n_mode=8), "n_mode", "8", "allowed knobs"),
    ("manifold", dict(gap_fraction=1.0), "gap_fraction", "1.0", "< 1"),
    ("manifold", dict(gap_fraction=-0.1), "gap_fraction", "-0.1", ">= 0"),
    ("manifold", dict(n_components=0), "n_components", "0", ">= 1"),
    ("manifold", dict(n_components=3), "gap_fraction", "0.0", "needs gaps"),
    ("manifold", dict(shape="line", gap_fraction=0.2), "gap_fraction", "0.2", "no gap"),
    ("manifold", dict(shape="moons", n_components=3, gap_fraction=0.1), "n_components", "3", "fixed components"),
    ("manifold", dict(shape="torus"), "shape", "'torus'", "'circle'"),
    ("manifold", dict(noise=-0.1), "noise", "-0.1", ">= 0"),
    ("manifold", dict(shape="swiss_roll", ambient_dim=2), "ambient_dim", "2", ">= 3"),
    ("manifold", dict(shape="circle", frequency=3), "frequency", "3", "wavy_ring"),
    ("manifold", dict(shape="wavy_ring", amplitude=1.0), "amplitude", "1.0", "< 1"),
    ("manifold", dict(shape="circle", length=2.0), "length", "2.0", "line"),
]


@pytest.mark.parametrize("family,kw,name,value,allowed", BAD)
def test_invalid_knob_is_named(family, kw, name, value, allowed):
    with pytest.raises(ValueError) as err:
        distributions.make(family, **kw)
    msg = str(err.value)
    assert f"{name}={value}" in msg or f"{name!r}" in msg, msg
    assert allowed in msg, msg
    assert "\n" not in msg


def test_unknown_family():
    with pytest.raises(ValueError, match="unknown family 'gaussians'.*manifold, mixture"):
        distributions.make("gaussians")


def test_sample_rejects_bad_n():
    d = distributions.make("mixture")
    with pytest.raises(ValueError, match="n=-1"):
        d.sample(-1)


def test_families_describe_every_knob():
    fams = distributions.families()
    assert {"mixture", "manifold"} <= set(fams)
    for fam in fams.values():
        desc = fam.describe()
        assert desc["summary"]
        for name, knob in desc["knobs"].items():
            assert {"type", "default", "allowed", "meaning"} <= set(knob), name
            assert knob["meaning"] and knob["allowed"]
    assert fams["mixture"].describe()["knobs"]["n_modes"]["allowed"] == "an integer >= 1 and <= 4096"


def test_defaults_build_and_ints_are_accepted_for_floats():
    for name, fam in distributions.families().items():
        if not any(k.required for k in fam.knobs.values()):     # file: its path is required
            distributions.make(name)
    assert distributions.make("mixture", std=1).params["std"] == 1.0
