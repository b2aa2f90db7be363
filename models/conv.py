"""DCGAN-style convolutional networks for image data [C, H, W] (config ``arch: conv``).

Every network here takes and returns *flat* tensors, like the MLPs: a generator / decoder maps
z [..., latent_dim] to [..., C*H*W] (or [..., 2*C*H*W]: two images per z, channel blocks in
order), a critic / encoder maps [..., m*C*H*W] to [..., out]. So the GAN's packing (m samples
concatenated into one critic input) is exactly PacGAN's channel stacking: a packed row reshapes
to [m*C, H, W]; the gradient penalties and the training step see vectors as for the MLPs.

Shapes: the generator starts from a linear map to [2w, ceil(H/4), ceil(W/4)], upsamples twice
(transposed 4x4 convolutions, stride 2) and crops to [H, W]; the critic downsamples twice
(3x3 convolutions, stride 2, LeakyReLU 0.2, no batch norm, so every gradient penalty applies)
and ends in a linear layer. ``w`` is the config key ``channels``. The diffusion model's noise
network (:class:`ConvDenoiser`) is a small two-level U-Net on the same flat convention.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def image_shape(event_shape, model: str, key: str = "arch") -> tuple[int, int, int]:
    """(C, H, W) of image data, or the one-line ValueError naming the config key."""
    shape = tuple(event_shape or ())
    if len(shape) != 3 or min(shape) < 1 or shape[1] < 4 or shape[2] < 4:
        raise ValueError(f"{model} config: key {key}='conv' is not allowed for data of event shape {shape}: "
                         f"it needs image data [channels, height >= 4, width >= 4]; use arch 'mlp'")
    return shape


def _norm2d(kind: str, ch: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(ch)]
    if kind == "layer":
        return [nn.GroupNorm(1, ch)]
    return []


class ConvGenerator(nn.Module):
    """z [..., latent] -> flat images [..., out_images * C*H*W]; ``out`` activation on top."""

    def __init__(self, latent_dim: int, shape: tuple[int, int, int], *, width: int, norm: str = "none",
                 out_images: int = 1, out: str = "sigmoid"):
        super().__init__()
        c, h, w = shape
        self.shape, self.out_images, self.out = shape, out_images, out
        self.h0, self.w0 = math.ceil(h / 4), math.ceil(w / 4)
        self.fc = nn.Sequential(nn.Linear(latent_dim, 2 * width * self.h0 * self.w0))
        self.fc_norm = nn.Sequential(*_norm2d(norm, 2 * width), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), *_norm2d(norm, width), nn.ReLU(),
            nn.ConvTranspose2d(width, c * out_images, 4, stride=2, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        c, h, w = self.shape
        y = self.fc(z.reshape(-1, z.shape[-1])).unflatten(1, (-1, self.h0, self.w0))
        y = self.up(self.fc_norm(y))[..., :h, :w]
        if self.out == "sigmoid":
            y = torch.sigmoid(y)
        return y.reshape(*lead, -1)


class ConvCritic(nn.Module):
    """Flat [..., m*C*H*W] (m images stacked on the channel axis) -> [..., out_dim]."""

    def __init__(self, shape: tuple[int, int, int], out_dim: int, *, width: int, pack: int = 1,
                 norm: str = "none"):
        super().__init__()
        c, h, w = shape
        self.in_shape = (pack * c, h, w)
        h2, w2 = math.ceil(math.ceil(h / 2) / 2), math.ceil(math.ceil(w / 2) / 2)
        self.body = nn.Sequential(
            nn.Conv2d(pack * c, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), *_norm2d(norm, 2 * width), nn.LeakyReLU(0.2),
            nn.Flatten())
        self.head = nn.Linear(2 * width * h2 * w2, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        y = self.head(self.body(x.reshape(-1, *self.in_shape)))
        return y.reshape(*lead, -1)


class BernoulliHead:
    """p(x | z) with independent Bernoulli pixels of logits = decoder output; ``sample`` returns
    the probabilities (the usual choice for grayscale images, whose pixels are not binary)."""
    shared_dim = 0

    @staticmethod
    def log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return -nn.functional.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)

    @staticmethod
    def sample(logits: torch.Tensor, generator: torch.Generator | None = None, mean_only: bool = False) -> torch.Tensor:
        return torch.sigmoid(logits)


class ConvDenoiser(nn.Module):
    """[..., C*H*W + time_dim] (x_t flat, then the embedding of t, as the diffusion model's MLP
    takes them) -> the predicted noise [..., C*H*W]. A two-level U-Net in the shape of Ho et al.'s,
    small: 3 x 3 convolutions with SiLU at full resolution (w channels) and half resolution (2w,
    a stride-2 convolution down, a 4 x 4 transposed convolution up, cropped to [H, W]), the time
    embedding added to every channel at both levels (a linear map each), the full-resolution
    features joined to the upsampled ones (one skip connection); no normalisation."""

    def __init__(self, shape: tuple[int, int, int], time_dim: int, *, width: int):
        super().__init__()
        c = shape[0]
        self.shape, self.time_dim = shape, time_dim
        self.inp, self.t1 = nn.Conv2d(c, width, 3, padding=1), nn.Linear(time_dim, width)
        self.mid1 = nn.Conv2d(width, width, 3, padding=1)
        self.down, self.t2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.Linear(time_dim, 2 * width)
        self.mid2 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.up = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1)
        self.merge = nn.Conv2d(2 * width, width, 3, padding=1)
        self.out = nn.Conv2d(width, c, 3, padding=1)

    def forward(self, xt: torch.Tensor) -> torch.Tensor:
        lead, (c, h, w) = xt.shape[:-1], self.shape
        d = c * h * w
        x, e = xt[..., :d].reshape(-1, c, h, w), xt[..., d:].reshape(-1, self.time_dim)
        full = F.silu(self.mid1(F.silu(self.inp(x) + self.t1(e)[:, :, None, None])))
        half = F.silu(self.mid2(F.silu(self.down(full) + self.t2(e)[:, :, None, None])))
        up = F.silu(self.up(half))[..., :h, :w]
        return self.out(F.silu(self.merge(torch.cat([up, full], 1)))).reshape(*lead, d)


def diffusion_net(cfg: dict, event_shape) -> nn.Module:
    return ConvDenoiser(image_shape(event_shape, "diffusion"), cfg["time_dim"], width=cfg["channels"])


def gan_nets(cfg: dict, event_shape) -> tuple[nn.Module, nn.Module]:
    shape = image_shape(event_shape, "gan")
    g = ConvGenerator(cfg["latent_dim"], shape, width=cfg["channels"], norm=cfg["g_norm"])
    d = ConvCritic(shape, 1, width=cfg["channels"], pack=cfg["pack"], norm=cfg["d_norm"])
    return g, d, None


def vae_nets(cfg: dict, event_shape) -> tuple[nn.Module, nn.Module, object | None]:
    """Encoder, decoder and head (None: the VAE's Gaussian decode on the decoder's flat output)."""
    shape = image_shape(event_shape, "vae")
    enc = ConvCritic(shape, 2 * cfg["latent_dim"], width=cfg["channels"], norm=cfg["norm"])
    if cfg["likelihood"] == "bernoulli":
        return enc, ConvGenerator(cfg["latent_dim"], shape, width=cfg["channels"], norm=cfg["norm"], out="none"), \
            BernoulliHead()
    two = 2 if cfg["decoder_var"] == "learned" else 1
    return enc, ConvGenerator(cfg["latent_dim"], shape, width=cfg["channels"], norm=cfg["norm"],
                              out_images=two, out="none"), None
