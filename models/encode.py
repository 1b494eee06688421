"""Image -> latent point, so a performer can morph live between their own pictures.

A VAE has an encoder: the latent is its mean (as coordinates in the model's prior, models/vae.py). A GAN has none: a short latent optimisation finds the
point whose image is closest to the picture (start from the best of a few random points, then Adam on z
with a prior term that keeps z where the model's latents live). Deterministic for a seed.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import torch
from PIL import Image

from .checkpoint import LoadedModel
from .kinds import KINDS
from .data import prepare_image


MAX_PIXELS = 50_000_000
"""Largest picture (width x height) decoded for an encode; a bigger one is refused from its header, before
its pixels are decoded (a small file can claim a picture of gigapixels: a decompression bomb)."""


def load_image_for(model: LoadedModel, path: str | os.PathLike, *,
                   background: tuple[int, int, int] = (0, 0, 0)) -> torch.Tensor:
    """A picture as the model sees its data: float [-1, 1] [3, R, R] (crop, resize, transparency as in
    training). ValueError for a picture too large to decode (see MAX_PIXELS) or not a picture at all."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValueError(f"a picture of {width}x{height} pixels is too large to encode (at most "
                                     f"{MAX_PIXELS // 1_000_000} megapixels)")
                image.load()
                pixels = prepare_image(image, model.resolution, background)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"refused to decode the picture: {exc}") from None
    except Image.UnidentifiedImageError:
        raise ValueError("not a picture Pillow can read") from None
    return torch.tensor(pixels).permute(2, 0, 1).float() / 127.5 - 1  # a copy: Pillow's array is read-only


def encode_image(model: LoadedModel, image: torch.Tensor, *, steps: int = 200, seed: int = 0,
                 candidates: int = 64) -> np.ndarray:
    """The latent point for ``image`` (float [-1, 1] [3, R, R] at the model's resolution), float32."""
    expected = (model.config.channels, model.resolution, model.resolution)
    if tuple(image.shape) != expected or not image.is_floating_point():
        raise ValueError(f"expected a float image of shape {list(expected)} in [-1, 1], "
                         f"got {image.dtype} {list(image.shape)}")
    if steps < 0 or candidates < 1:
        raise ValueError(f"steps must be >= 0 and candidates >= 1, got steps={steps}, candidates={candidates}")
    weight = next(model.network.parameters())  # work where the network is (the engine may have moved it)
    device, dtype = weight.device, weight.dtype
    target = image[None].to(device, dtype)
    if KINDS[model.kind].encodes:  # a VAE: its encoder's mean, as coordinates in its prior (what walks take)
        with torch.no_grad():
            mu, _ = model.network.encode(target)
            point = model.network.to_prior(mu)
        return point[0].float().cpu().numpy()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        starts = torch.randn(candidates, model.latent_dim, generator=generator).to(device, dtype)
        errors = torch.cat([(model.render(c) - target).float().pow(2).mean(dim=(1, 2, 3))
                            for c in starts.split(32)])
    z = starts[errors.argmin()].clone().float()[None].requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=0.05)
    radius = math.sqrt(model.latent_dim)
    for _ in range(steps):
        loss = (model.render(z.to(dtype)) - target).float().pow(2).mean() + 1e-3 * (z.norm() / radius - 1) ** 2
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return z.detach()[0].cpu().numpy().astype(np.float32)
