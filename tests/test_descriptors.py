"""Model-free descriptors recover the knobs they mirror on the lab's own families (tolerances
stated per case), from samples alone."""
import math

import numpy as np
import pytest
import torch

import distributions
from metrics.descriptors import density_range, describe, describe_intervals, embed, local_geometry, mle, twonn


def curvature(x):
    return local_geometry(x)[1]


def sample(family, n=3000, **knobs):
    dist = distributions.make(family, **knobs)
    return dist, dist.sample(n, generator=torch.Generator().manual_seed(0)).numpy()


@pytest.mark.parametrize("d", [2, 5])
def test_intrinsic_dimension_of_a_uniform_cube(d):
    x = np.random.default_rng(0).random((3000, d))
    assert twonn(x) == pytest.approx(d, rel=0.1)               # TwoNN: within 10%
    assert mle(x) == pytest.approx(d, rel=0.2)                 # MLE (k = 10) runs low with boundaries: 20%


def test_intrinsic_dimension_of_an_embedded_mixture():
    _, x = sample("mixture", layout="random", n_modes=1, dim=3, ambient_dim=12)
    r = describe(x)
    assert r["ambient_dim"] == 12 and r["intrinsic_dim_twonn"] == pytest.approx(3, abs=0.4)
    assert r["noise_thickness"] < 1e-6                         # flat: nothing off the 3-D subspace


@pytest.mark.parametrize("k", [1, 2, 4, 8])
@pytest.mark.parametrize("noise", [0.001, 0.02])
def test_components_and_loops_of_a_circle_cut_into_arcs(k, noise):
    _, x = sample("manifold", shape="circle", n_components=k, gap_fraction=0.3 if k > 1 else 0.0, noise=noise)
    runs = [describe(x, seed=s) for s in range(3)]          # a sparse subsample can split an arc (~1 in 60)
    assert sum(r["components"] == k and r["loops"] == (1 if k == 1 else 0) for r in runs) >= 2
    r = runs[0]
    assert r["noise_thickness"] == pytest.approx(noise, rel=0.3)   # the curve's noise, within 30%
    assert r["spectral_gap"] < 1e-3                            # a long cycle or pieces: barely connected


@pytest.mark.parametrize("ambient", [2, 8, 32, 128])
@pytest.mark.parametrize("shape, noise", [("circle", 0.01), ("circle", 0.04), ("spiral", 0.02)])
def test_noise_thickness_is_the_noise_in_any_ambient_dimension(shape, noise, ambient):
    _, x = sample("manifold", n=1000, shape=shape, noise=noise, ambient_dim=ambient)
    assert local_geometry(x)[0] == pytest.approx(noise, rel=0.15)   # noise on every one of d - 1 normal axes


def test_separation_and_imbalance_of_a_ring():
    dist, x = sample("mixture", layout="ring", n_modes=8, std=0.05, imbalance=4)
    r = describe(x)
    assert r["components"] == 8 and r["loops"] == 0
    assert r["separation"] == pytest.approx(dist.traits["min_separation"], rel=0.15)
    assert r["imbalance"] == pytest.approx(4, rel=0.4)          # the lightest of 8 modes holds ~30 points
    _, x = sample("mixture", layout="grid", n_modes=25, std=0.05)
    assert describe(x)["components"] == 25


@pytest.mark.parametrize("family, knobs, pieces", [
    ("boxes", dict(gap=0.3), 8), ("boxes", dict(gap=0.5, dim=3, side=3), 14),
    ("torus", dict(k=2, arcs=3, gap_fraction=0.3), 9), ("torus", dict(k=3, arcs=2, gap_fraction=0.4), 8),
    ("torus", dict(k=2, arcs=2, gap_fraction=0.4, ambient_dim=12), 4),
    ("mixture", dict(layout="random", n_modes=16, separation=8, dim=5), 16),
    ("manifold", dict(shape="moons", noise=0.04), 2), ("manifold", dict(shape="two_circles", noise=0.04, ambient_dim=32), 2)])
def test_separated_pieces_of_any_dimension_are_components(family, knobs, pieces):
    """The scale follows the data's dimension: a fixed 15 medians (right for curves) merged these
    pieces (one component in most subsamples). Limit: 2 x 2 x 2 x 2 grid modes 8 stds apart in 4-D read as 11-12 (62
    points a mode: their tails nearly touch at this sample size)."""
    _, x = sample(family, n=5000, **knobs)
    assert sum(describe(x, seed=s)["components"] == pieces for s in range(3)) >= 2


def test_loops_of_a_torus_are_its_circles():
    """H1 of the product of k circles has rank k: the uncut 2-torus has two loops, cut into arcs none."""
    _, x = sample("torus", n=5000, k=2, noise=0.02)
    assert [describe(x, seed=s)["loops"] for s in range(2)] == [2, 2]
    _, x = sample("torus", n=5000, k=2, arcs=2, gap_fraction=0.3, noise=0.02)
    assert describe(x)["loops"] == 0


def test_density_range_tells_flat_from_peaked():
    """Uniform data read the k-NN estimate's own spread (log(q90 / q10) of Gamma(10) = 0.83, plus
    the faces of a cube), Gaussian data their log density's range (exact 2.2 for a 2-D standard
    Gaussian); on the lab's families a checkerboard reads flat and a ring of modes peaked."""
    rng = np.random.default_rng(0)
    assert density_range(rng.random((1000, 1)), 1) == pytest.approx(0.83, abs=0.12)
    for d in (2, 3):
        assert 0.65 < density_range(rng.random((1000, d)), d) < 1.3
    assert density_range(rng.normal(size=(1000, 2)), 2) == pytest.approx(2.2, abs=0.35)
    board = describe(sample("boxes", gap=0.3, noise=0.005)[1])["density_range"]
    ring = describe(sample("mixture", layout="ring", n_modes=8, std=0.05)[1])["density_range"]
    assert board < 1.1 and ring > 1.5


