"""models/diffusion.py: the forward process against its closed form, the sampler and the likelihood
bound against a Gaussian's exact noise predictor, a DDPM trained on a 2-D Gaussian reproducing it,
divergence, and a run through the project's runner."""
import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

import models
from models.diffusion import schedule
from test_members import Batches                     # tests/ is on sys.path (conftest.py)

MEAN, COV = torch.tensor([1.0, -2.0]), torch.tensor([[2.0, 0.6], [0.6, 0.5]])
TRUE = torch.distributions.MultivariateNormal(MEAN, COV)
SMALL = {"model": "diffusion", "width": 64, "depth": 2, "timesteps": 100, "batch_size": 256}


def gaussian(*shape: int, seed: int) -> torch.Tensor:
    """Draws [*shape, 2] of TRUE from a seeded generator."""
    z = torch.randn(*shape, 2, generator=torch.Generator().manual_seed(seed))
    return MEAN + z @ torch.linalg.cholesky(COV).T


def fit(module, steps, per_batch=50, seed=0, x=None):
    """Train ``steps`` steps on fresh draws of TRUE (or on the batches ``x``)."""
    x = gaussian(steps // per_batch, per_batch, module.config["batch_size"], seed=seed) if x is None else x
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, max_steps=steps)
    trainer.fit(module, train_dataloaders=Batches(x))
    return module


def z_scores(s: torch.Tensor, cov_bias: float = 0.0) -> torch.Tensor:
    """(sample moment - true moment) / its standard error under the true Gaussian: mean x, mean y,
    var x, cov xy, var y (Var s_ij = (S_ii S_jj + S_ij^2) / n); ``cov_bias`` a relative error of
    the covariance forgiven first."""
    n, v = len(s), COV.diagonal()
    se_c = ((v[:, None] * v[None] + COV ** 2) / n).sqrt()
    err_c = ((torch.cov(s.T) - COV).abs() - cov_bias * COV.abs()).clamp(min=0)
    return torch.cat([(s.mean(0) - MEAN) / (v / n).sqrt(), (err_c / se_c).flatten()[[0, 1, 3]]])


def exact_eps(module):
    """The Bayes-optimal noise predictor for TRUE: E[eps | x_t] = sqrt(1 - a) S_t^-1 (x_t - sqrt(a) mu)."""
    def eps(x_t, t, members=None, ema=False):
        a = (module.sqrt_ab[t].double() ** 2)[..., None, None]
        cov_t = a * COV.double() + (1 - a) * torch.eye(2, dtype=torch.float64)
        r = (x_t.double() - a.sqrt()[..., 0] * MEAN.double()).unsqueeze(-1)
        return ((1 - a).sqrt() * torch.linalg.solve(cov_t, r)).squeeze(-1).to(x_t)
    return eps


# -- schedule and forward process -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_has_its_closed_form_and_ends_near_noise(kind):
    for T in (100, 1000):
        betas, ab = schedule(kind, T)
        t = torch.arange(T + 1, dtype=torch.float64)
        if kind == "linear":           # Ho et al.'s 1e-4..0.02 at T = 1000, scaled by 1000 / T
            want = torch.cat([t.new_zeros(1), (1e-4 + (t[1:] - 1) / (T - 1) * (0.02 - 1e-4)) * 1000 / T])
            torch.testing.assert_close(betas, want, rtol=1e-12, atol=1e-15)
        else:                          # alpha_bar = f(t) / f(0) wherever the 0.999 clip is not hit
            f = torch.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2
            torch.testing.assert_close(ab[:-1], (f / f[0])[:-1], rtol=1e-10, atol=1e-15)
            assert betas[-1] == 0.999
        torch.testing.assert_close(ab, torch.cumprod(1 - betas, 0))
        assert ab[0] == 1 and (ab[1:] < ab[:-1]).all() and ab[-1] < 1e-4, ab[-1]
    # the T-step Markov chain x_t = sqrt(1 - b_t) x_{t-1} + sqrt(b_t) z has q(x_t | x_0)'s moments
    m, v = 1.0, 0.0
    for b, a in zip(betas.tolist()[1:], ab.tolist()[1:]):
        m, v = math.sqrt(1 - b) * m, (1 - b) * v + b
        assert m == pytest.approx(math.sqrt(a), rel=1e-9) and v == pytest.approx(1 - a, rel=1e-9)


