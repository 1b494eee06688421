"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for training GANs on a few hundred to a
few thousand images.

The same random colour shift, translation and cutout are applied to real and generated images before the
discriminator sees them, and gradients flow through them to the generator, so the discriminator cannot
simply memorise a small dataset, while the generator still learns the un-augmented distribution.
Images are in [-1, 1]. All randomness comes from the ``generator`` argument (CPU), so training is
reproducible for a seed on any device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICY = ("color", "translation", "cutout")


def diff_augment(x: Tensor, generator: torch.Generator, *, policy: tuple[str, ...] = POLICY) -> Tensor:
    """Augment a batch [B, C, H, W]; differentiable with respect to ``x``."""
    for name in policy:
        if name == "color":
            x = _brightness(x, generator)
            x = _saturation(x, generator)
            x = _contrast(x, generator)
        elif name == "translation":
            x = _translation(x, generator)
        elif name == "cutout":
            x = _cutout(x, generator)
        else:
            raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(POLICY)}")
    return x


def _rand(x: Tensor, generator: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(*shape, generator=generator).to(device=x.device, dtype=x.dtype)


def _brightness(x: Tensor, g: torch.Generator) -> Tensor:
    return x + (_rand(x, g, x.shape[0], 1, 1, 1) - 0.5)


def _saturation(x: Tensor, g: torch.Generator) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x, g, x.shape[0], 1, 1, 1) * 2) + mean


def _contrast(x: Tensor, g: torch.Generator) -> Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x, g, x.shape[0], 1, 1, 1) + 0.5) + mean


def _translation(x: Tensor, g: torch.Generator, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros (mid-grey)."""
    b, _, h, w = x.shape
    sx, sy = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), generator=g).to(x.device)
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), generator=g).to(x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)


def _cutout(x: Tensor, g: torch.Generator, ratio: float = 0.5) -> Tensor:
    """Blank a random square of ``ratio`` of the size in each image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=g).to(x.device)
    oy = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=g).to(x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)
