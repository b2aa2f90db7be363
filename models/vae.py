"""A VAE with a Gaussian encoder and a Gaussian (or Bernoulli) decoder, as a LightningModule
with K members batched (models/base.py).

``arch``: MLPs, conv encoder / decoder for images (models.conv), or an MLP with a Bernoulli
edge decoder for graphs (models.graph). ``likelihood: bernoulli`` replaces the Gaussian with
independent Bernoulli entries (logits from the decoder; ``sample`` returns the probabilities,
for graphs it draws edges).

Decoder variance: ``fixed`` (``decoder_std``), ``shared`` (one learned std per data dimension)
or ``learned`` (the decoder outputs a std for every z). The training loss is
-E[log p(x|z)] + beta KL(q(z|x) || N(0, I)); ``elbo`` is always the beta = 1 bound.
"""
from __future__ import annotations

import math

import torch

from .base import LabModule
from .config import Key, adam_keys, inconsistent, resolve
from .members import ALL, stack
from .nets import ACTIVATIONS, mlp

LOG_2PI = math.log(2 * math.pi)

KEYS = {
    "model": Key("vae", "model kind", "choice", choices=("vae",)),
    "latent_dim": Key(2, "dimension of the latent variable", "int", low=1),
    "arch": Key("mlp", "network family: MLPs (any data), conv encoder and decoder (images [C, H, W]) or an "
                "MLP with a symmetric Bernoulli edge decoder (graphs [N, N(+1)])", "choice",
                choices=("mlp", "conv", "graph")),
    "likelihood": Key(None, "decoder p(x|z): gaussian, or bernoulli (data in [0, 1]; sample() returns the "
                      "probabilities); default gaussian for mlp, bernoulli for conv; graph: bernoulli edges "
                      "(a signal column is gaussian)", "choice", choices=("gaussian", "bernoulli")),
    "channels": Key(None, "base channels of the conv encoder and decoder; arch conv only (default 32)", "int", low=1),
    "enc_width": Key(128, "encoder hidden width", "int", low=1),
    "enc_depth": Key(3, "encoder hidden layers", "int", low=0),
    "dec_width": Key(128, "decoder hidden width", "int", low=1),
    "dec_depth": Key(3, "decoder hidden layers", "int", low=0),
    "norm": Key("none", "normalisation layer of both MLPs", "choice", choices=("none", "layer")),
    "activation": Key("relu", "hidden activation of the MLPs", "choice", choices=tuple(ACTIVATIONS)),
    "decoder_var": Key("learned", "decoder variance: per z, one per dimension, or fixed", "choice",
                       choices=("learned", "shared", "fixed")),
    "decoder_std": Key(None, "the fixed decoder std; decoder_var fixed only, required there", low=0, low_open=True),
    "beta": Key(1.0, "weight of the KL term in the training loss", low=0),
    **adam_keys(),
}


def check(config: dict) -> dict:
    """Validate a VAE config; returns it with every default filled in."""
    cfg = resolve("vae", KEYS, config)
    arch = cfg["arch"]
    if cfg["likelihood"] is None:
        cfg["likelihood"] = "gaussian" if arch == "mlp" else "bernoulli"
    elif arch == "graph" and cfg["likelihood"] != "bernoulli":
        raise inconsistent("vae", "likelihood", config["likelihood"], "arch 'graph' decodes Bernoulli edges")
    if arch == "conv":
        cfg["channels"] = 32 if cfg["channels"] is None else cfg["channels"]
    elif cfg["channels"] is not None:
        raise inconsistent("vae", "channels", config["channels"], f"it applies to arch 'conv', not {arch!r}")
    if cfg["decoder_var"] == "fixed" and cfg["decoder_std"] is None:
        raise inconsistent("vae", "decoder_std", None, f"decoder_var 'fixed' requires it; expected {KEYS['decoder_std'].allowed()}")
    if cfg["decoder_var"] != "fixed" and cfg["decoder_std"] is not None:
        raise inconsistent("vae", "decoder_std", config["decoder_std"],
                           f"it applies to decoder_var 'fixed', not {cfg['decoder_var']!r}")
    return cfg


def nets(cfg: dict, data_dim: int, event_shape: tuple[int, ...]):
    """One member's encoder, decoder and head (None: the Gaussian decode of the decoder's output)."""
    if cfg["arch"] != "mlp":                          # models.conv / models.graph: flat in, flat out
        from . import conv, graph
        return {"conv": conv, "graph": graph}[cfg["arch"]].vae_nets(cfg, event_shape)
    net = dict(activation=cfg["activation"], norm=cfg["norm"])
    enc = mlp(data_dim, 2 * cfg["latent_dim"], width=cfg["enc_width"], depth=cfg["enc_depth"], **net)
    if cfg["likelihood"] == "bernoulli":
        from .conv import BernoulliHead
        return enc, mlp(cfg["latent_dim"], data_dim, width=cfg["dec_width"], depth=cfg["dec_depth"], **net), \
            BernoulliHead()
    out = 2 * data_dim if cfg["decoder_var"] == "learned" else data_dim
    return enc, mlp(cfg["latent_dim"], out, width=cfg["dec_width"], depth=cfg["dec_depth"], **net), None


