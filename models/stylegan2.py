"""StyleGAN2: a mapping network and a style-modulated synthesis network, written from the papers.

Karras et al. 2019 ("A Style-Based Generator Architecture for GANs") and 2020 ("Analyzing and Improving the
Image Quality of StyleGAN", StyleGAN2; "Training GANs with Limited Data", the ADA code's configs):

- mapping: z, normalised to unit second moment (and a class label's embedding, likewise, when the model is
  conditional) through `mapping_layers` fully connected layers with leaky ReLU and a learning-rate multiplier
  (equalised learning rate: weights stored at 1/lr and scaled by lr/sqrt(fan-in) at run time) -> w. The
  running average `w_avg` is what truncation pulls towards: w' = w_avg + psi (w - w_avg).
- synthesis: a learned 4x4 constant, then one block per doubling of the side. A block's first convolution
  upsamples by 2 (a transposed convolution, then a [1,3,3,1] low-pass filter); each convolution's weight is
  modulated per input channel by a style (an affine map of one w) and demodulated per output channel to
  unit expected norm; per-pixel noise scaled by a learned strength, a bias, leaky ReLU times sqrt(2), and
  a clamp (`conv_clamp`) follow. "skip": every block adds a 1x1 modulated (not demodulated) convolution to
  RGB to the filtered 2x upsampling of the image so far; "orig": only the last block draws RGB; "resnet": a
  1x1 upsampling shortcut around the two convolutions, each branch scaled by sqrt(1/2).
- Every layer takes its own w (`num_ws` of them: two per block, one for 4x4, plus the last RGB), so
  style mixing is a choice of which w each layer reads.

Parameter and buffer names are those of NVIDIA's StyleGAN2-ADA / StyleGAN3 state dicts (``mapping.fc0.weight``,
``synthesis.b4.const``, ``synthesis.b8.conv0.affine.bias``, ``...noise_const``), so a network pickle's
tensors load as they are. Blocks at the `num_fp16_res` highest resolutions run in half precision when the
network is told to (:attr:`StyleGAN2.half`, the renderer does on CUDA); the rest, and the mapping, in fp32.
Nothing here uses float64 (MPS has none).

The modules are pure: no device choice, no I/O; noise is the stored constant or tensors passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ARCHITECTURES = ("skip", "orig", "resnet")
ACTIVATIONS = {"linear": (None, 1.0), "relu": (F.relu, math.sqrt(2)),
               "lrelu": (lambda x: F.leaky_relu(x, 0.2), math.sqrt(2))}
"""Activation -> (function, the gain that keeps the signal's magnitude), as in the StyleGAN papers."""
MAX_RESOLUTION = 2048
MAX_LAYERS = 32
MAX_WIDTH = 8192


@dataclass
class StyleGAN2Config:
    resolution: int  # side of the square output image (img_resolution); a power of two, 4..2048
    latent_dim: int = 512  # size of z (z_dim)
    w_dim: int = 512  # size of w, the mapping's output and every layer's style input
    c_dim: int = 0  # size of the class label (0: unconditional)
    channels: int = 3  # image channels (img_channels)
    mapping_layers: int = 8  # fully connected layers from z to w
    mapping_features: int | None = None  # their width (None: w_dim)
    embed_features: int | None = None  # width of the class embedding (None: w_dim)
    mapping_activation: str = "lrelu"
    mapping_lr_multiplier: float = 0.01  # the mapping's learning-rate multiplier (scales its weights)
    channel_base: int = 32768  # a block at side R has min(channel_base // R, channel_max) channels
    channel_max: int = 512
    num_fp16_res: int = 0  # blocks at the N highest resolutions may run in half precision
    conv_clamp: float | None = None  # convolution outputs clamped to +-this (None: not clamped)
    architecture: str = "skip"  # skip, orig or resnet
    resample_filter: list[float] = field(default_factory=lambda: [1.0, 3.0, 3.0, 1.0])  # low-pass taps
    activation: str = "lrelu"  # of the synthesis convolutions
    kernel_size: int = 3  # of the synthesis convolutions
    use_noise: bool = True  # whether the convolutions have noise inputs

    def __post_init__(self) -> None:
        res = self.resolution
        if not _is_int(res) or not 4 <= res <= MAX_RESOLUTION or res & (res - 1):
            raise ValueError(f"StyleGAN2Config.resolution must be a power of two from 4 to {MAX_RESOLUTION}, "
                             f"got {res!r}")
        for name, low, high in (("latent_dim", 0, MAX_WIDTH), ("w_dim", 1, MAX_WIDTH), ("c_dim", 0, MAX_WIDTH),
                                ("channels", 1, 4), ("mapping_layers", 1, MAX_LAYERS),
                                ("channel_base", 1, 1 << 24), ("channel_max", 1, MAX_WIDTH),
                                ("num_fp16_res", 0, MAX_LAYERS), ("kernel_size", 1, 7)):
            value = getattr(self, name)
            if not _is_int(value) or not low <= value <= high:
                raise ValueError(f"StyleGAN2Config.{name} must be an integer from {low} to {high}, got {value!r}")
        if self.latent_dim == 0 and self.c_dim == 0:
            raise ValueError("StyleGAN2Config: a network with neither a latent (latent_dim) nor a class (c_dim)")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"StyleGAN2Config.kernel_size must be odd, got {self.kernel_size}")
        for name in ("mapping_features", "embed_features"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or not 1 <= value <= MAX_WIDTH):
                raise ValueError(f"StyleGAN2Config.{name} must be None or an integer from 1 to {MAX_WIDTH}, "
                                 f"got {value!r}")
        for name in ("mapping_activation", "activation"):
            if getattr(self, name) not in ACTIVATIONS:
                raise ValueError(f"StyleGAN2Config.{name} must be one of {list(ACTIVATIONS)}, got "
                                 f"{getattr(self, name)!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"StyleGAN2Config.architecture must be one of {list(ARCHITECTURES)}, got "
                             f"{self.architecture!r}")
        lr = self.mapping_lr_multiplier
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not 0 < lr <= 100:
            raise ValueError(f"StyleGAN2Config.mapping_lr_multiplier must be a number in (0, 100], got {lr!r}")
        clamp = self.conv_clamp
        if clamp is not None and (not isinstance(clamp, (int, float)) or isinstance(clamp, bool) or clamp <= 0):
            raise ValueError(f"StyleGAN2Config.conv_clamp must be None or a positive number, got {clamp!r}")
        taps = self.resample_filter
        if (not isinstance(taps, list) or not 1 <= len(taps) <= 16
                or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in taps) or sum(taps) == 0):
            raise ValueError(f"StyleGAN2Config.resample_filter must be 1 to 16 numbers with a non-zero sum, "
                             f"got {taps!r}")
        if not isinstance(self.use_noise, bool):
            raise ValueError(f"StyleGAN2Config.use_noise must be true or false, got {self.use_noise!r}")

    def widths(self) -> dict[int, int]:
        """Channels of the block at each side, 4 up to the resolution."""
        return {side: min(self.channel_base // side, self.channel_max) for side in block_sides(self.resolution)}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def block_sides(resolution: int) -> list[int]:
    return [1 << i for i in range(2, resolution.bit_length())]


def lowpass(taps: list[float]) -> Tensor:
    """The 2D resampling filter of separable taps, normalised to keep a constant signal's level."""
    t = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(t, t)
    return f / f.sum()


def filter2d(x: Tensor, f: Tensor, pad: tuple[int, int, int, int], gain: float = 1.0) -> Tensor:
    """Each channel of x [B, C, H, W] padded with zeros by (left, right, top, bottom) (negative: cropped) and
    convolved with the 2D filter f times gain."""
    channels = x.shape[1]
    kernel = (f * gain).flip([0, 1]).to(x.dtype)[None, None].expand(channels, 1, *f.shape)
    return F.conv2d(F.pad(x, pad), kernel, groups=channels)


def upsample2x(x: Tensor, f: Tensor) -> Tensor:
    """x at twice the side: zeros between the samples, then the low-pass filter (gain 4 keeps the level)."""
    b, c, h, w = x.shape
    spread = x.new_zeros(b, c, 2 * h, 2 * w)
    spread[:, :, ::2, ::2] = x
    taps = f.shape[-1]
    return filter2d(spread, f, ((taps + 1) // 2, (taps - 2) // 2, (taps + 1) // 2, (taps - 2) // 2), gain=4.0)


def activate(x: Tensor, bias: Tensor | None, activation: str, *, gain: float = 1.0,
             clamp: float | None = None) -> Tensor:
    """Add the per-channel bias, apply the activation and its gain times ``gain``, clamp to +-clamp."""
    if bias is not None:
        x = x + bias.to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
    function, default_gain = ACTIVATIONS[activation]
    if function is not None:
        x = function(x)
    gain = gain * default_gain
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class FullyConnectedLayer(nn.Module):
    """y = act(x W^T (lr / sqrt(fan-in)) + b lr): weights stored at 1/lr (equalised learning rate)."""

    def __init__(self, in_features: int, out_features: int, *, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        x = x @ (self.weight.to(x.dtype) * self.weight_gain).t()
        return activate(x, self.bias * self.bias_gain, self.activation)


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z [B, latent_dim] (and a class label c [B, c_dim]) -> w [B, w_dim]."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.latent_dim, self.c_dim, self.w_dim = config.latent_dim, config.c_dim, config.w_dim
        embed = (config.embed_features or config.w_dim) if config.c_dim else 0
        hidden = config.mapping_features or config.w_dim
        widths = [config.latent_dim + embed] + [hidden] * (config.mapping_layers - 1) + [config.w_dim]
        if config.c_dim:
            self.embed = FullyConnectedLayer(config.c_dim, embed)
        self.num_layers = config.mapping_layers
        for i in range(config.mapping_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(widths[i], widths[i + 1], activation=config.mapping_activation,
                                                        lr_multiplier=config.mapping_lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        parts = []
        if self.latent_dim:
            if z.ndim != 2 or z.shape[1] != self.latent_dim:
                raise ValueError(f"expected z of shape [B, {self.latent_dim}], got {list(z.shape)}")
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                got = None if c is None else list(c.shape)
                raise ValueError(f"a class-conditional model needs c of shape [B, {self.c_dim}], got {got}")
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x

    def truncate(self, w: Tensor, psi: float) -> Tensor:
        """w pulled towards the average w by psi (1: unchanged, 0: the average)."""
        return w if psi == 1 else self.w_avg.to(w.dtype).lerp(w, psi)


def modulated_conv(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool = True, up: bool = False,
                   padding: int = 0, resample_filter: Tensor | None = None, gain: Tensor | float = 1.0) -> Tensor:
    """x [B, I, H, W] convolved with weight [O, I, k, k] scaled by styles [B, I] per input channel (and, with
    ``demodulate``, each output channel's weights scaled to unit norm). ``up``: a transposed convolution of
    stride 2, then the low-pass filter, for [B, O, 2H, 2W].

    One image: the weights are modulated and used in one convolution. A batch: the activations are scaled
    before and after one shared convolution instead, which is the same sum and much cheaper than a grouped
    convolution per image. In half precision, weights and styles are first scaled to a maximum of 1 (the
    demodulation undoes it), so the activations cannot overflow. ``gain`` scales the result (StyleGAN3's
    input magnitude)."""
    batch, in_channels = x.shape[0], weight.shape[1]
    if styles.shape != (batch, in_channels):
        raise ValueError(f"expected styles of shape [{batch}, {in_channels}], got {list(styles.shape)}")
    weight, styles = weight.float(), styles.float()
    if x.dtype == torch.float16 and demodulate:
        weight = weight / (math.sqrt(weight[0].numel()) * weight.abs().amax(dim=(1, 2, 3), keepdim=True))
        styles = styles / styles.abs().amax(dim=1, keepdim=True)
    if demodulate:
        modulated = weight[None] * styles[:, None, :, None, None]  # [B, O, I, k, k]
        dcoefs = (modulated.square().sum(dim=(2, 3, 4)) + 1e-8).rsqrt()  # [B, O]
    if batch == 1:
        w = weight * styles[0, None, :, None, None]
        if demodulate:
            w = w * dcoefs[0, :, None, None, None]
        if not (isinstance(gain, float) and gain == 1.0):
            w = w * gain
        return _conv(x, w.to(x.dtype), up=up, padding=padding, resample_filter=resample_filter)
    x = x * styles.to(x.dtype)[:, :, None, None]
    x = _conv(x, weight.to(x.dtype), up=up, padding=padding, resample_filter=resample_filter)
    if demodulate:
        x = x * dcoefs.to(x.dtype)[:, :, None, None]
    if not (isinstance(gain, float) and gain == 1.0):
        x = x * gain.to(x.dtype) if isinstance(gain, Tensor) else x * gain
    return x


def _conv(x: Tensor, weight: Tensor, *, up: bool, padding: int, resample_filter: Tensor | None) -> Tensor:
    if not up:
        return F.conv2d(x, weight, padding=padding)
    # A transposed convolution of stride 2 puts each input sample's kernel at twice its place: [2H + k - 2];
    # the filter, padded to give 2H, smooths away the zeros between.
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    taps, k = resample_filter.shape[-1], weight.shape[-1]
    before = (taps + 1) // 2 + padding - (k - 1)
    after = (taps - 2) // 2 + padding - (k - 2)
    return filter2d(x, resample_filter, (before, after, before, after), gain=4.0)


class SynthesisLayer(nn.Module):
    """A modulated convolution (upsampling by 2 if ``up``), noise, bias, activation, clamp."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, side: int, up: bool,
                 config: StyleGAN2Config) -> None:
        super().__init__()
        self.up, self.side, self.use_noise = up, side, config.use_noise
        self.activation, self.conv_clamp = config.activation, config.conv_clamp
        self.padding = config.kernel_size // 2
        self.register_buffer("resample_filter", lowpass(config.resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        k = config.kernel_size
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, k, k))
        if config.use_noise:
            self.register_buffer("noise_const", torch.randn(side, side))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor, *, noise: Tensor | str = "const", gain: float = 1.0) -> Tensor:
        """noise: "const" (the stored noise), "none", or a tensor [B or 1, 1, side, side] of unit noise."""
        x = modulated_conv(x, self.weight, self.affine(w), up=self.up, padding=self.padding,
                           resample_filter=self.resample_filter)
        if isinstance(noise, str) and noise not in ("const", "none"):
            raise ValueError(f"noise must be 'const', 'none' or a tensor, got {noise!r}")
        if self.use_noise and not (isinstance(noise, str) and noise == "none"):
            unit = self.noise_const if isinstance(noise, str) else noise
            x = x + (unit * self.noise_strength).to(x.dtype)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return activate(x, self.bias, self.activation, gain=gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """A 1x1 modulated convolution to the image's channels, not demodulated, plus a bias."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, conv_clamp: float | None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = modulated_conv(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        return activate(x, self.bias, "linear", clamp=self.conv_clamp)


class Conv2dLayer(nn.Module):
    """The resnet shortcut: a 1x1 convolution without bias, then the filtered 2x upsampling."""

    def __init__(self, in_channels: int, out_channels: int, *, resample_filter: list[float]) -> None:
        super().__init__()
        self.register_buffer("resample_filter", lowpass(resample_filter))
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, *, gain: float) -> Tensor:
        x = F.conv2d(x, (self.weight * self.weight_gain).to(x.dtype))
        return upsample2x(x, self.resample_filter) * gain


class SynthesisBlock(nn.Module):
    """One side: the 4x4 constant (the first block) or the upsampling convolution, then a convolution, and
    the image so far upsampled plus this block's RGB."""

    def __init__(self, in_channels: int, out_channels: int, *, side: int, is_last: bool, use_fp16: bool,
                 config: StyleGAN2Config) -> None:
        super().__init__()
        self.in_channels, self.side, self.is_last, self.use_fp16 = in_channels, side, is_last, use_fp16
        self.architecture = config.architecture
        w_dim = config.w_dim
        self.register_buffer("resample_filter", lowpass(config.resample_filter))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, side, side))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, side=side, up=True, config=config)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, side=side, up=False, config=config)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1 if is_last or config.architecture == "skip" else 0
        if self.num_torgb:
            self.torgb = ToRGBLayer(out_channels, config.channels, w_dim=w_dim, conv_clamp=config.conv_clamp)
        if in_channels and config.architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, resample_filter=config.resample_filter)

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor, *, dtype: torch.dtype,
                noise: list | str = "const") -> tuple[Tensor, Tensor | None]:
        """ws [B, num_conv + num_torgb, w_dim]; noise: "const", "none" or one tensor per convolution."""
        layer_noise = noise if isinstance(noise, str) else iter(noise)
        pick = (lambda: layer_noise) if isinstance(noise, str) else (lambda: next(layer_noise))
        if self.in_channels == 0:
            x = self.const.to(dtype)[None].expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise=pick())
        else:
            x = x.to(dtype)
            if self.architecture == "resnet":
                shortcut = self.skip(x, gain=math.sqrt(0.5))
                x = self.conv0(x, ws[:, 0], noise=pick())
                x = shortcut + self.conv1(x, ws[:, 1], noise=pick(), gain=math.sqrt(0.5))
            else:
                x = self.conv0(x, ws[:, 0], noise=pick())
                x = self.conv1(x, ws[:, 1], noise=pick())
        if img is not None:
            img = upsample2x(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, ws[:, self.num_conv]).float()
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] -> images [B, channels, R, R], about [-1, 1] (not clamped)."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.w_dim, self.resolution = config.w_dim, config.resolution
        sides = block_sides(config.resolution)
        widths = config.widths()
        fp16_side = max(2 ** (config.resolution.bit_length() - config.num_fp16_res), 8)
        self.sides = sides
        self.num_ws = 0
        for side in sides:
            block = SynthesisBlock(widths[side // 2] if side > 4 else 0, widths[side], side=side,
                                   is_last=side == config.resolution, use_fp16=side >= fp16_side, config=config)
            self.num_ws += block.num_conv + (block.num_torgb if block.is_last else 0)
            setattr(self, f"b{side}", block)
        self.half: torch.dtype | None = None
        """The precision of the blocks that may run in half precision (float16, on CUDA), or None: all fp32."""

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{side}") for side in self.sides]

    def convolutions(self) -> list[SynthesisLayer]:
        """Every modulated convolution, in the order :meth:`forward` takes their noise."""
        return [layer for b in self.blocks() for layer in ((b.conv0,) if b.in_channels else ()) + (b.conv1,)]

    def noise_shapes(self) -> list[tuple[int, int]]:
        """(side, side) of each convolution's noise, in the order :meth:`forward` takes them."""
        return [(layer.side, layer.side) for layer in self.convolutions()]

    def forward(self, ws: Tensor, *, noise: list | str = "const") -> Tensor:
        """noise: "const" (the stored noise: the same image for the same ws), "none", or a list of unit-noise
        tensors, one per convolution ([B or 1, 1, side, side], see :meth:`noise_shapes`)."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"expected ws of shape [B, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if not isinstance(noise, str):
            noise = list(noise)
            if len(noise) != len(self.noise_shapes()):
                raise ValueError(f"expected {len(self.noise_shapes())} noise tensors, got {len(noise)}")
        ws = ws.float()
        x = img = None
        start, used = 0, 0
        for block in self.blocks():
            dtype = self.half if block.use_fp16 and self.half is not None else torch.float32
            block_noise = noise if isinstance(noise, str) else noise[used:used + block.num_conv]
            x, img = block(x, img, ws[:, start:start + block.num_conv + block.num_torgb], dtype=dtype,
                           noise=block_noise)
            start += block.num_conv
            used += block.num_conv
        return img


class StyleBased(nn.Module):
    """What StyleGAN2 and StyleGAN3 share: a config, a mapping z (and c) -> w, a synthesis ws -> images, and
    ``ws``: the mapping's w for every layer, truncated."""

    def __init__(self, config, synthesis: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.synthesis = synthesis
        self.num_ws = synthesis.num_ws
        self.mapping = MappingNetwork(config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def ws(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1.0) -> Tensor:
        """[B, num_ws, w_dim]: w = mapping(z, c), pulled towards w_avg by psi, for every layer."""
        w = self.mapping.truncate(self.mapping(z, c), truncation_psi)
        return w[:, None].expand(-1, self.num_ws, -1)


class StyleGAN2(StyleBased):
    """z [B, latent_dim] (and a class c [B, c_dim]) -> images [B, channels, R, R], about [-1, 1]."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__(config, SynthesisNetwork(config))

    def forward(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1.0,
                noise: list | str = "const") -> Tensor:
        return self.synthesis(self.ws(z, c, truncation_psi=truncation_psi), noise=noise)
