"""Other tools' model files, read as data, never run: NVIDIA's StyleGAN2-ADA and StyleGAN3 network pickles,
turned into LatentVJ models (:func:`import_network_pickle`: the architecture from the generator's init kwargs,
the weights from its state dict, into models/stylegan2.py's or stylegan3.py's network).

A network pickle (``network-snapshot-*.pkl``) is the training loop's dict (``G``, ``D``, ``G_ema``,
``augment_pipe``, ``training_set_kwargs``...) pickled with NVIDIA's persistence module: each network object
is written as a call ``torch_utils.persistence._reconstruct_persistent_obj(meta)``, ``meta`` holding the
source of the Python module that defined its class (``module_src``), the class name and the object's
``__dict__``: the ``nn.Module`` internals (``_parameters``, ``_buffers``, ``_modules``...) and
``_init_args``/``_init_kwargs``, the architecture. NVIDIA's loader ``exec``s ``module_src``, and plain
unpickling runs whatever a file names; here an object becomes a :class:`Persistent` record of its class
name and state, ``module_src`` is never run, and every global outside :data:`ALLOWED` is refused, named.

Tensors come as ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` over storages that
``torch.storage._load_from_bytes`` would ``torch.load`` without restriction: here each storage is
``torch.load(..., weights_only=True, map_location="cpu")`` (a storage saved from CUDA loads on a machine
without one), and the rebuild functions are called only on what those give. numpy arrays, dtypes and
scalars (StyleGAN3 keeps sizes and sampling rates as numpy values) are rebuilt as numpy does, for plain
ndarrays only. ``dnnlib``'s EasyDict becomes a plain dict.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .checkpoint import CheckpointError, LoadedModel, _short
from .kinds import kind_named

MAX_PICKLE_BYTES = 4 << 30
"""Largest network pickle read (a StyleGAN3 at 1024 px with D and augment pipe is about 1 GB)."""
NETWORKS = ("G_ema", "G")
"""The generator in a network pickle: the moving average of the weights if it is there (what NVIDIA's
tools render with), else the training generator."""


class EasyDict(dict):
    """``dnnlib.util.EasyDict``, read as the plain dict it is."""


@dataclass(eq=False)
class Persistent:
    """An object NVIDIA's persistence module wrote, as data: its class name and state (never its source)."""

    class_name: str
    state: dict
    version: int | None = None

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args") or ())

    @property
    def init_kwargs(self) -> dict:
        return plain(self.state.get("_init_kwargs") or {})

    def state_dict(self) -> dict[str, Tensor]:
        """The tensors ``module.state_dict()`` would give: parameters, persistent buffers, submodules'."""
        found: dict[str, Tensor] = {}
        self._collect("", found, set())
        return found

    def _collect(self, prefix: str, found: dict[str, Tensor], seen: set[int]) -> None:
        if id(self) in seen:  # a pickle can make a module its own submodule; a network never is
            raise ValueError(f"{prefix or 'it'} contains itself")
        seen.add(id(self))
        skipped = self.state.get("_non_persistent_buffers_set") or set()
        for group in ("_parameters", "_buffers"):
            for name, value in (self.state.get(group) or {}).items():
                if value is None or (group == "_buffers" and name in skipped):
                    continue
                if not isinstance(value, Tensor):
                    raise ValueError(f"{prefix}{name} is a {type(value).__name__}, not a tensor")
                found[prefix + name] = value.detach()
        for name, module in (self.state.get("_modules") or {}).items():
            if module is None:
                continue
            if not isinstance(module, Persistent):
                raise ValueError(f"submodule {prefix}{name} is a {type(module).__name__}, not a network object")
            module._collect(f"{prefix}{name}.", found, seen)


@dataclass
class NetworkPickle:
    """The generator of a StyleGAN2-ADA / StyleGAN3 network pickle."""

    network: str
    """Which entry it came from: G_ema or G."""
    class_name: str
    init_args: tuple
    init_kwargs: dict
    """The architecture, as NVIDIA's constructor took it (z_dim, w_dim, c_dim, img_resolution, ...)."""
    state: dict[str, Tensor]
    """Its state dict, on the CPU."""
    family: str
    """stylegan3 (a Fourier-feature input layer) or stylegan2."""
    others: list[str] = field(default_factory=list)
    """The pickle's other entries (D, augment_pipe, training_set_kwargs...): read as data, not used."""


