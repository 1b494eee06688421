"""StyleGAN3 ("Alias-Free Generative Adversarial Networks", Karras et al. 2021), written from the paper.

The mapping is StyleGAN2's (models/stylegan2.py). The synthesis treats every feature map as a band-limited
continuous signal sampled on a grid:

- input: Fourier features. `channels` sinusoids with fixed frequencies (inside a disc of radius
  `bandwidth`) and phases, sampled on a grid `size` samples wide at `sampling_rate` (the image plus a
  margin), after a rotation and translation that an affine map of the first w chooses, and after the
  user's own `transform` (a 3x3 matrix: the inverse of how the image should move; the translate and rotate
  controls set it). Frequencies the user transform pushes past the grid's Nyquist fade out. A learned
  channel mixing follows.
- `num_layers` layers (then a ToRGB layer), each a modulated convolution (demodulated, its input scaled by
  the stored input magnitude), a bias, and a *filtered* leaky ReLU: upsampled by an integer factor with a
  Kaiser-windowed low-pass (`up_filter`), the non-linearity at that higher rate, low-passed and downsampled
  to the layer's rate (`down_filter`, radially symmetric in the -R config). Cutoffs and stopbands grow
  geometrically from `first_cutoff` to half the resolution over the layers; the last `num_critical` are
  critically sampled; sampling rates, sizes, widths and paddings follow from those.

Parameter and buffer names are those of NVIDIA's StyleGAN3 state dicts (``synthesis.input.freqs``,
``synthesis.L3_52_512.up_filter``, ``...magnitude_ema``), so a network pickle's tensors load as they are;
the filters are designed here too (for a network made here) but a file's are what a loaded network uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .stylegan2 import MAX_LAYERS, MAX_RESOLUTION, MAX_WIDTH, FullyConnectedLayer, StyleBased, _is_int, \
    modulated_conv


@dataclass
class StyleGAN3Config:
    resolution: int  # side of the square output image (img_resolution)
    latent_dim: int = 512  # size of z (z_dim)
    w_dim: int = 512
    c_dim: int = 0  # size of the class label (0: unconditional)
    channels: int = 3  # image channels (img_channels)
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 32768  # a layer with cutoff f has min(channel_base / 2 / f, channel_max) channels
    channel_max: int = 512
    num_layers: int = 14  # layers between the Fourier input and ToRGB
    num_critical: int = 2  # critically sampled layers at the end
    first_cutoff: float = 2.0  # cutoff frequency of the first layer
    first_stopband: float = 2 ** 2.1  # minimum stopband of the first layer
    last_stopband_rel: float = 2 ** 0.3  # minimum stopband of the last layer, relative to its cutoff
    margin_size: int = 10  # samples outside the image on each side
    output_scale: float = 0.25  # the last layer's output times this is the image
    num_fp16_res: int = 4  # layers at the N highest sampling rates may run in half precision
    conv_kernel: int = 3  # 1 in the -R config
    filter_size: int = 6  # low-pass taps per factor of up/downsampling
    lrelu_upsampling: int = 2  # how much faster than the layer's rate the non-linearity runs
    use_radial_filters: bool = False  # radially symmetric downsampling filters (the -R config)
    conv_clamp: float | None = 256  # outputs clamped to +-this (None: not clamped)

    def __post_init__(self) -> None:
        res = self.resolution
        if not _is_int(res) or not 4 <= res <= MAX_RESOLUTION:
            raise ValueError(f"StyleGAN3Config.resolution must be an integer from 4 to {MAX_RESOLUTION}, got {res!r}")
        for name, low, high in (("latent_dim", 0, MAX_WIDTH), ("w_dim", 1, MAX_WIDTH), ("c_dim", 0, MAX_WIDTH),
                                ("channels", 1, 4), ("mapping_layers", 1, MAX_LAYERS), ("channel_base", 1, 1 << 24),
                                ("channel_max", 1, MAX_WIDTH), ("num_layers", 1, MAX_LAYERS),
                                ("num_critical", 0, MAX_LAYERS), ("margin_size", 0, 256),
                                ("num_fp16_res", 0, MAX_LAYERS), ("conv_kernel", 1, 7), ("filter_size", 1, 32),
                                ("lrelu_upsampling", 1, 8)):
            value = getattr(self, name)
            if not _is_int(value) or not low <= value <= high:
                raise ValueError(f"StyleGAN3Config.{name} must be an integer from {low} to {high}, got {value!r}")
        if self.latent_dim == 0 and self.c_dim == 0:
            raise ValueError("StyleGAN3Config: a network with neither a latent (latent_dim) nor a class (c_dim)")
        if self.num_critical >= self.num_layers:
            raise ValueError(f"StyleGAN3Config.num_critical ({self.num_critical}) must be below num_layers "
                             f"({self.num_layers})")
        for name in ("mapping_lr_multiplier", "first_cutoff", "first_stopband", "last_stopband_rel", "output_scale"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1e4:
                raise ValueError(f"StyleGAN3Config.{name} must be a positive number, got {value!r}")
        if self.first_cutoff >= res / 2:
            raise ValueError(f"StyleGAN3Config.first_cutoff ({self.first_cutoff}) must be below half the "
                             f"resolution ({res / 2})")
        clamp = self.conv_clamp
        if clamp is not None and (not isinstance(clamp, (int, float)) or isinstance(clamp, bool) or clamp <= 0):
            raise ValueError(f"StyleGAN3Config.conv_clamp must be None or a positive number, got {clamp!r}")
        if not isinstance(self.use_radial_filters, bool):
            raise ValueError(f"StyleGAN3Config.use_radial_filters must be true or false, got "
                             f"{self.use_radial_filters!r}")
        schedule(self)  # sampling rates must come out as integer multiples of each other

    # StyleGAN2's mapping reads these names
    mapping_features = None
    embed_features = None
    mapping_activation = "lrelu"


@dataclass(frozen=True)
class LayerPlan:
    """One synthesis layer's signal: what comes in, what goes out."""

    name: str
    is_torgb: bool
    critical: bool
    use_fp16: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_rate: int
    out_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float


