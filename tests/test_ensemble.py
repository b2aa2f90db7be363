"""models.ensemble: K batched GAN members follow the trajectories of the same trials trained alone."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.func import vmap

import distributions
import models
from distributions.data import DistributionDataModule
from models.batched import BatchedLinear, FastMLP, stack_mlps, unstack_mlp
from models.ensemble import _PER_MEMBER, EnsembleGAN, compatible, incompatibility, train_members
from models.nets import mlp

DIST = distributions.make("mixture", layout="ring", n_modes=2, radius=1.0, std=0.05)
SMALL = {"model": "gan", "g_width": 32, "d_width": 32, "g_depth": 2, "d_depth": 2, "batch_size": 64,
         "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.0, "activation": "leaky_relu", "check_every": 10}
SEEDS = (3, 7, 11)
STEPS = 50


def stream(seed, batch=64):
    return DistributionDataModule(DIST, batch_size=batch, seed=seed).batches()


def single_run(cfg, seed, steps=STEPS):
    """The plain single-trial path of experiments/train.py: seed, build, fit with the seeded data stream."""
    pl.seed_everything(seed, verbose=False)
    module = models.build(cfg, data_dim=2)
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, DistributionDataModule(DIST, batch_size=cfg["batch_size"], seed=seed, steps=steps))
    return module


def assert_same_params(a: nn.Module, b: nn.Module, atol=1e-5):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        torch.testing.assert_close(sa[name], sb[name], atol=atol, rtol=0, msg=lambda m: f"{name}: {m}")


# Smooth activations: with a piecewise-linear one, some gradients (critic biases under WGAN-GP or
# hinge) are exactly 0 in exact arithmetic (their terms cancel), and Adam (beta1 = 0) turns their
# float rounding, which differs between bmm and mm, into +-lr steps: then any two summation
# orders drift apart by ~1e-4 in 50 steps, an ensemble of K=1 against K=3 included.
TANH = {"activation": "tanh"}
CASES = {
    "non_saturating_leaky_relu": {"loss": "non_saturating"},
    "minimax": {"loss": "minimax", **TANH},
    "hinge": {"loss": "hinge", **TANH},
    "least_squares": {"loss": "least_squares", **TANH},
    "wgan_gp": {"loss": "wgan_gp", "gp_weight": 0.1, "d_steps": 2, **TANH},
    "pack_ema_uniform": {"loss": "non_saturating", "pack": 2, "ema_decay": 0.9, "prior": "uniform"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_members_follow_their_single_runs(case):
    cfg = {**SMALL, **CASES[case]}
    ens = train_members([(cfg, s, stream(s)) for s in SEEDS], STEPS, data_dim=2)
    g = torch.Generator().manual_seed(5)
    for k, seed in enumerate(SEEDS):
        alone = single_run(cfg, seed)
        member = ens.to_gan(k)
        assert_same_params(member, alone)                  # generator, critic (and EMA) weights
        part = ens.parts[0]
        for opt_alone, opt_ens, params in ((alone.optimizers()[0], part.opt_d, part.critic.parameters()),
                                           (alone.optimizers()[1], part.opt_g, part.generator.parameters())):
            for p_alone, p_ens in zip(opt_alone.optimizer.param_groups[0]["params"], params):  # Adam state
                s_alone, s_ens = opt_alone.optimizer.state[p_alone], opt_ens.state[p_ens]
                for key in ("exp_avg", "exp_avg_sq"):
                    got = s_ens[key][k]
                    want = s_alone[key].t() if s_alone[key].dim() == 2 else s_alone[key].reshape(got.shape)
                    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
                assert float(s_ens["step"]) == float(s_alone["step"])
        assert [h["step"] for h in ens.history[k]] == [h["step"] for h in alone.history]
        for h_ens, h_alone in zip(ens.history[k], alone.history):
            assert h_ens["loss_d"] == pytest.approx(h_alone["loss_d"], abs=1e-5)
            assert h_ens["loss_g"] == pytest.approx(h_alone["loss_g"], abs=1e-5)
        assert ens.status(k) == alone.status == "complete"
        torch.testing.assert_close(ens.sample(100, k, generator=g.manual_seed(5)),
                                   alone.sample(100, generator=g.manual_seed(5)), atol=1e-5, rtol=0)


def test_member_alone_equals_k1_ensemble():
    cfg = {**SMALL, "loss": "hinge", **TANH}
    ens = train_members([(cfg, s, stream(s)) for s in SEEDS], STEPS, data_dim=2)
    for k, s in enumerate(SEEDS):
        one = train_members([(cfg, s, stream(s))], STEPS, data_dim=2)
        assert_same_params(ens.to_gan(k), one.to_gan(0), atol=1e-6)


class NaNAt:
    """A data stream whose batch at ``step`` is NaN."""

    def __init__(self, inner, step):
        self.inner, self.step, self.i = inner, step, 0

    def __iter__(self):
        return self

    def __next__(self):
        x = next(self.inner)
        self.i += 1
        return x * float("nan") if self.i - 1 == self.step else x


@pytest.mark.parametrize("loss", ["non_saturating", "wgan_gp"])
def test_diverging_member_is_frozen_and_others_unaffected(loss):
    cfg = {**SMALL, "loss": loss, **({"gp_weight": 0.1, "activation": "tanh"} if loss == "wgan_gp" else {})}
    s_bad, bad_step = 20, 23
    ens = train_members([(cfg, 3, stream(3)), (cfg, s_bad, NaNAt(stream(s_bad), bad_step)), (cfg, 11, stream(11))],
                        STEPS, data_dim=2)
    clean = train_members([(cfg, 3, stream(3)), (cfg, 11, stream(11))], STEPS, data_dim=2)
    assert [r.status for r in ens.results()] == ["complete", "diverged", "complete"]
    assert ens.diverged_at == [None, bad_step, None]
    assert_same_params(ens.to_gan(0), clean.to_gan(0), atol=1e-6)
    assert_same_params(ens.to_gan(2), clean.to_gan(1), atol=1e-6)
    # the diverged member is frozen at its parameters before the bad step, finite
    before = train_members([(cfg, s_bad, stream(s_bad))], bad_step, data_dim=2)
    assert_same_params(ens.to_gan(1), before.to_gan(0), atol=1e-6)
    assert all(torch.isfinite(p).all() for p in ens.parts[0].parameters())
    assert ens.history[1][-1]["step"] < bad_step and ens.history[0][-1]["step"] == STEPS - 1


def test_chunks_give_the_same_members():
    cfg = {**SMALL, "loss": "least_squares", **TANH}
    members = lambda: [(cfg, s, stream(s)) for s in (1, 2, 3, 4, 5)]
    whole, chunked = train_members(members(), 20, data_dim=2), train_members(members(), 20, data_dim=2, chunk=2)
    assert [p.K for p in chunked.parts] == [2, 2, 1]
    for k in range(5):
        assert_same_params(whole.to_gan(k), chunked.to_gan(k), atol=1e-6)
    assert [r.member for r in chunked.results()] == [0, 1, 2, 3, 4]
    g = torch.Generator()
    torch.testing.assert_close(chunked.results()[4].sample(9, g.manual_seed(1)), whole.sample(9, 4, g.manual_seed(1)),
                               atol=1e-6, rtol=0)


def test_debug_nan_hook_per_member_and_stop_when_all_diverged():
    cfgs = [{**SMALL, "debug_nan_at_step": 12}, {**SMALL, "debug_nan_at_step": 5}]
    ens = train_members([(c, s, stream(s)) for c, s in zip(cfgs, (0, 1))], 200, data_dim=2)
    assert ens.diverged_at == [12, 5]
    assert ens.steps == 20                      # stopped at the first check after both diverged
    r = ens.results()[1]
    assert (r.status, r.diverged_at, r.seed) == ("diverged", 5, 1)
    assert r.sample(7).shape == (7, 2)


def test_compatible():
    a = {**SMALL, "loss": "wgan_gp", "gp_weight": 0.1}
    assert compatible([a, dict(a), {**a, "debug_nan_at_step": 3}])
    assert compatible([{"model": "gan"}] * 4)
    for change in ({"g_width": 64}, {"lr_d": 2e-4}, {"batch_size": 32}, {"gp_weight": 1.0}, {"beta2": 0.99}):
        assert not compatible([a, {**a, **change}])
        assert next(iter(change)) in incompatibility([a, {**a, **change}])
    for unsupported in ({"d_norm": "layer"}, {"spectral_norm": True}, {"d_arch": "maxout"}, {"g_norm": "batch"},
                        {"arch": "conv"}):
        assert not compatible([{**SMALL, **unsupported}])
    assert not compatible([{**SMALL, "g_width": -1}])              # invalid on its own
    assert not compatible([])
    with pytest.raises(ValueError, match="differs from config 0 in g_width"):
        EnsembleGAN([SMALL, {**SMALL, "g_width": 8}], data_dim=2)


def test_batched_linear_matches_its_members():
    torch.manual_seed(0)
    nets = [mlp(3, 2, width=5, depth=2, activation="elu") for _ in range(4)]
    batched = stack_mlps(nets)
    assert isinstance(batched[0], BatchedLinear) and batched[0].weight.shape == (4, 3, 5)
    x = torch.randn(4, 6, 3)
    torch.testing.assert_close(batched(x), torch.stack([n(xk) for n, xk in zip(nets, x)]), atol=1e-6, rtol=0)
    for k, net in enumerate(nets):
        for p, q in zip(unstack_mlp(batched, k).parameters(), net.parameters()):
            assert torch.equal(p, q)
    # each member initialised exactly as its own single model: same weights as models.build after seeding
    ens = EnsembleGAN([SMALL] * 2, data_dim=2, seeds=[4, 9])
    for k, seed in enumerate((4, 9)):
        torch.manual_seed(seed)
        assert_same_params(ens.to_gan(k), models.build(SMALL, data_dim=2), atol=0)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "elu"])
def test_fast_mlp_matches_autograd_through_the_layers(activation):
    torch.manual_seed(1)
    for in_dim, out_dim in ((2, 1), (2, 2), (8, 3)):       # thin input and output layouts, and the general ones
        batched = stack_mlps([mlp(in_dim, out_dim, width=16, depth=3, activation=activation) for _ in range(3)])
        fast = FastMLP.of(batched)
        assert fast is not None
        for block_bytes in (FastMLP.block_bytes, 1, 1):      # whole; one member at a time, reusing the buffers
            fast.block_bytes = block_bytes
            x = torch.randn(3, 10, in_dim)
            w = torch.randn(3, 10, out_dim)
            x_ref, x_fast = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            (batched(x_ref) * w).sum().backward()
            want = [p.grad.clone() for p in batched.parameters()] + [x_ref.grad]
            batched.zero_grad(set_to_none=True)
            out = fast(x_fast)
            torch.testing.assert_close(out, batched(x), atol=1e-6, rtol=1e-6)
            (out * w).sum().backward()
            got = [p.grad for p in batched.parameters()] + [x_fast.grad]
            for a, b in zip(got, want):
                torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
            batched.zero_grad(set_to_none=True)
            x_fast.grad = None
            (fast(x_fast, param_grads=False) * w).sum().backward()     # input gradient only
            assert all(p.grad is None for p in batched.parameters())
            torch.testing.assert_close(x_fast.grad, want[-1], atol=1e-5, rtol=1e-5)
    assert FastMLP.of(stack_mlps([mlp(2, 1, width=4, depth=1, activation="gelu")])) is None


def test_per_member_losses_equal_the_vmapped_objectives():
    torch.manual_seed(2)
    for fn, per_member in _PER_MEMBER.items():
        r, f = torch.randn(4, 32, requires_grad=True), torch.randn(4, 32, requires_grad=True)
        want = vmap(fn)(r, f)
        want_grads = torch.autograd.grad(want.sum(), (r, f), allow_unused=True, materialize_grads=True)
        got = per_member(r, f)
        got_grads = torch.autograd.grad(got.sum(), (r, f), allow_unused=True, materialize_grads=True)
        assert torch.equal(got, want), fn.__name__
        for a, b in zip(got_grads, want_grads):
            assert torch.equal(a, b), fn.__name__


@pytest.mark.parametrize("prior", ["normal", "uniform"])
def test_priors_drawn_ahead_are_the_single_draws(prior):
    cfg = {**SMALL, "prior": prior}
    ens = EnsembleGAN([cfg] * 2, data_dim=2, seeds=[4, 9])
    gens = [torch.Generator().set_state(g.get_state()) for g in ens.noise]
    for _ in range(40):                                      # across several draws ahead
        z = ens.prior(64)
        for k, g in enumerate(gens):
            alone = torch.randn(64, 2, generator=g) if prior == "normal" else torch.rand(64, 2, generator=g) * 2 - 1
            assert torch.equal(z[k], alone)
    with pytest.raises(ValueError, match="batch size"):
        ens.prior(32)


# -- benchmark ------------------------------------------------------------------------------------
def test_ensemble_benchmark_runs_at_each_thread_count():
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "ensemble.py"), "--quick", "--batch", "32",
                          "--threads", "2", "1"], capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    heads = [line for line in out.stdout.splitlines() if line.startswith("ensemble/sequential at width 64: ")]
    assert [h.split(", ")[1].split(" (")[0] for h in heads] == ["1 thread", "2 threads" + (" = all cores" if os.cpu_count() == 2 else "")]
    assert out.stdout.strip().splitlines()[-1] == heads[-1]                 # the first thread count's line ends it
    assert all(float(h.split(": ")[1].split("x")[0]) > 0 for h in heads)
    bad = subprocess.run([sys.executable, str(root / "benchmarks" / "ensemble.py"), "--threads", "0"],
                         capture_output=True, text=True, timeout=60, cwd=root)
    assert bad.returncode == 2 and "--threads must be positive thread counts, got [0]" in bad.stderr
