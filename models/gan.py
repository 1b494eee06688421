"""A DCGAN generator and discriminator in one file.

The generator maps a latent vector z of shape [B, latent_dim] to images [B, channels, R, R] in
[-1, 1]. It starts from a 4x4 feature map (a transposed convolution from 1x1), doubles the side with
blocks, and ends in the image's channels and a tanh, as in Radford et al. 2015 ("DCGAN"). How a block
doubles the side is `upsample`:

- "transposed": a transposed convolution (kernel 4, stride 2), DCGAN's own. Its kernel overlaps unevenly
  (each output pixel sums 1 or 2 taps per axis, by its parity), which leaves checkerboard texture and
  lines that a walk does not move (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts").
- "resize": nearest-neighbour upsampling by 2, then a 3x3 convolution: every output pixel sees the same
  number of taps, so there is no checkerboard (Odena et al.'s fix). What `latentvj train` makes.

What the resize convolutions see beyond the map's edge is `padding`: "zeros" (DCGAN's), or "reflect" (the
map mirrored at its edge), which gives the edge pixels nothing that is not image to draw a line against.

The discriminator mirrors it with spectrally normalised strided convolutions.

Channel widths: the feature map at side R/2 has `ngf` channels; each halving of the side towards
4x4 doubles the width, capped at 8 * ngf. At 64 px with ngf=64 that is 512-256-128-64 channels at
4-8-16-32 px, the classic DCGAN (about 3.8M generator parameters with latent_dim=128).

The modules are pure: no device choice, no I/O, no randomness in forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

MIN_RESOLUTION = 32
MAX_RESOLUTION = 512
UPSAMPLES = ("transposed", "resize")
PADDINGS = ("zeros", "reflect")


def _check_positive_int(owner: str, name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{owner}.{name} must be a positive integer, got {value!r}")


def _check_resolution(owner: str, value: object) -> None:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < MIN_RESOLUTION
        or value > MAX_RESOLUTION
        or value & (value - 1) != 0
    ):
        raise ValueError(
            f"{owner}.resolution must be a power of two from {MIN_RESOLUTION} to {MAX_RESOLUTION} "
            f"(32, 64, 128, 256, 512), got {value!r}"
        )


@dataclass
class GANConfig:
    resolution: int = 64  # side of the square output image in pixels; a power of two in 32..512
    latent_dim: int = 128  # size of the latent vector z the generator takes
    ngf: int = 64  # generator width: channels of the last (largest) feature map; x2 per halving, max 8x
    ndf: int = 64  # discriminator width: channels of its first feature map; x2 per halving, max 8x
    channels: int = 3  # image channels (3 for RGB)
    upsample: str = "transposed"  # how the generator doubles the side: "transposed" (DCGAN) or "resize"
    padding: str = "zeros"  # what the resize convolutions see beyond the edge: "zeros" or "reflect"

    added_fields = {"padding": "zeros"}
    """Fields newer than some model files, with the value those files mean: left out of a model's
    fingerprint at that value, so the presets made with such a file keep finding it."""

    def __post_init__(self) -> None:
        _check_resolution("GANConfig", self.resolution)
        for name in ("latent_dim", "ngf", "ndf", "channels"):
            _check_positive_int("GANConfig", name, getattr(self, name))
        if self.upsample not in UPSAMPLES:
            raise ValueError(f"GANConfig.upsample must be one of {list(UPSAMPLES)}, got {self.upsample!r}")
        if self.padding not in PADDINGS:
            raise ValueError(f"GANConfig.padding must be one of {list(PADDINGS)}, got {self.padding!r}")
        if self.padding != "zeros" and self.upsample != "resize":
            raise ValueError(f"GANConfig.padding {self.padding!r} needs upsample 'resize' (a transposed "
                             "convolution pads with zeros only)")


def feature_widths(resolution: int, width: int) -> list[tuple[int, int]]:
    """(side, channels) of each feature map from 4x4 up to resolution/2, widest first."""
    sides = []
    side = 4
    while side <= resolution // 2:
        sides.append(side)
        side *= 2
    return [(s, width * min(8, resolution // 2 // s)) for s in sides]


def up_conv(in_channels: int, out_channels: int, upsample: str, padding: str = "zeros") -> nn.Module:
    """The convolution that doubles the side: transposed (kernel 4, stride 2, padding 1), or the 3x3 one
    that follows a nearest-neighbour x2 ("resize", see :func:`upsampled`), padded with ``padding``."""
    if upsample == "resize":
        return nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False, padding_mode=padding)
    return nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False)


def upsampled(x: Tensor, conv: nn.Module) -> Tensor:
    """x at twice the side through ``conv`` (made by :func:`up_conv`)."""
    if isinstance(conv, nn.ConvTranspose2d):
        return conv(x)
    return conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UpBlock(nn.Module):
    """Doubles the side (transposed conv, or nearest x2 and a 3x3 conv), batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, upsample: str = "transposed",
                 padding: str = "zeros") -> None:
        super().__init__()
        self.conv = up_conv(in_channels, out_channels, upsample, padding)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(upsampled(x, self.conv)))


class DownBlock(nn.Module):
    """Halves the side: spectrally normalised conv (kernel 4, stride 2, padding 1), LeakyReLU(0.2).

    Spectral norm instead of batch norm in the discriminator: the small-data GAN practice (Miyato et al.
    2018, with hinge loss and DiffAugment), stable without batch statistics mixing real and fake."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = spectral_norm(nn.Conv2d(in_channels, out_channels, 4, 2, 1))
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x))


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), biases 0.

    Uses torch's global random generator (seed it, or fork it, for a reproducible network)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z [B, latent_dim] -> images [B, channels, R, R] in [-1, 1]."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        widths = feature_widths(config.resolution, config.ngf)
        first = widths[0][1]
        # z seen as a 1x1 map -> 4x4 map
        self.stem = nn.Sequential(
            nn.ConvTranspose2d(config.latent_dim, first, 4, 1, 0, bias=False),
            nn.BatchNorm2d(first),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(
            *(UpBlock(c_in, c_out, config.upsample, config.padding)
              for (_, c_in), (_, c_out) in zip(widths, widths[1:]))
        )
        # R/2 -> R, straight to image channels
        self.to_image = up_conv(widths[-1][1], config.channels, config.upsample, config.padding)
        self.apply(dcgan_init_)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(
                f"expected z of shape [B, {self.config.latent_dim}], got {list(z.shape)}"
            )
        x = self.stem(z[:, :, None, None])
        x = self.blocks(x)
        return torch.tanh(upsampled(x, self.to_image))


class Discriminator(nn.Module):
    """images [B, channels, R, R] in [-1, 1] -> real/fake logits [B]."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        widths = feature_widths(config.resolution, config.ndf)[::-1]  # R/2 ... 4, narrowest first
        # R -> R/2
        self.from_image = DownBlock(config.channels, widths[0][1])
        self.blocks = nn.Sequential(
            *(DownBlock(c_in, c_out) for (_, c_in), (_, c_out) in zip(widths, widths[1:]))
        )
        # 4x4 -> 1x1 logit
        self.to_logit = spectral_norm(nn.Conv2d(widths[-1][1], 1, 4, 1, 0))

    def forward(self, x: Tensor) -> Tensor:
        c, r = self.config.channels, self.config.resolution
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, r, r):
            raise ValueError(f"expected images of shape [B, {c}, {r}, {r}], got {list(x.shape)}")
        x = self.from_image(x)
        x = self.blocks(x)
        return self.to_logit(x).flatten()
