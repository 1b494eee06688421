"""Other tools' PyTorch checkpoints, read as data: rosinality/stylegan2-pytorch's StyleGAN2 and the PyTorch
DCGAN tutorial's generator, turned into LatentVJ models.

Both are ``torch.save`` files, read with ``torch.load(..., weights_only=True, map_location="cpu")``: tensors,
dicts, lists and numbers only, plus ``argparse.Namespace`` (rosinality's training checkpoints keep their
command line as one), allowed as data: its fields are set, nothing of it is called. Anything else in the
file is refused by torch's own restricted unpickler, and the message says so.

- **rosinality**: ``g_ema`` (else ``g``) with keys ``style.N``, ``input.input``, ``conv1``, ``to_rgb1``,
  ``convs.N``, ``to_rgbs.N``, ``noises.noise_N``, and ``latent_avg`` when the checkpoint was converted from
  NVIDIA's (a training checkpoint has none: the average w of 10,000 seeded z is taken). The architecture
  is read from the shapes; the network is StyleGAN2's (models/stylegan2.py) with the names renamed.
- **DCGAN**: the tutorial's ``nn.Sequential`` under ``main.N`` (transposed convolution, batch norm, ReLU
  ... transposed convolution, tanh), bare or inside ``netG_state_dict``, ``generator``, ``state_dict`` or
  ``g_ema``: latent size, widths, channels and resolution from the shapes, into models/gan.py's Generator,
  which is that network.
"""

from __future__ import annotations

import argparse
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .checkpoint import CheckpointError, LoadedModel
from .foreign import file_digest, fitted_state
from .gan import GANConfig, Generator
from .stylegan2 import StyleGAN2, StyleGAN2Config, lowpass

WRAPPERS = ("g_ema", "netG_state_dict", "generator", "state_dict", "g")
"""Where checkpoints keep the generator's state dict, in the order looked at."""
MEAN_SAMPLES = 10_000
"""z averaged through the mapping for w_avg when a rosinality checkpoint has no latent_avg."""


def import_torch_checkpoint(path: str | Path) -> LoadedModel:
    """A rosinality StyleGAN2 or DCGAN checkpoint as a LatentVJ model, in memory; CheckpointError naming the
    file and what is wrong (what it holds when it is neither)."""
    path = Path(path)
    data = _load(path)
    state, where = _generator_state(path, data)
    if "style.1.weight" in state and "input.input" in state:
        return _rosinality(path, data, state, where)
    if "main.0.weight" in state:
        return _dcgan(path, state, where)
    raise CheckpointError(f"{path}: a PyTorch checkpoint, but not one LatentVJ reads: its state dict "
                          f"({_short_keys(state)}) is neither rosinality's StyleGAN2 (style.N, input.input, "
                          f"convs.N) nor the DCGAN tutorial's generator (main.N)")


def _load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        first = next((line for line in str(exc).splitlines() if "GLOBAL" in line or "Unsupported" in line), "")
        raise CheckpointError(f"{path}: holds more than tensors and plain data, refused (nothing of it was "
                              f"run){': ' + first.strip() if first else ''}") from None
    except (RuntimeError, ValueError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint: {exc}") from None


def _generator_state(path: Path, data: Any) -> tuple[dict[str, Tensor], str]:
    if isinstance(data, dict) and data and all(isinstance(v, Tensor) for v in data.values()):
        return data, "the file"
    if isinstance(data, dict):
        for key in WRAPPERS:
            inner = data.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, Tensor) for v in inner.values()):
                return inner, key
    what = f"a dict of {sorted(map(str, data))[:8]}" if isinstance(data, dict) else f"a {type(data).__name__}"
    raise CheckpointError(f"{path}: a PyTorch checkpoint without a generator's state dict (it holds {what}; "
                          f"looked for a state dict, or one under {', '.join(WRAPPERS)})")


