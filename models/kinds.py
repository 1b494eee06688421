"""The model kinds: one row each, looked up by name. Everything that differs between a GAN, a VAE and a
StyleGAN2 or StyleGAN3 is here, and nowhere else: its config class, its network, the prefix of its tensors in
a model file, how it draws an image from a latent point with its latent knob (truncation, temperature), its
first stage (where the direction knobs are found), how it goes onto a device, and whether it can encode a
picture.

A new kind is a module with its network and a row in :data:`KINDS`.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from .gan import GANConfig, Generator
from .stylegan2 import StyleGAN2, StyleGAN2Config
from .stylegan3 import StyleGAN3, StyleGAN3Config, image_transform
from .vae import VAE, VAEConfig


MIX_LAYERS = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}
"""Which layers' w a style mix replaces (StyleGAN's coarse 4-8 px, middle 16-32 px, fine 64 px and up: two ws a
resolution after the first)."""
NOISE_PERIOD = 2.0
"""Seconds (of the walk's clock) from one animated noise field to the next."""


@dataclass(frozen=True)
class Styling:
    """How a style-based model draws a latent point, beyond the point and its knob (the StyleGAN controls;
    other kinds ignore it)."""

    space: str = "z"
    """"z": the point is a z for the mapping; "w": the point is coordinates in W's principal axes (see
    ``WSpace``), so walks and knobs move linearly in W."""
    w_space: "WSpace | None" = None
    """The model's W axes (needed for space "w")."""
    noise: float = 0.0
    """0: the stored constant noise (the same point always draws the same image); above: that much of an
    animated noise field that moves smoothly with ``noise_time`` (1: all animated)."""
    noise_time: float = 0.0
    mix: Tensor | None = None
    """A second point (in the same space) whose w the ``mix_layers`` take, by ``mix_amount`` (0..1)."""
    mix_layers: str = "off"
    mix_amount: float = 0.0
    translate: tuple[float, float] = (0.0, 0.0)
    """StyleGAN3: the image moved by this (image widths, x right, y down) and turned by ``rotate`` degrees."""
    rotate: float = 0.0
    c: Tensor | None = None
    """A class-conditional model's class weights [c_dim] (one-hot, or between two classes while morphing);
    None: the first class."""


@dataclass(frozen=True)
class WSpace:
    """W's principal axes: w = mean + x @ axes for coordinates x ~ N(0, I) (GANSpace's PCA of sampled w,
    each axis scaled by its standard deviation), so a Gaussian walk of x stays where the mapping's outputs
    lie, and direction knob k moves along the k-th principal axis of W."""

    mean: Tensor
    """[w_dim]"""
    axes: Tensor
    """[w_dim, w_dim], strongest first."""


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
    draw: Callable[..., Tensor]
    """(network, z [B, latent_dim], the knob's value, styling=None) -> images [B, channels, R, R], about
    [-1, 1]."""
    first_stage: Callable[[nn.Module, Tensor], Tensor]
    """(network in eval mode, z) -> its first feature map, flattened [B, D] (see directions.py)."""
    encodes: bool
    """Whether it has an encoder (a picture's latent point without an optimisation)."""
    place: Callable[[nn.Module, torch.device, torch.dtype], None] = lambda network, device, dtype: \
        network.to(device=device, dtype=dtype)
    """Put the network on a device, in the renderer's precision."""
    styled: bool = False
    """Whether it has a mapping to W and takes the StyleGAN controls (:class:`Styling`)."""
    channels_last: bool = False
    """Whether it plays with its weights in channels-last layout (on the CPU and CUDA), because that was
    measured faster: the bundled GAN 1.24x and VAE 1.16x eager on this project's CPU (1 thread); a StyleGAN2
    0.97x at 64 px and 1.04x at 256 px, so it keeps the default layout (docs/performance.md)."""
    compiled_part: Callable[[nn.Module], Callable[..., Tensor]] | None = None
    """The part of the network worth compiling (``torch.compile``): a GAN's generator and a VAE's decoder (z,
    already moved by the knob -> images); a StyleGAN's synthesis (ws and the noise or the transform ->
    images; the mapping is a few small matrix products and plays eager). None: played eager only."""
    compiled_draw: Callable[..., Tensor] = lambda part, network, z, knob, styling=None: part(_scaled(z, knob))
    """(compiled part, network, z, knob, styling=None) -> what :attr:`draw` gives, through the compiled part.
    Every call of one model hands the part inputs of the same kinds (tensors of the same shapes and devices,
    made in inference mode), so whatever the controls do, the part is never compiled again while it plays."""

    def draw_compiled(self, part: Callable[..., Tensor], network: nn.Module, z: Tensor, knob: float,
                      styling: Styling | None = None) -> Tensor:
        """What :attr:`draw` gives, through the compiled part (kinds with a ``compiled_part``)."""
        return self.compiled_draw(part, network, z, knob, styling)


def _scaled(z: Tensor, value: float) -> Tensor:
    """A GAN's truncation, a VAE's temperature: z scaled towards the prior's centre."""
    return z if value == 1.0 else z * value


def _place_stylegan(network: nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """Weights, mapping and w in fp32 on every device; on CUDA, the blocks the file's `num_fp16_res` names
    run in the renderer's half precision (NVIDIA's own choice), elsewhere in fp32 (MPS and CPU)."""
    network.to(device=device, dtype=torch.float32)
    half = dtype in (torch.float16, torch.bfloat16) and device.type == "cuda"
    network.synthesis.half = dtype if half else None


def _classes(network: nn.Module, batch: int, device: torch.device, c: Tensor | None) -> Tensor | None:
    """The class input: None for an unconditional model, else ``c`` (or the first class) for each image."""
    if not network.config.c_dim:
        return None
    if c is None:
        c = torch.zeros(network.config.c_dim)
        c[0] = 1
    return c.to(device=device, dtype=torch.float32)[None].expand(batch, -1)


def _to_w(network: nn.Module, x: Tensor, styling: Styling, c: Tensor | None) -> Tensor:
    if styling.space == "w":
        space = styling.w_space
        return space.mean.to(x.device) + x.float() @ space.axes.to(x.device)
    return network.mapping(x, c)


def _stylegan_ws(network: nn.Module, z: Tensor, psi: float, s: Styling) -> Tensor:
    """[B, num_ws, w_dim]: every layer's w for z (or W coordinates), truncated, the style mix applied."""
    c = _classes(network, z.shape[0], z.device, s.c)
    w = network.mapping.truncate(_to_w(network, z, s, c), psi)
    ws = w[:, None].repeat(1, network.num_ws, 1)
    if s.mix is not None and s.mix_layers in MIX_LAYERS and s.mix_amount > 0:
        start, end = MIX_LAYERS[s.mix_layers]
        other = network.mapping.truncate(_to_w(network, s.mix.to(z.device)[None], s, c[:1] if c is not None else None),
                                         psi)
        ws[:, start:end] = ws[:, start:end].lerp(other[:, None], min(1.0, s.mix_amount))
    return ws


def _stylegan_draw(network: nn.Module, z: Tensor, psi: float, styling: Styling | None = None) -> Tensor:
    s = styling or Styling()
    ws = _stylegan_ws(network, z, psi, s)
    if isinstance(network, StyleGAN3):
        transform = None if s.translate == (0.0, 0.0) and s.rotate == 0.0 else image_transform(s.translate, s.rotate)
        return network.synthesis(ws, transform=transform)
    return network.synthesis(ws, noise=_noise(network, s, z.device))


def _stylegan_draw_compiled(synthesis: Callable[..., Tensor], network: nn.Module, z: Tensor, psi: float,
                            styling: Styling | None = None) -> Tensor:
    """:func:`_stylegan_draw` through a compiled synthesis. Its inputs keep one form whatever the controls
    say, so that it is compiled once: StyleGAN2 always gets a list of noise fields (the stored ones when the
    noise is off), StyleGAN3 always a transform on the device (the stored one when nothing moves)."""
    s = styling or Styling()
    ws = _stylegan_ws(network, z, psi, s)
    if isinstance(network, StyleGAN3):
        if s.translate == (0.0, 0.0) and s.rotate == 0.0:
            transform = _stored(network, lambda: [network.synthesis.input.transform])[0]
        else:
            transform = image_transform(s.translate, s.rotate).to(z.device)
        return synthesis(ws, transform=transform)
    noise = _noise(network, s, z.device)
    if noise == "const" and network.config.use_noise:
        noise = _stored(network, lambda: [layer.noise_const[None, None] for layer in network.synthesis.convolutions()])
    return synthesis(ws, noise=noise)


_STORED: "weakref.WeakKeyDictionary[nn.Module, list[Tensor]]" = weakref.WeakKeyDictionary()


def _stored(network: nn.Module, tensors: Callable[[], list[Tensor]]) -> list[Tensor]:
    """A network's stored tensors (its const noise, its transform) as inputs of the compiled part: copies made
    once, in inference mode as the render's own tensors are (the compiled part's guards tell the two kinds
    apart, and a guard that fails compiles again)."""
    if network not in _STORED:
        with torch.inference_mode():
            _STORED[network] = [tensor.clone() for tensor in tensors()]
    return _STORED[network]


def _noise(network: StyleGAN2, s: Styling, device: torch.device) -> list[Tensor] | str:
    """The stored noise at 0; above, that blended (at constant variance) with animated noise: each layer's
    field moves from one seeded random field to the next every NOISE_PERIOD seconds along a quarter circle,
    eased, so the noise itself moves smoothly and never flickers from frame to frame."""
    if s.noise <= 0:
        return "const"
    amount = min(1.0, s.noise)
    step = s.noise_time / NOISE_PERIOD
    k, frac = math.floor(step), step - math.floor(step)
    angle = math.pi / 2 * frac * frac * (3 - 2 * frac)
    first, second = _noise_fields(network, k, device), _noise_fields(network, k + 1, device)
    keep, move = math.sqrt(1 - amount * amount), amount
    if not network.config.use_noise:
        return "const"
    consts = [layer.noise_const for layer in network.synthesis.convolutions()]
    return [(keep * const + move * (math.cos(angle) * a + math.sin(angle) * b))[None, None]
            for const, a, b in zip(consts, first, second)]


_FIELDS: dict[tuple, list[Tensor]] = {}


def _noise_fields(network: StyleGAN2, k: int, device: torch.device) -> list[Tensor]:
    """The k-th animated noise field of every layer (seeded by k, so any moment's noise is a function of the
    time alone); the last few are kept."""
    shapes = tuple(network.synthesis.noise_shapes())
    key = (shapes, k, str(device))
    if key not in _FIELDS:
        generator = torch.Generator().manual_seed(k & 0x7FFFFFFF)
        _FIELDS[key] = [torch.randn(shape, generator=generator).to(device) for shape in shapes]
        while len(_FIELDS) > 6:
            _FIELDS.pop(next(iter(_FIELDS)))
    return _FIELDS[key]


def w_space(network: nn.Module, *, samples: int = 4096, seed: int = 0) -> WSpace:
    """W's principal axes from ``samples`` seeded z through the mapping (the first class of a conditional
    model): the mean and the PCA axes, each scaled by its standard deviation."""
    parameter = next(network.parameters())
    z = torch.randn(samples, network.config.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        w = network.mapping(z.to(parameter.device), _classes(network, samples, parameter.device, None)).float().cpu()
    mean = w.mean(dim=0)
    _, values, vectors = torch.linalg.svd(w - mean, full_matrices=False)
    scale = values / math.sqrt(samples - 1)
    signs = torch.where(vectors.gather(1, vectors.abs().argmax(dim=1, keepdim=True)) < 0, -1.0, 1.0)
    return WSpace(mean=mean, axes=vectors * signs * scale[:, None])


def _stylegan_first_stage(network: nn.Module, z: Tensor) -> Tensor:
    """The mapping's w (GANSpace's choice for style-based generators)."""
    return network.mapping(z, _classes(network, z.shape[0], z.device, None))


def _gan_first_stage(network: nn.Module, z: Tensor) -> Tensor:
    """The generator's `stem` (transposed conv from 1x1 to 4x4, batch norm, ReLU)."""
    return network.stem(z[:, :, None, None]).flatten(1)


def _vae_first_stage(network: nn.Module, z: Tensor) -> Tensor:
    """The point of the prior (VAE.from_prior), through the decoder's `from_latent` linear layer viewed as
    a 4x4 map with `first` channels, then its `stem` (batch norm, ReLU)."""
    decoder = network.decoder
    latent = network.from_prior(z)
    return decoder.stem(decoder.from_latent(latent).view(z.shape[0], decoder.first, 4, 4)).flatten(1)


KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    ModelKind("gan", GANConfig, Generator, "generator.", "truncation",
              lambda network, z, knob, styling=None: network(_scaled(z, knob)), _gan_first_stage, encodes=False,
              compiled_part=lambda network: network, channels_last=True),
    ModelKind("vae", VAEConfig, VAE, "vae.", "temperature",
              lambda network, z, knob, styling=None: network.sample(_scaled(z, knob)), _vae_first_stage,
              encodes=True, compiled_part=lambda network: network.sample, channels_last=True),
    ModelKind("stylegan2", StyleGAN2Config, StyleGAN2, "stylegan.", "truncation", _stylegan_draw,
              _stylegan_first_stage, encodes=False, place=_place_stylegan, styled=True,
              compiled_part=lambda network: network.synthesis, compiled_draw=_stylegan_draw_compiled),
    ModelKind("stylegan3", StyleGAN3Config, StyleGAN3, "stylegan.", "truncation", _stylegan_draw,
              _stylegan_first_stage, encodes=False, place=_place_stylegan, styled=True,
              compiled_part=lambda network: network.synthesis, compiled_draw=_stylegan_draw_compiled),
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
