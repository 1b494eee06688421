"""How good is a model? A distribution distance to its data, and how smoothly its walks move.

    result = evaluate(model, images)            # images: uint8 [N, 3, S, S], e.g. load_images(...).images
    baseline = evaluate(random_twin(model), images)
    result.kid, result.kid_parts, result.smoothness

**KID on fixed features.** The kernel inception distance (Binkowski et al. 2018) is the unbiased squared
maximum mean discrepancy (MMD) between two sets of image features under the polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets. 0 means the same distribution; unlike FID it has no
bias at small sample sizes (so it can come out slightly negative). Inception features need downloaded
weights, which LatentVJ may not fetch, and a feature network trained here would be a moving target, so
``embed`` computes *fixed, deterministic, untrained* features of images resized to 64 px, in three groups:

- ``colour``: per-channel mean and standard deviation at three scales, and per-channel histograms: the
  palette and the contrast, in what proportions.
- ``edges``: mean horizontal and vertical gradient magnitude per channel, its spread, and the share of
  strong edges, at three scales: sharpness, line work, amount of detail.
- ``texture``: a seeded random convolutional network (four 3x3 layers with zero-mean filters and ReLU,
  32 to 256 channels, each halving the size), global mean and standard deviation of each layer's output.
  Random convolutional features are a known, weaker but meaningful stand-in for learnt ones: they respond to
  local colour contrasts, edges, blobs and textures at 2 to 30 pixel scales.

``standardise`` scales each feature by the data's own spread and weights the three groups equally, so that
no feature or group dominates by its units or its count. The features see palette, contrast, sharpness,
shapes and textures in their proportions; they do not know what a face or an emoji *means*. Numbers compare
only for the same data, image size and embedding (``EMBEDDING_VERSION``).

**Walk smoothness**: along a 30 fps drift walk, the largest frame-to-frame change divided by the median
one; ``evaluate`` gives the median of that over eight walks (``WALKS``: one walk's largest step is a single
extreme, and the same model's walks range from 2.2 to 3.5). Near 1-3 the motion is even; a model with
cliffs in its latent space (or a walk that jumps) gives much larger values. ``walk_step`` (the median
change itself) says whether the walks move at all.

**Seams**: along the same eight walks, the mean jump in pixel value (0-255) across each boundary between
two rows, and between two columns, averaged over the frames: a line the network always draws at the same
place (a seam, the rows of a checkerboard) is a boundary whose mean jump stands out from the others of its
axis. ``seam_ratio`` is the worst boundary's over the median of its axis; above ``SEAM_LIMIT`` (2) there is
a seam, and ``seam_at`` says where. ``data_seam`` is the data's own ratio at that boundary (over its
images): content the data itself has there (the rim of a round emoji) shows in both; a line the network
adds shows in the walk alone.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .checkpoint import LoadedModel
from .kinds import KINDS
from .walks import Walker

EMBEDDING_VERSION = 2
"""Changes whenever ``embed`` or ``standardise`` would give different numbers."""
EMBED_SIZE = 64
"""Images are resized to this side before embedding, so models of any resolution compare."""

_COLOUR_POOLS = (1, 4, 16)  # colour statistics of pixels, 4 px patches and 16 px regions
_EDGE_POOLS = (1, 2, 4)  # edge statistics on the 64, 32 and 16 px versions
_HISTOGRAM_BINS = 8
_STRONG_EDGE = 0.25  # a gradient (|dx| + |dy| on [-1, 1], mean over channels) above this is a strong edge
_TEXTURE_WIDTHS = (32, 64, 128, 256)  # channels of the random conv layers; each halves the size
_TEXTURE_SEED = 20261122
_CHUNK = 200  # images embedded at a time (bounds memory)
SEAM_LIMIT = 2.0
"""A row or column boundary whose mean jump along the walks is more than this times its axis's median is a
seam."""
WALKS = 8
"""Drift walks ``evaluate`` looks along (seeds ``seed`` to ``seed + 7``, 20 s each) for the smoothness and
the seams. One walk passes a handful of distinct pictures, whose own edges stand out as much as a line
would (the data itself, ten images at a time, has a boundary over 2x in 34 of 40 random draws), and its
largest step is one extreme (docs/evaluation.md)."""

_GROUP_WIDTHS = {
    "colour": 3 * 2 * len(_COLOUR_POOLS) + 3 * _HISTOGRAM_BINS,  # mean, std per pool; histograms
    "edges": (3 * 2 + 3 + 1) * len(_EDGE_POOLS),  # |dx|, |dy| and gradient spread per channel; strong share
    "texture": 2 * sum(_TEXTURE_WIDTHS),  # mean, std per channel of each layer
}
_ENDS = list(accumulate(_GROUP_WIDTHS.values()))
FEATURE_GROUPS: dict[str, slice] = {name: slice(end - width, end)
                                    for (name, width), end in zip(_GROUP_WIDTHS.items(), _ENDS)}
"""Name -> the columns of ``embed``'s output that hold that group."""
FEATURES = _ENDS[-1]
"""Width of ``embed``'s output."""


