"""Find model files: the bundled ones by name ("default"), or any .safetensors file by path.

    load("default")                   # the bundled placeholder model
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

BUNDLED_DIR = Path(__file__).parent / "bundled"
DEFAULT_MODEL = "default"


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
    try:
        return ModelInfo(path.stem, path, read_metadata(path), bundled=bundled)
    except CheckpointError as err:
        return ModelInfo(path.stem, path, {}, bundled=bundled, error=str(err))


def list_models(extra_dirs: Sequence[str | Path] = ()) -> list[ModelInfo]:
    """The bundled models, then the *.safetensors files in each of `extra_dirs` (not recursive).

    A file that cannot be read is listed with `error` set rather than stopping the listing.
    A folder that does not exist raises CheckpointError.
    """
    infos = [_info(BUNDLED_DIR / f"{name}{SUFFIX}", bundled=True) for name in bundled_names()]
    for folder in extra_dirs:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise CheckpointError(f"model folder {folder} does not exist or is not a folder")
        infos += [_info(p, bundled=False) for p in sorted(folder.glob(f"*{SUFFIX}")) if p.is_file()]
    return infos


def resolve_model(name_or_path: str | Path) -> Path:
    """A bundled model's name, or the path of an existing model file -> that file's path.

    A bare name (no folder separator, no suffix) is looked up among the bundled models first.
    """
    text = str(name_or_path)
    if not text:
        raise CheckpointError("no model given; " + _choices())
    is_bare_name = isinstance(name_or_path, str) and not any(c in text for c in "/\\.")
    if is_bare_name:
        bundled = BUNDLED_DIR / f"{text}{SUFFIX}"
        if bundled.is_file():
            return bundled
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise CheckpointError(f"{path} is not a file; " + _choices())
    if is_bare_name:
        raise CheckpointError(f"unknown model {text!r}; " + _choices())
    raise CheckpointError(f"no model file at {path}; " + _choices())


def load(name_or_path: str | Path) -> LoadedModel:
    """resolve_model then load_model: the network ready to render (eval, CPU, float32)."""
    return load_model(resolve_model(name_or_path))


def _choices() -> str:
    names = ", ".join(bundled_names()) or "(none installed)"
    return f"bundled models: {names}; or give a path to a {SUFFIX} file"