def test_q_sample_draws_have_the_closed_form_moments():
    module = models.build({**SMALL, "timesteps": 1000}, data_dim=2)
    n, x0 = 200_000, torch.tensor([1.0, -2.0])
    for step in (1, 10, 500, 1000):
        eps = torch.randn(1, n, 2, generator=torch.Generator().manual_seed(step))
        x_t = module.q_sample(x0.expand(1, n, 2), torch.full((1, n), step), eps)[0]
        a = module.alpha_bar[step]
        sd = math.sqrt(1 - a)
        assert (x_t.mean(0) - math.sqrt(a) * x0).abs().max() < 4 * sd / math.sqrt(n)
        assert (x_t.var(0) / (1 - a) - 1).abs().max() < 4 * math.sqrt(2 / n)


# -- the exact noise predictor: sampler and bound without training ----------------------------------
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_exact_predictor_samples_the_gaussian_and_its_bound_is_tight(kind):
    module = models.build({**SMALL, "schedule": kind}, data_dim=2)
    module.eps = exact_eps(module)
    s = module.sample(20_000, generator=torch.Generator().manual_seed(0))        # 100 steps = the chain
    # the 100-step chain shrinks the covariance by ~1-2% (n = 100000: cov xy 0.588 and 0.590; 1000
    # steps: 0.603 and 0.597): within 4 standard errors of 20000 samples once 2% is forgiven
    assert z_scores(s, cov_bias=0.02).abs().max() < 4, (z_scores(s), torch.cov(s.T))
    x = gaussian(4000, seed=101)
    gap = TRUE.log_prob(x) - module.elbo(x, generator=torch.Generator().manual_seed(1))
    se = gap.std().item() / math.sqrt(len(gap))
    # a bound (E gap >= 0: not significantly negative) and a tight one (0.040 +- 0.026 and 0.040 +- 0.025)
    assert -4 * se < gap.mean().item() < 0.15, (gap.mean().item(), se)


# -- a model trained on the Gaussian ---------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    return fit(models.build(SMALL, data_dim=2, seeds=[0]), 1500)


def test_trained_samples_reproduce_the_gaussian(trained):
    assert trained.status(0) == "complete" and trained.steps == 1500
    s = trained.sample(10_000, generator=torch.Generator().manual_seed(1))       # sample_steps = 100
    assert s.shape == (10_000, 2) and s.dtype == torch.float32
    z = z_scores(s)
    assert z.abs().max() < 4, z               # measured |z| <= 1.1 (EMA on; without it up to 16)


def test_sample_steps_one_and_all(trained):
    g = torch.Generator()
    many = trained.sample(4000, generator=g.manual_seed(2), steps=100)           # every step of T = 100
    one = trained.sample(4000, generator=g.manual_seed(2), steps=1)
    assert torch.isfinite(one).all() and torch.isfinite(many).all()
    # the config key: a module built with sample_steps 1 samples as steps=1 does
    alone = models.build({**SMALL, "sample_steps": 1}, data_dim=2)
    alone.load_state_dict(trained.state_dict())
    assert torch.equal(alone.sample(4000, generator=g.manual_seed(2)), one)
    z_many, z_one = z_scores(many).abs().max(), z_scores(one).abs().max()
    # measured 1.3 and 16000: one step predicts x_0 from pure noise, its error amplified 1 / sqrt(a_T) = 220x
    assert z_many < 4 and z_one > 25 * z_many, (z_many, z_one)
    with pytest.raises(ValueError, match=r"key sample_steps=101 is not allowed: expected at most timesteps=100"):
        models.build({**SMALL, "sample_steps": 101}, data_dim=2)


