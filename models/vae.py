"""A convolutional variational autoencoder in one file.

encode: images [B, channels, R, R] in [-1, 1] -> (mu, logvar), each [B, latent_dim].
decode: z [B, latent_dim] -> images [B, channels, R, R] in [-1, 1] (tanh).

The encoder halves the side with strided convolutions down to 4x4 and maps the flattened 4x4 map
to mu and logvar with linear layers. The decoder mirrors the DCGAN generator (see gan.py): a linear
layer to a 4x4 map, transposed-convolution blocks doubling the side, a transposed convolution to
image channels, tanh. Widths follow the same rule as the GAN: `base` channels at side R/2, doubling
per halving towards 4x4, capped at 8 * base.

Both stages are public so latent walks can move in the VAE's space and live images can be encoded.

Where a walk goes is the **prior**. A VAE's encodings of its data do not fill the standard normal prior
that the KL term pulls them towards: they sit off-centre, wider along some axes and narrower along
others, so points drawn from N(0, I) land between them and decode to muddy pictures. With ``prior
"fitted"`` the model carries the Gaussian of its training set's encodings (mean and a Cholesky factor of
the covariance, :meth:`VAE.fit_prior`; "ex-post density estimation", Ghosh et al. 2020) and plays points
of it: :meth:`VAE.sample` takes coordinates x ~ N(0, I) to z = mean + scale @ x. With ``"normal"`` (files
made before there was a choice) x is z.
The sampling step of `forward` takes its randomness as an argument; nothing here draws from
torch's global random generator.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .gan import UpBlock, _check_positive_int, _check_resolution, feature_widths

LOGVAR_MIN = -30.0  # logvar is clamped to this range when sampling, so exp() stays finite
LOGVAR_MAX = 20.0
PRIORS = ("normal", "fitted")


@dataclass
class VAEConfig:
    resolution: int = 64  # side of the square images in pixels; a power of two in 32..512
    latent_dim: int = 128  # size of the latent vector z
    base: int = 32  # width: channels of the largest feature maps; x2 per halving, max 8x
    channels: int = 3  # image channels (3 for RGB)
    prior: str = "normal"  # where walks go: "normal" (N(0, I)) or "fitted" (the data's encodings, see above)

    added_fields = {"prior": "normal"}
    """Fields newer than some model files, with the value those files mean (see GANConfig.added_fields)."""

    def __post_init__(self) -> None:
        _check_resolution("VAEConfig", self.resolution)
        for name in ("latent_dim", "base", "channels"):
            _check_positive_int("VAEConfig", name, getattr(self, name))
        if self.prior not in PRIORS:
            raise ValueError(f"VAEConfig.prior must be one of {list(PRIORS)}, got {self.prior!r}")


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
        if config.prior == "fitted":
            self.register_buffer("prior_mean", torch.zeros(config.latent_dim))
            self.register_buffer("prior_scale", torch.eye(config.latent_dim))  # lower-triangular: the
            # prior's covariance is prior_scale @ prior_scale.T

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

    def from_prior(self, x: Tensor) -> Tensor:
        """Coordinates x ~ N(0, I) [B, latent_dim] -> the latent z of that point of the prior."""
        if self.config.prior == "normal":
            return x
        return self.prior_mean.to(x.dtype) + x @ self.prior_scale.to(x.dtype).T

    def to_prior(self, z: Tensor) -> Tensor:
        """The inverse of :meth:`from_prior`: a latent z [B, latent_dim] (an encoding) -> its coordinates."""
        if self.config.prior == "normal":
            return z
        centred = (z.float() - self.prior_mean.float())[..., None]
        return torch.linalg.solve_triangular(self.prior_scale.float(), centred, upper=False)[..., 0].to(z.dtype)

    def sample(self, x: Tensor) -> Tensor:
        """Coordinates in the prior [B, latent_dim] -> images: what walks and samples play."""
        return self.decode(self.from_prior(x))

    @torch.no_grad()
    def fit_prior(self, images: Tensor, *, batch: int = 256, jitter: float = 1e-5) -> "VAE":
        """This VAE with the prior fitted to ``images`` (float [-1, 1] or uint8 [N, channels, R, R], at least
        latent_dim + 1 of them): the mean and covariance of their encodings' means. The network is put in
        eval mode; its config becomes ``prior="fitted"``."""
        if len(images) <= self.config.latent_dim:
            raise ValueError(f"fitting the prior takes more images than latent dimensions "
                             f"({self.config.latent_dim}), got {len(images)}")
        self.eval()
        parameter = next(self.parameters())
        means = []
        for start in range(0, len(images), batch):
            part = images[start:start + batch]
            part = part.float() / 127.5 - 1 if part.dtype == torch.uint8 else part.float()
            means.append(self.encode(part.to(parameter.device, parameter.dtype))[0].float().cpu())
        means = torch.cat(means)
        mean = means.mean(dim=0)
        covariance = torch.cov(means.T) + jitter * torch.eye(self.config.latent_dim)
        scale = torch.linalg.cholesky(covariance)
        if self.config.prior != "fitted":
            self.config = dataclasses.replace(self.config, prior="fitted")
            self.register_buffer("prior_mean", torch.zeros_like(mean, device=parameter.device))
            self.register_buffer("prior_scale", torch.zeros_like(scale, device=parameter.device))
        self.prior_mean.copy_(mean.to(self.prior_mean.device))
        self.prior_scale.copy_(scale.to(self.prior_scale.device))
        return self

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