def plain(value: Any) -> Any:
    """EasyDicts, OrderedDicts, numpy scalars and arrays inside kwargs as plain Python values."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def read_network_pickle(path: str | Path) -> NetworkPickle:
    """The generator of a network pickle, or CheckpointError naming the file and what is wrong (a global
    outside the allowed set is named: nothing it names is imported or called)."""
    path = Path(path)
    data = load_restricted(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a StyleGAN network pickle: it holds a {type(data).__name__}, not "
                              f"the dict of networks NVIDIA's training code writes")
    name = next((n for n in NETWORKS if isinstance(data.get(n), Persistent)), None)
    if name is None:
        raise CheckpointError(f"{path}: not a StyleGAN network pickle: no generator (G_ema or G) among its "
                              f"entries {sorted(map(str, data))}")
    generator: Persistent = data[name]
    try:
        state, kwargs = generator.state_dict(), generator.init_kwargs
    except (ValueError, RecursionError) as exc:  # RecursionError: kwargs that contain themselves
        raise CheckpointError(f"{path}: {name} is not a network NVIDIA's persistence module wrote: {exc}") from None
    family = "stylegan3" if any(key.startswith("synthesis.input.") for key in state) else "stylegan2"
    return NetworkPickle(name, generator.class_name, generator.init_args, kwargs, state, family,
                         sorted(str(key) for key in data if key != name))


# ---- from NVIDIA's generator to ours ------------------------------------------------------------------------

GENERATORS = {
    "training.networks.Generator": ("stylegan2", "StyleGAN2-ADA (NVlabs/stylegan2-ada-pytorch)"),
    "training.networks_stylegan2.Generator": ("stylegan2", "StyleGAN2 written by NVlabs/stylegan3"),
    "training.networks_stylegan3.Generator": ("stylegan3", "StyleGAN3 (NVlabs/stylegan3)"),
}
"""The generator classes read: which of our kinds each is, and what to call its source."""
POSITIONAL = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
"""The generators' first constructor arguments, in order (for init args given by position)."""
TRAINING_ONLY = {"w_avg_beta", "magnitude_ema_beta", "fp16_channels_last", "channels_last",
                 "fused_modconv_default"}
"""Init kwargs that change how a network trains or which kernels it uses, never the image it draws."""
_MAPPING = {"num_layers": "mapping_layers", "layer_features": "mapping_features", "embed_features": "embed_features",
            "activation": "mapping_activation", "lr_multiplier": "mapping_lr_multiplier"}
_SYNTHESIS2 = {"channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "resample_filter",
               "activation", "kernel_size", "use_noise"}
_SYNTHESIS3 = {"channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
               "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res", "conv_kernel", "filter_size",
               "lrelu_upsampling", "use_radial_filters", "conv_clamp"}
_DEFAULTS = {  # where NVIDIA's two code bases differ in the defaults of what a file may leave out
    "training.networks.Generator": {"num_fp16_res": 0, "conv_clamp": None, "mapping_layers": 8},
    "training.networks_stylegan2.Generator": {"num_fp16_res": 4, "conv_clamp": 256, "mapping_layers": 8},
    "training.networks_stylegan3.Generator": {"num_fp16_res": 4, "conv_clamp": 256, "mapping_layers": 2},
}


def stylegan_config(class_name: str, init_args: tuple, init_kwargs: dict) -> tuple[str, Any]:
    """(kind, config) for a generator's class name and constructor arguments; ValueError naming what is not
    understood (a class, an option: an option we do not know could change the image, so it is not ignored)."""
    if class_name not in GENERATORS:
        raise ValueError(f"its generator is a {class_name!r}; LatentVJ reads {', '.join(GENERATORS)}")
    kind = GENERATORS[class_name][0]
    if len(init_args) > len(POSITIONAL):
        raise ValueError(f"{len(init_args)} positional constructor arguments; the generator takes {len(POSITIONAL)}")
    kwargs = dict(zip(POSITIONAL, init_args)) | dict(init_kwargs)
    mapping = kwargs.pop("mapping_kwargs", None) or {}
    synthesis = dict(kwargs.pop("synthesis_kwargs", None) or {})
    synthesis |= {k: kwargs.pop(k) for k in list(kwargs) if k not in POSITIONAL}  # StyleGAN3's code: flat
    fields = dict(_DEFAULTS[class_name])
    try:
        fields |= dict(resolution=kwargs["img_resolution"], latent_dim=kwargs["z_dim"], w_dim=kwargs["w_dim"],
                       c_dim=kwargs.get("c_dim", 0), channels=kwargs.get("img_channels", 3))
    except KeyError as exc:
        raise ValueError(f"its constructor arguments have no {exc.args[0]}") from None
    if not isinstance(mapping, dict) or not isinstance(synthesis, dict):
        raise ValueError("its mapping_kwargs / synthesis_kwargs are not dicts")
    known = _SYNTHESIS3 if kind == "stylegan3" else _SYNTHESIS2
    unknown = sorted(str(k) for k in mapping if k not in _MAPPING and k not in TRAINING_ONLY)
    unknown += sorted(str(k) for k in synthesis if k not in known and k not in TRAINING_ONLY)
    if kind == "stylegan3":
        unknown += [k for k in ("layer_features", "embed_features", "activation") if k in mapping]
    if unknown:
        raise ValueError(f"options LatentVJ does not know, which could change the image: {', '.join(unknown)}")
    fields |= {_MAPPING[k]: v for k, v in mapping.items() if k in _MAPPING}
    fields |= {k: v for k, v in synthesis.items() if k in known}
    if "resample_filter" in fields:
        fields["resample_filter"] = [float(t) for t in np.asarray(fields["resample_filter"], dtype=float).ravel()]
    for name in ("first_cutoff", "first_stopband", "last_stopband_rel", "output_scale", "mapping_lr_multiplier"):
        if isinstance(fields.get(name), int) and not isinstance(fields.get(name), bool):
            fields[name] = float(fields[name])
    return kind, kind_named(kind).config(**fields)


