"""How good is a model? A distribution distance to its data, and how smoothly its walks move.

**KID on fixed random-feature embeddings.** The kernel inception distance (Binkowski et al. 2018) is the
unbiased squared MMD between two sets of image features under the polynomial kernel (x.y / d + 1)^3;
0 means the same distribution, and unlike FID it is unbiased for small sample sizes. Inception features
need downloaded weights, which LatentVJ may not fetch, and a network trained here would be a moving
target, so the features come from a *fixed, seeded, untrained* multi-scale convolutional network (random
conv features are a known, weaker but meaningful substitute for learnt ones: they respond to colour,
edges and texture at several scales), plus per-channel colour statistics at three scales. Each feature
is standardised with the data's own statistics, so every feature counts alike. It sees colour, contrast,
shapes and textures; it does not know what a face or an emoji *means*. Compare numbers only with the
same data, size and embedding (``EMBEDDING_VERSION``).

**Walk smoothness**: along a 30 fps drift walk, the largest frame-to-frame change divided by the median
one. Near 1-3 the motion is even; a model with cliffs in its latent space (or a walk that jumps) gives
much larger values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import LoadedModel
from .gan import Generator
from .vae import VAE
from .walks import Walker

EMBEDDING_VERSION = 1
EMBED_SIZE = 64


@dataclass
class EvalResult:
    kid: float
    """KID (unbiased MMD^2); printed x 1000 by `latentvj eval`."""
    kid_std: float
    """Standard deviation of KID over the subsets."""
    smoothness: float
    samples: int
    data_images: int


@lru_cache(maxsize=1)
def _network() -> nn.Module:
    generator = torch.Generator().manual_seed(20261122)
    layers, channels = [], 3
    for width, stride in ((32, 1), (64, 2), (128, 2), (256, 2)):
        conv = nn.Conv2d(channels, width, 3, stride, 1)
        with torch.no_grad():
            conv.weight.normal_(0, (2.0 / (9 * channels)) ** 0.5, generator=generator)
            conv.bias.zero_()
        layers.append(conv)
        channels = width
    return nn.ModuleList(layers).eval().requires_grad_(False)


@torch.no_grad()
def embed(images: torch.Tensor) -> torch.Tensor:
    """Images float [-1, 1] [B, 3, H, W] -> features [B, F]: fixed and deterministic."""
    x = F.interpolate(images.float(), size=(EMBED_SIZE, EMBED_SIZE), mode="bilinear", antialias=True,
                      align_corners=False)
    features = []
    for scale in (1, 4, 16):  # colour statistics at three scales
        pooled = F.avg_pool2d(x, scale) if scale > 1 else x
        features += [pooled.mean(dim=(2, 3)), pooled.std(dim=(2, 3))]
    h = x
    for conv in _network():
        h = F.relu(conv(h))
        features += [h.mean(dim=(2, 3)), h.std(dim=(2, 3))]
    return torch.cat(features, dim=1)


def _polynomial_mmd(x: torch.Tensor, y: torch.Tensor) -> float:
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
                 + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1)) - 2 * kxy.mean())


def kid(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 10, subset_size: int | None = None,
        seed: int = 0) -> tuple[float, float]:
    """KID between two feature sets [N, F], [M, F]: (mean, std) over random subsets. Features are
    standardised with the real set's mean and standard deviation first."""
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("KID needs at least 2 features on each side")
    mean, std = real.mean(0), real.std(0).clamp_min(1e-6)
    real, fake = ((real - mean) / std).double(), ((fake - mean) / std).double()
    size = subset_size or min(500, len(real), len(fake))
    rng = torch.Generator().manual_seed(seed)
    values = [
        _polynomial_mmd(real[torch.randperm(len(real), generator=rng)[:size]],
                        fake[torch.randperm(len(fake), generator=rng)[:size]])
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


@torch.no_grad()
def walk_frames(model: LoadedModel, *, seconds: float = 20.0, fps: float = 30.0, seed: int = 0) -> torch.Tensor:
    """The frames of a drift walk (model images, [-1, 1])."""
    walker = Walker(model.latent_dim, seed=seed, mode="drift")
    z = torch.from_numpy(np.stack([walker.at(i / fps) for i in range(int(seconds * fps))]))
    return torch.cat([model.render(chunk) for chunk in z.split(100)])


def smoothness(frames: torch.Tensor) -> float:
    """Largest over median frame-to-frame change (mean absolute pixel difference)."""
    steps = (frames[1:] - frames[:-1]).abs().mean(dim=(1, 2, 3))
    median = steps.median().item()
    return float(steps.max().item() / median) if median > 0 else float("inf")


def walk_smoothness(model: LoadedModel, *, seconds: float = 20.0, fps: float = 30.0, seed: int = 0) -> float:
    return smoothness(walk_frames(model, seconds=seconds, fps=fps, seed=seed))


@torch.no_grad()
def evaluate(model: LoadedModel, images: torch.Tensor, *, samples: int = 1000, seed: int = 0) -> EvalResult:
    """KID of ``samples`` generated images against ``images`` (uint8 [N, 3, S, S]), and walk smoothness."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, model.latent_dim, generator=generator)
    fake = torch.cat([embed(model.render(chunk)) for chunk in z.split(100)])
    real = torch.cat([embed(chunk.float() / 127.5 - 1) for chunk in images.split(200)])
    mean, std = kid(real, fake, seed=seed)
    return EvalResult(mean, std, walk_smoothness(model, seed=seed), samples, len(images))


def random_twin(model: LoadedModel, *, seed: int = 0) -> LoadedModel:
    """The same architecture, randomly initialised: the baseline a trained model must beat."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        network = (Generator if model.kind == "gan" else VAE)(model.config).eval().requires_grad_(False)
    metadata = dict(model.metadata, name=f"{model.name} (random twin)", random_init=True)
    return dataclasses.replace(model, network=network, metadata=metadata)