@dataclass
class EvalResult:
    kid: float
    """KID between the model's samples and the data on standardised features (``standardise``), printed as
    is (not x 1000). 0 is the data's own distribution; lower is better."""
    kid_std: float
    """Standard deviation of KID over the random subsets (the spread of one subset's estimate)."""
    smoothness: float
    """Largest / median frame-to-frame change along a drift walk, the median over ``WALKS`` walks; near 1-3
    is even motion."""
    samples: int
    """Generated images compared."""
    data_images: int
    """Data images compared."""
    kid_parts: dict[str, float] = field(default_factory=dict)
    """KID on each feature group alone (``colour``, ``edges``, ``texture``): which kind of difference
    it is."""
    walk_step: float = float("nan")
    """Median frame-to-frame change along the walks (mean absolute pixel change on [-1, 1]): near 0 means
    they hardly move, whatever their smoothness."""
    seam_ratio: float = float("nan")
    """The worst row or column boundary's mean jump along ``WALKS`` walks over its axis's median (see
    ``seams``)."""
    seam_at: str = ""
    """Where that boundary is: "row 42/43", "column 7/8" (0-based)."""
    data_seam: float = float("nan")
    """The data's own ratio at that boundary (``boundary_ratio`` over the data's images)."""


# ---- the embedding ------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _texture_filters() -> tuple[Tensor, ...]:
    """The random conv layers' weights: He-scaled normal, each filter made zero-mean so that it answers
    contrast (edges, colour differences, texture), not the level of its input, and never goes dead on
    the non-negative outputs of the layer before."""
    generator = torch.Generator().manual_seed(_TEXTURE_SEED)
    filters, channels = [], 3
    for width in _TEXTURE_WIDTHS:
        w = torch.randn(width, channels, 3, 3, generator=generator, dtype=torch.float32)
        w -= w.mean(dim=(1, 2, 3), keepdim=True)
        w *= (2.0 / (9 * channels)) ** 0.5
        filters.append(w)
        channels = width
    return tuple(filters)


def _colour(x: Tensor) -> list[Tensor]:
    features = []
    for pool in _COLOUR_POOLS:
        pooled = F.avg_pool2d(x, pool) if pool > 1 else x
        features += [pooled.mean(dim=(2, 3)), pooled.std(dim=(2, 3))]
    bins = ((x + 1) * (_HISTOGRAM_BINS / 2)).long().clamp_(0, _HISTOGRAM_BINS - 1).flatten(2)  # [B, 3, HW]
    counts = torch.zeros(x.shape[0], 3, _HISTOGRAM_BINS).scatter_add_(2, bins, torch.ones(bins.shape))
    features.append((counts / bins.shape[2]).flatten(1))  # share of pixels per bin, per channel
    return features


_GRADIENT = torch.tensor([[[-1.0, 1.0], [0.0, 0.0]], [[-1.0, 0.0], [1.0, 0.0]]]).repeat(3, 1, 1)[:, None]
"""Horizontal and vertical pixel differences of each channel: conv2d weight [6, 1, 2, 2], groups=3."""


def _edges(x: Tensor) -> list[Tensor]:
    features = []
    for pool in _EDGE_POOLS:
        pooled = F.avg_pool2d(x, pool) if pool > 1 else x
        gradient = F.conv2d(pooled, _GRADIENT, groups=3).abs_()
        gradient = gradient.view(len(x), 3, 2, *gradient.shape[-2:])  # [B, channel, (|dx|, |dy|), H, W]
        magnitude = gradient.sum(dim=2)  # |dx| + |dy|
        strong = magnitude.mean(dim=1) > _STRONG_EDGE  # over the channels
        features += [gradient.mean(dim=(3, 4)).flatten(1), magnitude.std(dim=(2, 3)),
                     strong.float().mean(dim=(1, 2))[:, None]]
    return features


