"""models/flow.py: a RealNVP flow's exact log-density -- the identity at initialisation, log-det
against the Jacobian, inverse, zuko's coupling transform as a reference, a Gaussian's known
likelihood, member exactness and a run through experiments.train."""
import math

import pytest
import pytorch_lightning as pl
import torch
import zuko
from test_members import Batches, train             # tests/ is on sys.path (conftest.py)

import models

FLOW = {"model": "flow", "layers": 3, "width": 16, "depth": 2, "activation": "tanh", "batch_size": 32,
        "check_every": 10}
MEAN, COV = torch.tensor([1.0, -2.0]), torch.tensor([[2.0, 0.6], [0.6, 0.5]])
GAUSS = torch.distributions.MultivariateNormal(MEAN, COV)


def perturbed(dim=3, seeds=(0, 1), double=False, scale=0.5, **cfg):
    """A flow moved away from the identity: every weight plus N(0, scale^2) noise."""
    flow = models.build({**FLOW, **cfg}, data_dim=dim, seeds=list(seeds))
    flow = flow.double() if double else flow
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return flow


def test_identity_at_initialisation():
    flow = models.build({**FLOW, "activation": "relu"}, data_dim=3, seeds=[0, 1])
    x = 3 * torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    normal = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
    for k in (0, 1):
        torch.testing.assert_close(flow.log_prob(x, member=k), normal, atol=1e-6, rtol=1e-6)
        z, log_det = flow.transform(x, member=k)
        assert torch.equal(z, x) and torch.equal(log_det, torch.zeros(200))
        g = torch.Generator()
        assert torch.equal(flow.sample(50, g.manual_seed(4), member=k), torch.randn(50, 3, generator=g.manual_seed(4)))
    assert flow.log_likelihood(x, k=10, generator=None, member=1).shape == (200,)     # VAE's keywords ignored


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_log_det_equals_the_jacobian(activation):
    flow = perturbed(double=True, activation=activation)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for k in (0, 1):
        z, log_det = flow.transform(x, member=k)
        assert log_det.abs().max() > 0.3                          # far from the identity
        for xi, ld in zip(x, log_det):
            f = lambda v: flow.transform(v[None], member=k)[0][0]         # noqa: E731
            jac = torch.autograd.functional.jacobian(f, xi)
            h = 1e-6                                                   # central differences agree with autograd
            fd = torch.stack([(f(xi + h * e) - f(xi - h * e)) / (2 * h) for e in torch.eye(3, dtype=torch.float64)], 1)
            torch.testing.assert_close(fd, jac, atol=1e-7, rtol=1e-7)
            assert (jac - jac.diag().diag()).abs().max() > 0.05       # entries are coupled
            assert torch.linalg.slogdet(jac).logabsdet.item() == pytest.approx(ld.item(), abs=1e-10)


def test_inverse_and_sample_round_trip():
    flow = perturbed(dim=2, layers=4, scale=0.3)
    x = 2 * torch.randn(1000, 2, generator=torch.Generator().manual_seed(2))
    for k in (0, 1):
        z, _ = flow.transform(x, member=k)
        assert (z - x).abs().max() > 0.1
        torch.testing.assert_close(flow.inverse(z, member=k), x, atol=1e-5, rtol=0)
        g = torch.Generator()
        s = flow.sample(500, g.manual_seed(3), member=k)
        torch.testing.assert_close(flow.transform(s, member=k)[0], torch.randn(500, 2, generator=g.manual_seed(3)),
                                   atol=1e-5, rtol=0)


