"""Find model files: the bundled ones by name ("emoji-gan"), or any .safetensors file by path.

    load("emoji-gan")                 # the bundled default model
    load("~/models/flowers.safetensors")
    list_models([Path("~/models")])   # what `latentvj models` shows

This module only maps names to files and lists them; it does not confine paths to folders
(the server does that for paths that arrive over the network).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .checkpoint import SUFFIX, CheckpointError, LoadedModel, load_model, read_metadata

PLAYABLE = (SUFFIX, ".pkl", ".pt", ".pth")
"""What a model folder may hold: LatentVJ model files, NVIDIA network pickles and rosinality / DCGAN
checkpoints (read as data, converted as they load)."""

BUNDLED_DIR = Path(__file__).parent / "bundled"
MAX_NAME, MAX_PART = 1024, 200
"""Longest model name asked for over the network, and longest part of it (a file name, before a suffix is
added): a longer one cannot name a file, and the system would refuse to look."""
DEFAULT_MODEL = "emoji-gan"


@dataclass
class ModelInfo:
    name: str  # bundled name, or the file's stem for a model found in an extra folder
    path: Path  # the .safetensors file
    metadata: dict = field(default_factory=dict)  # read_metadata(path); {} if the file is broken
    bundled: bool = False  # shipped with LatentVJ (loadable by name)
    error: str | None = None  # why the file cannot be loaded, if it cannot; listing goes on


def bundled_names() -> list[str]:
    """Names of the bundled models, sorted."""
    return sorted(p.stem for p in BUNDLED_DIR.glob(f"*{SUFFIX}"))


def _info(path: Path, *, bundled: bool) -> ModelInfo:
    if path.suffix != SUFFIX:  # another tool's file: read whole only when it loads
        size = path.stat().st_size
        return ModelInfo(path.name, path, {"description": f"another tool's model file ({size / 2**20:,.0f} MB), "
                                                          f"read as data and converted when it loads; `latentvj "
                                                          f"import {path.name}` converts it once"},
                         bundled=bundled)
    try:
        return ModelInfo(path.stem, path, read_metadata(path), bundled=bundled)
    except CheckpointError as err:
        return ModelInfo(path.stem, path, {}, bundled=bundled, error=str(err))


def list_models(extra_dirs: Sequence[str | Path] = ()) -> list[ModelInfo]:
    """The bundled models, then the model files in each of `extra_dirs` (not recursive): .safetensors with
    their cards, network pickles and torch.save files by name (read whole only when they load).

    A file that cannot be read is listed with `error` set rather than stopping the listing.
    A folder that does not exist raises CheckpointError.
    """
    infos = [_info(BUNDLED_DIR / f"{name}{SUFFIX}", bundled=True) for name in bundled_names()]
    for folder in extra_dirs:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise CheckpointError(f"model folder {folder} does not exist or is not a folder")
        infos += [_info(p, bundled=False) for p in sorted(folder.iterdir())
                  if p.name.endswith(PLAYABLE) and p.is_file()]
    return infos


def resolve_model(name_or_path: str | Path, folders: Sequence[str | Path] = ()) -> Path:
    """A bundled model's name, a model's name in one of ``folders`` (where `latentvj train` writes), or
    the path of an existing model file -> that file's path.

    A bare name (no folder separator, no suffix) is looked up among the bundled models first, then in
    the folders.
    """
    text = str(name_or_path)
    if not text:
        raise CheckpointError("no model given; " + _choices())
    is_bare_name = isinstance(name_or_path, str) and not any(c in text for c in "/\\.")
    if is_bare_name:
        for folder in (BUNDLED_DIR, *(Path(f).expanduser() for f in folders)):
            candidate = folder / f"{text}{SUFFIX}"
            if candidate.is_file():
                return candidate
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise CheckpointError(f"{path} is not a file; " + _choices())
    if is_bare_name:
        raise CheckpointError(f"unknown model {text!r}; " + _choices())
    raise CheckpointError(f"no model file at {path}; " + _choices())


def load(name_or_path: str | Path, folders: Sequence[str | Path] = ()) -> LoadedModel:
    """resolve_model then load_model: the network ready to render (eval, CPU, float32)."""
    return load_model(resolve_model(name_or_path, folders))


def _choices() -> str:
    names = ", ".join(bundled_names()) or "(none installed)"
    return f"bundled models: {names}; or give a path to a {SUFFIX} file or a StyleGAN / DCGAN checkpoint (.pkl, .pt)"


def resolve_confined(name: str, folders: Sequence[str | Path]) -> Path:
    """A model asked for over the network: a bundled name, or a file inside one of ``folders`` named
    relative to it (``flowers``, ``flowers.safetensors``, ``sets/flowers.safetensors`` or a network pickle
    ``sets/faces.pkl``). Absolute
    paths and anything that leads outside the folders (``..``, links) are refused."""
    text = str(name).strip()
    if not text:
        raise CheckpointError("no model given; " + _choices())
    if len(text) > MAX_NAME or any(len(part) > MAX_PART for part in text.replace("\\", "/").split("/")):
        raise CheckpointError(f"a model name of {len(text)} characters: too long for a file in a model folder")
    if "\\" not in text and "/" not in text and "." not in text and (BUNDLED_DIR / f"{text}{SUFFIX}").is_file():
        return BUNDLED_DIR / f"{text}{SUFFIX}"
    relative = Path(text if text.endswith(PLAYABLE) else f"{text}{SUFFIX}")
    if relative.is_absolute() or relative.drive or ".." in relative.parts:
        raise CheckpointError(f"{text!r}: give a bundled name or a file inside the model folders, "
                              "not an absolute path or one with '..'")
    for folder in folders:
        root = Path(folder).expanduser().resolve()
        candidate = (root / relative).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return candidate
    where = ", ".join(str(Path(f).expanduser()) for f in folders) or "(no model folders configured)"
    raise CheckpointError(f"unknown model {text!r}: not bundled and not in the model folders ({where}); "
                          + _choices())


def model_names(folders: Sequence[str | Path]) -> list[str]:
    """What /lvj/model/list offers: bundled names, then files in the existing model folders."""
    names = bundled_names()
    for folder in folders:
        root = Path(folder).expanduser().resolve()
        if root.is_dir():
            names += [p.relative_to(root).as_posix() for p in sorted(root.rglob("*"))
                      if p.name.endswith(PLAYABLE) and p.is_file() and p.resolve().is_relative_to(root)]
    return names
