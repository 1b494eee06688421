"""Principal latent directions of a model, GANSpace-style, for the direction knobs.

    directions = principal_directions(model)         # once, when a model loads
    z2 = z + sum(d[k] * directions.vectors[k])        # knob values d in -3..3, unit = one std

PCA of sampled latents alone says nothing: the prior N(0, I) is isotropic, every direction has the
same variance. GANSpace (Härkönen et al. 2020, "GANSpace: Discovering Interpretable GAN Controls")
does PCA where the network has shaped the samples, in an early feature map, and carries the
components back to latent space:

1. draw `samples` latents z ~ N(0, I) from a seeded torch.Generator;
2. run them through the network's first stage and flatten: y [N, D] (see `first_stage`);
3. PCA of the centred y: the top `count` left singular vectors U_k and singular values s_k
   (a randomised SVD with a seeded test matrix, Halko et al. 2011: a few matrix products instead of
   a full SVD of a [1024, 8192] matrix, which takes seconds);
4. regress the centred z onto the PCA coordinates x = U_k diag(s_k): least squares gives
   z ~ x B with B = diag(s_k)^-1 U_k^T z, so the latent direction of component j is
   z^T U_j / s_j, the average latent offset per unit of that component;
5. normalise each direction to unit length. In the isotropic N(0, I) latent space a step of 1 along
   a unit vector is one standard deviation, so knob values in -3..3 span the prior.

For a first stage that were linear in z this gives exactly the top right singular vectors of its
weight (the latent directions it stretches most); the ReLU of the first stage is what makes it more.
The sign of each direction is fixed (its largest entry is positive) so the knobs do not flip
between loads. The directions are not forced orthogonal in latent space (as in GANSpace).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from torch import Tensor

from .checkpoint import LoadedModel
from .kinds import kind_named

DEFAULT_COUNT = 8
DEFAULT_SAMPLES = 1024
OVERSAMPLING = 10
"""Extra columns of the randomised SVD's test matrix beyond `count`: they make the top ones accurate."""
POWER_ITERATIONS = 6
"""Power iterations of the randomised SVD; more separate components whose variances are close."""
NEGLIGIBLE_VARIANCE = 1e-8
"""A component explaining no more than this share of the variance is rounding noise, not a direction."""
MAX_SAMPLES = 65536
"""Most latents `principal_directions` will sample (the feature maps of all of them are held at once)."""


@dataclass(frozen=True)
class Directions:
    vectors: np.ndarray  # (count, latent_dim) float32: unit-length latent directions, strongest first
    explained: np.ndarray  # (count,) float32: share of the first stage's variance of each component

    @property
    def count(self) -> int:
        return int(self.vectors.shape[0])


def first_stage(model: LoadedModel, z: Tensor) -> Tensor:
    """The network's first feature map for latents z [B, latent_dim], flattened: [B, D].

    GAN: the generator's `stem` (transposed conv from 1x1 to 4x4, batch norm, ReLU), D = 16 * the
    widest channel count. VAE: the decoder's `from_latent` linear layer viewed as a 4x4 map with
    `first` channels, then its `stem` (batch norm, ReLU). These are the attributes of Generator and
    Decoder this relies on. The network must be in eval mode (batch norm uses its running
    statistics and does not update them); z must be on the network's device and dtype.
    """
    network = model.network
    kind = kind_named(model.kind)
    if not isinstance(network, kind.network):
        raise ValueError(f"a {kind.name!r} model needs a latentvj {kind.network.__name__}, got "
                         f"{type(network).__name__}")
    if network.training:
        raise ValueError(
            "the network is in training mode; its batch norms would use and update batch "
            "statistics. Call network.eval() first (load_model returns it in eval mode)"
        )
    return kind.first_stage(network, z)