def _texture(x: Tensor) -> list[Tensor]:
    features, h = [], x
    for w in _texture_filters():
        h = F.relu(F.conv2d(h, w, stride=2, padding=1))
        features += [h.mean(dim=(2, 3)), h.std(dim=(2, 3))]
    return features


@torch.no_grad()
def embed(images: Tensor) -> Tensor:
    """Images float [-1, 1] [B, 3, H, W] (or [B, 1, H, W], grey) -> features float32 [B, FEATURES].

    Fixed and deterministic: no training, no download, CPU float32. Images are resized to EMBED_SIZE first
    (area-like antialiased bilinear), so models of any resolution compare. Columns: FEATURE_GROUPS.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise ValueError(f"expected images [B, 3, H, W] (or 1 channel) with B > 0, got {list(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"expected float images in [-1, 1], got {images.dtype}; convert uint8 with "
                         "x / 127.5 - 1 (or use embed_uint8)")
    out = []
    for chunk in images.split(_CHUNK):
        x = chunk.detach().to("cpu", torch.float32).clamp(-1, 1)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (EMBED_SIZE, EMBED_SIZE):
            x = F.interpolate(x, size=(EMBED_SIZE, EMBED_SIZE), mode="bilinear", antialias=True,
                              align_corners=False)
        out.append(torch.cat(_colour(x) + _edges(x) + _texture(x), dim=1))
    return torch.cat(out)


def embed_uint8(images: Tensor) -> Tensor:
    """``embed`` of uint8 images [N, 3, S, S] (as ``load_images`` gives), converted a chunk at a time."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 images [N, 3, S, S], got {images.dtype} {list(images.shape)}")
    return torch.cat([embed(chunk.float() / 127.5 - 1) for chunk in images.split(_CHUNK)])


def standardise(real: Tensor, fake: Tensor, *, balanced: bool = True) -> tuple[Tensor, Tensor]:
    """Both feature sets [N, FEATURES], [M, FEATURES] from ``embed`` in the data's units (float64).

    Each feature: minus the real set's mean, over its standard deviation, floored at a tenth of its group's
    median so that a feature which hardly varies in the data cannot blow up. balanced: then scale each
    group so that it counts equally in the kernel's x.y / d however many columns it has (the combined
    KID); without it, each group's columns alone are plain z-scores (the per-group KIDs).
    """
    for label, features in (("real", real), ("fake", fake)):
        if features.ndim != 2 or features.shape[1] != FEATURES:
            raise ValueError(f"expected {label} features [N, {FEATURES}] from embed, got {list(features.shape)}")
    if len(real) < 2:
        raise ValueError(f"standardising needs at least 2 real feature rows, got {len(real)}")
    real, fake = real.double(), fake.double()
    mean, std = real.mean(0), real.std(0)
    weight = torch.empty(FEATURES, dtype=torch.float64)
    for columns in FEATURE_GROUPS.values():
        group = std[columns]
        weight[columns] = 1 / group.clamp_min(max(0.1 * group.median().item(), 1e-12))
        if balanced:
            weight[columns] *= math.sqrt(FEATURES / (len(FEATURE_GROUPS) * (columns.stop - columns.start)))
    return (real - mean) * weight, (fake - mean) * weight


# ---- KID --------------------------------------------------------------------------------------------

def _polynomial_mmd(x: Tensor, y: Tensor) -> float:
    """Unbiased MMD^2 of two samples under k(a, b) = (a.b / d + 1)^3."""
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
                 + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1)) - 2 * kxy.mean())