def schedule(config: StyleGAN3Config) -> tuple[dict, list[LayerPlan]]:
    """The input's (channels, size, sampling rate, bandwidth) and every layer's plan: cutoffs and stopbands
    in a geometric progression from the first layer's to the last's (half the resolution, and that times
    `last_stopband_rel`), constant over the critically sampled layers; each layer's sampling rate the power
    of two at or above twice its stopband (at most the resolution), its transition band what lies between
    cutoff and max(stopband, rate / 2); its size the rate plus the margins (the last two: the image)."""
    n, res = config.num_layers, config.resolution
    last_cutoff = res / 2
    last_stopband = last_cutoff * config.last_stopband_rel
    cutoffs, stopbands, rates, half_widths, sizes, widths = [], [], [], [], [], []
    for i in range(n + 1):
        e = min(i / (n - config.num_critical), 1.0)
        cutoff = config.first_cutoff * (last_cutoff / config.first_cutoff) ** e
        stopband = config.first_stopband * (last_stopband / config.first_stopband) ** e
        rate = 2.0 ** math.ceil(math.log2(min(stopband * 2, res)))
        cutoffs.append(cutoff)
        stopbands.append(stopband)
        rates.append(rate)
        half_widths.append(max(stopband, rate / 2) - cutoff)
        sizes.append(rate + config.margin_size * 2)
        widths.append(round(min(config.channel_base / 2 / cutoff, config.channel_max)))
    sizes[-2:] = [res, res]
    widths[-1] = config.channels
    plans = []
    for i in range(n + 1):
        prev = max(i - 1, 0)
        plan = LayerPlan(
            name=f"L{i}_{int(sizes[i])}_{int(widths[i])}", is_torgb=i == n, critical=i >= n - config.num_critical,
            use_fp16=rates[i] * 2 ** config.num_fp16_res > res, in_channels=int(widths[prev]),
            out_channels=int(widths[i]), in_size=int(sizes[prev]), out_size=int(sizes[i]),
            in_rate=int(rates[prev]), out_rate=int(rates[i]), in_cutoff=cutoffs[prev], out_cutoff=cutoffs[i],
            in_half_width=half_widths[prev], out_half_width=half_widths[i])
        plans.append(plan)
    first = dict(channels=int(widths[0]), size=int(sizes[0]), sampling_rate=float(rates[0]), bandwidth=cutoffs[0])
    return first, plans


