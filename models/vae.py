"""A convolutional variational autoencoder in one file.

encode: images [B, channels, R, R] in [-1, 1] -> (mu, logvar), each [B, latent_dim].
decode: z [B, latent_dim] -> images [B, channels, R, R] in [-1, 1] (tanh).

The encoder halves the side with strided convolutions down to 4x4 and maps the flattened 4x4 map
to mu and logvar with linear layers. The decoder mirrors the DCGAN generator (see gan.py): a linear
layer to a 4x4 map, transposed-convolution blocks doubling the side, a transposed convolution to
image channels, tanh. Widths follow the same rule as the GAN: `base` channels at side R/2, doubling
per halving towards 4x4, capped at 8 * base.

Both stages are public so latent walks can move in the VAE's space and live images can be encoded.
The sampling step of `forward` takes its randomness as an argument; nothing here draws from
torch's global random generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .gan import UpBlock, _check_positive_int, _check_resolution, feature_widths

LOGVAR_MIN = -30.0  # logvar is clamped to this range when sampling, so exp() stays finite
LOGVAR_MAX = 20.0


@dataclass
class VAEConfig:
    resolution: int = 64  # side of the square images in pixels; a power of two in 32..512
    latent_dim: int = 128  # size of the latent vector z
    base: int = 32  # width: channels of the largest feature maps; x2 per halving, max 8x
    channels: int = 3  # image channels (3 for RGB)

    def __post_init__(self) -> None:
        _check_resolution("VAEConfig", self.resolution)
        for name in ("latent_dim", "base", "channels"):
            _check_positive_int("VAEConfig", name, getattr(self, name))


class EncoderBlock(nn.Module):
    """Halves the side: conv (kernel 4, stride 2, padding 1), batch norm, LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))


class Encoder(nn.Module):
    """images [B, channels, R, R] -> (mu, logvar), each [B, latent_dim]."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        widths = feature_widths(config.resolution, config.base)[::-1]  # R/2 ... 4
        self.from_image = nn.Sequential(
            nn.Conv2d(config.channels, widths[0][1], 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.blocks = nn.Sequential(
            *(EncoderBlock(c_in, c_out) for (_, c_in), (_, c_out) in zip(widths, widths[1:]))
        )
        flat = widths[-1][1] * 4 * 4
        self.to_mu = nn.Linear(flat, config.latent_dim)
        self.to_logvar = nn.Linear(flat, config.latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.blocks(self.from_image(x)).flatten(1)
        return self.to_mu(h), self.to_logvar(h)


class Decoder(nn.Module):
    """z [B, latent_dim] -> images [B, channels, R, R] in [-1, 1]."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        widths = feature_widths(config.resolution, config.base)  # 4 ... R/2
        first = widths[0][1]
        self.first = first
        self.from_latent = nn.Linear(config.latent_dim, first * 4 * 4, bias=False)
        self.stem = nn.Sequential(nn.BatchNorm2d(first), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(
            *(UpBlock(c_in, c_out) for (_, c_in), (_, c_out) in zip(widths, widths[1:]))
        )
        self.to_image = nn.ConvTranspose2d(widths[-1][1], config.channels, 4, 2, 1)

    def forward(self, z: Tensor) -> Tensor:
        x = self.from_latent(z).view(z.shape[0], self.first, 4, 4)
        x = self.blocks(self.stem(x))
        return torch.tanh(self.to_image(x))


class VAE(nn.Module):
    """Encoder + decoder; `forward` returns (reconstruction, mu, logvar) for training."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images [B, channels, R, R] in [-1, 1] -> (mu, logvar), each [B, latent_dim]."""
        c, r = self.config.channels, self.config.resolution
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, r, r):
            raise ValueError(f"expected images of shape [B, {c}, {r}, {r}], got {list(x.shape)}")
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """z [B, latent_dim] -> images [B, channels, R, R] in [-1, 1]."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(
                f"expected z of shape [B, {self.config.latent_dim}], got {list(z.shape)}"
            )
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
        """z = mu + exp(logvar / 2) * eps, with eps ~ N(0, I) supplied by the caller."""
        std = torch.exp(0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))
        return mu + std * eps

    def forward(
        self,
        x: Tensor,
        *,
        eps: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Encode, sample z, decode. Returns (reconstruction, mu, logvar).

        eps: the standard-normal noise [B, latent_dim] used to sample z; or
        generator: a torch.Generator (on x's device) to draw that noise from.
        Exactly one of them must be given, so every source of randomness is visible at the call.
        For a deterministic reconstruction use `decode(encode(x)[0])`.
        """
        if (eps is None) == (generator is None):
            raise ValueError(
                "VAE.forward samples z and needs its randomness passed in: give exactly one of "
                "eps=<tensor [B, latent_dim]> or generator=<torch.Generator>"
            )
        mu, logvar = self.encode(x)
        if eps is None:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        elif eps.shape != mu.shape:
            raise ValueError(f"expected eps of shape {list(mu.shape)}, got {list(eps.shape)}")
        z = self.reparameterize(mu, logvar, eps)
        return self.decode(z), mu, logvar
