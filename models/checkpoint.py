"""The LatentVJ model file: a .safetensors file with config and metadata in its header.

Layout (format version 1):
- tensors: the network's state_dict under a prefix: "generator." for a GAN (optionally also
  "discriminator." for further training; ignored when loading for play), "vae." for a VAE
  (encoder and decoder both, so live images can be encoded).
- safetensors string metadata: one key "latentvj" whose value is JSON:
  {"format_version": 1, "kind": "gan" | "vae", "config": {dataclass fields},
   "metadata": {"name", "kind", "resolution", "latent_dim", "data", "licence", "description",
                "random_init", "created", ...free extra keys}}

Loading reads tensors as data (safetensors) and never executes code. Pickles and PyTorch zip
archives (.pkl/.pt/.pth) are recognised and refused with a message saying why. Every load failure
raises CheckpointError naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as serialize
from torch import Tensor, nn

from .gan import Discriminator, GANConfig, Generator
from .kinds import KINDS, kind_of
from .vae import VAE, VAEConfig

FORMAT_VERSION = 1
METADATA_KEY = "latentvj"
SUFFIX = ".safetensors"
PREFIXES = {name: kind.prefix for name, kind in KINDS.items()}
DISCRIMINATOR_PREFIX = "discriminator."
STORAGE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_HEADER_BYTES = 4 << 20
"""Largest safetensors header read (a LatentVJ model's is a few KB; a StyleGAN's some hundred KB). The
size is checked from the file's first 8 bytes before anything is parsed, so a hostile file cannot make
the loader spend seconds and hundreds of MB on a header."""
MAX_CARD_BYTES = 256 << 10
"""Largest LatentVJ metadata (config + model card) JSON read."""
CONVERT_HINT = "Convert it to a LatentVJ .safetensors model file (see docs/models.md)"


class CheckpointError(ValueError):
    """A model file could not be read: the message names the file and what is wrong."""


@dataclass
class LoadedModel:
    kind: str  # a row of models/kinds.py: "gan", "vae", "stylegan2", "stylegan3"
    config: Any  # the architecture, as stored in the file: the kind's config dataclass
    network: nn.Module  # the kind's network: eval mode, CPU, float32, parameters frozen
    metadata: dict  # name, resolution, latent_dim, data, licence, description, random_init, ...
    path: Path  # the file it came from

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", self.path.stem))

    def render(self, z: Tensor, *, truncation: float = 1.0, styling=None) -> Tensor:
        """z [B, latent_dim] -> images [B, channels, R, R] in [-1, 1].

        The generator for a GAN, the decoder for a VAE (see models/kinds.py); ``truncation`` is the kind's
        latent knob (a GAN's truncation, a VAE's temperature), applied as the kind says; ``styling`` (a
        kinds.Styling) the StyleGAN controls (W walks, noise, style mixing, StyleGAN3's transform, the
        class), which other kinds ignore. No device moves:
        put the network and z on the same device first. Parameters do not require grad, so no graph is
        built unless z does.
        """
        kind = KINDS[self.kind]
        return kind.draw(self.network, z, truncation, styling)


def model_fingerprint(model: LoadedModel) -> str:
    """A short id that tells two models apart even when they share a name: a hash of the kind, the
    config and the metadata (which carries the creation time). Presets remember it. A card may carry its
    model's id (metadata "id", 16 hex digits): a card corrected later keeps the presets made with it."""
    stored = model.metadata.get("id")
    if isinstance(stored, str) and len(stored) == 16 and all(c in "0123456789abcdef" for c in stored):
        return stored
    config = {name: value for name, value in asdict(model.config).items()
              if getattr(model.config, "added_fields", {}).get(name, object()) != value}
    blob = json.dumps({"kind": model.kind, "config": config, "metadata": model.metadata}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_model(
    path: str | os.PathLike,
    network: nn.Module,
    *,
    metadata: dict | None = None,
    discriminator: Discriminator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a Generator or VAE to a LatentVJ .safetensors model file; returns the path.

    metadata: free JSON-serialisable keys kept in the file. "data" (what it was trained on) and
        "licence" default to "unknown", "description" to "", "random_init" to False, "name" to the
        file's stem, "created" to now (UTC). "kind", "resolution" and "latent_dim" are filled from
        the network; giving different values is an error.
    discriminator: a GAN's Discriminator to store too (for resuming training); same config.
    dtype: storage precision of floating tensors (float32, float16 or bfloat16); loading always
        gives float32. float16 halves the file.
    The file is written next to its final name and moved into place, so a reader never sees half
    a file.
    """
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ValueError(f"model files end in {SUFFIX}, got {path.name!r}")
    try:
        kind = kind_of(network).name
    except TypeError as exc:
        raise TypeError(f"save_model: {exc}") from None
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of {STORAGE_DTYPES}, got {dtype}")
    config = network.config

    tensors = _prefixed_tensors(network, PREFIXES[kind], dtype)
    if discriminator is not None:
        if kind != "gan":
            raise ValueError("a discriminator can only be stored with a GAN generator")
        if not isinstance(discriminator, Discriminator):
            raise TypeError(
                "discriminator must be a latentvj Discriminator, "
                f"got {type(discriminator).__name__}"
            )
        if discriminator.config != config:
            raise ValueError(
                f"discriminator config {discriminator.config} differs from "
                f"generator config {config}"
            )
        tensors.update(_prefixed_tensors(discriminator, DISCRIMINATOR_PREFIX, dtype))

    filled = _fill_metadata(dict(metadata or {}), kind, config, default_name=path.stem)
    filled.setdefault("data", "unknown")
    filled.setdefault("licence", "unknown")
    filled.setdefault("description", "")
    filled.setdefault("random_init", False)
    filled.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    header = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": asdict(config),
        "metadata": filled,
    }
    try:
        header_json = json.dumps(header, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"metadata must be JSON-serialisable: {err}") from err

    data = serialize(tensors, metadata={METADATA_KEY: header_json})
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as f:  # plain open: the file gets the usual umask permissions
            f.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a model file, from its header only (no weights read).

    Checks the same header facts as load_model (format, version, kind, config) so that what a
    listing shows can be loaded, weights aside.
    """
    path = Path(path)
    header = _read_header(path)
    _, _, metadata = _parse_header(path, header)
    return metadata


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Load a LatentVJ model file for play: the network in eval mode, on CPU, in float32. A StyleGAN2-ADA
    or StyleGAN3 network pickle is read as data and converted in memory (models/foreign.py).

    Never executes code from the file. Raises CheckpointError on any problem.
    """
    path = Path(path)
    if _is_pickle(path):  # a StyleGAN network pickle: read as data and converted (models/foreign.py)
        from .foreign import import_network_pickle

        return import_network_pickle(path)
    if _is_zip(path):  # a torch.save file: rosinality's StyleGAN2 or a DCGAN, read with weights_only
        from .torchfiles import import_torch_checkpoint

        return import_torch_checkpoint(path)
    header = _read_header(path)
    kind, config, metadata = _parse_header(path, header)
    # Built on the meta device: shapes only, no memory and no random init until the file's
    # tensors (checked against these shapes) are assigned, so a huge config in a small file
    # cannot allocate more than the file holds.
    with torch.device("meta"):
        network: nn.Module = KINDS[kind].network(config)
    state = _read_state(path, network, PREFIXES[kind], ignore_prefixes=(DISCRIMINATOR_PREFIX,))
    try:
        network.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:  # the checks in _read_state should have caught it already
        raise CheckpointError(f"{path}: weights do not fit the network: {err}") from None
    network.eval().requires_grad_(False)
    return LoadedModel(kind=kind, config=config, network=network, metadata=metadata, path=path)


# ---------------------------------------------------------------------------------------------
# internals


def _prefixed_tensors(module: nn.Module, prefix: str, dtype: torch.dtype) -> dict[str, Tensor]:
    """The module's state under ``prefix``, each tensor its own memory (safetensors stores no shared
    storage; a converted file's tensors may share it)."""
    out, seen = {}, set()
    for key, value in module.state_dict().items():
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.to(dtype)
        value = value.contiguous()
        if value.untyped_storage().data_ptr() in seen:
            value = value.clone()
        seen.add(value.untyped_storage().data_ptr())
        out[prefix + key] = value
    return out


def _fill_metadata(metadata: dict, kind: str, config: Any, *, default_name: str) -> dict:
    """Fill kind/resolution/latent_dim from the config; refuse values that contradict it."""
    facts = {"kind": kind, "resolution": config.resolution, "latent_dim": config.latent_dim}
    for key, value in facts.items():
        if key in metadata and metadata[key] != value:
            raise ValueError(
                f"metadata[{key!r}] is {metadata[key]!r} but the network has {key} {value!r}"
            )
        metadata[key] = value
    metadata.setdefault("name", default_name)
    return metadata


def _is_zip(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
    except OSError:
        return False


def _is_pickle(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5  # PROTO opcode


def _describe_foreign(path: Path) -> str | None:
    """Why a file that is not safetensors is not one, if we recognise what it is."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError:
        return None
    is_zip = head.startswith(b"PK\x03\x04")  # torch.save's default format since PyTorch 1.6
    is_pickle = len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5  # PROTO opcode
    if is_zip or is_pickle:
        return (
            f"{path.name} is a pickle/PyTorch archive; such files can run code when loaded, "
            f"so LatentVJ refuses them. {CONVERT_HINT}"
        )
    return None


def _read_header(path: Path) -> dict[str, str]:
    """The safetensors string metadata of `path`, or CheckpointError."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read it: {err.strerror or err}") from None
    if len(head) == 8 and _describe_foreign(path) is None:
        size = int.from_bytes(head, "little")
        if size > path.stat().st_size:
            raise CheckpointError(f"{path}: not a valid .safetensors file (its first 8 bytes give a header "
                                  f"of {size:,} bytes, more than the whole file). {CONVERT_HINT}")
        if size > MAX_HEADER_BYTES:
            raise CheckpointError(f"{path}: its safetensors header claims {size:,} bytes; LatentVJ reads "
                                  f"headers up to {MAX_HEADER_BYTES >> 20} MiB (a damaged or hostile file)")
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError) as err:
        reason = _describe_foreign(path)
        if reason is not None:
            raise CheckpointError(f"{path}: {reason}") from None
        raise CheckpointError(
            f"{path}: not a valid .safetensors file ({err}). {CONVERT_HINT}"
        ) from None


def _parse_header(path: Path, header: dict[str, str]) -> tuple[str, Any, dict]:
    raw = header.get(METADATA_KEY)
    if raw is None:
        raise CheckpointError(
            f"{path}: a safetensors file without LatentVJ metadata (no {METADATA_KEY!r} key in its "
            f"header), so its architecture is unknown. {CONVERT_HINT}"
        )
    if len(raw) > MAX_CARD_BYTES:
        raise CheckpointError(f"{path}: the {METADATA_KEY!r} metadata is {len(raw):,} characters long; "
                              f"at most {MAX_CARD_BYTES >> 10} KiB are read")
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CheckpointError(
            f"{path}: the {METADATA_KEY!r} metadata is not valid JSON: {err}"
        ) from None
    except RecursionError:
        raise CheckpointError(f"{path}: the {METADATA_KEY!r} metadata is JSON nested too deep to read") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: the {METADATA_KEY!r} metadata must be a JSON object")

    version = info.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: made by a newer LatentVJ (model format version {version}; this LatentVJ "
            f"reads up to version {FORMAT_VERSION}). Upgrade LatentVJ to load it."
        )

    kind = info.get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{path}: unknown model kind {kind!r}; expected one of {list(KINDS)}")

    config_fields = info.get("config")
    if not isinstance(config_fields, dict):
        raise CheckpointError(f"{path}: 'config' must be a JSON object, got {config_fields!r}")
    config_type = KINDS[kind].config
    try:
        config = config_type(**config_fields)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: invalid {config_type.__name__}: {err}") from None

    metadata = info.get("metadata", {})
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: 'metadata' must be a JSON object, got {metadata!r}")
    try:
        metadata = _fill_metadata(dict(metadata), kind, config, default_name=path.stem)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from None
    return kind, config, metadata


def _read_state(
    path: Path, network: nn.Module, prefix: str, *, ignore_prefixes: tuple[str, ...]
) -> dict[str, Tensor]:
    """Read the tensors under `prefix`, checked against `network` and cast to its dtypes."""
    expected = network.state_dict()
    state: dict[str, Tensor] = {}
    problems: list[str] = []
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            unexpected = [
                k for k in sorted(keys) if not k.startswith(prefix) and not k.startswith(ignore_prefixes)
            ]
            unexpected += [
                k for k in sorted(keys) if k.startswith(prefix) and k[len(prefix):] not in expected
            ]
            missing = [prefix + k for k in expected if prefix + k not in keys]
            if missing:
                problems.append(f"missing weights {_short(missing)}")
            if unexpected:
                problems.append(f"unexpected weights {_short(unexpected)}")
            for key, want in expected.items():
                if prefix + key not in keys:
                    continue
                shape = list(f.get_slice(prefix + key).get_shape())
                if shape != list(want.shape):
                    problems.append(
                        f"{prefix + key} has shape {shape}, expected {list(want.shape)}"
                    )
                    continue
                if problems:
                    continue  # already refusing; only collect the remaining shape problems
                tensor = f.get_tensor(prefix + key)
                if want.is_floating_point() != tensor.is_floating_point():
                    problems.append(
                        f"{prefix + key} has dtype {tensor.dtype}, expected {want.dtype}"
                    )
                    continue
                if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    problems.append(f"{prefix + key} contains NaN or infinite values")
                    continue
                state[key] = tensor.to(want.dtype)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: could not read weights: {err}") from None
    if problems:
        raise CheckpointError(
            f"{path}: weights do not match the {type(network).__name__} described by its config: "
            + "; ".join(problems[:8])
            + (f"; and {len(problems) - 8} more problems" if len(problems) > 8 else "")
        )
    return state


def _short(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return f"[{shown}{f', ... ({len(keys)} in all)' if len(keys) > limit else ''}]"
