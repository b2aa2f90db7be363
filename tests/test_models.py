"""models/: config validation, GAN and VAE training on a 2-mode mixture, determinism, divergence."""
import copy
import math
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import distributions
import models
from distributions.data import DistributionDataModule
from metrics.distances import energy_distance

ROOT = Path(__file__).resolve().parents[1]
DIST = distributions.make("mixture", layout="ring", n_modes=2, radius=1.0, std=0.05)
SMALL = {"g_width": 32, "d_width": 32, "g_depth": 2, "d_depth": 2, "batch_size": 128,
         "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.0, "activation": "leaky_relu"}
CONSTANTS = {"wgan_gp": {"gp_weight": 0.1}}


class Batches:
    """``n`` pre-made batches: [batch, 2] each, or [k, batch, 2] (k steps per Lightning batch)."""

    def __init__(self, steps, batch=128, k=1, seed=0):
        x = DIST.sample(steps * batch, generator=torch.Generator().manual_seed(seed))
        self.items = list(x.view(-1, batch, 2) if k == 1 else x.view(-1, k, batch, 2))

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


def fit(module, data, **kw):
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, **kw)
    trainer.fit(module, train_dataloaders=data)
    return trainer


def build(seed=0, **cfg):
    return models.build(cfg, data_dim=2, seeds=[seed])


def gan(seed=0, **cfg):
    return build(seed, **{"model": "gan", **SMALL, **cfg})


def fixed_samples(module, n=1000):
    return module.sample(n, generator=torch.Generator().manual_seed(5))


REAL = DIST.sample(1000, generator=torch.Generator().manual_seed(1))


# -- config ---------------------------------------------------------------------------------------
BAD = [
    ({"loss": "ns"}, r"gan config: key loss='ns' is not allowed; expected one of 'non_saturating', 'minimax'"),
    ({"model": "dcgan"}, r"key model='dcgan' is not allowed; expected one of 'gan', 'vae'"),
    ({"model": None}, r"key model=None is not allowed"),
    ({"lr": 1e-3}, r"unknown key lr=0.001; allowed keys: model, loss, gp_weight"),
    ({"loss": "wgan_gp"}, r"key gp_weight=None is not allowed: loss 'wgan_gp' requires it; expected a number > 0"),
    ({"loss": "hinge", "gp_weight": 10}, r"key gp_weight=10 is not allowed: it applies to loss 'wgan_gp', not 'hinge'"),
    ({"loss": "wgan_div", "div_p": -1}, r"key div_p=-1 is not allowed; expected a number > 0"),
    ({"batch_size": 100, "pack": 3}, r"key pack=3 is not allowed: batch_size=100 is not divisible by it"),
    ({"lr_g": -1e-4}, r"key lr_g=-0.0001 is not allowed; expected a number > 0"),
    ({"lr_d": float("nan")}, r"key lr_d=nan is not allowed"),
    ({"beta1": 1.0}, r"key beta1=1.0 is not allowed; expected a number >= 0 and < 1"),
    ({"ema_decay": 1}, r"key ema_decay=1 is not allowed"),
    ({"g_width": True}, r"key g_width=True is not allowed; expected an integer >= 1"),
    ({"d_steps": 1.5}, r"key d_steps=1.5 is not allowed; expected an integer >= 1"),
    ({"prior": "cauchy"}, r"key prior='cauchy' is not allowed; expected one of 'normal', 'uniform'"),
    ({"d_norm": "batch"}, r"key d_norm='batch' is not allowed; expected one of 'none', 'layer'"),
    ({"maxout_pieces": 3}, r"key maxout_pieces=3 is not allowed: it applies to d_arch 'maxout', not 'mlp'"),
    ({"spectral_norm": 1}, r"key spectral_norm=1 is not allowed; expected True or False"),
    ({"g_lipschitz": 0}, r"key g_lipschitz=0 is not allowed; expected a number > 0"),
    ({"g_lipschitz": 1.0, "g_norm": "batch"}, r"key g_lipschitz=1.0 is not allowed: it needs arch 'mlp', g_norm "
     r"'none' and activation in .* \(got g_norm='batch'\)"),
    ({"model": "vae", "decoder_var": "fixed"}, r"vae config: key decoder_std=None is not allowed: decoder_var 'fixed' requires it"),
    ({"model": "vae", "decoder_std": 0.1}, r"key decoder_std=0.1 is not allowed: it applies to decoder_var 'fixed', not 'learned'"),
    ({"model": "vae", "beta": -1}, r"vae config: key beta=-1 is not allowed; expected a number >= 0"),
    ({"model": "vae", "pack": 2}, r"vae config: unknown key pack=2"),
]


