"""A GAN as a LightningModule with manual optimisation, K members batched (models/base.py).

One training step = one batch of real data = one critic update; the generator is updated after
every ``d_steps``-th critic update (so with ``d_steps=5`` each critic update sees fresh real data,
as in WGAN-GP). With packing ``m``, the critic sees ``m`` samples concatenated into one input
(PacGAN) and a batch of ``n`` samples gives ``n / m`` critic inputs.
"""
from __future__ import annotations

import copy

import torch

from . import lipschitz, objectives
from .base import LabModule
from .config import Key, inconsistent, resolve
from .members import ALL, stack
from .nets import ACTIVATIONS, maxout_mlp, mlp

AHEAD = 16          # latent draws made at once per member (one generator call instead of 16)

KEYS = {
    "model": Key("gan", "model kind", "choice", choices=("gan",)),
    "loss": Key("non_saturating", "GAN objective (models.objectives.OBJECTIVES)", "choice",
                choices=tuple(objectives.OBJECTIVES)),
    "gp_weight": Key(None, "gradient-penalty weight; loss wgan_gp only, required there", low=0, low_open=True),
    "div_k": Key(None, "WGAN-div penalty weight; loss wgan_div only (default 2)", low=0, low_open=True),
    "div_p": Key(None, "WGAN-div gradient-norm power; loss wgan_div only (default 6)", low=0, low_open=True),
    "qp_lambda": Key(None, "GAN-QP lambda; loss gan_qp only (default 10)", low=0, low_open=True),
    "latent_dim": Key(2, "dimension of the latent variable", "int", low=1),
    "prior": Key("normal", "latent prior: N(0, I) or uniform on [-1, 1]^d", "choice", choices=("normal", "uniform")),
    "g_width": Key(128, "generator hidden width", "int", low=1),
    "g_depth": Key(3, "generator hidden layers", "int", low=0),
    "g_norm": Key("none", "generator normalisation layer", "choice", choices=("none", "layer", "batch")),
    "arch": Key("mlp", "network family: MLPs (any data), DCGAN-style convolutions (images [C, H, W]) or "
                "a symmetric edge generator (graphs [N, N(+1)]); see models.conv, models.graph", "choice",
                choices=("mlp", "conv", "graph")),
    "channels": Key(None, "base channels of the conv generator and critic; arch conv only (default 32)",
                    "int", low=1),
    "edges": Key(None, "graph generator edges: straight_through (hard Bernoulli, Gumbel gradient) or relaxed; "
                 "arch graph only (default straight_through)", "choice", choices=("straight_through", "relaxed")),
    "temperature": Key(None, "temperature of the edge relaxation; arch graph only (default 0.5)", low=0,
                       low_open=True),
    "d_arch": Key("mlp", "critic architecture: MLP or maxout (PacGAN); gcn (dense GCN) with arch graph; "
                  "arch conv uses its conv critic (keep mlp)", "choice", choices=("mlp", "maxout", "gcn")),
    "d_width": Key(128, "critic hidden width", "int", low=1),
    "d_depth": Key(3, "critic hidden layers", "int", low=0),
    "d_norm": Key("none", "critic normalisation layer", "choice", choices=("none", "layer")),
    "maxout_pieces": Key(None, "linear pieces per maxout unit; d_arch maxout only (default 5)", "int", low=2),
    "activation": Key("relu", "hidden activation of the MLPs", "choice", choices=tuple(ACTIVATIONS)),
    "spectral_norm": Key(False, "spectral normalisation of every critic layer", "bool"),
    "g_lipschitz": Key(None, "bound the generator's Lipschitz constant by this: spectral normalisation of every "
                       "generator layer, output scaled by it (arch mlp, g_norm none, a 1-Lipschitz activation; "
                       "models.lipschitz); None = off", low=0, low_open=True),
    "pack": Key(1, "samples per critic input (PacGAN m)", "int", low=1),
    "d_steps": Key(1, "critic updates per generator update", "int", low=1),
    "lr_g": Key(1e-4, "generator Adam learning rate", low=0, low_open=True),
    "lr_d": Key(1e-4, "critic Adam learning rate", low=0, low_open=True),
    "beta1": Key(0.5, "Adam beta1 (both networks)", low=0, high=1, high_open=True),
    "beta2": Key(0.9, "Adam beta2 (both networks)", low=0, high=1, high_open=True),
    "ema_decay": Key(0.0, "decay of an EMA of the generator's weights used by sample(); 0 = off",
                     low=0, high=1, high_open=True),
    "batch_size": Key(256, "samples per batch (the DataModule's batch_size)", "int", low=1),
    "check_every": Key(50, "steps between divergence checks and loss logging (one sync each)", "int", low=1),
    "debug_nan_at_step": Key(None, "test hook: make the critic loss NaN at this step", "int", low=0),
}