def principal_directions(
    model: LoadedModel,
    *,
    count: int = DEFAULT_COUNT,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> Directions:
    """The `count` strongest GANSpace directions of `model`'s latent space (see the module doc).

    count: how many directions, 1..latent_dim (and at most the first stage's size).
    samples: how many random latents the PCA sees; more than `count`, at most MAX_SAMPLES.
        About 1000-2000 are plenty; the default model's 1024 take a fraction of a second on CPU.
    seed: seeds the latents and the randomised SVD; the same seed gives the same directions.

    Runs on the network's device and dtype without changing the network (inference mode, eval
    mode required); the PCA itself runs on CPU in float32.
    """
    if not isinstance(model, LoadedModel):
        raise TypeError(f"model must be a LoadedModel (from load_model), got {type(model).__name__}")
    latent_dim = model.latent_dim
    _check_int("count", count, 1, latent_dim, f"between 1 and the latent size {latent_dim}")
    _check_int("samples", samples, count + 1, MAX_SAMPLES,
               f"between count + 1 = {count + 1} and {MAX_SAMPLES}")
    _check_int("seed", seed, 0, 2**63 - 1, "between 0 and 2**63 - 1")

    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, latent_dim, generator=rng)
    parameter = next(model.network.parameters())
    with torch.inference_mode():
        y = first_stage(model, z.to(device=parameter.device, dtype=parameter.dtype))
        y = y.to(device="cpu", dtype=torch.float32)
        if y.shape[1] < count:
            raise ValueError(
                f"count must be at most {y.shape[1]}, the size of this model's first stage; got {count}"
            )
        y = y - y.mean(dim=0)
        total = float(y.square().sum())
        if not np.isfinite(total):
            raise ValueError("the network's first stage gives NaN or infinite values; no directions")
        z = z - z.mean(dim=0)
        u, s = _top_left_singular(y, count, rng)
        explained = s.square() / total if total > 0 else torch.zeros_like(s)
        # Least squares of z on the PCA coordinates u * s: the coefficients of component j are
        # u_j^T z / s_j; only their direction matters, so the 1 / s_j is dropped.
        vectors = u.T @ z
        norms = vectors.norm(dim=1, keepdim=True)
        if not bool((explained > NEGLIGIBLE_VARIANCE).all()) or not bool((norms > 0).all()):
            raise ValueError(
                f"the network's first stage varies with z along fewer than {count} directions "
                f"(explained variance ratios {explained.tolist()}); ask for fewer directions"
            )
        vectors = vectors / norms
        # A fixed sign: the largest entry of each direction is positive.
        largest = vectors.gather(1, vectors.abs().argmax(dim=1, keepdim=True))
        vectors = vectors * torch.where(largest < 0, -1.0, 1.0)
    return Directions(
        vectors=np.ascontiguousarray(vectors.numpy(), dtype=np.float32),
        explained=np.ascontiguousarray(explained.numpy(), dtype=np.float32),
    )


def _top_left_singular(y: Tensor, count: int, rng: torch.Generator) -> tuple[Tensor, Tensor]:
    """The top `count` left singular vectors [N, count] and singular values [count] of y [N, D].

    Randomised range finder with power iterations (Halko, Martinsson, Tropp 2011, algorithms 4.4
    and 5.1), re-orthonormalising after every product; the test matrix comes from `rng`.
    """
    rank = min(count + OVERSAMPLING, *y.shape)
    omega = torch.randn(y.shape[1], rank, generator=rng)
    q = torch.linalg.qr(y @ omega).Q
    for _ in range(POWER_ITERATIONS):
        q = torch.linalg.qr(y.T @ q).Q
        q = torch.linalg.qr(y @ q).Q
    small_u, s, _ = torch.linalg.svd(q.T @ y, full_matrices=False)
    return (q @ small_u)[:, :count], s[:count]


def _check_int(name: str, value: object, low: int, high: int, expected: str) -> None:
    if not isinstance(value, Integral) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer {expected}, got {value!r}")
