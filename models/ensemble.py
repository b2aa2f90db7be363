"""Train many GAN trials in one run: K independent members, batched (issue 9).

    from models.ensemble import compatible, train_members
    if compatible([cfg_a, cfg_b]):
        run = train_members([(cfg_a, 0, dm_a.batches()), (cfg_b, 1, dm_b.batches())], steps=2000, data_dim=2)
        for r in run.results():          # MemberResult: status, diverged_at, history, sample(n, generator)
            ...
        run.sample(2500, member=1, generator=g)     # == run.to_gan(1).sample(2500, generator=g)

Member k is the GAN that ``models.build(configs[k], data_dim)`` makes after ``torch.manual_seed(seed_k)``
(the single-model path of experiments/train.py): its nets are built by that very code and stacked into
batched layers (models/batched.py, weight [K, in, out], ``torch.bmm``), which train through
:class:`models.batched.FastMLP` (one autograd node per net with a hand-written backward). Its latent
noise (and gradient-penalty interpolation weights) come from its own ``torch.Generator``, which on
CPU starts in the state torch's global RNG has right after that build -- the stream a single GAN
run draws its noise from -- so a member follows the trajectory of the same trial trained alone, to
float tolerance (on a GPU the generator is seeded with the member's seed instead). Each member sees
its own data: batches [K, B, D], one stream per member.

Independence: every loss is computed per member ([K] values: the objective functions of
models.objectives mapped over members with ``torch.func.vmap``, or their per-member forms in
``_PER_MEMBER``) and their *sum* is backpropagated, so member k's gradient is exactly its own. One
``torch.optim.Adam`` over the stacked parameters is elementwise, hence per member. A member whose
loss or gradient is non-finite is frozen from that step on, without a host sync: its gradients and
Adam moments are zeroed, so its update is exactly 0 (its parameters stay those before the bad step)
while the others go on unaffected; ``diverged_at`` is that step (0-based). (On the CPU, where
looking at a value costs no sync, one check per update skips that masking while all members are
finite.) Losses are kept in an on-device window and come to the host every ``check_every`` steps
(one transfer), as in models/base.py.

Speed (benchmarks/ensemble.py, 2-core CPU, 1 thread, width 64, batch 256): 2.2-2.3x the member-steps/s
of a plain PyTorch loop training the members one after another for K = 8..128 (the loop runs at
~16% of sgemm peak, the ensemble at ~37%); at width 256, where the loop already runs at ~55% of
peak, 1.0-1.3x.

Supported: configs that :func:`compatible` accepts -- same architecture, optimiser settings and
batch size (``debug_nan_at_step`` and ``check_every`` may differ, the first ``check_every`` is used),
MLP critic and generator without normalisation or spectral norm, packing, ``d_steps``, EMA, and
the losses in :data:`LOSSES`.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.func import vmap

from . import gan as gan_module
from . import objectives
from .batched import FastMLP, stack_mlps, unstack_mlp

LOSSES = ("non_saturating", "minimax", "hinge", "least_squares", "wgan_gp", "wgan_div", "rsgan", "ragan", "gan_qp")
MAY_DIFFER = ("debug_nan_at_step", "check_every")
_GRAD_PENALTIES = ("wgan_gp", "wgan_div")
_AHEAD = 16                     # prior draws per generator call (see EnsembleGAN.prior)

# Per-member forms ([K, n] -> [K]) of the simplest objectives, the same ops as ``vmap`` of
# models.objectives runs without its ~0.1 ms per call (tests/test_ensemble.py checks they agree);
# other objectives are vmapped.
_PER_MEMBER = {
    objectives.logistic_d: lambda r, f: F.softplus(-r).mean(-1) + F.softplus(f).mean(-1),
    objectives.non_saturating_g: lambda r, f: F.softplus(-f).mean(-1),
    objectives.minimax_g: lambda r, f: -F.softplus(f).mean(-1),
    objectives.wasserstein_d: lambda r, f: f.mean(-1) - r.mean(-1),
    objectives.wasserstein_g: lambda r, f: -f.mean(-1),
    objectives.hinge_d: lambda r, f: F.relu(1 - r).mean(-1) + F.relu(1 + f).mean(-1),
    objectives.least_squares_d: lambda r, f: ((r - 1) ** 2).mean(-1) + (f ** 2).mean(-1),
    objectives.least_squares_g: lambda r, f: ((f - 1) ** 2).mean(-1),
}


def incompatibility(configs: Sequence[dict]) -> str | None:
    """Why ``configs`` cannot train as one ensemble, or None if they can. Raises ``ValueError``
    for a config that is invalid on its own (as ``models.validate_config`` would)."""
    if not configs:
        return "no configs"
    cfgs = [gan_module.check(c) for c in configs]
    first = cfgs[0]
    if first["loss"] not in LOSSES:
        return f"loss {first['loss']!r} is not supported by the ensemble; supported: {', '.join(LOSSES)}"
    for key, ok in (("arch", "mlp"), ("d_arch", "mlp"), ("g_norm", "none"), ("d_norm", "none"), ("spectral_norm", False)):
        if first.get(key, ok) != ok:
            return f"{key}={first[key]!r} is not supported by the ensemble (only {ok!r})"
    for i, cfg in enumerate(cfgs[1:], 1):
        diff = sorted(k for k in cfg if k not in MAY_DIFFER and cfg[k] != first[k])
        if diff:
            return (f"config {i} differs from config 0 in {', '.join(diff)} "
                    f"({', '.join(f'{k}={cfg[k]!r} vs {first[k]!r}' for k in diff)})")
    return None


def compatible(configs: Sequence[dict]) -> bool:
    """True if ``configs`` (GAN configs, any member count) can train together in one ensemble."""
    try:
        return incompatibility(configs) is None
    except ValueError:
        return False


@dataclass
class MemberResult:
    """One member's outcome; ``sample(n, generator=None)`` draws from its (EMA) generator."""

    member: int
    config: dict
    seed: int
    status: str                          # "complete" or "diverged"
    diverged_at: int | None
    steps: int
    history: list[dict] = field(default_factory=list)
    sample: Callable[..., torch.Tensor] | None = field(default=None, repr=False)