def test_elbo_is_below_the_true_log_likelihood_and_close(trained):
    x = gaussian(10_000, seed=103)                 # the bound's draws use seed 3: no shared stream
    g = torch.Generator()
    bound = trained.log_likelihood(x, generator=g.manual_seed(3), k=1000)     # a VAE's k is ignored
    assert torch.equal(bound, trained.elbo(x, generator=g.manual_seed(3)).detach())
    gap = TRUE.log_prob(x) - bound
    se = gap.std().item() / math.sqrt(len(gap))
    assert 0 < gap.mean().item() < 0.2, (gap.mean().item(), se)           # measured 0.056 +- 0.016
    untrained = models.build(SMALL, data_dim=2).log_likelihood(x[:500], generator=g.manual_seed(3))
    assert torch.isfinite(untrained).all() and untrained.mean() < bound.mean() - 1, untrained.mean()   # -14.4, -2.68


def test_elbo_from_strata_of_t_is_the_same_bound_in_expectation(trained):
    """elbo_steps S < T: one t per sample in each of S strata, weighted T / S: unbiased for the full
    sum (its mean agrees within sampling error), noisier per sample; S = T is the full sum itself."""
    x = gaussian(10_000, seed=104)
    g = torch.Generator()
    full = trained.elbo(x, generator=g.manual_seed(5))
    same = models.build({**SMALL, "elbo_steps": 100}, data_dim=2)
    same.load_state_dict(trained.state_dict())
    assert torch.equal(same.elbo(x, generator=g.manual_seed(5)), full)
    strata = models.build({**SMALL, "elbo_steps": 10}, data_dim=2)
    strata.load_state_dict(trained.state_dict())
    est = strata.elbo(x, generator=g.manual_seed(5))
    diff = est - full
    se = diff.std().item() / math.sqrt(len(diff))
    assert abs(diff.mean().item()) < 4 * se, (diff.mean().item(), se)     # measured -0.027 +- 0.058 nats
    assert est.std() > full.std()                  # 5.9 against 1.9: the price of 10x fewer network calls


# -- config, divergence, runner ---------------------------------------------------------------------
@pytest.mark.parametrize("cfg, message", [
    ({"schedule": "quadratic"}, r"diffusion config: key schedule='quadratic' is not allowed; expected one of 'linear'"),
    ({"time_dim": 15}, r"key time_dim=15 is not allowed: expected an even integer"),
    ({"timesteps": 1}, r"key timesteps=1 is not allowed; expected an integer >= 2"),
    ({"ema_decay": 1.0}, r"key ema_decay=1.0 is not allowed; expected a number >= 0 and < 1"),
    ({"eta": 0.0}, r"diffusion config: unknown key eta=0.0; allowed keys: model, schedule"),
    ({"timesteps": 100, "elbo_steps": 30}, r"key elbo_steps=30 is not allowed: expected a divisor of timesteps=100"),
    ({"channels": 8}, r"diffusion config: key channels=8 is not allowed: it applies to arch 'conv', not 'mlp'"),
    ({"arch": "conv"}, r"diffusion config: key arch='conv' is not allowed for data of event shape \(2,\): it needs image"),
])
def test_bad_config_is_one_value_error_line(cfg, message):
    with pytest.raises(ValueError, match=message) as err:
        models.build({"model": "diffusion", **cfg}, data_dim=2)
    assert "\n" not in str(err.value)


def test_config_defaults():
    cfg = models.validate_config({"model": "diffusion"})
    assert set(cfg) == set(models.keys("diffusion"))
    assert (cfg["schedule"], cfg["timesteps"], cfg["sample_steps"], cfg["ema_decay"]) == ("linear", 1000, 100, 0.995)
    assert models.validate_config({"model": "diffusion", "timesteps": 30})["sample_steps"] == 30
    assert models.validate_config(cfg) == cfg