@pytest.mark.parametrize("cfg, message", BAD)
def test_bad_config_is_one_value_error_line(cfg, message):
    with pytest.raises(ValueError, match=message) as err:
        models.validate_config({"model": "gan", **cfg})
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=message):           # build validates before making anything
        models.build({"model": "gan", **cfg}, data_dim=2)


def test_config_defaults_are_filled_in():
    cfg = models.validate_config({"model": "gan", "loss": "wgan_div", "d_arch": "maxout"})
    assert cfg["div_k"] == 2.0 and cfg["div_p"] == 6.0 and cfg["maxout_pieces"] == 5
    assert cfg["gp_weight"] is None and cfg["qp_lambda"] is None
    assert set(cfg) == set(models.keys("gan"))
    assert models.validate_config(cfg) == cfg                   # idempotent: a stored config re-validates
    assert models.validate_config({"model": "gan", "loss": "gan_qp"})["qp_lambda"] == 10.0
    vae = models.validate_config({"model": "vae", "decoder_var": "fixed", "decoder_std": 0.5})
    assert vae["decoder_std"] == 0.5 and set(vae) == set(models.keys("vae"))
    with pytest.raises(ValueError, match="data_dim=0"):
        models.build({"model": "gan"}, data_dim=0)
    with pytest.raises(ValueError, match="expected a dict"):
        models.validate_config([("model", "gan")])


# -- GAN training ---------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", list(models.objectives.OBJECTIVES))
def test_each_objective_learns_the_two_modes(loss):
    module = gan(loss=loss, **CONSTANTS.get(loss, {}))
    before = energy_distance(fixed_samples(module), REAL)
    trainer = fit(module, Batches(300, k=10), max_steps=300)
    after = energy_distance(fixed_samples(module), REAL)
    assert module.steps == trainer.global_step == 300 and module.status(0) == "complete"
    assert after < 0.35 * before, (before, after)
    assert [h["step"] for h in module.history[0]] == list(range(49, 300, 50))
    assert all(math.isfinite(h["loss_d"]) and math.isfinite(h["loss_g"]) for h in module.history[0])


SWITCHES = dict(loss="wgan_gp", gp_weight=0.1, pack=2, spectral_norm=True, d_steps=2, ema_decay=0.9,
                prior="uniform", g_norm="batch", d_norm="layer")


@pytest.mark.parametrize("cfg", [{}, SWITCHES, dict(loss="ragan", d_arch="maxout", pack=4)])
def test_same_config_and_seed_give_identical_results(cfg):
    runs = []
    for seed in (0, 0, 1):
        module = gan(seed, **cfg)
        fit(module, Batches(40, seed=seed), max_steps=40)
        runs.append(fixed_samples(module, 200))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_max_steps_is_exact_within_multi_step_batches():
    module = gan()
    trainer = fit(module, Batches(50, k=10), max_steps=25)
    assert module.steps == trainer.global_step == 25


def test_critic_steps_per_generator_step_and_ema():
    module = gan(d_steps=3, ema_decay=0.5)
    start = copy.deepcopy(module.generator.state_dict())
    fit(module, Batches(3), max_steps=3)
    opt_d, opt_g = module.trainer.optimizers
    assert int(opt_d.state[next(iter(module.critic.parameters()))]["step"]) == 3
    assert int(opt_g.state[next(iter(module.generator.parameters()))]["step"]) == 1
    now = module.generator.state_dict()
    for name, p in module.generator_ema.state_dict().items():     # one EMA update: halfway
        assert torch.allclose(p, 0.5 * start[name] + 0.5 * now[name])
    # sample() uses the EMA generator
    z = module._latents(7, torch.Generator().manual_seed(2), k=1)
    assert torch.equal(module.sample(7, torch.Generator().manual_seed(2)), module.generator_ema(z)[0])


def test_packing_and_maxout_shapes():
    module = gan(pack=4, d_arch="maxout", maxout_pieces=3)
    assert module.critic.params["0__linear__weight"].shape == (1, 32 * 3, 2 * 4)     # [K, out, in]
    assert module.critic(torch.zeros(1, 5, 8)).shape == (1, 5, 1)


def test_sample_device_shape_and_prior():
    module = gan(prior="uniform")
    x = module.sample(11)
    assert x.shape == (11, 2) and x.device == module.device and x.dtype == torch.float32
    z = module._latents(1000, k=1)
    assert z.min() >= -1 and z.max() <= 1 and z.device == module.device
    assert torch.equal(fixed_samples(module, 9), fixed_samples(module, 9))