def check(config: dict) -> dict:
    """Validate a GAN config; returns it with every default filled in."""
    cfg = resolve("gan", KEYS, config)
    given = lambda key: config.get(key, KEYS[key].default)      # as written, for the error message
    obj = objectives.OBJECTIVES[cfg["loss"]]
    for name, users in objectives.CONSTANTS.items():
        if name in obj.constants:
            if cfg[name] is None and obj.constants[name] is None:
                raise inconsistent("gan", name, None, f"loss {cfg['loss']!r} requires it; expected {KEYS[name].allowed()}")
            cfg[name] = obj.constants[name] if cfg[name] is None else cfg[name]
        elif cfg[name] is not None:
            raise inconsistent("gan", name, given(name), f"it applies to loss {' or '.join(map(repr, users))}, "
                               f"not {cfg['loss']!r}")
    _check_arch(cfg, given)
    if cfg["d_arch"] == "maxout":
        cfg["maxout_pieces"] = 5 if cfg["maxout_pieces"] is None else cfg["maxout_pieces"]
    elif cfg["maxout_pieces"] is not None:
        raise inconsistent("gan", "maxout_pieces", given("maxout_pieces"), "it applies to d_arch 'maxout', not 'mlp'")
    if cfg["g_lipschitz"] is not None:
        bad = [f"{k}={cfg[k]!r}" for k, ok in (("arch", ("mlp",)), ("g_norm", ("none",)),
                                                ("activation", lipschitz.ONE_LIPSCHITZ)) if cfg[k] not in ok]
        if bad:
            raise inconsistent("gan", "g_lipschitz", given("g_lipschitz"),
                               f"it needs arch 'mlp', g_norm 'none' and activation in {lipschitz.ONE_LIPSCHITZ} "
                               f"(got {', '.join(bad)})")
    if cfg["batch_size"] % cfg["pack"]:
        raise inconsistent("gan", "pack", given("pack"), f"batch_size={given('batch_size')} is not divisible by it")
    return cfg


def _check_arch(cfg: dict, given) -> None:
    arch = cfg["arch"]
    for key, owner, default in (("channels", "conv", 32), ("edges", "graph", "straight_through"),
                                ("temperature", "graph", 0.5)):
        if arch == owner:
            cfg[key] = default if cfg[key] is None else cfg[key]
        elif cfg[key] is not None:
            raise inconsistent("gan", key, given(key), f"it applies to arch {owner!r}, not {arch!r}")
    if cfg["d_arch"] == "gcn" and arch != "graph":
        raise inconsistent("gan", "d_arch", given("d_arch"), f"it applies to arch 'graph', not {arch!r}")
    if arch == "conv" and cfg["d_arch"] != "mlp":
        raise inconsistent("gan", "d_arch", given("d_arch"), "arch 'conv' uses its conv critic: keep d_arch 'mlp'")


