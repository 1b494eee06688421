"""The model kinds: one row each, looked up by name. Everything that differs between a GAN and a VAE (and,
later, a StyleGAN) is here, and nowhere else: its config class, its network, the prefix of its tensors in a
model file, how it draws an image from a latent point, how its latent knob (truncation, temperature) moves
that point, its first stage (where the direction knobs are found), and whether it can encode a picture.

A new kind is a module with its network and a row in :data:`KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor, nn

from .gan import GANConfig, Generator
from .vae import VAE, VAEConfig


@dataclass(frozen=True)
class ModelKind:
    name: str
    """"gan", "vae": what model files and the registry call it."""
    config: type
    """The config dataclass stored next to the weights."""
    network: type
    """The nn.Module class built from the config."""
    prefix: str
    """Prefix of the network's tensors in a model file."""
    knob: str
    """The parameter that scales its latent point: "truncation" (a GAN) or "temperature" (a VAE)."""
    draw: Callable[[nn.Module, Tensor], Tensor]
    """(network, z [B, latent_dim]) -> images [B, channels, R, R] in [-1, 1]."""
    first_stage: Callable[[nn.Module, Tensor], Tensor]
    """(network in eval mode, z) -> its first feature map, flattened [B, D] (see directions.py)."""
    encodes: bool
    """Whether it has an encoder (a picture's latent point without an optimisation)."""

    def truncate(self, z: Tensor, value: float) -> Tensor:
        """The latent point moved by the kind's knob: towards the average (the prior's centre) below 1,
        away from it above. For both kinds here that is a scale of z; a StyleGAN does it in its w space."""
        return z if value == 1.0 else z * value


def _gan_first_stage(network: nn.Module, z: Tensor) -> Tensor:
    """The generator's `stem` (transposed conv from 1x1 to 4x4, batch norm, ReLU)."""
    return network.stem(z[:, :, None, None]).flatten(1)


def _vae_first_stage(network: nn.Module, z: Tensor) -> Tensor:
    """The decoder's `from_latent` linear layer viewed as a 4x4 map with `first` channels, then its `stem`
    (batch norm, ReLU)."""
    decoder = network.decoder
    return decoder.stem(decoder.from_latent(z).view(z.shape[0], decoder.first, 4, 4)).flatten(1)


KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    ModelKind("gan", GANConfig, Generator, "generator.", "truncation", lambda network, z: network(z),
              _gan_first_stage, encodes=False),
    ModelKind("vae", VAEConfig, VAE, "vae.", "temperature", lambda network, z: network.decode(z),
              _vae_first_stage, encodes=True),
)}


def kind_named(name: str) -> ModelKind:
    """The kind of that name; ValueError naming the kinds there are."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model kind {name!r}; expected one of {list(KINDS)}") from None


def kind_of(network: nn.Module) -> ModelKind:
    """The kind whose network this is; TypeError for anything else."""
    for kind in KINDS.values():
        if isinstance(network, kind.network):
            return kind
    raise TypeError(f"expected a latentvj {' or '.join(k.network.__name__ for k in KINDS.values())}, "
                    f"got {type(network).__name__}")