class EnsembleGAN(nn.Module):
    """K GAN members trained in lock-step. ``step(x)`` with ``x`` [K, B, D] is one training step
    of every member (one critic update, a generator update every ``d_steps``-th step)."""

    loss_names = ("loss_d", "loss_g")

    def __init__(self, configs: Sequence[dict], data_dim: int, seeds: Sequence[int] | None = None,
                 device: torch.device | str = "cpu"):
        super().__init__()
        reason = incompatibility(configs)
        if reason is not None:
            raise ValueError(f"EnsembleGAN: incompatible configs: {reason}")
        self.configs = [gan_module.check(c) for c in configs]
        self.K, self.data_dim = len(self.configs), int(data_dim)
        self.seeds = list(range(self.K)) if seeds is None else [int(s) for s in seeds]
        if len(self.seeds) != self.K:
            raise ValueError(f"EnsembleGAN: {len(self.seeds)} seeds for {self.K} configs")
        cfg = self.config = self.configs[0]
        self.device_ = device = torch.device(device)
        self.objective = objectives.OBJECTIVES[cfg["loss"]]
        self.constants = {k: cfg[k] for k in self.objective.constants}

        gens, crits, noise = [], [], []
        for c, seed in zip(self.configs, self.seeds):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)                 # what pl.seed_everything does to torch's CPU RNG
                single = gan_module.GAN(c, data_dim)    # the single-model code builds the nets
                state = torch.get_rng_state()           # where a single run's noise stream starts
            gens.append(single.generator)
            crits.append(single.critic)
            g = torch.Generator(device=device)
            if device.type == "cpu":
                g.set_state(state)
            else:
                g.manual_seed(seed)
            noise.append(g)
        self.generator = stack_mlps(gens).to(device)
        self.critic = stack_mlps(crits).to(device)
        self.generator_ema = None
        if cfg["ema_decay"] > 0:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.noise = noise
        self._ahead, self._ahead_i = None, 0                # prior draws made ahead, [K, _AHEAD, n, d]
        self._draw_ahead = device.type == "cpu" and cfg["loss"] not in _GRAD_PENALTIES
        kw = dict(betas=(cfg["beta1"], cfg["beta2"]), fused=device.type in ("cpu", "cuda"))
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=cfg["lr_d"], **kw)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg["lr_g"], **kw)
        self._critic_params = list(self.critic.parameters())
        self._gen_params = list(self.generator.parameters())
        self._fast_g, self._fast_d = FastMLP.of(self.generator), FastMLP.of(self.critic)

        obj = self.objective
        self._d_loss = _PER_MEMBER.get(obj.d_loss) or vmap(obj.d_loss)
        g_loss = _PER_MEMBER.get(obj.g_loss) or vmap(obj.g_loss)
        self._g_loss = g_loss if obj.g_uses_real else lambda f: g_loss(None, f)
        self._qp = None
        if obj.penalty is not None and cfg["loss"] not in _GRAD_PENALTIES:     # gan_qp: no critic inside
            self._qp = vmap(lambda xr, xf, r, f: obj.penalty(None, xr, xf, r, f, **self.constants))
        self._nan_steps = {c["debug_nan_at_step"] for c in self.configs} - {None}

        self.steps = 0
        self.check_every = cfg["check_every"]
        self.alive = torch.ones(self.K, dtype=torch.bool, device=device)
        self._all_alive, self._cheap_check = True, device.type == "cpu"
        self.diverged_step = torch.full((self.K,), -1, dtype=torch.long, device=device)
        self._window = torch.zeros(self.check_every, self.K, 2, device=device)
        self._window_start = 0
        self._loss_g = None
        self.diverged_at: list[int | None] = [None] * self.K
        self.history: list[list[dict]] = [[] for _ in range(self.K)]

    # -- noise ------------------------------------------------------------------------------------
    def prior(self, n: int) -> torch.Tensor:
        """[K, n, latent_dim]: member k's next draw from its own generator (as ``GAN.prior(n)``).
        On the CPU, when nothing else draws from the generators (no gradient penalty), each draws
        ``_AHEAD`` priors in one call: the same numbers as one call each (for ``randn`` when n *
        latent_dim is a multiple of 16, its vectorised chunk; tests/test_ensemble.py checks)."""
        if self._ahead is not None and self._ahead_i < self._ahead.shape[1]:
            if self._ahead.shape[2] != n:
                raise ValueError(f"EnsembleGAN.prior: {n} samples asked while draws of {self._ahead.shape[2]} "
                                 "are pending (the batch size must not change during training)")
            self._ahead_i += 1
            return self._ahead[:, self._ahead_i - 1]
        d, normal = self.config["latent_dim"], self.config["prior"] == "normal"
        ahead = _AHEAD if self._draw_ahead and (not normal or n * d % 16 == 0) else 1
        z = torch.empty(self.K, ahead, n, d, device=self.device_)
        draw = torch.randn if normal else torch.rand
        for k, g in enumerate(self.noise):
            draw(z.shape[1:], generator=g, out=z[k])
        if not normal:
            z.mul_(2).sub_(1)
        self._ahead, self._ahead_i = z, 1
        return z[:, 0]

    def _uniform(self, n: int) -> torch.Tensor:
        a = torch.empty(self.K, n, 1, device=self.device_)
        for k, g in enumerate(self.noise):
            torch.rand((n, 1), generator=g, out=a[k])
        return a

    def _penalty(self, x_real, x_fake, r, f) -> torch.Tensor:
        if self._qp is not None:
            return self._qp(x_real, x_fake, r, f)
        alpha = self._uniform(x_real.shape[1])
        x_hat = (x_real + alpha * (x_fake - x_real)).requires_grad_(True)
        # members are independent, so the gradient of the summed outputs is each member's own
        (grad,) = torch.autograd.grad(self.critic(x_hat).sum(), x_hat, create_graph=True)
        norm = grad.norm(dim=-1)                                        # [K, n]
        if self.config["loss"] == "wgan_gp":
            return self.constants["gp_weight"] * ((norm - 1) ** 2).mean(-1)
        return self.constants["div_k"] * (norm ** self.constants["div_p"]).mean(-1)

    # -- divergence masking (no host sync) -----------------------------------------------------------
    def _mask(self, params: list[nn.Parameter], opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        grads = [p.grad for p in params]
        if self._cheap_check and self._all_alive:
            # on the CPU reading a value costs no sync: while every member lives, one norm over all
            # gradients and losses tells whether there is anything to mask (nearly always not)
            if torch.stack(torch._foreach_norm(grads + [loss.detach()])).sum().isfinite():
                return
        grad_sum = torch.stack([g.flatten(1).sum(1) for g in grads]).sum(0)
        bad = ~torch.isfinite(loss.detach() + grad_sum)
        self.diverged_step.masked_fill_(bad & self.alive, self.steps)
        self.alive &= ~bad
        dead = ~self.alive
        for p in params:
            view = dead.view(-1, *([1] * (p.dim() - 1)))
            p.grad.masked_fill_(view, 0)
            state = opt.state.get(p)
            if state:                          # zero moments + zero gradient = an update of exactly 0
                state["exp_avg"].masked_fill_(view, 0)
                state["exp_avg_sq"].masked_fill_(view, 0)
        if self._cheap_check:
            self._all_alive = bool(self.alive.all())

    # -- training -----------------------------------------------------------------------------------
    def step(self, x: torch.Tensor) -> None:
        """One step of every member on ``x`` [K, B, D] (member k's batch is ``x[k]``)."""
        cfg, obj, K = self.config, self.objective, self.K
        m = cfg["pack"]
        n = x.shape[1] - x.shape[1] % m
        pack = (lambda t: t) if m == 1 else (lambda t: t.reshape(K, n // m, -1))
        x_real = pack(x[:, :n])

        gen = self._fast_g or self.generator
        with torch.no_grad():
            x_fake = pack(gen(self.prior(n)))
        r, f = (self._fast_d or self.critic)(torch.cat([x_real, x_fake], 1)).squeeze(-1).chunk(2, dim=1)
        loss_d = self._d_loss(r, f)                                     # [K]
        if obj.penalty is not None:
            loss_d = loss_d + self._penalty(x_real, x_fake, r, f)
        if self.steps in self._nan_steps:
            loss_d = loss_d * torch.tensor([math.nan if c["debug_nan_at_step"] == self.steps else 1.0
                                            for c in self.configs], device=loss_d.device)
        for p in self._critic_params:
            p.grad = None
        loss_d.sum().backward()
        self._mask(self._critic_params, self.opt_d, loss_d)
        self.opt_d.step()

        if self._loss_g is None:
            self._loss_g = torch.zeros(K, device=x.device)
        if (self.steps + 1) % cfg["d_steps"] == 0:
            x_fake = pack(gen(self.prior(n)))
            if self._fast_d is not None:                                # no critic weight gradients
                critic = lambda t: self._fast_d(t, param_grads=False)
            else:
                critic = self.critic
                for p in self._critic_params:
                    p.requires_grad_(False)
            f = critic(x_fake).squeeze(-1)
            if obj.g_uses_real:
                with torch.no_grad():
                    r = critic(x_real).squeeze(-1)
                loss_g = self._g_loss(r, f)
            else:
                loss_g = self._g_loss(f)
            for p in self._gen_params:
                p.grad = None
            loss_g.sum().backward()
            self._mask(self._gen_params, self.opt_g, loss_g)
            self.opt_g.step()
            for p in self._critic_params:
                p.requires_grad_(True)
            self._loss_g = loss_g.detach()
            if self.generator_ema is not None:
                self._update_ema()
        torch.stack([loss_d.detach(), self._loss_g], dim=1, out=self._window[self.steps - self._window_start])
        self.steps += 1
        if self.steps - self._window_start == self.check_every:
            self.check()

    @torch.no_grad()
    def _update_ema(self) -> None:
        w = (1 - self.config["ema_decay"]) * self.alive.to(torch.float32)
        for ema, live in zip(self.generator_ema.parameters(), self._gen_params):
            ema.lerp_(live, w.view(-1, *([1] * (live.dim() - 1))))

    def check(self) -> None:
        """Bring the loss window and divergence marks to the host (one transfer)."""
        n = self.steps - self._window_start
        if n == 0:
            return
        host = torch.cat([self._window[:n].flatten().to(torch.float64),
                          self.diverged_step.to(torch.float64)]).cpu()
        window, div = host[:-self.K].view(n, self.K, 2), host[-self.K:].long().tolist()
        means = window.mean(dim=0)
        for k in range(self.K):
            if div[k] >= 0:
                self.diverged_at[k] = div[k]
            else:
                self.history[k].append({"step": self.steps - 1, "loss_d": float(means[k, 0]),
                                        "loss_g": float(means[k, 1])})
        self._window_start = self.steps

    @property
    def all_diverged(self) -> bool:
        return all(d is not None for d in self.diverged_at)

    def status(self, member: int) -> str:
        return "complete" if self.diverged_at[member] is None else "diverged"

    # -- using members --------------------------------------------------------------------------------
    def member_generator(self, member: int) -> nn.Sequential:
        """Member ``member``'s generator (EMA when on) as an ordinary ``nn.Sequential`` (a copy)."""
        net = self.generator_ema if self.generator_ema is not None else self.generator
        return unstack_mlp(net, member)

    @torch.no_grad()
    def sample(self, n: int, member: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples [n, data_dim] of member ``member``; equals ``self.to_gan(member).sample(n, generator)``."""
        return self.to_gan(member).sample(n, generator)

    def to_gan(self, member: int) -> gan_module.GAN:
        """Member ``member`` as an ordinary ``models.GAN`` (weights, diverged_at, history, steps copied)."""
        with torch.random.fork_rng(devices=[]):
            single = gan_module.GAN(self.configs[member], self.data_dim)
        single.generator.load_state_dict(unstack_mlp(self.generator, member).state_dict())
        single.critic.load_state_dict(unstack_mlp(self.critic, member).state_dict())
        if single.generator_ema is not None:
            single.generator_ema.load_state_dict(unstack_mlp(self.generator_ema, member).state_dict())
        single.diverged_at, single.steps = self.diverged_at[member], self.steps
        single.history = [dict(h) for h in self.history[member]]
        return single.to(self.device_)

    def results(self) -> list[MemberResult]:
        return [MemberResult(k, self.configs[k], self.seeds[k], self.status(k), self.diverged_at[k], self.steps,
                             self.history[k], sample=lambda n, generator=None, k=k: self.sample(n, k, generator))
                for k in range(self.K)]


class EnsembleRun:
    """What :func:`train_members` returns: members trained in ``parts`` (EnsembleGANs of at most
    ``chunk`` members each), addressed by their index in the ``members`` list."""

    def __init__(self, parts: list[EnsembleGAN]):
        self.parts = parts
        self._where = [(part, k) for part in parts for k in range(part.K)]

    @property
    def K(self) -> int:
        return len(self._where)

    @property
    def steps(self) -> int:
        return max(p.steps for p in self.parts)

    @property
    def diverged_at(self) -> list[int | None]:
        return [part.diverged_at[k] for part, k in self._where]

    @property
    def history(self) -> list[list[dict]]:
        return [part.history[k] for part, k in self._where]

    def status(self, member: int) -> str:
        part, k = self._where[member]
        return part.status(k)

    def sample(self, n: int, member: int, generator: torch.Generator | None = None) -> torch.Tensor:
        part, k = self._where[member]
        return part.sample(n, k, generator)

    def to_gan(self, member: int) -> gan_module.GAN:
        part, k = self._where[member]
        return part.to_gan(k)

    def results(self) -> list[MemberResult]:
        out = [r for part in self.parts for r in part.results()]
        for i, r in enumerate(out):
            r.member = i
            r.sample = lambda n, generator=None, i=i: self.sample(n, i, generator)
        return out


def train_members(members: Sequence[tuple[dict, int, Iterable[torch.Tensor]]], steps: int, *, data_dim: int,
                  device: torch.device | str = "cpu", chunk: int | None = None,
                  stop_when_all_diverged: bool = True) -> EnsembleRun:
    """Train ``(config, seed, data)`` members together for ``steps`` steps; ``data`` yields the
    member's batches [batch_size, data_dim] (e.g. ``DistributionDataModule(...).batches()``).

    ``chunk``: at most this many members per batched call (None: all in one); results do not
    depend on it (parts are independent and trained one after another). None is fastest: on the
    2-core CPU (benchmarks/ensemble.py) 128 members in one call ran at 2.3x the sequential loop at
    width 64 and 1.1x at width 256, in chunks of 8 at 1.85x and 1.0x (FastMLP already works
    through members in cache-sized blocks, with one loss, optimiser and check per call).
    Returns an :class:`EnsembleRun`; ``.results()`` gives one :class:`MemberResult` per member."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"train_members: steps={steps!r} is not allowed; expected an integer >= 0")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"train_members: chunk={chunk!r} is not allowed; expected an integer >= 1 or None")
    reason = incompatibility([m[0] for m in members])
    if reason is not None:
        raise ValueError(f"train_members: incompatible configs: {reason}")
    size = len(members) if chunk is None else chunk
    dev = torch.device(device)
    parts, streams = [], []
    for i in range(0, len(members), size):
        group = members[i:i + size]
        parts.append(EnsembleGAN([m[0] for m in group], data_dim, [m[1] for m in group], device=dev))
        streams.append([iter(m[2]) for m in group])
    for part, its in zip(parts, streams):          # parts are independent: train each to the end
        for _ in range(steps):
            part.step(torch.stack([next(s).to(dev) for s in its]))
            if stop_when_all_diverged and part.steps == part._window_start and part.all_diverged:
                break
        part.check()
    return EnsembleRun(parts)
