"""Other tools' model files, read as data, never run: NVIDIA's StyleGAN2-ADA and StyleGAN3 network pickles.

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
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .checkpoint import CheckpointError

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