def import_network_pickle(path: str | Path) -> LoadedModel:
    """A network pickle as a LatentVJ model, in memory: our network with its generator's weights, the card
    saying where it came from. CheckpointError naming the file and what is wrong; nothing in it is run."""
    path = Path(path)
    found = read_network_pickle(path)
    try:
        kind, config = stylegan_config(found.class_name, found.init_args, found.init_kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: {found.network} cannot be played: {exc}") from None
    with torch.device("meta"):
        network = kind_named(kind).network(config)
    state = fitted_state(path, network, found.state)
    network.load_state_dict(state, strict=True, assign=True)
    network.eval().requires_grad_(False)
    source = GENERATORS[found.class_name][1]
    metadata = {
        "name": path.stem, "kind": kind, "resolution": config.resolution, "latent_dim": config.latent_dim,
        "id": file_digest(path)[:16], "data": "unknown", "licence": "unknown",
        "description": f"{source} network pickle, imported by LatentVJ",
        "source": {"format": "NVIDIA network pickle", "generator": source, "file": path.name,
                   "class_name": found.class_name,
                   "network": found.network, "init_kwargs": _jsonable(found.init_kwargs),
                   "others": found.others},
        "random_init": False,
    }
    return LoadedModel(kind=kind, config=config, network=network, metadata=metadata, path=path)


def fitted_state(path: Path, network: torch.nn.Module, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``state`` checked against ``network`` (every name, shape and kind of value, all finite), in its
    dtypes; CheckpointError listing what does not fit."""
    expected = network.state_dict()
    problems = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        problems.append(f"missing weights {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected weights {_short(unexpected)}")
    fitted = {}
    for key, want in expected.items():
        got = state.get(key)
        if got is None:
            continue
        if tuple(got.shape) != tuple(want.shape):
            problems.append(f"{key} has shape {list(got.shape)}, expected {list(want.shape)}")
        elif got.is_floating_point() != want.is_floating_point():
            problems.append(f"{key} has dtype {got.dtype}, expected {want.dtype}")
        elif got.is_floating_point() and not bool(torch.isfinite(got).all()):
            problems.append(f"{key} contains NaN or infinite values")
        else:
            fitted[key] = got.to(want.dtype).contiguous()
    if problems:
        raise CheckpointError(f"{path}: the weights do not fit the network its init kwargs describe: "
                              + "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else ""))
    return fitted


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes: the same pickle gets the same model id wherever it lies (presets keep it)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def load_restricted(path: Path) -> Any:
    """Unpickle ``path`` with only :data:`ALLOWED` globals (CheckpointError otherwise)."""
    try:
        size = path.stat().st_size
        if size > MAX_PICKLE_BYTES:
            raise CheckpointError(f"{size / 2**30:.1f} GB is more than a network pickle holds "
                                  f"({MAX_PICKLE_BYTES / 2**30:.0f} GB at most)")
        with path.open("rb") as f:
            return _Unpickler(f).load()
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            RuntimeError, MemoryError) as exc:
        raise CheckpointError(f"{path}: not a readable network pickle: {type(exc).__name__}: {exc}") from None


# ---- what a network pickle may name -------------------------------------------------------------------------

def _reconstruct_persistent_obj(meta: Any) -> Persistent:
    """NVIDIA's persistence hook, as data: the class name and state; ``module_src`` is dropped unread."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError(f"a persistent object of an unknown kind ({_kind(meta)}); only classes are read")
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, dict):
        raise CheckpointError("a persistent object without a class name and a state dict")
    version = meta.get("version")
    return Persistent(class_name, dict(state), version if isinstance(version, int) else None)


def _load_storage(data: Any) -> Any:
    """``torch.storage._load_from_bytes``, restricted: the bytes are a ``torch.save``d storage, read with
    ``weights_only=True`` onto the CPU (whatever device it was saved from)."""
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError(f"a tensor's storage is a {_kind(data)}, not bytes")
    try:
        storage = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
        raise CheckpointError(f"a tensor's storage holds more than tensor data, refused: {first}") from None
    except (RuntimeError, ValueError, EOFError) as exc:
        raise CheckpointError(f"a tensor's storage cannot be read: {exc}") from None
    if not isinstance(storage, (torch.storage.TypedStorage, torch.storage.UntypedStorage)):
        raise CheckpointError(f"a tensor's storage holds a {_kind(storage)}, not a storage")
    return storage


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, *metadata) -> Tensor:
    if not isinstance(storage, torch.storage.TypedStorage):
        raise CheckpointError(f"a tensor over a {_kind(storage)}, not a storage")
    if not (isinstance(offset, int) and offset >= 0 and _ints(size) and _ints(stride) and len(size) == len(stride)):
        raise CheckpointError("a tensor with a malformed shape")
    return torch._utils._rebuild_tensor_v2(storage, offset, tuple(size), tuple(stride), False,
                                           collections.OrderedDict())


