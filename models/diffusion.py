"""A denoising diffusion model (DDPM, Ho et al. 2020) for vector data and images, as a
LightningModule with K members batched (models/base.py).

Forward process q(x_t | x_0) = N(sqrt(a_t) x_0, (1 - a_t) I), t = 1..T, a_t = prod_{s<=t} (1 - b_s):
``schedule`` linear (b from 1e-4 to 0.02 at T = 1000, both scaled by 1000 / T as Nichol &
Dhariwal do, so a_T ~ 4e-5 for any T) or cosine (Nichol & Dhariwal 2021, s = 0.008); every b is
clipped to 0.999. An MLP (or for images, ``arch: conv``, a small U-Net: models.conv.ConvDenoiser)
predicts the noise eps from [x_t, sinusoidal embedding of t]; the
training loss is the simple epsilon MSE, E_{t, eps} |eps - eps_hat(x_t, t)|^2 / data_dim.

Reverse process p(x_{t-1} | x_t) = N(mu(x_t, t), b_t I): the posterior mean given the predicted
x_0, and Ho et al.'s variance choice sigma_t^2 = b_t (with the exact noise predictor of a 2-D
Gaussian the bound is within 0.05 nats of log p(x) at T = 100 and 1000, where the posterior
variance b~_t leaves 0.8-2.5 nats; its few-step samples have closer covariances too). ``elbo``
bounds this chain's log-likelihood. Sampling: x_T ~ N(0, I), then ``sample_steps`` ancestral
steps down the strided grid t_i = round(i T / n) of the respaced chain (b'_i = 1 - a_{t_i} /
a_{t_(i-1)}, Nichol & Dhariwal 2021): the chain itself when sample_steps = timesteps. The last
step returns its mean (the predicted x_0) without noise, as Ho et al. do. The default
sample_steps is min(100, timesteps): an evaluation of 2500 samples then costs 100 network calls,
not 1000. ``ema_decay`` (default 0.995, as DDPMs are usually sampled) keeps an EMA of the weights
that ``sample`` and ``elbo`` use: on a 2-D Gaussian it took the sample mean's error after 1500
steps from ~0.1 to within sampling error of 10000 samples.
"""
from __future__ import annotations

import copy
import math

import torch

from .base import LabModule
from .config import Key, adam_keys, inconsistent, resolve
from .members import ALL, stack
from .nets import ACTIVATIONS, mlp

KEYS = {
    "model": Key("diffusion", "model kind", "choice", choices=("diffusion",)),
    "schedule": Key("linear", "noise schedule: linear betas (Ho et al.) or cosine (Nichol & Dhariwal)", "choice",
                    choices=("linear", "cosine")),
    "timesteps": Key(1000, "T: diffusion steps of training and of the likelihood bound", "int", low=2),
    "sample_steps": Key(None, "network calls per sample, on a strided grid of t (default min(100, timesteps))",
                        "int", low=1),
    "elbo_steps": Key(None, "steps t the likelihood bound evaluates per sample: one drawn in each of elbo_steps "
                      "equal strata of 1..T (an unbiased, noisier estimate of the sum; for costly nets); "
                      "default timesteps (every t)", "int", low=1),
    "arch": Key("mlp", "noise network: an MLP on [x_t, embedding of t] (any data) or a small conv U-Net "
                "(images [C, H, W]; models.conv.ConvDenoiser)", "choice", choices=("mlp", "conv")),
    "channels": Key(None, "base channels of the conv U-Net; arch conv only (default 32)", "int", low=1),
    "width": Key(128, "hidden width of the MLP noise network", "int", low=1),
    "depth": Key(3, "hidden layers of the MLP noise network", "int", low=0),
    "activation": Key("silu", "hidden activation of the MLP noise network", "choice", choices=tuple(ACTIVATIONS)),
    "time_dim": Key(32, "size of the sinusoidal embedding of t (even)", "int", low=2),
    "ema_decay": Key(0.995, "decay of an EMA of the network's weights used by sample() and elbo() (warmed up: "
                     "min(decay, (1 + step) / (10 + step))); 0 = off",
                     low=0, high=1, high_open=True),
    **adam_keys(),
}