def test_injected_nan_freezes_the_member_and_its_ema():
    cfg = {**SMALL, "width": 16, "check_every": 10}
    many = models.build([cfg, {**cfg, "debug_nan_at_step": 13}], data_dim=2, seeds=[0, 1])
    x = gaussian(20, 10, 2, 32, seed=104)                         # 10 steps per batch, 2 members
    fit(many, 40, x=x)
    assert many.diverged_at == [None, 13] and many.stopped_at == [None, 20] and many.steps == 40
    before = fit(models.build(cfg, data_dim=2, seeds=[1]), 13, x=x[:, :, 1])   # steps 0..12 of member 1 alone
    for name, t in before.state_dict().items():                   # its weights and EMA stopped there
        torch.testing.assert_close(many.member_state_dict(1)[name], t, atol=2e-5, rtol=1e-4)
    assert torch.isfinite(many.sample(10, member=1)).all()


def test_conv_noise_network_learns_an_image_distribution():
    """The U-Net DDPM on 8 x 8 images of a bright square at one of two places (half each), with
    pixel noise 0.05 (0.05 RMS from their image): its samples lie near the two images (median
    0.08, 90% within 0.115 RMS in the run measured), in about equal shares, where the untrained
    network's samples are noise (every one beyond 0.5)."""
    a, b = torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)
    a[:, 1:4, 1:4], b[:, 4:7, 3:6] = 1.0, 1.0
    g = torch.Generator().manual_seed(0)
    cfg = {"model": "diffusion", "arch": "conv", "channels": 16, "timesteps": 100, "batch_size": 64, "lr": 2e-3}
    which = torch.rand(30, 20, 64, generator=g) < 0.5
    x = torch.where(which[..., None, None, None], a, b) + 0.05 * torch.randn(30, 20, 64, 1, 8, 8, generator=g)
    module = models.build(cfg, data_dim=64, event_shape=(1, 8, 8), seeds=[0])
    samples = lambda m: m.sample(400, generator=torch.Generator().manual_seed(1)).reshape(400, 1, 8, 8)
    untrained = samples(module)
    fit(module, 600, x=x.flatten(3))
    s = samples(module)
    rms = torch.stack([((s - a) ** 2).mean((1, 2, 3)), ((s - b) ** 2).mean((1, 2, 3))], 1).sqrt()
    near, nearest = rms.min(1)
    assert near.median() < 0.1 and (near < 0.15).float().mean() > 0.9, near.quantile(torch.tensor([0.5, 0.9]))
    assert 0.35 < nearest.float().mean() < 0.65
    assert ((untrained - a) ** 2).mean((1, 2, 3)).sqrt().min() > 0.5


def test_trains_through_the_runner(tmp_path):
    from experiments.train import run
    cfg = {"data": {"family": "mixture", "layout": "ring", "n_modes": 4, "std": 0.05},
           "model": {"model": "diffusion", "timesteps": 50, "width": 32, "depth": 2, "batch_size": 64,
                     "check_every": 10},
           "train": {"steps": 60, "eval_every": 20, "eval_samples": 200, "final_real": 200, "plots": False,
                     "tensorboard": False}}
    rec = run(cfg, tmp_path)
    assert rec["status"] == "complete" and rec["steps"] == 60, rec.get("reason")
    assert rec["metrics"] and all(math.isfinite(v) for v in rec["metrics"].values() if isinstance(v, float))
    assert [h["step"] for h in rec["history"]] == [20, 40, 60]
    saved = np.load(tmp_path / "samples.npz")
    module = models.load(tmp_path / "model.pt")
    fake = module.sample(200, generator=torch.Generator().manual_seed(int(saved["seed"])))
    np.testing.assert_allclose(fake.numpy(), saved["fake"], atol=1e-6)      # the saved member, EMA included
