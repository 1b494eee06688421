"""The outputs: where frames go (shared memory, the browser preview, Max/Jitter, NDI, Spout, Syphon, the
recorder). Each takes the newest frame from the render loop and does its work on its own thread.

The optional outputs of ``latentvj serve`` are rows of one table, :data:`OPTIONAL_OUTPUTS`, looked up by
name: each row knows its command-line option, how to open its sender (importing its module, and any
optional extra, only then) and how to describe it in the start-up banner. A new output is a module here and
a row below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


class OutputError(ValueError):
    """An output that cannot be opened as asked; the message says why (and, for a missing extra, what to
    install)."""


@dataclass(frozen=True)
class OutputKind:
    name: str
    """Its name, and the ServeConfig field holding what the user asked for (None: not asked)."""
    option: str
    """The `latentvj serve` option that asks for it."""
    label: str
    """How the start-up banner names it."""
    open: Callable[[Any, float], Any]
    """(what the user asked for, the target fps) -> a frame sink with start()/stop()/status(); raises
    OutputError."""
    banner: Callable[[Any, Any], str]
    """(the sink, what the user asked for) -> its line in the start-up banner."""


def _open_jitter(target: tuple[str, int], fps: float):
    from .jitnet import JitNetSender

    try:
        return JitNetSender(*target)
    except ValueError as exc:
        raise OutputError(str(exc)) from None


def _open_ndi(name: str, fps: float):
    from .ndi import NdiSender, NdiUnavailable

    try:
        return NdiSender(name, fps=fps)
    except (NdiUnavailable, ValueError) as exc:
        raise OutputError(str(exc)) from None


def _open_texture(backend: str):
    def open_(name: str, fps: float):
        from . import texture

        try:
            return texture.TextureSender(name, getattr(texture, backend)())
        except (texture.TextureUnavailable, ValueError) as exc:
            raise OutputError(str(exc)) from None
    return open_


OPTIONAL_OUTPUTS: tuple[OutputKind, ...] = (
    OutputKind("jitter", "--jitter", "Jitter", _open_jitter,
               lambda sink, target: f"jit.net.send to {sink.target} (jit.net.recv @port {target[1]} in Max)"),
    OutputKind("ndi", "--ndi", "NDI", _open_ndi, lambda sink, name: f"source '{name}' on this machine's network"),
    OutputKind("spout", "--spout", "Spout", _open_texture("SpoutBackend"),
               lambda sink, name: f"sender '{name}' (Syphon Spout In TOP, Resolume, OBS: pick it by name)"),
    OutputKind("syphon", "--syphon", "Syphon", _open_texture("SyphonBackend"),
               lambda sink, name: f"server '{name}' (Syphon Spout In TOP, Resolume, MadMapper: pick it by name)"),
)