def check(config: dict) -> dict:
    """Validate a diffusion config; returns it with every default filled in."""
    cfg = resolve("diffusion", KEYS, config)
    if cfg["arch"] == "conv":
        cfg["channels"] = 32 if cfg["channels"] is None else cfg["channels"]
    elif cfg["channels"] is not None:
        raise inconsistent("diffusion", "channels", config["channels"], "it applies to arch 'conv', not 'mlp'")
    if cfg["time_dim"] % 2:
        raise inconsistent("diffusion", "time_dim", cfg["time_dim"], "expected an even integer (sin and cos pairs)")
    if cfg["elbo_steps"] is None:
        cfg["elbo_steps"] = cfg["timesteps"]
    elif cfg["timesteps"] % cfg["elbo_steps"]:
        raise inconsistent("diffusion", "elbo_steps", cfg["elbo_steps"],
                           f"expected a divisor of timesteps={cfg['timesteps']} (equal strata of t)")
    if cfg["sample_steps"] is None:
        cfg["sample_steps"] = min(100, cfg["timesteps"])
    elif cfg["sample_steps"] > cfg["timesteps"]:
        raise inconsistent("diffusion", "sample_steps", cfg["sample_steps"],
                           f"expected at most timesteps={cfg['timesteps']}")
    return cfg


