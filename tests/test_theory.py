"""The theory check: a generator's Lipschitz constant (models.lipschitz, certified and measured),
the push-forward bound and its slack (analysis.theory), on known answers and the committed study."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.stats import norm

import distributions
import models
from analysis import theory
from analysis.table import read_export
from metrics.evaluate import chi_threshold, support_tolerance
from models import lipschitz

ROOT = Path(__file__).resolve().parent.parent
GAN = {"model": "gan", "latent_dim": 3, "g_width": 16, "g_depth": 2, "d_width": 16, "d_depth": 1}


def test_linear_generator_constant_is_its_weights_norm():
    """depth 0: G(z) = W z + c, so the Jacobian is W everywhere: local = certified = ||W||_2."""
    m = models.build({**GAN, "g_depth": 0}, 2, seeds=[4])
    W = m.generator.member_weights(0)[0]
    out = m.lipschitz(0, torch.Generator().manual_seed(0), n=50)
    exact = torch.linalg.matrix_norm(W.double(), ord=2).item()
    assert out["g_lipschitz_local"] == pytest.approx(exact, rel=1e-5)
    assert out["g_lipschitz_bound"] == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("L", [0.5, 3.0])
def test_bounded_generator_is_at_most_L_and_local_matches_autograd(L):
    """Spectral-normalised layers x L: the certified constant is L (to the power iteration's accuracy),
    the measured one is below it and equals the Jacobian norm torch.autograd.functional computes."""
    m = models.build({**GAN, "g_lipschitz": L}, 2, seeds=[0, 1])
    g = torch.Generator().manual_seed(1)
    out = m.lipschitz(1, g, n=200)
    assert out["g_lipschitz_bound"] == pytest.approx(L, rel=2e-2)
    assert 0 < out["g_lipschitz_local"] <= out["g_lipschitz_bound"] * (1 + 1e-9)
    z = m._latents(200, torch.Generator().manual_seed(1), k=1)[0]
    net = m.generator.eval()
    f = lambda zz: m._generate(zz[None, None], None, net, slice(1, 2))[0, 0]
    ref = max(torch.linalg.matrix_norm(torch.autograd.functional.jacobian(f, zi).double(), ord=2).item() for zi in z)
    assert out["g_lipschitz_local"] == pytest.approx(ref, rel=1e-6)
    x = m.sample(1000, torch.Generator().manual_seed(2), member=1)      # samples carry the scale
    assert torch.isfinite(x).all()


def test_bound_and_slack_known_answers():
    assert theory.bound(0.0) == pytest.approx(1.0)
    assert theory.bound(2 * 1.959963985) == pytest.approx(0.05, abs=1e-6)
    r = np.array([0.3, 1.0, 4.0])
    a = norm.cdf(-r / 2)                      # the equal split of the optimal (half-space) generator
    assert theory.slack(a, a, r) == pytest.approx(np.zeros(3), abs=1e-9)
    assert theory.slack(0.0, 1.0, 5.0) == -np.inf            # all mass on one piece is allowed
    assert theory.slack(0.4, 0.4, 2.0) > 0                    # too much mass on both for r = 2


def test_optimal_generator_meets_the_bound_and_a_bounded_one_never_beats_it():
    """G(z) = L z_1 onto a line cut at [-D/2, D/2] is the half-space split, which the bound says is
    best: its masses are Phi(-D / 2L) each (slack 0 up to sampling). A random generator bounded by L
    (certified) never has a positive slack beyond sampling error."""
    z = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    L, D = 1.5, 1.2
    x = L * z[:, 0]
    a, b = (x < -D / 2).double().mean().item(), (x > D / 2).double().mean().item()
    assert a == pytest.approx(norm.cdf(-D / (2 * L)), abs=3e-3)
    assert abs(theory.slack(a, b, D / L)) < 0.02
    for seed in range(3):
        m = models.build({**GAN, "latent_dim": 2, "g_lipschitz": L}, 2, seeds=[seed])
        L_cert = m.lipschitz(0, torch.Generator().manual_seed(0), n=10)["g_lipschitz_bound"]
        y = m.sample(20_000, torch.Generator().manual_seed(seed))[:, 0].double()
        centre = y.median().item()                # the cut where a random map puts the most on both sides
        a, b = (y < centre - D / 2).double().mean().item(), (y > centre + D / 2).double().mean().item()
        lo = [max(v - 3 * math.sqrt(v * (1 - v) / len(y)), 0.0) for v in (a, b)]
        assert theory.slack(*lo, D / L_cert) <= 0


def _study_data() -> dict:
    raw = yaml.safe_load((ROOT / "experiments/configs/figures/theory.yaml").read_text())
    return raw["data"], raw["grid"]["data.gap_fraction"]


def test_tolerance_is_the_evaluations():
    data, gaps = _study_data()
    knobs = {k: v for k, v in data.items() if k not in ("family", "n_train")}
    for g in gaps:
        dist = distributions.make(data["family"], **{**knobs, "gap_fraction": g})
        real = dist.sample(5000, generator=torch.Generator().manual_seed(0))
        tol = support_tolerance(dist, real, chi_threshold(dist.traits["intrinsic_dim"]))[0]
        codim = dist.traits["ambient_dim"] - dist.traits["intrinsic_dim"]
        assert theory.tolerance(dist.traits["noise"], codim) == pytest.approx(tol, rel=1e-12)


@pytest.mark.parametrize("study", ["fig-theory-quick", "fig-theory"])
def test_committed_study_never_beats_the_certified_bound(study):
    if not (ROOT / "results" / f"{study}.csv.gz").is_file():
        pytest.skip(f"{study} is not exported")
    df = read_export(study, ROOT / "results")
    table = theory.rows(df, n_samples=2500)
    bounded = table[table["model"].str.contains("_L")]
    assert len(bounded) and (bounded["slack_lo_bound"] <= 0).all()
    assert (table["on_support"] <= 1).all() and (table["a"] <= table["b"]).all()
    with pytest.raises(ValueError, match="n_samples=2499"):
        theory.rows(df, n_samples=2499)