def kid(real_features: Tensor, fake_features: Tensor, *, subsets: int = 10, subset_size: int | None = None,
        seed: int = 0) -> tuple[float, float]:
    """KID between two feature sets [N, F] and [M, F], as given (no scaling): (mean, standard deviation)
    of the unbiased MMD^2 under the polynomial kernel (x.y / F + 1)^3 over ``subsets`` random subsets of
    ``subset_size`` rows of each, without replacement (default: half the smaller set, at most 1000, so that
    the subsets differ and their spread means something). Unbiased: for two samples of one distribution
    it averages 0 and is as often slightly negative as positive.
    """
    if real_features.ndim != 2 or fake_features.ndim != 2 or real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"expected two feature sets [N, F] and [M, F], got {list(real_features.shape)} and "
                         f"{list(fake_features.shape)}")
    size = subset_size if subset_size is not None else max(2, min(1000, len(real_features) // 2,
                                                                   len(fake_features) // 2))
    if not 2 <= size <= min(len(real_features), len(fake_features)):
        raise ValueError(f"subset_size must be 2 .. {min(len(real_features), len(fake_features))} (the smaller "
                         f"set), got {size}")
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1, got {subsets}")
    real, fake = real_features.double(), fake_features.double()
    rng = torch.Generator().manual_seed(seed)
    values = [
        _polynomial_mmd(real[torch.randperm(len(real), generator=rng)[:size]],
                        fake[torch.randperm(len(fake), generator=rng)[:size]])
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def feature_distance(real_features: Tensor, fake_features: Tensor, *, seed: int = 0
                     ) -> tuple[float, float, dict[str, float]]:
    """KID between ``embed`` features of the data and of a model's samples: (KID, its standard deviation
    over the subsets, {group: KID on that group alone}), each on ``standardise``d features."""
    value, spread = kid(*standardise(real_features, fake_features), seed=seed)
    real, fake = standardise(real_features, fake_features, balanced=False)
    parts = {name: kid(real[:, columns], fake[:, columns], seed=seed)[0] for name, columns in FEATURE_GROUPS.items()}
    return value, spread, parts


# ---- walk smoothness --------------------------------------------------------------------------------

def walk_latents(dim: int, *, seconds: float = 20.0, fps: float = 30.0, seed: int = 0) -> Tensor:
    """The latents of a drift walk sampled at ``fps`` for ``seconds``: float32 [frames, dim]."""
    if not seconds * fps >= 3:
        raise ValueError(f"a walk needs at least 3 frames, got seconds={seconds} x fps={fps}")
    walker = Walker(dim, seed=seed, mode="drift")
    return torch.from_numpy(np.stack([walker.at(i / fps) for i in range(int(seconds * fps))])).float()


@torch.no_grad()
def render_frames(model: LoadedModel, z: Tensor) -> Tensor:
    """``model.render`` of latents [T, dim] in batches of 100: images [T, C, R, R] in [-1, 1], CPU float32."""
    return torch.cat([model.render(chunk).float().cpu() for chunk in z.split(100)])


def frame_steps(frames: Tensor) -> Tensor:
    """Mean absolute pixel change between consecutive frames [T, C, H, W] -> [T - 1]."""
    if frames.ndim != 4 or len(frames) < 3:
        raise ValueError(f"expected at least 3 frames [T, C, H, W], got {list(frames.shape)}")
    return (frames[1:] - frames[:-1]).abs().mean(dim=(1, 2, 3))


def smoothness(frames: Tensor) -> float:
    """Largest over median frame-to-frame change of frames [T, C, H, W] (inf if the median is 0)."""
    steps = frame_steps(frames)
    median = steps.median().item()
    return float(steps.max().item() / median) if median > 0 else float("inf")


def boundary_jumps(frames: Tensor) -> tuple[Tensor, Tensor]:
    """The mean absolute jump in 0-255 pixel values across each boundary between two rows, and between two
    columns, of frames [T, C, H, W] in [-1, 1], over all frames and channels: ([H - 1], [W - 1])."""
    if frames.ndim != 4 or frames.shape[-1] < 3 or frames.shape[-2] < 3:
        raise ValueError(f"expected frames [T, C, H, W] at least 3 px each way, got {list(frames.shape)}")
    pixels = (frames.float() + 1) * 127.5
    return tuple(pixels.diff(dim=axis).abs().mean(dim=[d for d in range(4) if d != axis]) for axis in (2, 3))


def worst_seam(jumps: tuple[Tensor, Tensor]) -> tuple[float, str]:
    """(worst ratio, where) of :func:`boundary_jumps`' figures: the largest jump over the median of its
    axis, and which boundary it is ("row 42/43", "column 7/8", 0-based)."""
    worst = (0.0, "")
    for along, name in zip(jumps, ("row", "column")):
        median = along.median().item()
        at = int(along.argmax())
        ratio = along[at].item() / median if median > 0 else float("inf")
        if ratio > worst[0]:
            worst = (ratio, f"{name} {at}/{at + 1}")
    return worst


def seams(frames: Tensor) -> tuple[float, str]:
    """(worst ratio, where) of frames [T, C, H, W] in [-1, 1] (:func:`worst_seam` of their jumps)."""
    return worst_seam(boundary_jumps(frames))


def boundary_ratio(frames: Tensor, where: str) -> float:
    """The mean jump across one boundary ("row 42/43", "column 7/8", as ``seams`` names them) of frames
    [T, C, H, W] in [-1, 1], over the median of its axis."""
    name, _, at = where.partition(" ")
    jumps = boundary_jumps(frames)[{"row": 0, "column": 1}[name]]
    index = int(at.split("/")[0])
    if not 0 <= index < len(jumps):
        raise ValueError(f"{where}: these frames have {len(jumps) + 1} {name}s")
    median = jumps.median().item()
    return jumps[index].item() / median if median > 0 else float("inf")


def walk_smoothness(model: LoadedModel, *, seconds: float = 20.0, fps: float = 30.0, seed: int = 0) -> float:
    """``smoothness`` of the model's drift walk from ``seed``, sampled at ``fps`` for ``seconds``."""
    return smoothness(render_frames(model, walk_latents(model.latent_dim, seconds=seconds, fps=fps, seed=seed)))


# ---- the whole figure -------------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model: LoadedModel, images: Tensor, *, samples: int = 1000, seed: int = 0,
             real_features: Tensor | None = None) -> EvalResult:
    """KID of ``samples`` generated images (latents N(0, I) from ``seed``) against ``images`` (uint8
    [N, 3, S, S], any S), per feature group too, and the smoothness and worst seam along ``WALKS`` 20 s drift
    walks (seeds ``seed`` to ``seed + WALKS - 1``).

    real_features: ``embed_uint8(images)`` if already computed (evaluating several models against one data
    set embeds it once).
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3 or len(images) < 2:
        raise ValueError(f"expected at least 2 uint8 images [N, 3, S, S], got {images.dtype} {list(images.shape)}")
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    real = embed_uint8(images) if real_features is None else real_features
    if real.shape != (len(images), FEATURES):
        raise ValueError(f"real_features must be embed_uint8(images), [{len(images)}, {FEATURES}]; got "
                         f"{list(real.shape)}")
    z = torch.randn(samples, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    fake = embed(render_frames(model, z.to(_device(model))))
    value, spread, parts = feature_distance(real, fake, seed=seed)
    smooth, steps, jumps = [], [], []
    for walk in range(seed, seed + WALKS):  # one at a time: 4,800 frames at 256 px would be 3.8 GB
        frames = render_frames(model, walk_latents(model.latent_dim, seed=walk).to(_device(model)))
        smooth.append(smoothness(frames))
        steps.append(frame_steps(frames))
        jumps.append(boundary_jumps(frames))
    seam_ratio, seam_at = worst_seam(tuple(torch.stack(along).mean(dim=0) for along in zip(*jumps)))
    data = F.interpolate(images.float() / 127.5 - 1, size=frames.shape[-2:], mode="area") \
        if images.shape[-2:] != frames.shape[-2:] else images.float() / 127.5 - 1
    return EvalResult(kid=value, kid_std=spread, smoothness=statistics.median(smooth), samples=samples,
                      data_images=len(images), kid_parts=parts, walk_step=torch.cat(steps).median().item(),
                      seam_ratio=seam_ratio, seam_at=seam_at, data_seam=boundary_ratio(data, seam_at))


def _device(model: LoadedModel) -> torch.device:
    parameter = next(model.network.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


# ---- the baseline -----------------------------------------------------------------------------------

@torch.no_grad()
def random_twin(model: LoadedModel, *, seed: int = 0) -> LoadedModel:
    """The same architecture and kind, randomly initialised (as training would start it), on the CPU: the
    baseline a trained model must beat. Its batch-norm running statistics are set from random latents (no
    data is seen), so that it draws the varied images an untrained network draws, not a flat grey field."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = KINDS[model.kind].network(model.config)
    twin = dataclasses.replace(model, network=network,
                               metadata=dict(model.metadata, name=f"{model.name} (random twin)", random_init=True))
    norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the calibration batches
    network.train()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(4):
        twin.render(torch.randn(64, model.latent_dim, generator=generator))
    for norm in norms:
        norm.momentum = 0.1
    network.eval().requires_grad_(False)
    return twin
