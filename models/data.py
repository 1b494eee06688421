"""Folders of images for training: found recursively, read by content, cropped and resized once.

Any file Pillow can read counts, whatever its name; anything else is skipped with the reason (corrupt,
truncated, not an image), never a crash. Each image is centre-cropped to a square, resized to the training
size and kept in memory as uint8; transparency is composited onto a background colour. Loading is
deterministic (sorted paths); the randomness of training (which images, flips) is the trainer's.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

Image.MAX_IMAGE_PIXELS = 64_000_000  # a bigger "image" is treated as a decompression bomb and skipped


class DataError(ValueError):
    """The data cannot be trained on: the message says where and why."""


@dataclass
class ImageSet:
    images: torch.Tensor
    """uint8 [N, 3, size, size], RGB."""
    paths: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    """Files that could not be read, and why."""

    def batch(self, index: torch.Tensor, *, flip: torch.Tensor | None = None) -> torch.Tensor:
        """The images at ``index`` as float [-1, 1] [B, 3, S, S]; ``flip`` (bool [B]) mirrors those
        left-right."""
        x = self.images[index].float().div_(127.5).sub_(1.0)
        if flip is not None and flip.any():
            x[flip] = x[flip].flip(-1)
        return x


def prepare_image(image: Image.Image, size: int, background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """One PIL image -> uint8 [size, size, 3]: transparency onto ``background``, centre crop, resize."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        image = Image.alpha_composite(canvas, rgba)
    image = image.convert("RGB")
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.LANCZOS, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8)


def _read(path: Path, size: int, background: tuple[int, int, int]) -> np.ndarray | str:
    try:
        with Image.open(path) as image:
            image.load()
            return prepare_image(image, size, background)
    except (UnidentifiedImageError, Image.DecompressionBombError):
        return "not an image Pillow can read"
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # truncated, corrupt, unsupported mode
        return f"unreadable ({type(exc).__name__}: {exc})"


def _files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / f for f in files if not f.startswith(".")]
    return sorted(found)


def load_images(
    root: str | os.PathLike,
    *,
    size: int,
    min_images: int = 16,
    background: tuple[int, int, int] = (0, 0, 0),
    limit: int | None = None,
) -> ImageSet:
    """All readable images under ``root`` (recursively), at ``size`` x ``size``.

    min_images: fewer readable images than this is a DataError (a GAN needs some hundreds to do well).
    background: colour behind transparent pixels.
    limit: keep only the first ``limit`` files (sorted), for quick trials.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"no folder of images at {root}")
    if not (8 <= size <= 1024):
        raise DataError(f"size must be 8..1024 pixels, got {size}")
    files = _files(root)[:limit] if limit else _files(root)
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        results = list(pool.map(lambda p: _read(p, size, background), files))
    paths = [p for p, r in zip(files, results) if not isinstance(r, str)]
    skipped = [(p, r) for p, r in zip(files, results) if isinstance(r, str)]
    if len(paths) < min_images:
        raise DataError(f"{root} has {len(paths)} readable images ({len(skipped)} other files skipped); "
                        f"training needs at least {min_images}")
    pixels = np.stack([r for r in results if not isinstance(r, str)])
    return ImageSet(torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(), paths, skipped)