def schedule(kind: str, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Betas and alpha_bar, each float64 [T + 1] indexed by t (beta_0 = 0, alpha_bar_0 = 1)."""
    if kind == "linear":
        betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)
    else:
        f = torch.cos((torch.arange(T + 1, dtype=torch.float64) / T + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = 1 - f[1:] / f[:-1]
    betas = torch.cat([betas.new_zeros(1), betas.clamp(max=0.999)])
    return betas, torch.cumprod(1 - betas, 0)


def nets(cfg: dict, data_dim: int, event_shape: tuple[int, ...] | None = None) -> torch.nn.Module:
    """One member's noise network: [x_t, embed(t)] -> predicted eps (flat in, flat out)."""
    if cfg["arch"] == "conv":
        from .conv import diffusion_net
        return diffusion_net(cfg, event_shape)
    return mlp(data_dim + cfg["time_dim"], data_dim, width=cfg["width"], depth=cfg["depth"],
               activation=cfg["activation"])


def embed(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding [..., dim] of integer steps t (Vaswani et al.; max period 10000)."""
    freqs = torch.exp(-math.log(10000.0) * torch.arange(dim // 2, device=t.device, dtype=torch.float64) / (dim // 2))
    args = t.unsqueeze(-1).double() * freqs
    return torch.cat([args.sin(), args.cos()], -1)


class Diffusion(LabModule):
    loss_names = ("loss",)

    def __init__(self, config: dict, data_dim: int, event_shape: tuple[int, ...] | None = None,
                 seeds=(0,), nan_at=None):
        cfg = check(config)
        super().__init__(cfg, data_dim, event_shape, seeds, nan_at)
        self.T = cfg["timesteps"]
        self.net = stack(self.build_members(lambda: nets(cfg, data_dim, event_shape)))
        self._params = list(self.net.parameters())
        self.net_ema = copy.deepcopy(self.net).requires_grad_(False) if cfg["ema_decay"] > 0 else None
        betas, ab = schedule(cfg["schedule"], self.T)
        self.betas, self.alpha_bar = betas.tolist(), ab.tolist()      # float64 scalars for the sampler
        # -ELBO = L_T + sum_t w_t |eps - eps_hat|^2 + D * const: w_t = b_t / (2 alpha_t (1 - a_t)) for the
        # KLs (t >= 2) and the decoder -log N(x_0; mu(x_1, 1), b_1 I) (t = 1: w_1 = 1 / (2 alpha_1));
        # const = log(2 pi b_1) / 2 + sum_{t>=2} (r_t - 1 - log r_t) / 2, r_t = b~_t / b_t = (1 - a_{t-1}) / (1 - a_t)
        weight = betas / (2 * (1 - betas) * (1 - ab)).clamp(min=1e-300)
        r = (1 - ab[1:-1]) / (1 - ab[2:])
        self.const = 0.5 * math.log(2 * math.pi * self.betas[1]) + 0.5 * float((r - 1 - r.log()).sum())
        for name, value in (("sqrt_ab", ab.sqrt()), ("sqrt_1mab", (1 - ab).sqrt()), ("weight", weight)):
            self.register_buffer(name, value.float(), persistent=False)   # from the config: no member axis

    def eps(self, x_t: torch.Tensor, t: torch.Tensor, members=ALL, ema: bool = False) -> torch.Tensor:
        """The predicted noise [k, n, D] for x_t [k, n, D] at integer steps t [k, n] (``ema``: by
        the EMA weights where ema_decay is on)."""
        net = self.net_ema if ema and self.net_ema is not None else self.net
        return net(torch.cat([x_t, embed(t, self.config["time_dim"]).to(x_t)], -1), members)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps, a draw of q(x_t | x_0) (t [k, n], x0 and eps [k, n, D])."""
        return self.sqrt_ab[t].unsqueeze(-1).to(x0) * x0 + self.sqrt_1mab[t].unsqueeze(-1).to(x0) * eps

    def train_step(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        u = self.draw((x.shape[1],), normal=False)                               # member k's own t and noise
        t = (u * self.T).long().clamp(max=self.T - 1) + 1                        # uniform on 1..T
        eps = self.draw(tuple(x.shape[1:]))
        loss = self.nan_hook(((eps - self.eps(self.q_sample(x, t, eps), t)) ** 2).mean((1, 2)))
        self.update(self.optimizers(), self._params, loss, lightning=True)
        if self.net_ema is not None:                     # members frozen by a divergence keep theirs
            warm = (1 + self.steps) / (10 + self.steps)                           # early steps move it faster
            self.update_ema(self.net_ema, self._params, min(self.config["ema_decay"], warm))
        return (loss,)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, member: int = 0,
               steps: int | None = None) -> torch.Tensor:
        """``n`` samples [n, data_dim] of member ``member`` in ``steps`` network calls (default the
        config's sample_steps), drawn with ``generator`` (torch's global RNG if None)."""
        members, steps = slice(member, member + 1), steps or self.config["sample_steps"]
        grid = torch.linspace(0, self.T, steps + 1, dtype=torch.float64).round().long().tolist()
        x = self.draw_with((1, n, self.data_dim), generator)
        for t, s in zip(grid[:0:-1], grid[-2::-1]):                              # t > s, down to s = 0
            beta = 1 - self.alpha_bar[t] / self.alpha_bar[s]                     # of the respaced chain
            eps = self.eps(x, torch.full((1, n), t, device=x.device), members, ema=True)
            x = (x - beta / math.sqrt(1 - self.alpha_bar[t]) * eps) / math.sqrt(1 - beta)
            if s > 0:
                x = x + math.sqrt(beta) * self.draw_with(x.shape, generator)
        return x[0]

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None, member: int = 0,
             max_elements: int = 2 ** 19) -> torch.Tensor:
        """Member ``member``'s variational lower bound [n] on log p(x) in nats for x [n, data_dim]:
        -(L_T + sum_{t=2..T} L_{t-1} + L_0) of Ho et al. (eq. 5) at the training T, reverse variances
        b_t, and a continuous Gaussian decoder p(x_0 | x_1) = N(mu(x_1, 1), b_1 I) for L_0 (no
        discretisation). L_T and the variance parts of the KLs are exact; the mean parts are summed
        over all T steps, each a one-draw estimate (one eps per sample and step), or with
        ``elbo_steps`` S < T over one t drawn per sample in each of S equal strata, weighted T / S.
        The net sees at most ``max_elements`` input values at once (rows x data_dim: 2^18 rows of
        2-D points, 2,048 16 x 16 images), so memory does not grow with the image size."""
        x, members = x.reshape(1, x.shape[0], -1).to(self.sqrt_ab), slice(member, member + 1)
        n, D, a_T = x.shape[1], x.shape[2], self.alpha_bar[-1]
        total = 0.5 * (a_T * (x[0] ** 2).sum(-1) - D * a_T - D * math.log1p(-a_T))          # L_T
        total = total + D * self.const
        strata = self.config["elbo_steps"]
        width = self.T // strata                          # each stratum's one t stands for its width steps
        chunk = max(1, max_elements // max(n * D, 1))
        for start in range(0, strata, chunk):
            t = torch.arange(start, min(start + chunk, strata), device=x.device).view(-1, 1).expand(-1, n)
            t = 1 + t * width
            if width > 1:                                 # uniform within the stratum, per sample
                t = t + (self.draw_with(tuple(t.shape), generator, normal=False) * width).long().clamp(max=width - 1)
            eps = self.draw_with((1, *t.shape, D), generator)                                  # [1, c, n, D]
            x_t = self.q_sample(x.unsqueeze(1), t.unsqueeze(0), eps)
            hat = self.eps(x_t.reshape(1, -1, D), t.reshape(1, -1), members, ema=True).view(eps.shape)
            total = total + width * (self.weight[t] * ((eps - hat) ** 2).sum(-1)[0]).sum(0)
        return -total

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, member: int = 0, generator: torch.Generator | None = None,
                       max_elements: int = 2 ** 19, **ignored) -> torch.Tensor:
        """``elbo``: a lower bound on member ``member``'s log p(x) [n] (in expectation over its draws);
        other arguments (a VAE's ``k``) are ignored."""
        return self.elbo(x, generator=generator, member=member, max_elements=max_elements)
