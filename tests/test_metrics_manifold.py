"""prdc / coverage / support_coverage: exact agreement with plain full-matrix references (ties
included), known answers, bad input."""
import math

import pytest
import torch

import distributions
from metrics.manifold import coverage, knn_radii, prdc, support_coverage
from metrics.pairwise import choose_dtype


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def dist_matrix(a, b):
    """Plain brute force: float64 differences, no matmul."""
    return ((a.double()[:, None] - b.double()[None]) ** 2).sum(-1).sqrt()


def prdc_reference(real, fake, k):
    r_real = dist_matrix(real, real).sort(dim=1).values[:, k]    # column 0 is the point itself
    r_fake = dist_matrix(fake, fake).sort(dim=1).values[:, k]
    d = dist_matrix(real, fake)
    in_real = d < r_real[:, None]
    in_fake = d < r_fake[None, :]
    return {"precision": in_real.any(0).double().mean().item(),
            "recall": in_fake.any(1).double().mean().item(),
            "density": in_real.sum().item() / (k * fake.shape[0]),
            "coverage": in_real.any(1).double().mean().item()}


def cases():
    g = gen(0)
    yield "gauss-1d", torch.randn(300, 1, generator=g), torch.randn(200, 1, generator=g) + 0.3
    yield "gauss-2d", torch.randn(300, 2, generator=g), 1.3 * torch.randn(250, 2, generator=g)
    yield "gauss-64d", torch.randn(200, 64, generator=g), torch.randn(220, 64, generator=g) + 0.1
    # integer grids: many exact ties at the strict < and duplicated points
    yield "grid-ties", torch.randint(0, 15, (300, 2), generator=g).float(), torch.randint(0, 15, (260, 2), generator=g).float()
    yield "grid-ties-3d", torch.randint(0, 5, (250, 3), generator=g).float() + 100, torch.randint(0, 5, (200, 3), generator=g).float() + 100
    # tight modes far from the origin (sigma 0.01 at radius 1): the matmul's rounding matters here
    ring = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)
    yield "ring", ring.sample(300, generator=g), ring.sample(280, generator=g)


@pytest.mark.parametrize("name, real, fake", list(cases()), ids=[c[0] for c in cases()])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_equals_brute_force_exactly(name, real, fake, k):
    ref = prdc_reference(real, fake, k)
    assert prdc(real, fake, k) == ref
    assert prdc(real, fake, k, chunk=777, dtype=torch.float32) == ref   # many chunks, ragged last one
    assert prdc(real, fake, k, chunk=5000, dtype=torch.float64) == ref
    assert coverage(real, fake, k) == ref["coverage"]
    assert torch.equal(knn_radii(real, k), dist_matrix(real, real).sort(dim=1).values[:, k])


def test_threaded_blocks_give_the_same_answer():
    """On CPU with several torch threads the blocks run on a thread pool (the suite itself runs
    single-threaded): same numbers, and the thread setting comes back."""
    from metrics.distances import mmd
    real, fake = torch.randn(900, 3, generator=gen(12)), torch.randn(700, 3, generator=gen(13))
    ref = prdc_reference(real, fake, 4)
    before = torch.get_num_threads()
    one = mmd(real, fake)
    torch.set_num_threads(2)
    try:
        assert prdc(real, fake, 4, chunk=20000) == ref
        assert mmd(real, fake) == one                 # sums grouped alike: bitwise the same
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_collapsed_and_duplicated_fakes():
    real = torch.randn(400, 3, generator=gen(8))
    noise = torch.randn(200, 3, generator=gen(9))
    for fake in (torch.full((300, 3), 0.3), torch.cat([torch.full((200, 3), 0.3), noise]),
                 torch.cat([torch.full((200, 3), 0.3), 0.3 + 1e-7 * noise])):   # below float32 resolution
        assert prdc(real, fake, 5) == prdc_reference(real, fake, 5)


def test_dtype_choice():
    centre = torch.zeros(2, dtype=torch.float64)
    ring = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)
    gauss = torch.randn(1000, 2, generator=gen(10))
    assert choose_dtype((gauss, gauss + 0.5), centre, 5) == torch.float32
    assert choose_dtype((gauss, ring.sample(1000, generator=gen(11))), centre, 5) == torch.float64
    assert choose_dtype((gauss, torch.zeros(100, 2)), centre, 5) == torch.float64


def test_far_points_give_zero_precision():
    real = torch.randn(500, 2, generator=gen(1))
    out = prdc(real, real[:400] + 100.0, 3)
    assert out == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_same_distribution_coverage_near_one_minus_two_to_minus_k():
    k, n = 5, 3000
    real, fake = torch.randn(n, 2, generator=gen(2)), torch.randn(n, 2, generator=gen(3))
    out = prdc(real, fake, k)
    expected = 1 - math.prod((n - i) / (2 * n - i) for i in range(1, k + 1))   # Naeem et al., ~ 1 - 2^-k
    assert abs(expected - (1 - 2 ** -k)) < 1e-3
    assert abs(out["coverage"] - expected) < 0.02
    assert abs(out["density"] - 1) < 0.05
    assert out["precision"] > 0.9 and out["recall"] > 0.9


def test_support_coverage_on_a_hand_built_segment():
    support = torch.stack([torch.linspace(0, 1, 501), torch.zeros(501)], dim=1)
    real = torch.stack([torch.rand(2000, generator=gen(4)), torch.zeros(2000)], dim=1)
    full = torch.stack([torch.rand(2000, generator=gen(5)), torch.zeros(2000)], dim=1)
    half = full * torch.tensor([0.5, 1.0])
    assert support_coverage(support, real, full, 5) > 1 - 2 ** -5 - 0.03
    assert abs(support_coverage(support, real, half, 5) - 0.5) < 0.03


def test_support_coverage_reference_and_manifold():
    dist = distributions.make("manifold", shape="circle", noise=0.02)
    pts, real = dist.support_points(400), dist.sample(1500, generator=gen(6))
    fake = dist.sample(1500, generator=gen(7))
    k = 3
    radius = dist_matrix(pts, real).sort(dim=1).values[:, k - 1]
    expected = (dist_matrix(pts, fake) < radius[:, None]).any(1).double().mean().item()
    assert support_coverage(pts, real, fake, k) == expected
    upper = fake[fake[:, 1] > 0]
    assert abs(support_coverage(pts, real, upper, k) - 0.5) < 0.05


def test_bad_arguments():
    x, y = torch.randn(10, 2), torch.randn(8, 2)
    with pytest.raises(ValueError, match=r"k=8 is not allowed.*<= 7.*k < m=8"):
        prdc(x, y, 8)
    with pytest.raises(ValueError, match=r"k=0 is not allowed.*>= 1"):
        prdc(x, y, 0)
    with pytest.raises(ValueError, match=r"fake has dimension D=3.*real, D=2"):
        prdc(x, torch.randn(8, 3), 3)
    with pytest.raises(ValueError, match=r"real has 0 rows.*at least 1"):
        prdc(torch.zeros(0, 2), y, 3)
    with pytest.raises(ValueError, match=r"fake has shape \(8,\).*\[n, D\]"):
        prdc(x, torch.zeros(8), 3)
    with pytest.raises(ValueError, match=r"fake has 1 rows with non-finite values"):
        prdc(x, torch.cat([y, torch.full((1, 2), float("nan"))]), 3)
    with pytest.raises(ValueError, match=r"dtype=torch.float16 is not allowed"):
        prdc(x, y, 3, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"k=10 is not allowed.*k < n=10"):
        knn_radii(x, 10)
