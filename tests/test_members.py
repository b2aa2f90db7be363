"""Member-batched modules: member k of a K-member module equals the same seed trained alone (K = 1),
for every model kind and objective, Adam state included; a diverging member is frozen alone."""
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

import models
from models.batched import BatchedLinear, FastMLP, stack_mlps
from models.members import BatchedMLP, VmapNet, stack
from models.nets import mlp

SEEDS = (3, 7, 11)
STEPS = 20
G = {"model": "gan", "g_width": 16, "d_width": 16, "g_depth": 2, "d_depth": 2, "batch_size": 32,
     "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "activation": "tanh", "check_every": 10}
V = {"model": "vae", "enc_width": 16, "dec_width": 16, "enc_depth": 2, "dec_depth": 2, "batch_size": 32,
     "activation": "tanh", "check_every": 10}
FL = {"model": "flow", "layers": 4, "width": 16, "depth": 2, "batch_size": 32, "activation": "tanh", "check_every": 10}
D = {"model": "diffusion", "width": 16, "depth": 2, "timesteps": 50, "batch_size": 32, "activation": "tanh",
     "check_every": 10}
IMG, GRAPH, SIGNAL = (1, 8, 8), (5, 5), (5, 6)
# name: (config, event shape, parameters that no loss depends on: their gradient is 0 in exact
# arithmetic, float rounding in it differs with K, and Adam turns that noise into +-lr steps)
SHIFT = ("critic.layers.4.bias",)            # the critic's output bias cancels in r - f
CASES = {
    "non_saturating": ({**G, "loss": "non_saturating"}, (2,), ()),
    "minimax": ({**G, "loss": "minimax"}, (2,), ()),
    "hinge": ({**G, "loss": "hinge"}, (2,), ()),
    "least_squares": ({**G, "loss": "least_squares"}, (2,), ()),
    "wgan_gp": ({**G, "loss": "wgan_gp", "gp_weight": 0.1, "d_steps": 2}, (2,), SHIFT),
    "wgan_div": ({**G, "loss": "wgan_div"}, (2,), SHIFT),
    "rsgan": ({**G, "loss": "rsgan"}, (2,), SHIFT),
    "ragan": ({**G, "loss": "ragan"}, (2,), SHIFT),
    "gan_qp": ({**G, "loss": "gan_qp"}, (2,), SHIFT),
    "pack_ema_uniform_relu": ({**G, "pack": 2, "ema_decay": 0.9, "prior": "uniform", "activation": "relu"}, (2,), ()),
    "spectral_norm": ({**G, "spectral_norm": True}, (2,), ()),
    "lipschitz_generator": ({**G, "g_lipschitz": 2.0}, (2,), ()),
    "maxout_layer_norm": ({**G, "d_arch": "maxout", "d_norm": "layer"}, (2,), ()),
    "batch_norm_generator": ({**G, "g_norm": "batch"}, (2,), ("generator.params.3__bias", "generator.params.0__bias",
                                                          "generator.1__running_mean", "generator.4__running_mean")),
    "conv_gan_wgan_gp": ({**G, "arch": "conv", "channels": 4, "loss": "wgan_gp", "gp_weight": 10.0}, IMG,
                         ("critic.params.head__bias",)),
    "conv_gan_sn": ({**G, "arch": "conv", "channels": 4, "spectral_norm": True}, IMG, ()),
    "graph_gan": ({**G, "arch": "graph"}, SIGNAL, ()),
    "graph_gan_gcn": ({**G, "arch": "graph", "d_arch": "gcn", "edges": "relaxed"}, GRAPH, ()),
    "vae_learned": ({**V}, (2,), ()),
    "vae_shared_beta": ({**V, "decoder_var": "shared", "beta": 0.5}, (2,), ()),
    "vae_fixed": ({**V, "decoder_var": "fixed", "decoder_std": 0.1}, (2,), ()),
    "vae_bernoulli": ({**V, "likelihood": "bernoulli"}, (4,), ()),
    "conv_vae": ({**V, "arch": "conv", "channels": 4}, IMG, ()),
    "conv_vae_gaussian": ({**V, "arch": "conv", "channels": 4, "likelihood": "gaussian"}, IMG, ()),
    "graph_vae_signal_shared": ({**V, "arch": "graph", "decoder_var": "shared"}, SIGNAL, ()),
    "diffusion_ema": ({**D}, (2,), ()),
    "diffusion_cosine_silu": ({**D, "schedule": "cosine", "activation": "silu", "ema_decay": 0.0}, (2,), ()),
    "conv_diffusion": ({**D, "arch": "conv", "channels": 4}, IMG, ()),
    "conv_diffusion_odd_size": ({**D, "arch": "conv", "channels": 3, "ema_decay": 0.0}, (2, 7, 5), ()),
    "flow": ({**FL, "activation": "relu"}, (2,), ()),
    "flow_odd_dim_tanh": ({**FL, "layers": 3}, (3,), ()),
}


class Batches:
    def __init__(self, items):
        self.items = list(items)

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


def data(shape, seed, steps=STEPS, batch=32):
    """``steps`` batches [batch, *shape] in [0, 1] (images, vectors) or symmetric 0/1 graphs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(steps, batch, *shape, generator=g)
    if len(shape) == 2:                                              # graphs: symmetric adjacency (+ signal)
        n = shape[0]
        a = (x[..., :n] > 0.5).float().triu(1)
        x = torch.cat([a + a.transpose(-1, -2), x[..., n:]], -1)
    return x


def fit(module, batches):
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=Batches(batches))
    return module


def train(cfg, shape, seeds, steps=STEPS, configs=None):
    module = models.build(configs or cfg, data_dim=int(torch.tensor(shape).prod()), event_shape=shape, seeds=list(seeds))
    per = [data(shape, s, steps) for s in seeds]
    return fit(module, [torch.stack([p[i] for p in per]) for i in range(steps)] if len(seeds) > 1 else per[0])


def adam_states(module) -> dict[str, dict]:
    """Parameter name -> its Adam state."""
    names = {id(p): n for n, p in module.named_parameters()}
    opts = module.optimizers()
    return {names[id(p)]: opt.optimizer.state[p] for opt in (opts if isinstance(opts, list) else [opts])
            for p in opt.optimizer.param_groups[0]["params"]}


@pytest.mark.parametrize("case", list(CASES))
def test_member_equals_its_single_run(case):
    cfg, shape, free = CASES[case]
    many = train(cfg, shape, SEEDS)
    k = 1
    alone = train(cfg, shape, [SEEDS[k]])
    got, want = many.member_state_dict(k), alone.state_dict()
    assert got.keys() == want.keys()
    for name in want:
        if name not in free:
            torch.testing.assert_close(got[name], want[name], atol=2e-5, rtol=1e-4, msg=lambda m: f"{name}: {m}")
    adam_many, adam_alone = adam_states(many), adam_states(alone)
    assert adam_many.keys() == adam_alone.keys()
    for name, want_state in adam_alone.items():                      # Adam moments, per member
        if name not in free:
            for key in ("exp_avg", "exp_avg_sq"):
                torch.testing.assert_close(adam_many[name][key][k:k + 1], want_state[key], atol=1e-6, rtol=1e-3)
        assert float(adam_many[name]["step"]) == float(want_state["step"]) > 0
    assert [h["step"] for h in many.history[k]] == [h["step"] for h in alone.history[0]] == [9, 19]
    for h_many, h_alone in zip(many.history[k], alone.history[0]):
        for loss in many.loss_names:
            assert h_many[loss] == pytest.approx(h_alone[loss], abs=1e-5, rel=1e-5)
    assert many.status(k) == alone.status(0) == "complete"
    if not free:
        g = torch.Generator()
        torch.testing.assert_close(many.sample(50, g.manual_seed(5), member=k), alone.sample(50, g.manual_seed(5)),
                                   atol=2e-5, rtol=1e-4)


def test_diverging_member_is_frozen_and_the_others_unaffected():
    cfg, shape = {**G, "loss": "wgan_gp", "gp_weight": 0.1}, (2,)
    configs = [cfg, {**cfg, "debug_nan_at_step": 13}, cfg]
    many = train(cfg, shape, SEEDS, configs=configs)
    assert many.diverged_at == [None, 13, None] and many.stopped_at == [None, 20, None]
    assert [many.status(k) for k in range(3)] == ["complete", "diverged", "complete"]
    clean = train(cfg, shape, SEEDS)                                 # the same members, none diverging
    for k in (0, 2):
        for name, t in clean.member_state_dict(k).items():
            if name not in SHIFT:
                torch.testing.assert_close(many.member_state_dict(k)[name], t, atol=1e-6, rtol=0)
        for a, b in zip(many.history[k], clean.history[k], strict=True):
            assert a == pytest.approx(b, abs=1e-6)
    before = train(cfg, shape, [SEEDS[1]], steps=13)                # steps 0..12: where the member froze
    for name, t in before.state_dict().items():
        if name not in SHIFT:
            torch.testing.assert_close(many.member_state_dict(1)[name], t, atol=2e-5, rtol=1e-4)
    assert all(torch.isfinite(t).all() for t in many.state_dict().values())
    assert many.history[1][-1]["step"] == 9                          # the window with the bad step is not kept


def test_training_stops_when_every_member_diverged():
    cfg, shape = {**G, "check_every": 5}, (2,)
    configs = [{**cfg, "debug_nan_at_step": 12}, {**cfg, "debug_nan_at_step": 3}]
    many = train(cfg, shape, SEEDS[:2], steps=STEPS, configs=configs)
    assert many.diverged_at == [12, 3] and many.stopped_at == [15, 5]
    assert many.steps == 15                                           # the check that saw the last one
    assert many.sample(7, member=1).shape == (7, 2)


def test_save_and_load_a_member(tmp_path):
    cfg, shape = CASES["graph_vae_signal_shared"][:2]
    many = train(cfg, shape, SEEDS, steps=10)
    models.save(many, 2, tmp_path / "m.pt")
    one = models.load(tmp_path / "m.pt")
    assert one.K == 1 and one.seeds == [SEEDS[2]] and one.steps == 10
    g = torch.Generator()
    assert torch.equal(one.sample(20, g.manual_seed(1)), many.sample(20, g.manual_seed(1), member=2))
    x = data(shape, 0, 1)[0].flatten(1)
    assert torch.equal(one.elbo(x, g.manual_seed(2)), many.elbo(x, g.manual_seed(2), member=2))


def test_build_checks_members():
    with pytest.raises(ValueError, match=r"differs from config 0 in g_width \(g_width=8 vs 16\)"):
        models.build([G, {**G, "g_width": 8}], data_dim=2, seeds=[0, 1])
    with pytest.raises(ValueError, match="2 configs for 3 seeds"):
        models.build([G, G], data_dim=2, seeds=[0, 1, 2])
    with pytest.raises(ValueError, match=r"seeds=\[-1\] is not allowed"):
        models.build(G, data_dim=2, seeds=[-1])
    module = models.build(G, data_dim=2, seeds=[4, 9])
    with pytest.raises(ValueError, match=r"a batch of shape \(32, 2\) is not allowed; expected \[K=2, B, 2\]"):
        module._steps_of(torch.zeros(32, 2))
    for k, seed in enumerate((4, 9)):                                 # member k starts as its single run
        alone = models.build(G, data_dim=2, seeds=[seed])
        for name, t in alone.state_dict().items():
            assert torch.equal(module.member_state_dict(k)[name], t)


def test_objectives_reduce_over_the_last_axis():
    torch.manual_seed(2)
    r, f = torch.randn(4, 32), torch.randn(4, 32)
    for name, obj in models.objectives.OBJECTIVES.items():
        got = obj.d_loss(r, f)
        assert got.shape == (4,)
        torch.testing.assert_close(got, torch.stack([obj.d_loss(r[k], f[k]) for k in range(4)]), msg=name)
        torch.testing.assert_close(obj.g_loss(r, f), torch.stack([obj.g_loss(r[k], f[k]) for k in range(4)]), msg=name)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_stacked_nets_match_their_members(spectral_norm):
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Linear(3, 5), nn.LayerNorm(5), nn.ELU(), nn.Linear(5, 2)) for _ in range(4)]
    net = stack(nets, spectral_norm=spectral_norm)
    assert isinstance(net, VmapNet) and net.params["0__weight"].shape == (4, 5, 3)
    x = torch.randn(4, 6, 3)
    want = torch.stack([n(xk) for n, xk in zip(nets, x)])
    if spectral_norm:     # torch's parametrization as the reference (eval: no power step; ours warmed up 15 steps)
        from torch.nn.utils.parametrizations import spectral_norm as sn
        refs = [nn.Sequential(*[sn(l) if isinstance(l, nn.Linear) else l for l in n]) for n in nets]
        for _ in range(200):
            [r(xk) for r, xk in zip(refs, x)]; net(x)                  # converge both power iterations
        net.eval(); [r.eval() for r in refs]
        want = torch.stack([r(xk) for r, xk in zip(refs, x)])
    torch.testing.assert_close(net(x), want, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(net(x[2:3], members=slice(2, 3))[0], want[2], atol=1e-5, rtol=1e-4)
    plain = stack([mlp(3, 2, width=5, depth=2) for _ in range(4)])
    assert isinstance(plain, BatchedMLP) and plain.fast is not None
    torch.testing.assert_close(plain(x), plain(x, members=slice(None, None, 1)), atol=1e-6, rtol=0)


def test_batched_linear_matches_its_members():
    torch.manual_seed(0)
    nets = [mlp(3, 2, width=5, depth=2, activation="elu") for _ in range(4)]
    batched = stack_mlps(nets)
    assert isinstance(batched[0], BatchedLinear) and batched[0].weight.shape == (4, 3, 5)
    x = torch.randn(4, 6, 3)
    torch.testing.assert_close(batched(x), torch.stack([n(xk) for n, xk in zip(nets, x)]), atol=1e-6, rtol=0)
    for k, net in enumerate(nets):                                    # weight [K, in, out], bias [K, 1, out]
        assert torch.equal(batched[0].weight[k], net[0].weight.t()) and torch.equal(batched[2].bias[k, 0], net[2].bias)
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
