"""Network pickles laid out as NVIDIA's StyleGAN2-ADA and StyleGAN3 training code writes them, written by
the tests with no NVIDIA code: each network object is pickled as a call to
``torch_utils.persistence._reconstruct_persistent_obj`` with its class name, its module's source and its
``__dict__`` (init kwargs, ``_parameters``, ``_buffers``, ``_modules``), under stand-in modules named as
NVIDIA's are, which exist only while a test writes (the reader never imports them)."""

from __future__ import annotations

import json
import pickle
import sys
import types
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

REFERENCE = Path(__file__).parent / "models" / "data" / "stylegan_reference.safetensors"
"""Tiny StyleGAN2-ADA, StyleGAN3-written StyleGAN2, StyleGAN3-T and -R generators with random weights, and
the images NVIDIA's forward pass drew from them (see models/data/make_stylegan_reference.py)."""


def stand_ins(monkeypatch) -> types.SimpleNamespace:
    """torch_utils.persistence and dnnlib.util stand-ins in sys.modules for this test, so that pickle writes
    those names: ``.reconstruct`` (the persistence hook) and ``.EasyDict``."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # what the name stands for when NVIDIA's code reads it
        raise AssertionError("the reader called the writer's stand-in")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    for name, module in {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                         "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}.items():
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=EasyDict)


class Persisted(nn.Module):
    """Pickled as NVIDIA's persistence module pickles its networks: a call to the persistence hook with
    the class name, the module's source and the object's __dict__ (init kwargs included)."""

    def __reduce__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("_module_src", "_class_name")}
        name = getattr(self, "_class_name", type(self).__name__)
        meta = dict(type="class", version=6, module_src=self._module_src, class_name=name, state=state)
        return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,)


def persistent(module: nn.Module, init_kwargs: dict, *, source: str = "# networks.py\n") -> nn.Module:
    module._init_args = ()
    module._init_kwargs = init_kwargs
    module._module_src = source
    return module


def easy(value, EasyDict):
    """Dicts as EasyDicts, all the way down (NVIDIA's kwargs are)."""
    if isinstance(value, dict):
        return EasyDict({k: easy(v, EasyDict) for k, v in value.items()})
    return value


def network(writer, *, class_name: str, init_kwargs: dict, state: dict, modules: dict[str, str],
            buffers: list[str], source: str = "# networks.py\n") -> Persisted:
    """A generator as NVIDIA's code pickles it: one persistent object per module of the tree ``modules``
    (dotted name -> class name, "" the root), each tensor of ``state`` a parameter or (named in ``buffers``) a
    buffer of its module, the root's init kwargs as EasyDicts and its class name the full ``class_name``."""
    objects: dict[str, Persisted] = {}
    for name in sorted(modules, key=lambda n: (n.count(".") if n else -1, n)):
        module = persistent(Persisted(), writer.EasyDict(), source=source)
        module._class_name = modules[name] if name else class_name
        objects[name] = module
        if name:
            parent, _, leaf = name.rpartition(".")
            setattr(objects[parent], leaf, module)
    objects[""]._init_kwargs = easy(init_kwargs, writer.EasyDict)
    for key, value in state.items():
        parent, _, leaf = key.rpartition(".")
        if key in buffers:
            objects[parent].register_buffer(leaf, value.clone())
        else:
            setattr(objects[parent], leaf, nn.Parameter(value.clone(), requires_grad=False))
    return objects[""]


def snapshot(path: Path, **entries) -> Path:
    """NVIDIA's training loop: pickle.dump(dict(G=..., D=..., G_ema=..., augment_pipe=..., ...), f)."""
    with Path(path).open("wb") as f:
        pickle.dump(entries, f)
    return Path(path)


def reference(name: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """(card, tensors) of one reference configuration: sg2ada, sg2_by_sg3, sg3t, sg3r."""
    with safe_open(str(REFERENCE), framework="pt") as f:
        card = json.loads(f.metadata()["configs"])[name]
        tensors = {k.removeprefix(f"{name}."): f.get_tensor(k) for k in f.keys() if k.startswith(f"{name}.")}
    return card, tensors


def reference_pickle(writer, path: Path, name: str, **changes) -> tuple[Path, dict, dict]:
    """A training snapshot as NVIDIA's loop writes it (G, D, G_ema, augment_pipe, training_set_kwargs) with
    the reference weights as G_ema (G and D: other weights), init kwargs changed by ``changes``."""
    card, tensors = reference(name)
    state = {k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")}
    kwargs = {**card["init_kwargs"], **changes}

    def build(state):
        return network(writer, class_name=card["class_name"], init_kwargs=kwargs, state=state,
                       modules=card["modules"], buffers=card["buffers"])

    training = {k: v * 0.5 for k, v in state.items()}
    snapshot(path, G=build(training), D=build(training), G_ema=build(state), augment_pipe=None,
             training_set_kwargs=writer.EasyDict(path="~/datasets/flowers.zip", resolution=16))
    return path, card, tensors
