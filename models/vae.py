"""A VAE with a Gaussian encoder and a Gaussian (or Bernoulli) decoder, as a LightningModule.

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
from .config import Key, inconsistent, resolve
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
    "lr": Key(1e-3, "Adam learning rate", low=0, low_open=True),
    "beta1": Key(0.9, "Adam beta1", low=0, high=1, high_open=True),
    "beta2": Key(0.999, "Adam beta2", low=0, high=1, high_open=True),
    "batch_size": Key(256, "samples per batch (the DataModule's batch_size)", "int", low=1),
    "check_every": Key(50, "steps between divergence checks and loss logging (one sync each)", "int", low=1),
    "debug_nan_at_step": Key(None, "test hook: make the loss NaN at this step", "int", low=0),
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


class VAE(LabModule):
    loss_names = ("loss", "recon", "kl")

    def __init__(self, config: dict, data_dim: int, event_shape: tuple[int, ...] | None = None):
        cfg = check(config)
        super().__init__(cfg, data_dim, event_shape)
        self.decoder_log_std, self.head = None, None      # head: p(x|z) other than the Gaussian decode
        if cfg["arch"] != "mlp":                          # models.conv / models.graph: flat in, flat out
            from . import conv, graph
            self.encoder, self.decoder, self.head = {"conv": conv, "graph": graph}[cfg["arch"]].vae_nets(
                cfg, self.event_shape)
            if self.head is None and cfg["decoder_var"] == "shared":
                self.decoder_log_std = torch.nn.Parameter(torch.zeros(data_dim))
            return
        net = dict(activation=cfg["activation"], norm=cfg["norm"])
        self.encoder = mlp(data_dim, 2 * cfg["latent_dim"], width=cfg["enc_width"], depth=cfg["enc_depth"], **net)
        bernoulli = cfg["likelihood"] == "bernoulli"
        out = 2 * data_dim if cfg["decoder_var"] == "learned" and not bernoulli else data_dim
        self.decoder = mlp(cfg["latent_dim"], out, width=cfg["dec_width"], depth=cfg["dec_depth"], **net)
        if bernoulli:
            from .conv import BernoulliHead
            self.head = BernoulliHead()
        elif cfg["decoder_var"] == "shared":
            self.decoder_log_std = torch.nn.Parameter(torch.zeros(data_dim))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.config["lr"], betas=(self.config["beta1"], self.config["beta2"]),
                                fused=self.device.type in ("cpu", "cuda"))

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log std of p(x | z), each [..., data_dim]."""
        out = self.decoder(z)
        if self.config["decoder_var"] == "learned":
            return out.chunk(2, dim=-1)
        if self.config["decoder_var"] == "shared":
            return out, self.decoder_log_std.expand_as(out)
        return out, torch.full_like(out, math.log(self.config["decoder_std"]))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log std of q(z | x), each [n, latent_dim]."""
        mu, log_std = self.encoder(x).chunk(2, dim=-1)
        return mu, log_std

    def _log_px(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over dimensions, [...]."""
        if self.head is not None:
            return self.head.log_prob(x, self.decoder(z))
        mean, dec_log_std = self.decode(z)
        return self._log_normal(x, mean, dec_log_std)

    @staticmethod
    def _log_normal(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
        return (-0.5 * ((x - mean) / log_std.exp()) ** 2 - log_std - 0.5 * LOG_2PI).sum(-1)

    def _terms(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Per-sample one-draw reconstruction log-likelihood and analytic KL."""
        mu, log_std = self.encode(x)
        eps = torch.randn(mu.shape, device=mu.device if generator is None else generator.device,
                          generator=generator).to(mu)
        recon = self._log_px(x, mu + log_std.exp() * eps)
        kl = 0.5 * (mu ** 2 + (2 * log_std).exp() - 2 * log_std - 1).sum(-1)
        return recon, kl

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-sample evidence lower bound [n] (one z per sample, analytic KL, beta = 1)."""
        recon, kl = self._terms(x, generator)
        return recon - kl

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int = 1000, generator: torch.Generator | None = None,
                       max_rows: int = 2 ** 18) -> torch.Tensor:
        """Importance-weighted estimate of log p(x) [n] with ``k`` draws from q(z|x) (Burda et al. 2016);
        a lower bound in expectation that rises towards log p(x) as k grows."""
        mu, log_std = self.encode(x)
        chunk = max(1, max_rows // max(len(x), 1))
        parts = []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            eps = torch.randn((kk, *mu.shape), device=mu.device if generator is None else generator.device,
                              generator=generator).to(mu)
            z = mu + log_std.exp() * eps                                              # [kk, n, L]
            log_w = (self._log_px(x, z) + self._log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
                     - self._log_normal(z, mu, log_std))
            parts.append(torch.logsumexp(log_w, dim=0))
        return torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, mean_only: bool = False) -> torch.Tensor:
        """``n`` samples of the model [n, data_dim] on the module's device: z ~ N(0, I), x ~ p(x|z)."""
        device = self.device if generator is None else generator.device
        z = torch.randn(n, self.config["latent_dim"], device=device, generator=generator).to(self.device)
        if self.head is not None:
            return self.head.sample(self.decoder(z), generator, mean_only=mean_only)
        mean, log_std = self.decode(z)
        if mean_only:
            return mean
        eps = torch.randn(mean.shape, device=device, generator=generator).to(self.device)
        return mean + log_std.exp() * eps

    def train_step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        recon, kl = self._terms(x)
        recon, kl = recon.mean(), kl.mean()
        loss = self._inject_nan(-(recon - self.config["beta"] * kl))
        opt = self.optimizers()
        opt.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()                                     # through Lightning: counts trainer.global_step
        return loss, recon, kl