def _rebuild_parameter(data, requires_grad=False, hooks=None, *state) -> Tensor:
    if not isinstance(data, Tensor):
        raise CheckpointError(f"a parameter over a {_kind(data)}, not a tensor")
    return data


class _Name:
    """A global a pickle may name as an argument but never call (calling it is a TypeError)."""

    def __init__(self, name: str):
        self.__name__ = name


_NDARRAY = _Name("numpy.ndarray")
"""numpy.ndarray as a network pickle names it: only as the type given to numpy's _reconstruct (called
itself, ndarray(shape) would allocate any size a file asks for)."""


def _ndarray_reconstruct(subtype, shape, dtype_code) -> np.ndarray:
    if subtype is not _NDARRAY:
        raise CheckpointError(f"a numpy array of type {_kind(subtype)}; only plain arrays are read")
    if tuple(shape) != (0,):  # numpy writes an empty array, then its state (shape, dtype, bytes)
        raise CheckpointError("a numpy array that does not start empty, as numpy writes them")
    return np.ndarray.__new__(np.ndarray, (0,), dtype_code)


def _dtype(name, align=False, copy=False) -> np.dtype:
    if not isinstance(name, str) or name.startswith(("O", "V")):  # objects; records, which may hold them
        raise CheckpointError(f"a numpy dtype {name!r}: only numbers, booleans and text are read")
    return np.dtype(name, align, copy)


def _scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise CheckpointError("a numpy scalar that is not a number")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _frombuffer(data, dtype, shape, order="C") -> np.ndarray:
    """How protocol 5 writes a numpy array."""
    if not isinstance(data, (bytes, bytearray, pickle.PickleBuffer)) or not isinstance(dtype, np.dtype) \
            or dtype.hasobject or not _ints(shape) or order not in ("C", "F"):
        raise CheckpointError("a numpy array that is not plain numbers")
    return np.frombuffer(bytes(data), dtype=dtype).reshape(shape, order=order).copy()


def _latin1(text, encoding="latin1"):
    """How protocol 2 writes bytes: ``_codecs.encode(TEXT, "latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("_codecs.encode used for anything but bytes: refused")
    return text.encode("latin1")


def _ints(values) -> bool:
    return isinstance(values, (tuple, list, torch.Size)) and all(isinstance(v, int) and v >= 0 for v in values)


def _kind(value: Any) -> str:
    return getattr(value, "__name__", None) or type(value).__name__


ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("_codecs", "encode"): _latin1,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    **{(module, "_reconstruct"): _ndarray_reconstruct for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "scalar"): _scalar for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "_frombuffer"): _frombuffer for module in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
}
"""Every global a network pickle may name, and what stands for it here."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "__builtin__":  # protocol 2 names builtins as Python 2 did
            module = "builtins"
        allowed = ALLOWED.get((module, name))
        if allowed is None:
            raise CheckpointError(f"it names {module}.{name}, which a network pickle has no need of: refused "
                                  f"(a pickle can run any function it names; nothing of this file was run)")
        return allowed

    def persistent_load(self, pid):
        raise CheckpointError("it refers to data outside itself (a persistent id): refused")