def test_trains_from_the_distribution_datamodule():
    module = gan()
    data = DistributionDataModule(DIST, batch_size=128, steps=30, seed=0)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=data)
    assert module.steps == trainer.global_step == 30


def test_mixed_precision_is_refused_before_training():
    module = gan()
    with pytest.raises(ValueError, match=r"32-bit \(or 64-bit\) precision"):
        fit(module, Batches(5), max_steps=5, precision="bf16-mixed")
    assert module.steps == 0


# -- divergence -----------------------------------------------------------------------------------
@pytest.mark.parametrize("model, k, nan_at, max_steps, stopped_after", [
    ("gan", 1, 37, 200, 40),      # found at the check of steps 30..39, training stops there
    ("gan", 10, 37, 200, 40),     # ... also inside a 10-step batch
    ("gan", 1, 42, 45, 45),       # in the last, partial window: found when training ends
    ("vae", 1, 13, 200, 20),
])
def test_injected_nan_is_reported_at_its_step(model, k, nan_at, max_steps, stopped_after):
    cfg = {"model": "gan", **SMALL} if model == "gan" else {"model": "vae", "enc_width": 16, "dec_width": 16}
    module = build(**cfg, check_every=10, debug_nan_at_step=nan_at)
    trainer = fit(module, Batches(200, k=k), max_steps=max_steps)     # no exception
    assert module.diverged_at == [nan_at] and module.status(0) == "diverged"
    assert module.steps == trainer.global_step == module.stopped_at[0] == stopped_after
    assert all(h["step"] < nan_at for h in module.history[0])             # only finite windows recorded


# -- VAE ------------------------------------------------------------------------------------------
def vae(**cfg):
    return build(**{"model": "vae", "enc_width": 32, "dec_width": 32, "enc_depth": 2, "dec_depth": 2,
                    "batch_size": 128, **cfg})


@pytest.mark.parametrize("var, gap", [
    ({"decoder_var": "learned"}, 0.0),
    ({"decoder_var": "shared"}, 0.0),          # this one ignores z (posterior collapse): IW = ELBO
    ({"decoder_var": "fixed", "decoder_std": 0.1}, 0.2),
])
def test_vae_elbo_rises_and_the_importance_weighted_estimate_is_above_it(var, gap):
    module = vae(lr=1e-2, **var)
    x = DIST.sample(500, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        before = module.elbo(x, torch.Generator().manual_seed(0)).mean().item()
    fit(module, Batches(300, k=10), max_steps=300)
    with torch.no_grad():
        after = module.elbo(x, torch.Generator().manual_seed(0)).mean().item()
    assert after > before + 2.0, (before, after)
    iw = module.log_likelihood(x, k=256, generator=torch.Generator().manual_seed(1)).mean().item()
    assert iw >= after + gap - 0.01, (iw, after)
    iw1 = module.log_likelihood(x, k=1, generator=torch.Generator().manual_seed(1)).mean().item()
    assert iw1 == pytest.approx(after, abs=0.3)                   # k = 1 is an ELBO estimate too
    s = module.sample(50)
    assert s.shape == (50, 2) and module.sample(50, mean_only=True).shape == (50, 2)


def test_vae_log_likelihood_is_exact_when_posterior_equals_prior():
    module = vae(decoder_var="fixed", decoder_std=0.5)
    with torch.no_grad():                      # q(z|x) = N(0, I) = p(z), p(x|z) = N(0, 0.25 I)
        for layer in (module.encoder.layers[-1], module.decoder.layers[-1]):
            layer.weight.zero_()
            layer.bias.zero_()
    x = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    exact = torch.distributions.Normal(0.0, 0.5).log_prob(x).sum(1)
    assert torch.allclose(module.log_likelihood(x, k=5), exact, atol=1e-5)
    assert torch.allclose(module.elbo(x), exact, atol=1e-5)        # KL = 0


# -- benchmark ------------------------------------------------------------------------------------
def test_overhead_benchmark_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lightning_overhead.py"), "--quick",
                          "--widths", "16", "32", "--steps", "40", "--k", "1", "10", "--threads", "1"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    for width in (16, 32):
        for k in (1, 10):
            label = f"k={k}" + (" (learnlab's default)" if k == 10 else "")
            assert any(line.startswith(f"width {width} lightning {label} ratio lightning/plain: ") for line in lines)
    assert "ratio lightning/plain: " in lines[-1]