def _short_keys(state: dict) -> str:
    keys = sorted(state)
    return ", ".join(keys[:4]) + (f", ... ({len(keys)} keys)" if len(keys) > 4 else "")


def _card(path: Path, kind: str, config: Any, source: dict, description: str) -> dict:
    return {"name": path.stem, "kind": kind, "resolution": config.resolution, "latent_dim": config.latent_dim,
            "id": file_digest(path)[:16], "data": "unknown", "licence": "unknown", "description": description,
            "source": source, "random_init": False}


# ---- rosinality/stylegan2-pytorch ---------------------------------------------------------------------------

def _rosinality(path: Path, data: dict, state: dict[str, Tensor], where: str) -> LoadedModel:
    n_mlp = len([k for k in state if re.fullmatch(r"style\.\d+\.weight", k)])
    style_dim = state["style.1.weight"].shape[1]
    blocks = len([k for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    resolution = 4 << blocks
    widths = {4: int(state["input.input"].shape[1])}
    for j in range(blocks):
        widths[8 << j] = int(state[f"convs.{2 * j}.conv.weight"].shape[1])
    channels = int(state["to_rgb1.conv.weight"].shape[1])
    channel_max = widths[4]
    channel_base = widths[resolution] * resolution
    try:
        config = StyleGAN2Config(resolution=resolution, latent_dim=style_dim, w_dim=style_dim, channels=channels,
                                 mapping_layers=n_mlp, channel_base=channel_base, channel_max=channel_max)
    except ValueError as exc:
        raise CheckpointError(f"{path}: a rosinality StyleGAN2 LatentVJ cannot play: {exc}") from None
    if config.widths() != widths:
        raise CheckpointError(f"{path}: a rosinality StyleGAN2 with channel widths {widths}, which LatentVJ's "
                              f"StyleGAN2 (min(base / side, max) channels) cannot make")
    with torch.device("meta"):
        network = StyleGAN2(config)
    renamed = _from_rosinality(state, blocks)
    latent_avg = data.get("latent_avg") if isinstance(data, dict) else None
    averaged = not isinstance(latent_avg, Tensor)
    if not averaged:
        renamed["mapping.w_avg"] = latent_avg.reshape(-1)
    else:
        renamed["mapping.w_avg"] = torch.zeros(style_dim)
    blur = lowpass(config.resample_filter)  # rosinality's blur kernels are this filter (times 4 where it upsamples)
    renamed |= {k: blur.clone() for k in network.state_dict() if k.endswith("resample_filter")}
    network.load_state_dict(fitted_state(path, network, renamed), strict=True, assign=True)
    network.eval().requires_grad_(False)
    if averaged:
        with torch.inference_mode():
            z = torch.randn(MEAN_SAMPLES, style_dim, generator=torch.Generator().manual_seed(0))
            network.mapping.w_avg.copy_(network.mapping(z).mean(dim=0))
    args = data.get("args") if isinstance(data, dict) else None
    source = {"format": "rosinality/stylegan2-pytorch checkpoint", "file": path.name, "network": where,
              "latent_avg": "from the file" if not averaged else f"the mean w of {MEAN_SAMPLES:,} seeded z",
              "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
              if isinstance(args, argparse.Namespace) else None}
    metadata = _card(path, "stylegan2", config, source, "rosinality/stylegan2-pytorch StyleGAN2, imported by LatentVJ")
    return LoadedModel(kind="stylegan2", config=config, network=network, metadata=metadata, path=path)


def _from_rosinality(state: dict[str, Tensor], blocks: int) -> dict[str, Tensor]:
    """rosinality's names and shapes -> NVIDIA's (ours). Blur kernels are dropped: the architecture fixes them."""
    out: dict[str, Tensor] = {}

    def conv(src: str, dst: str, noise: str | None) -> None:
        out[f"{dst}.weight"] = _take(state, f"{src}.conv.weight")[0]
        out[f"{dst}.affine.weight"] = _take(state, f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = _take(state, f"{src}.conv.modulation.bias")
        out[f"{dst}.noise_strength"] = _take(state, f"{src}.noise.weight").reshape(())
        out[f"{dst}.bias"] = _take(state, f"{src}.activate.bias")
        out[f"{dst}.noise_const"] = _take(state, f"noises.{noise}").reshape(_take(state, f"noises.{noise}").shape[-2:])

    def rgb(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = _take(state, f"{src}.conv.weight")[0]
        out[f"{dst}.affine.weight"] = _take(state, f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = _take(state, f"{src}.conv.modulation.bias")
        out[f"{dst}.bias"] = _take(state, f"{src}.bias").reshape(-1)

    i = 0
    while f"style.{i + 1}.weight" in state:
        out[f"mapping.fc{i}.weight"] = state[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = _take(state, f"style.{i + 1}.bias")
        i += 1
    out["synthesis.b4.const"] = _take(state, "input.input")[0]
    conv("conv1", "synthesis.b4.conv1", "noise_0")
    rgb("to_rgb1", "synthesis.b4.torgb")
    for j in range(blocks):
        side = 8 << j
        conv(f"convs.{2 * j}", f"synthesis.b{side}.conv0", f"noise_{2 * j + 1}")
        conv(f"convs.{2 * j + 1}", f"synthesis.b{side}.conv1", f"noise_{2 * j + 2}")
        rgb(f"to_rgbs.{j}", f"synthesis.b{side}.torgb")
    return out


def _take(state: dict[str, Tensor], key: str) -> Tensor:
    try:
        return state[key]
    except KeyError:
        raise CheckpointError(f"not a whole rosinality StyleGAN2: no {key}") from None


# ---- the PyTorch DCGAN tutorial ---------------------------------------------------------------------------

def _dcgan(path: Path, state: dict[str, Tensor], where: str) -> LoadedModel:
    convs = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"main\.(\d+)\.weight", k))
                   and state[k].ndim == 4)
    if len(convs) < 2 or convs != [3 * i for i in range(len(convs))]:
        raise CheckpointError(f"{path}: a main.N state dict, but not the DCGAN tutorial's generator (transposed "
                              f"convolutions at main.0, main.3, main.6...; found them at {convs})")
    first, last = state["main.0.weight"], state[f"main.{convs[-1]}.weight"]
    latent, channels = int(first.shape[0]), int(last.shape[1])
    ngf = int(last.shape[0])
    resolution = 4 << (len(convs) - 1)
    try:
        config = GANConfig(resolution=resolution, latent_dim=latent, ngf=ngf, ndf=ngf, channels=channels)
    except ValueError as exc:
        raise CheckpointError(f"{path}: a DCGAN generator LatentVJ cannot play: {exc}") from None
    renamed: dict[str, Tensor] = {}
    for k, v in state.items():
        m = re.fullmatch(r"main\.(\d+)\.(.+)", k)
        if m is None:
            renamed[k] = v
            continue
        index, name = int(m.group(1)), m.group(2)
        layer, part = divmod(index, 3)  # (transposed conv, batch norm, ReLU) per layer
        if layer == 0:
            target = f"stem.{part}"
        elif index == convs[-1]:
            target = "to_image"
        else:
            target = f"blocks.{layer - 1}.{('conv', 'norm')[part]}" if part < 2 else f"main.{index}"
        renamed[f"{target}.{name}"] = v
    with torch.device("meta"):
        network = Generator(config)
    network.load_state_dict(fitted_state(path, network, renamed), strict=True, assign=True)
    network.eval().requires_grad_(False)
    source = {"format": "PyTorch DCGAN tutorial generator", "file": path.name, "network": where}
    metadata = _card(path, "gan", config, source, "a DCGAN generator (PyTorch tutorial layout), imported by LatentVJ")
    return LoadedModel(kind="gan", config=config, network=network, metadata=metadata, path=path)