def test_overlapping_modes_are_one_component():
    _, x = sample("mixture", layout="ring", n_modes=8, std=0.2)     # separation 3.8 stds
    r = describe(x)
    assert r["components"] == 1 and math.isnan(r["separation"]) and math.isnan(r["imbalance"])


@pytest.mark.parametrize("radius, noise", [(0.5, 0.005), (1.0, 0.02), (2.0, 0.02)])
def test_curvature_of_a_circle_is_one_over_its_radius(radius, noise):
    _, x = sample("manifold", n=1000, shape="circle", radius=radius, noise=noise)
    assert curvature(x) == pytest.approx(1 / radius, rel=0.05)
    _, x = sample("manifold", n=1000, shape="circle", radius=radius, noise=noise, ambient_dim=16)
    assert curvature(x) == pytest.approx(1 / radius, rel=0.25)   # 15 noisy normal directions


def test_curvature_of_flat_data_and_of_a_wavy_ring():
    _, x = sample("manifold", n=1000, shape="line", noise=0.0)
    assert curvature(x) == 0.0
    _, x = sample("mixture", n=1000, layout="ring", n_modes=8, dim=3, ambient_dim=12)
    assert curvature(x) < 1e-4                                  # flat 3-D modes in 12 dimensions
    _, x = sample("mixture", n=1000, layout="ring", n_modes=8)    # round modes fill the plane
    assert curvature(x) == 0.0
    _, x = sample("mixture", n=1000, layout="ring", n_modes=8, dim=8, ambient_dim=16)
    assert math.isnan(curvature(x))                             # local dimension 8 > 5: not measured
    theta = np.linspace(0, 2 * np.pi, 200_001)
    for freq, amp, rel in ((2, 0.1, 0.05), (3, 0.1, 0.05), (6, 0.1, 0.08), (3, 0.2, 0.05), (6, 0.2, 0.2)):
        r, r1, r2 = 1 + amp * np.sin(freq * theta), amp * freq * np.cos(freq * theta), -amp * freq ** 2 * np.sin(freq * theta)
        kappa, ds = np.abs(r ** 2 + 2 * r1 ** 2 - r * r2) / (r ** 2 + r1 ** 2) ** 1.5, np.hypot(r, r1)
        rms = math.sqrt((kappa ** 2 * ds).sum() / ds.sum())     # the polar curve's RMS curvature by length
        _, x = sample("manifold", n=1000, shape="wavy_ring", frequency=freq, amplitude=amp, noise=0.005)
        assert curvature(x) == pytest.approx(rms, rel=rel), (freq, amp)


def test_images_and_graphs_have_a_stated_embedding():
    _, imgs = sample("triangles", n=600)
    pts, how = embed(imgs)
    assert pts.shape == (600, 64) and "random projection" in how
    assert np.allclose(embed(imgs)[0], pts)                     # fixed projection
    _, graphs = sample("graphs", n=600, n_nodes=12)
    pts, how = embed(graphs)
    assert pts.shape == (600, 24) and how.startswith("graphs")
    assert np.allclose(pts[:, :12], np.sort(graphs.sum(2), 1))  # sorted degrees
    r = describe(graphs)
    assert r["components"] >= 1 and 0 < r["intrinsic_dim_twonn"] < 24


def test_intervals_and_bad_input():
    _, x = sample("mixture", layout="ring", n_modes=8, std=0.02, n=2000)
    iv = describe_intervals(x, n_boot=3, n_sub=500)
    mean, lo, hi = iv["separation"]
    assert lo <= mean <= hi and iv["components"] == (8.0, 8.0, 8.0)
    bad = x.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="1 of 2000 samples have non-finite values"):
        describe(bad)
    with pytest.raises(ValueError, match="10 distinct samples are too few; expected at least 50"):
        describe(x[:10])
    with pytest.raises(ValueError, match=r"shape \(5, 2, 3, 4, 5\) is not allowed"):
        describe(np.zeros((5, 2, 3, 4, 5)))


def test_describe_command_on_a_family_and_on_user_files(tmp_path, capsys):
    from learnlab.cli import main
    assert main(["describe", "manifold", "--shape", "circle", "--n_components", "4", "--gap_fraction", "0.3",
                 "--n", "2000", "--boot", "2"]) == 0
    out = capsys.readouterr().out
    assert "components                    4   [4, 4]" in out and "loops                         0" in out
    rng = np.random.default_rng(0)
    np.save(tmp_path / "p.npy", rng.normal(size=(600, 3)))
    np.savetxt(tmp_path / "p.csv", rng.random((300, 2)), delimiter=",")
    for name in ("p.npy", "p.csv"):
        assert main(["describe", str(tmp_path / name), "--boot", "2"]) == 0
        out = capsys.readouterr().out
        assert f"file {tmp_path / name}" in out and "separation           n/a (fewer than two components)" in out
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    np.save(tmp_path / "nan.npy", np.full((100, 2), np.nan))
    for argv, needle in ((["describe", str(tmp_path / "ragged.csv")], "cannot be read as numbers"),
                         (["describe", str(tmp_path / "nan.npy")], "100 of 100 samples have non-finite values"),
                         (["describe", str(tmp_path / "none.npy")], "does not exist"),
                         (["describe", str(tmp_path / "p.npy"), "--n_modes", "3"], "knobs are for a family"),
                         (["describe", "blobs"], "unknown family 'blobs'")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