def test_agrees_with_zukos_coupling_transform():
    """The same conditioners in zuko's CouplingTransform / MonotonicAffineTransform (whose soft clamp
    with slope exp(-B) is the flow's) and NormalizingFlow give the same density and inverse."""
    flow = perturbed(double=True, dim=5, layers=4, max_log_scale=2.0)
    from zuko.transforms import ComposedTransform, CouplingTransform, DependentTransform, MonotonicAffineTransform
    x = 2 * torch.randn(300, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for k in (0, 1):
        def meta(net):
            def f(a):
                shift, scale = net(a[None], slice(k, k + 1))[0].chunk(2, -1)
                return DependentTransform(MonotonicAffineTransform(shift, scale, slope=math.exp(-2.0)), 1)
            return f
        layers = [CouplingTransform(meta(net), torch.arange(5) % 2 == i % 2) for i, net in enumerate(flow.conditioners)]
        ref = zuko.distributions.NormalizingFlow(ComposedTransform(*layers),
                                                 zuko.distributions.DiagNormal(torch.zeros(5, dtype=torch.float64),
                                                                               torch.ones(5, dtype=torch.float64)))
        with torch.no_grad():
            want = ref.log_prob(x)
            torch.testing.assert_close(flow.log_prob(x, member=k), want, atol=1e-10, rtol=1e-12)
            torch.testing.assert_close(flow.inverse(x, member=k), ref.transform.inv(x), atol=1e-10, rtol=1e-12)
        assert (want - GAUSS.log_prob(x[:, :2])).abs().mean() > 1        # a density far from the initial one


def test_gaussian_known_likelihood_and_normalisation():
    """Trained 300 steps on N([1, -2], [[2, .6], [.6, .5]]), the held-out log-likelihood is within 0.05
    nats of the true -H; the density integrates to 1 (importance sampling from a broad Gaussian,
    independent of the flow's own sampler); the flow's samples have the Gaussian's moments."""
    torch.manual_seed(0)
    data = GAUSS.sample((300, 256)).view(30, 10, 256, 2)               # 10 steps per Lightning batch
    flow = models.build({"model": "flow", "layers": 4, "width": 32, "lr": 5e-3, "batch_size": 256}, data_dim=2)
    pl.Trainer(accelerator="cpu", devices=1, max_steps=300, logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False).fit(flow, train_dataloaders=Batches(data))
    assert flow.steps == 300 and flow.status(0) == "complete"
    held = GAUSS.sample((20000,))
    ll, true = flow.log_likelihood(held), GAUSS.log_prob(held)
    assert abs(ll.mean().item() + GAUSS.entropy().item()) < 0.05, (ll.mean(), -GAUSS.entropy())
    assert -0.005 < (true - ll).mean().item() < 0.05                   # KL(p || flow), paired: ~0.004
    wide = torch.distributions.MultivariateNormal(MEAN, 4 * COV)
    x = wide.sample((100000,))
    mass = (flow.log_likelihood(x) - wide.log_prob(x)).exp().mean().item()
    assert mass == pytest.approx(1.0, abs=0.02)                          # measured 1.0022 +- 0.0036
    s = flow.sample(20000, torch.Generator().manual_seed(9))
    torch.testing.assert_close(s.mean(0), MEAN, atol=0.1, rtol=0)                # measured: 0.02 off
    torch.testing.assert_close(torch.cov(s.T), COV, atol=0.2, rtol=0)            # measured: 0.13 off (of 2.0)


def test_every_member_equals_its_single_run():
    many = train(FLOW, (2,), (0, 1, 2))
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    for k in range(3):
        alone = train(FLOW, (2,), [k])
        for name, t in alone.state_dict().items():
            torch.testing.assert_close(many.member_state_dict(k)[name], t, atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(many.log_prob(x, member=k), alone.log_prob(x), atol=1e-5, rtol=1e-5)
        assert [h["step"] for h in many.history[k]] == [h["step"] for h in alone.history[0]] == [9, 19]
        assert [h["loss"] for h in many.history[k]] == pytest.approx([h["loss"] for h in alone.history[0]], abs=1e-5)
    assert many.log_prob(x, member=0).sub(many.log_prob(x, member=1)).abs().max() > 1e-3


def test_injected_nan_freezes_one_member():
    many = train(FLOW, (2,), (0, 1), configs=[FLOW, {**FLOW, "debug_nan_at_step": 5}])
    assert many.diverged_at == [None, 5] and [many.status(k) for k in (0, 1)] == ["complete", "diverged"]


def test_config_and_shape_errors_are_one_line():
    cases = [({"layers": 0}, r"flow config: key layers=0 is not allowed; expected an integer >= 1"),
             ({"max_log_scale": 0}, r"flow config: key max_log_scale=0 is not allowed; expected a number > 0"),
             ({"activation": "sin"}, r"flow config: key activation='sin' is not allowed; expected one of 'relu'"),
             ({"latent_dim": 2}, r"flow config: unknown key latent_dim=2; allowed keys: model, layers")]
    for cfg, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            models.validate_config({"model": "flow", **cfg})
        assert "\n" not in str(err.value)
    assert models.validate_config({"model": "flow"}) == {k: v["default"] for k, v in models.keys("flow").items()}
    message = r"flow config: key model='flow' is not allowed for data of event shape \(1,\): a coupling layer needs"
    with pytest.raises(ValueError, match=message):
        models.build({"model": "flow"}, data_dim=1)
    with pytest.raises(ValueError, match=message):
        models.check_shape({"model": "flow"}, 1)
    models.check_shape({"model": "flow"}, (1, 4, 4))                      # images are flat vectors to a flow


def test_a_run_through_experiments_train(tmp_path):
    from experiments.train import run
    cfg = {"data": {"family": "mixture", "layout": "ring", "n_modes": 4, "std": 0.05},
           "model": {"model": "flow", "layers": 4, "width": 16, "batch_size": 64, "check_every": 10, "lr": 3e-3},
           "train": {"steps": 60, "eval_every": 20, "eval_samples": 200, "final_real": 200, "plots": False,
                     "tensorboard": False}}
    rec = run(cfg, tmp_path)
    assert rec["status"] == "complete" and rec["steps"] == 60
    assert rec["metrics"] and all(math.isfinite(v) for v in rec["metrics"].values() if isinstance(v, float))
    assert [h["step"] for h in rec["history"]] == [20, 40, 60]
    one = models.load(tmp_path / "model.pt")
    x = torch.randn(10, 2)
    assert isinstance(one, models.Flow) and one.steps == 60 and torch.isfinite(one.log_prob(x)).all()