def nets(cfg: dict, data_dim: int, event_shape: tuple[int, ...]):
    """One member's generator net, critic and generator head (None, or the graph edge head)."""
    if cfg["arch"] != "mlp":                       # models.conv / models.graph: flat in, flat out
        from . import conv, graph
        return {"conv": conv, "graph": graph}[cfg["arch"]].gan_nets(cfg, event_shape)
    g = mlp(cfg["latent_dim"], data_dim, width=cfg["g_width"], depth=cfg["g_depth"],
            activation=cfg["activation"], norm=cfg["g_norm"])
    d_in = data_dim * cfg["pack"]
    if cfg["d_arch"] == "maxout":
        d = maxout_mlp(d_in, 1, width=cfg["d_width"], depth=cfg["d_depth"], pieces=cfg["maxout_pieces"],
                       norm=cfg["d_norm"])
    else:
        d = mlp(d_in, 1, width=cfg["d_width"], depth=cfg["d_depth"], activation=cfg["activation"], norm=cfg["d_norm"])
    return g, d, None


class GAN(LabModule):
    loss_names = ("loss_d", "loss_g")

    def __init__(self, config: dict, data_dim: int, event_shape: tuple[int, ...] | None = None,
                 seeds=(0,), nan_at=None):
        cfg = check(config)
        super().__init__(cfg, data_dim, event_shape, seeds, nan_at)
        self.objective = objectives.OBJECTIVES[cfg["loss"]]
        self.constants = {k: cfg[k] for k in self.objective.constants}
        members = self.build_members(lambda: nets(cfg, data_dim, self.event_shape))
        self.generator = stack([m[0] for m in members], spectral_norm=cfg["g_lipschitz"] is not None)
        self.critic = stack([m[1] for m in members], spectral_norm=cfg["spectral_norm"],
                            fast=not self.objective.interpolates)      # penalties differentiate it twice
        self.g_head = members[0][2]                                    # parameter-free
        self.generator_ema = None
        if cfg["ema_decay"] > 0:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self._loss_g = None
        self._critic_params = list(self.critic.parameters())
        self._gen_params = list(self.generator.parameters())
        self._ahead, self._ahead_i = None, 0

    def configure_optimizers(self):
        kw = dict(betas=(self.config["beta1"], self.config["beta2"]), fused=self.device.type in ("cpu", "cuda"))
        return (torch.optim.Adam(self._critic_params, lr=self.config["lr_d"], **kw),
                torch.optim.Adam(self._gen_params, lr=self.config["lr_g"], **kw))

    def _latents(self, n: int, generator: torch.Generator | None = None, k: int | None = None) -> torch.Tensor:
        """[k or K, n, latent_dim] from the prior: drawn with ``generator`` (torch's global RNG if
        None, on the module's device) -- or, with ``k`` None, each member's next training draw."""
        d, normal = self.config["latent_dim"], self.config["prior"] == "normal"
        if k is not None:
            z = self.draw_with((k, n, d), generator, normal)
        else:
            if self._ahead is None or self._ahead_i == AHEAD:
                self._ahead, self._ahead_i = self.draw((AHEAD, n, d), normal), 0
            if self._ahead.shape[2] != n:
                raise ValueError(f"GAN: {n} latents asked while draws of {self._ahead.shape[2]} are pending "
                                 "(the batch size must not change during training)")
            self._ahead_i += 1
            z = self._ahead[:, self._ahead_i - 1]
        return z if normal else z * 2 - 1

    def _generate(self, z: torch.Tensor, u: torch.Tensor | None, net=None, members=ALL) -> torch.Tensor:
        out = (self.generator if net is None else net)(z, members)
        if self.config["g_lipschitz"] is not None:
            out = out * self.config["g_lipschitz"]
        return out if self.g_head is None else self.g_head(out, u)

    def _edge_noise(self, n: int) -> torch.Tensor | None:
        return None if self.g_head is None else self.draw((n, self.g_head.n_edges), normal=False)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, member: int = 0) -> torch.Tensor:
        """``n`` samples [n, data_dim] of member ``member`` on the module's device (EMA generator
        when on), its latents (and edge noise) drawn with ``generator`` (torch's global RNG if None)."""
        net = self.generator_ema if self.generator_ema is not None else self.generator
        training = net.training
        net.eval()
        z = self._latents(n, generator, k=1)
        u = None if self.g_head is None else self.draw_with((1, n, self.g_head.n_edges), generator, normal=False)
        x = self._generate(z, u, net, slice(member, member + 1))[0]
        net.train(training)
        return x

    @torch.no_grad()
    def lipschitz(self, member: int, generator: torch.Generator | None = None, n: int = 1000) -> dict[str, float]:
        """Member ``member``'s generator (the net ``sample`` uses) as a map of its latent: the largest
        Jacobian norm at ``n`` latent draws (``g_lipschitz_local``) and, where the architecture allows
        it, the certified bound (``g_lipschitz_bound``); models.lipschitz. Empty for conv / graph nets."""
        cfg = self.config
        if cfg["arch"] != "mlp":
            return {}
        net = self.generator_ema if self.generator_ema is not None else self.generator
        training = net.training
        net.eval()
        z = self._latents(n, generator, k=1)[0]
        out = {"g_lipschitz_local": lipschitz.local(
            lambda zz: self._generate(zz[None], None, net, slice(member, member + 1))[0], z)}
        if cfg["g_norm"] == "none" and cfg["activation"] in lipschitz.ONE_LIPSCHITZ:
            out["g_lipschitz_bound"] = lipschitz.certified(net.member_weights(member), cfg["g_lipschitz"] or 1.0)
        net.train(training)
        return out

    def train_step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, obj, K = self.config["pack"], self.objective, self.K
        n = x.shape[1] - x.shape[1] % m
        pack = (lambda t: t) if m == 1 else (lambda t: t.reshape(K, n // m, -1))   # m samples per critic input
        x_real = pack(x[:, :n])
        opt_d, opt_g = self.optimizers()

        with torch.no_grad():
            x_fake = pack(self._generate(self._latents(n), self._edge_noise(n)))
        r, f = self.critic(torch.cat([x_real, x_fake], 1)).squeeze(-1).chunk(2, dim=1)
        loss_d = obj.d_loss(r, f)                                          # [K]
        if obj.penalty is not None:
            alpha = self.draw((x_real.shape[1], 1), normal=False) if obj.interpolates else None
            loss_d = loss_d + obj.penalty(self.critic, x_real, x_fake, r, f, alpha, **self.constants)
        self.update(opt_d, self._critic_params, self.nan_hook(loss_d), lightning=True)

        if self._loss_g is None:
            self._loss_g = torch.zeros(K, device=x.device)               # recorded until the first generator update
        if (self.steps + 1) % self.config["d_steps"] == 0:
            for p in self._critic_params:
                p.requires_grad_(False)                # no critic weight gradients in the generator step
            x_fake = pack(self._generate(self._latents(n), self._edge_noise(n)))
            critic = lambda t: self.critic(t, param_grads=False).squeeze(-1)
            r = None
            if obj.g_uses_real:
                with torch.no_grad():
                    r = critic(x_real)
            loss_g = obj.g_loss(r, critic(x_fake))
            self.update(opt_g.optimizer, self._gen_params, loss_g)
            for p in self._critic_params:
                p.requires_grad_(True)
            self._loss_g = loss_g.detach()
            if self.generator_ema is not None:
                self._update_ema()
        return loss_d, self._loss_g

    @torch.no_grad()
    def _update_ema(self) -> None:
        self.update_ema(self.generator_ema, self._gen_params, self.config["ema_decay"])
        for b_ema, b in zip(self.generator_ema.buffers(), self.generator.buffers()):   # batch-norm statistics
            b_ema.copy_(b)