def kaiser_lowpass(taps: int, cutoff: float, width: float, rate: float, *, radial: bool = False) -> Tensor | None:
    """A windowed-sinc low-pass of `taps` taps (None for one tap: no filter) passing up to `cutoff` with a
    transition band `width` wide, at sampling rate `rate`; the Kaiser window's beta from the attenuation that
    many taps reach over that band (Kaiser's formulas). Separable (1D) or radially symmetric (2D, a jinc)."""
    if taps == 1:
        return None
    nyquist = rate / 2
    attenuation = 2.285 * (taps - 1) * math.pi * (width / nyquist) + 7.95
    if attenuation > 50:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation > 21:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    else:
        beta = 0.0
    window = torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float64)
    t = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    if not radial:
        h = (cutoff / nyquist) * torch.sinc((cutoff / nyquist) * t) * window
        return (h / h.sum()).float()
    r = torch.hypot(*torch.meshgrid(t / rate, t / rate, indexing="xy"))
    safe = torch.where(r == 0, torch.ones_like(r), r)
    jinc = torch.where(r == 0, torch.full_like(r, cutoff), torch.special.bessel_j1(2 * cutoff * math.pi * safe)
                       / (math.pi * safe))
    f = jinc * torch.outer(window, window)
    return (f / f.sum()).float()


def image_transform(translate: tuple[float, float] = (0.0, 0.0), degrees: float = 0.0) -> Tensor:
    """The input's user transform that moves the image by ``translate`` (in image widths, x right, y down) and
    turns it by ``degrees`` (anticlockwise): the inverse of that motion, as the input layer expects."""
    angle = math.radians(degrees)
    c, s = math.cos(angle), math.sin(angle)
    motion = torch.tensor([[c, s, translate[0]], [-s, c, translate[1]], [0.0, 0.0, 1.0]])
    return torch.linalg.inv(motion).contiguous()  # (LAPACK's inverse comes column-major)


def upfirdn(x: Tensor, f: Tensor | None, *, up: int = 1, down: int = 1, pad: tuple[int, int, int, int] = (0, 0, 0, 0),
            gain: float = 1.0) -> Tensor:
    """Upsample by `up` (zeros after each sample), pad by (left, right, top, bottom) (negative: crop), convolve
    each channel with f (1D: along both axes; 2D; None: no filter) times gain, keep every `down`-th sample."""
    b, c, h, w = x.shape
    if up > 1:
        spread = x.new_zeros(b, c, h * up, w * up)
        spread[:, :, ::up, ::up] = x
        x = spread
    x = F.pad(x, pad)
    if f is not None:
        f = f.flip(list(range(f.ndim))).to(x.dtype)
        if f.ndim == 1:
            g = gain ** 0.5
            x = F.conv2d(x, (f * g)[None, None, None].expand(c, 1, 1, -1), groups=c)
            x = F.conv2d(x, (f * g)[None, None, :, None].expand(c, 1, -1, 1), groups=c)
        else:
            x = F.conv2d(x, (f * gain)[None, None].expand(c, 1, -1, -1), groups=c)
    elif gain != 1:
        x = x * gain
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


