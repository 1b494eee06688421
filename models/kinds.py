"""The model kinds: one row each, looked up by name. Everything that differs between a GAN, a VAE and a
StyleGAN2 or StyleGAN3 is here, and nowhere else: its config class, its network, the prefix of its tensors in
a model file, how it draws an image from a latent point with its latent knob (truncation, temperature), its
first stage (where the direction knobs are found), how it goes onto a device, and whether it can encode a
picture.

A new kind is a module with its network and a row in :data:`KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from .gan import GANConfig, Generator
from .stylegan2 import StyleGAN2, StyleGAN2Config
from .stylegan3 import StyleGAN3, StyleGAN3Config
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
    """The parameter that moves its latent point towards the average (below 1) or away (above):
    "truncation" (a GAN, a StyleGAN: psi in its w space) or "temperature" (a VAE)."""
    draw: Callable[[nn.Module, Tensor, float], Tensor]
    """(network, z [B, latent_dim], the knob's value) -> images [B, channels, R, R], about [-1, 1]."""
    first_stage: Callable[[nn.Module, Tensor], Tensor]
    """(network in eval mode, z) -> its first feature map, flattened [B, D] (see directions.py)."""
    encodes: bool
    """Whether it has an encoder (a picture's latent point without an optimisation)."""
    place: Callable[[nn.Module, torch.device, torch.dtype], None] = lambda network, device, dtype: \
        network.to(device=device, dtype=dtype)
    """Put the network on a device, in the renderer's precision."""


def _scaled(z: Tensor, value: float) -> Tensor:
    """A GAN's truncation, a VAE's temperature: z scaled towards the prior's centre."""
    return z if value == 1.0 else z * value


def _place_stylegan(network: nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """Weights, mapping and w in fp32 on every device; on CUDA, the blocks the file's `num_fp16_res` names
    run in the renderer's half precision (NVIDIA's own choice), elsewhere in fp32 (MPS and CPU)."""
    network.to(device=device, dtype=torch.float32)
    half = dtype in (torch.float16, torch.bfloat16) and device.type == "cuda"
    network.synthesis.half = dtype if half else None


def _stylegan_draw(network: nn.Module, z: Tensor, psi: float) -> Tensor:
    c = None
    if network.config.c_dim:  # a class-conditional model: the first class
        c = torch.zeros(z.shape[0], network.config.c_dim, device=z.device)
        c[:, 0] = 1
    return network(z, c, truncation_psi=psi)


def _stylegan_first_stage(network: nn.Module, z: Tensor) -> Tensor:
    """The mapping's w (GANSpace's choice for style-based generators)."""
    c = None
    if network.config.c_dim:
        c = torch.zeros(z.shape[0], network.config.c_dim, device=z.device)
        c[:, 0] = 1
    return network.mapping(z, c)


def _gan_first_stage(network: nn.Module, z: Tensor) -> Tensor:
    """The generator's `stem` (transposed conv from 1x1 to 4x4, batch norm, ReLU)."""
    return network.stem(z[:, :, None, None]).flatten(1)


def _vae_first_stage(network: nn.Module, z: Tensor) -> Tensor:
    """The decoder's `from_latent` linear layer viewed as a 4x4 map with `first` channels, then its `stem`
    (batch norm, ReLU)."""
    decoder = network.decoder
    return decoder.stem(decoder.from_latent(z).view(z.shape[0], decoder.first, 4, 4)).flatten(1)


KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    ModelKind("gan", GANConfig, Generator, "generator.", "truncation",
              lambda network, z, knob: network(_scaled(z, knob)), _gan_first_stage, encodes=False),
    ModelKind("vae", VAEConfig, VAE, "vae.", "temperature",
              lambda network, z, knob: network.decode(_scaled(z, knob)), _vae_first_stage, encodes=True),
    ModelKind("stylegan2", StyleGAN2Config, StyleGAN2, "stylegan.", "truncation", _stylegan_draw,
              _stylegan_first_stage, encodes=False, place=_place_stylegan),
    ModelKind("stylegan3", StyleGAN3Config, StyleGAN3, "stylegan.", "truncation", _stylegan_draw,
              _stylegan_first_stage, encodes=False, place=_place_stylegan),
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
