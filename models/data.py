"""Folders of images for training: found recursively, read by content, cropped and resized once.

Any file Pillow can read counts, whatever its name; anything else is skipped with the reason (corrupt,
truncated, not an image), never a crash. Hidden files and folders (names starting with ".") are left out.
Each image is turned upright (EXIF orientation), composited onto a background colour where it is
transparent, centre-cropped to a square, resized to the training size with Lanczos, and kept in memory
as uint8. Loading is deterministic (sorted paths); the randomness of training (which images, which are
flipped) is the trainer's, through ``ImageSet.batch(index, flip=...)``.
"""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIZE, MAX_SIZE = 8, 1024

# What a damaged or hostile file can make Pillow raise while opening or decoding it. Each such file is
# skipped with the reason; anything else (a bug here) still surfaces.
_UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError, ZeroDivisionError)

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class DataError(ValueError):
    """The data cannot be trained on: the message says where and why."""


@dataclass
class ImageSet:
    images: torch.Tensor
    """uint8 [N, 3, size, size], RGB, in the order of ``paths``."""
    paths: list[Path] = field(default_factory=list)
    """The file each image came from (sorted)."""
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    """Files that could not be read, and why."""

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def size(self) -> int:
        """Side of the square images, in pixels."""
        return self.images.shape[-1]

    def batch(self, index: torch.Tensor, *, flip: torch.Tensor | None = None) -> torch.Tensor:
        """The images at ``index`` (integer [B]) as float32 [B, 3, S, S] in [-1, 1], on the CPU.

        flip: bool [B]; the images flagged True are mirrored left-right (the trainer draws it from its
        own seeded generator, so a run is repeatable).
        """
        if index.dim() != 1 or index.dtype.is_floating_point or index.dtype == torch.bool:
            raise ValueError(f"index must be a 1-D integer tensor, got {index.dtype} {tuple(index.shape)}")
        x = self.images[index].float().div_(127.5).sub_(1.0)
        if flip is not None:
            if flip.dtype != torch.bool or flip.shape != index.shape:
                raise ValueError(f"flip must be bool {tuple(index.shape)} like index, "
                                 f"got {flip.dtype} {tuple(flip.shape)}")
            flip = flip.to(x.device)
            if flip.any():
                x[flip] = x[flip].flip(-1)
        return x


def prepare_image(image: Image.Image, size: int, background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """One loaded PIL image -> uint8 [size, size, 3] RGB: upright, transparency onto ``background``,
    centre crop to the short side, Lanczos resize."""
    image = ImageOps.exif_transpose(image)
    image = _to_rgb(image, background)
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != size:
        # reducing_gap: big downscales first shrink by an integer factor (box filter), then Lanczos.
        image = image.resize((size, size), Image.LANCZOS, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8)


def _to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    if image.mode.startswith("I") or image.mode == "F":
        # 16-bit / 32-bit / float greys: Pillow's own conversion clips them to 255, so scale to 0..255.
        grey = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            grey = grey / 257.0
        elif image.mode == "F" and grey.size and np.nanmax(grey) <= 1.0:
            grey = grey * 255.0
        elif image.mode == "I" and grey.size and grey.max() > 255:
            grey = grey / 257.0
        image = Image.fromarray(np.nan_to_num(grey).clip(0, 255).round().astype(np.uint8), "L")
    if image.mode == "La":
        image = image.convert("LA")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        image = Image.alpha_composite(canvas, rgba)
    return image.convert("RGB")


def _read(path: Path, size: int, background: tuple[int, int, int]) -> np.ndarray | str:
    """The prepared pixels of ``path``, or why it could not be read."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (2 * size, 2 * size))  # JPEG: decode at a reduced scale, still >= 2x size
            image.load()
            return prepare_image(image, size, background)
    except UnidentifiedImageError:
        return "not an image Pillow can read"
    except Image.DecompressionBombError as exc:
        return f"too large ({exc})"
    except _UNREADABLE as exc:  # truncated, corrupt, unsupported mode, unreadable file
        return f"unreadable ({type(exc).__name__}: {exc})"


def _files(folder: Path) -> list[Path]:
    """Regular files under ``folder`` (following file links, not folder links), hidden ones left out."""
    found: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                found += _files(Path(entry.path))
            elif entry.is_file():
                found.append(Path(entry.path))
    return found


def load_images(
    root: str | os.PathLike,
    *,
    size: int,
    min_images: int = 16,
    background: tuple[int, int, int] = (0, 0, 0),
    limit: int | None = None,
) -> ImageSet:
    """All readable images under ``root`` (recursively, sorted by path), at ``size`` x ``size``.

    size: side of the square training images, 8..1024 pixels.
    min_images: fewer readable images than this is a DataError (a GAN needs some hundreds to do well).
    background: RGB colour 0..255 behind transparent pixels.
    limit: stop after the first ``limit`` readable images (in sorted order), for quick trials.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"no folder of images at {root}" + (" (it is a file)" if root.exists() else ""))
    if not (MIN_SIZE <= size <= MAX_SIZE):
        raise DataError(f"size must be {MIN_SIZE}..{MAX_SIZE} pixels, got {size}")
    if min_images < 1:
        raise DataError(f"min_images must be at least 1, got {min_images}")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be at least 1 (or None for all), got {limit}")
    if len(background) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in background):
        raise DataError(f"background must be three integers 0..255, got {background!r}")
    background = tuple(background)

    files = sorted(_files(root))
    wanted = len(files) if limit is None else min(limit, len(files))
    images = torch.empty((wanted, 3, size, size), dtype=torch.uint8)
    paths: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    start = 0
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        # Pillow decodes and resizes without the GIL, so threads share the work; chunks keep `limit` exact.
        while len(paths) < wanted and start < len(files):
            chunk = files[start:start + max(wanted - len(paths), 64)]
            start += len(chunk)
            for path, result in zip(chunk, pool.map(lambda p: _read(p, size, background), chunk)):
                if len(paths) == wanted:
                    break  # `limit` reached: files after the last kept image are neither kept nor counted
                if isinstance(result, str):
                    skipped.append((path, result))
                else:
                    images[len(paths)] = torch.from_numpy(np.ascontiguousarray(result.transpose(2, 0, 1)))
                    paths.append(path)
    if len(paths) < min_images:
        example = f"; e.g. {skipped[0][0].name}: {skipped[0][1]}" if skipped else ""
        raise DataError(f"{root} has {len(paths)} readable images in {len(files)} files "
                        f"({len(skipped)} skipped as unreadable{example}); training needs at least {min_images}")
    if len(paths) < wanted:
        images = images[:len(paths)].clone()  # give back the rows reserved for the skipped files
    return ImageSet(images, paths, skipped)
