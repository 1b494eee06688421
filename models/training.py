"""What the trainers share: the resumable training state (written atomically, read back as data only) and
the pictures of progress (sample grids, interpolation strips)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .walks import seed_latent, slerp

STATE_VERSION = 1



def state_path(out: Path) -> Path:
    """The resumable training state next to a model file: NAME.train.pt."""
    return out.with_name(out.name.removesuffix(".safetensors") + ".train.pt")


def save_state(path: Path, state: dict) -> None:
    """Write a training state atomically (temporary file, then rename): a crash never leaves half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_state(path: Path, identity: dict) -> dict:
    """Read a training state as data (weights_only) and check it was made with the same settings."""
    if not path.is_file():
        raise ValueError(f"nothing to resume: no training state at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only
    except Exception as exc:
        raise ValueError(f"{path} is not a readable training state ({exc})") from None
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{path} was written by another LatentVJ version (state version {state.get('version')})")
    if state["config"] != identity:
        diff = {k: (v, identity.get(k)) for k, v in state["config"].items() if identity.get(k) != v}
        raise ValueError(f"{path} was trained with other settings (saved, now): {diff}; "
                         "resume with the same settings, or train anew under another name")
    return state


# ---- pictures of progress -----------------------------------------------------------------------------

def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def grid(images: torch.Tensor, columns: int) -> Image.Image:
    """Images [N, 3, R, R] in [-1, 1] side by side, ``columns`` per row."""
    pixels = _to_uint8(images)
    n, r = pixels.shape[0], pixels.shape[1]
    rows = -(-n // columns)
    sheet = np.zeros((rows * r, columns * r, 3), np.uint8)
    for i, image in enumerate(pixels):
        sheet[(i // columns) * r:(i // columns + 1) * r, (i % columns) * r:(i % columns + 1) * r] = image
    return Image.fromarray(sheet)


@torch.no_grad()
def write_samples(network: torch.nn.Module, out: Path, *, seed: int = 0, decode=None) -> tuple[Path, Path]:
    """NAME.samples.png (8x8 grid of fixed latents) and NAME.interp.png (a slerp between two of them)."""
    decode = decode or network
    device = next(network.parameters()).device
    dim = network.config.latent_dim
    was_training = network.training
    network.eval()
    z = torch.from_numpy(np.stack([seed_latent(seed * 1000 + i, dim) for i in range(64)])).to(device)
    a, b = seed_latent(seed * 1000 + 100, dim), seed_latent(seed * 1000 + 101, dim)
    path_z = torch.from_numpy(np.stack([slerp(a, b, t) for t in np.linspace(0, 1, 10)]).astype(np.float32))
    stem = out.name.removesuffix(".safetensors")
    samples, interp = out.with_name(f"{stem}.samples.png"), out.with_name(f"{stem}.interp.png")
    grid(decode(z).cpu(), 8).save(samples)
    grid(decode(path_z.to(device)).cpu(), 10).save(interp)
    network.train(was_training)
    return samples, interp