class SynthesisInput(nn.Module):
    """w [B, w_dim] -> Fourier features [B, channels, size, size]."""

    def __init__(self, *, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.channels, self.size, self.sampling_rate, self.bandwidth = channels, size, sampling_rate, bandwidth
        freqs = torch.randn(channels, 2)  # uniform in a disc of radius `bandwidth`
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))
        """The user's transform: the inverse of the image's rotation and translation (see sg3_transform)."""
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: Tensor, transform: Tensor | None = None) -> Tensor:
        """``transform``: a 3x3 user transform to use instead of the stored one (see ``image_transform``)."""
        batch = w.shape[0]
        t = self.affine(w)  # (cos, sin, tx, ty) of the learned rotation and translation
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rotate = torch.eye(3, device=w.device).repeat(batch, 1, 1)
        rotate[:, 0, 0], rotate[:, 0, 1], rotate[:, 1, 0], rotate[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        shift = torch.eye(3, device=w.device).repeat(batch, 1, 1)
        shift[:, 0, 2], shift[:, 1, 2] = -t[:, 2], -t[:, 3]
        user = self.transform if transform is None else transform.to(w.device)
        transforms = rotate @ shift @ user[None].float()
        phases = self.phases[None] + (self.freqs[None] @ transforms[:, :2, 2:]).squeeze(2)  # [B, C]
        freqs = self.freqs[None] @ transforms[:, :2, :2]  # [B, C, 2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        # sample positions (x, y) at the centres of a size x size grid, in units of the sampling period
        axis = (torch.arange(self.size, device=w.device, dtype=torch.float32) + 0.5 - self.size / 2) / self.sampling_rate
        grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1)  # [H, W, 2]
        x = torch.einsum("hwk,bck->bhwc", grid, freqs) + phases[:, None, None]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated convolution, bias, filtered leaky ReLU (up, act, low-pass, down), clamp."""

    def __init__(self, plan: LayerPlan, *, w_dim: int, config: StyleGAN3Config) -> None:
        super().__init__()
        self.plan = plan
        self.is_torgb, self.use_fp16 = plan.is_torgb, plan.use_fp16
        self.kernel = 1 if plan.is_torgb else config.conv_kernel
        self.conv_clamp = config.conv_clamp
        self.affine = FullyConnectedLayer(w_dim, plan.in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(plan.out_channels, plan.in_channels, self.kernel, self.kernel))
        self.bias = nn.Parameter(torch.zeros(plan.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        tmp_rate = max(plan.in_rate, plan.out_rate) * (1 if plan.is_torgb else config.lrelu_upsampling)
        self.up_factor = round(tmp_rate / plan.in_rate)
        self.down_factor = round(tmp_rate / plan.out_rate)
        up_taps = config.filter_size * self.up_factor if self.up_factor > 1 and not plan.is_torgb else 1
        down_taps = config.filter_size * self.down_factor if self.down_factor > 1 and not plan.is_torgb else 1
        self.register_buffer("up_filter", kaiser_lowpass(up_taps, plan.in_cutoff, plan.in_half_width * 2, tmp_rate))
        self.register_buffer("down_filter", kaiser_lowpass(
            down_taps, plan.out_cutoff, plan.out_half_width * 2, tmp_rate,
            radial=config.use_radial_filters and not plan.critical))
        # the padding that makes the output `out_size` after upsampling, filtering and downsampling, with the
        # samples placed symmetrically
        total = ((plan.out_size - 1) * self.down_factor + 1 - (plan.in_size + self.kernel - 1) * self.up_factor
                 + up_taps + down_taps - 2)
        low = (total + self.up_factor) // 2
        self.padding = (low, total - low, low, total - low)

    def forward(self, x: Tensor, w: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.plan.in_channels * self.kernel ** 2)
        x = modulated_conv(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb, padding=self.kernel - 1,
                           gain=self.magnitude_ema.rsqrt())
        x = x + self.bias.to(x.dtype)[None, :, None, None]
        x = upfirdn(x, self.up_filter, up=self.up_factor, pad=self.padding, gain=self.up_factor ** 2)
        if not self.is_torgb:
            x = F.leaky_relu(x, 0.2) * math.sqrt(2)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return upfirdn(x, self.down_filter, down=self.down_factor)


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] -> images [B, channels, R, R], about [-1, 1] (not clamped)."""

    def __init__(self, config: StyleGAN3Config) -> None:
        super().__init__()
        self.w_dim, self.resolution, self.output_scale = config.w_dim, config.resolution, config.output_scale
        first, plans = schedule(config)
        self.input = SynthesisInput(w_dim=config.w_dim, **first)
        self.layer_names = [plan.name for plan in plans]
        for plan in plans:
            setattr(self, plan.name, SynthesisLayer(plan, w_dim=config.w_dim, config=config))
        self.num_ws = len(plans) + 1
        self.half: torch.dtype | None = None
        """The precision of the layers that may run in half precision (float16, on CUDA), or None: all fp32."""

    def forward(self, ws: Tensor, *, transform: Tensor | None = None) -> Tensor:
        """``transform``: the input's user transform for this call (None: the stored one)."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"expected ws of shape [B, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        ws = ws.float()
        x = self.input(ws[:, 0], transform)
        for i, name in enumerate(self.layer_names):
            layer = getattr(self, name)
            x = layer(x, ws[:, i + 1], dtype=self.half if layer.use_fp16 and self.half is not None else torch.float32)
        return x.float() * self.output_scale


class StyleGAN3(StyleBased):
    """z [B, latent_dim] (and a class c [B, c_dim]) -> images [B, channels, R, R], about [-1, 1]."""

    def __init__(self, config: StyleGAN3Config) -> None:
        super().__init__(config, SynthesisNetwork(config))

    def forward(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1.0) -> Tensor:
        return self.synthesis(self.ws(z, c, truncation_psi=truncation_psi))