class VAE(LabModule):
    loss_names = ("loss", "recon", "kl")

    def __init__(self, config: dict, data_dim: int, event_shape: tuple[int, ...] | None = None,
                 seeds=(0,), nan_at=None):
        cfg = check(config)
        super().__init__(cfg, data_dim, event_shape, seeds, nan_at)
        members = self.build_members(lambda: nets(cfg, data_dim, self.event_shape))
        self.encoder = stack([m[0] for m in members])
        self.decoder = stack([m[1] for m in members])
        self.head = members[0][2]                         # parameter-free: p(x|z) other than the Gaussian
        shared = data_dim if self.head is None else self.head.shared_dim
        self.decoder_log_std = None                       # decoder_var shared: one learned log std per entry
        if cfg["decoder_var"] == "shared" and shared:
            self.decoder_log_std = torch.nn.Parameter(torch.zeros(self.K, 1, shared))
        self._params = list(self.parameters())

    def _decoded(self, z: torch.Tensor, members=ALL) -> torch.Tensor:
        """The decoder's output for z [k, ..., L], with a shared log std appended."""
        lead = z.shape[1:-1]
        out = self.decoder(z.reshape(z.shape[0], -1, z.shape[-1]), members)
        out = out.reshape(*z.shape[:-1], out.shape[-1])
        if self.decoder_log_std is not None:
            log_std = self.decoder_log_std[members].reshape(-1, *([1] * len(lead)), self.decoder_log_std.shape[-1])
            out = torch.cat([out, log_std.expand(*out.shape[:-1], -1)], -1)
        return out

    def decode(self, z: torch.Tensor, members=ALL) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log std of the Gaussian p(x | z), each [k, ..., data_dim]."""
        out = self._decoded(z, members)
        if self.config["decoder_var"] == "fixed":
            return out, torch.full_like(out, math.log(self.config["decoder_std"]))
        return out.chunk(2, dim=-1)

    def encode(self, x: torch.Tensor, members=ALL) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log std of q(z | x), each [k, n, latent_dim], for x [k, n, data_dim]."""
        mu, log_std = self.encoder(x, members).chunk(2, dim=-1)
        return mu, log_std

    def _log_px(self, x: torch.Tensor, z: torch.Tensor, members=ALL) -> torch.Tensor:
        """log p(x | z) summed over dimensions: x [k, n, D], z [k, ..., n, L] -> [k, ..., n]."""
        x = x.reshape(x.shape[0], *([1] * (z.dim() - 3)), *x.shape[1:])
        if self.head is not None:
            return self.head.log_prob(x, self._decoded(z, members))
        mean, dec_log_std = self.decode(z, members)
        return self._log_normal(x, mean, dec_log_std)

    @staticmethod
    def _log_normal(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
        return (-0.5 * ((x - mean) / log_std.exp()) ** 2 - log_std - 0.5 * LOG_2PI).sum(-1)

    def _terms(self, x: torch.Tensor, eps: torch.Tensor, members=ALL):
        """Per-sample one-draw reconstruction log-likelihood and analytic KL, each [k, n]."""
        mu, log_std = self.encode(x, members)
        recon = self._log_px(x, mu + log_std.exp() * eps, members)
        kl = 0.5 * (mu ** 2 + (2 * log_std).exp() - 2 * log_std - 1).sum(-1)
        return recon, kl

    def _one(self, x: torch.Tensor, member: int) -> tuple[torch.Tensor, slice]:
        return x.reshape(1, x.shape[0], -1), slice(member, member + 1)

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None, member: int = 0) -> torch.Tensor:
        """Member ``member``'s evidence lower bound [n] of x [n, data_dim] (one z per sample,
        analytic KL, beta = 1)."""
        x, members = self._one(x, member)
        recon, kl = self._terms(x, self.draw_with((1, x.shape[1], self.config["latent_dim"]), generator), members)
        return (recon - kl)[0]

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int = 1000, generator: torch.Generator | None = None,
                       max_elements: int = 2 ** 19, member: int = 0) -> torch.Tensor:
        """Importance-weighted estimate of member ``member``'s log p(x) [n] with ``k`` draws from
        q(z|x) (Burda et al. 2016); a lower bound in expectation that rises towards log p(x) as k grows.
        The decoder sees at most ``max_elements`` output values at once (draws x n x data_dim)."""
        x, members = self._one(x, member)
        mu, log_std = self.encode(x, members)                                       # [1, n, L]
        chunk = max(1, max_elements // max(x.shape[1] * x.shape[2], 1))
        parts = []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            z = mu.unsqueeze(1) + log_std.exp().unsqueeze(1) * self.draw_with((1, kk, *mu.shape[1:]), generator)
            log_w = (self._log_px(x, z, members) + self._log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
                     - self._log_normal(z, mu.unsqueeze(1), log_std.unsqueeze(1)))          # [1, kk, n]
            parts.append(torch.logsumexp(log_w[0], dim=0))
        return torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, member: int = 0,
               mean_only: bool = False) -> torch.Tensor:
        """``n`` samples [n, data_dim] of member ``member``: z ~ N(0, I), x ~ p(x|z), drawn with
        ``generator`` (torch's global RNG if None)."""
        members = slice(member, member + 1)
        training = self.decoder.training
        self.decoder.eval()
        z = self.draw_with((1, n, self.config["latent_dim"]), generator)
        if self.head is not None:
            x = self.head.sample(self._decoded(z, members)[0], generator, mean_only=mean_only)
        else:
            mean, log_std = self.decode(z, members)
            x = mean[0] if mean_only else (mean + log_std.exp() * self.draw_with(mean.shape, generator))[0]
        self.decoder.train(training)
        return x

    def train_step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        recon, kl = self._terms(x, self.draw((x.shape[1], self.config["latent_dim"])))
        recon, kl = recon.mean(-1), kl.mean(-1)                                     # [K]
        loss = self.nan_hook(-(recon - self.config["beta"] * kl))
        self.update(self.optimizers(), self._params, loss, lightning=True)
        return loss, recon, kl
