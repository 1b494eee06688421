"""Spout (Windows) and Syphon (macOS): the frames shared as a GPU texture with the applications on the same
machine (TouchDesigner's Syphon Spout In TOP, Resolume, OBS, MadMapper, Millumin), the way each platform
expects.

``TextureSender(name, backend)`` is a frame sink like NDI's: the render loop's call copies the frame into an
RGBA buffer of its own and returns (outputs/latest.py: the newest frame wins); the sender's thread
("spout-sender", "syphon-sender") opens the platform's sender on the first frame, and sends. Every call into
Spout or Syphon happens on that one thread: Spout's OpenGL context and Syphon's run loop belong to it.

Each platform's library is an optional extra, imported only when the output is asked for:

- **Spout**: SpoutGL (BSD-3; its wheel bundles Spout's DLL), ``pip install 'latentvj[spout]'``. The calls, as
  SpoutGL's examples make them: ``SpoutSender()``, ``createOpenGL()`` (a hidden window's context, for a
  process that has none), ``setSenderName(name)``; per frame ``sendImage(pixels, width, height, GL_RGBA,
  False, 0)`` then ``setFrameSync(name)``; at the end ``releaseSender()`` and ``closeOpenGL()``. A size
  change is taken by Spout itself on the next ``sendImage``.
- **Syphon**: syphon-python (MIT; Metal), ``pip install 'latentvj[syphon]'``. The calls, as its README
  makes them: ``SyphonMetalServer(name)``, ``create_mtl_texture(server.device, width, height)`` (again on
  a size change), per frame ``copy_image_to_mtl_texture(rgba, texture)`` and
  ``publish_frame_texture(texture)``; ``has_clients`` says whether anyone receives (none: nothing is
  copied); the thread's run loop is run briefly after each frame and while idle (without it a headless
  process is not discovered by clients that start later); at the end ``stop()``.

Orientation: frames go in top row first, as a texture's first row is its top in both Direct3D (Spout's
shared texture) and Metal, so neither is asked to flip (``sendImage(..., bInvert=False)``,
``publish_frame_texture(is_flipped=False)``). docs/spout-syphon.md has the checklist for a real machine,
orientation first.

On the wrong platform, or without the extra, opening the output raises ``TextureUnavailable`` with one
line that says what to install or which platform has the output.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Protocol

import numpy as np

from .latest import LatestFrameSender, check_frame

log = logging.getLogger("latentvj.texture")

REOPEN_S = 2.0
"""After a sender that would not open (no GPU interop, say), the next try waits this long."""
GL_RGBA = 0x1908
"""OpenGL's RGBA pixel format (SpoutGL.enums.GL_RGBA)."""


class TextureUnavailable(RuntimeError):
    """The platform has no such output, or its optional package is missing or does not load."""


class TextureOutput(Protocol):
    """One open platform sender."""

    def send(self, rgba: np.ndarray) -> None:
        """Share one contiguous uint8 (height, width, 4) frame; the array may be reused after the call."""

    def clients(self) -> int | None:
        """How many receive it now; None when the platform cannot say (Spout), which means send always."""

    def pump(self) -> None:
        """Idle work on the sender's thread (Syphon: run the thread's run loop briefly)."""

    def close(self) -> None:
        ...


class Backend(Protocol):
    label: str
    """Spout or Syphon."""

    def open(self, name: str) -> TextureOutput:
        ...


# ---- Spout ------------------------------------------------------------------------------------------

SPOUT_CALLS = ("createOpenGL", "setSenderName", "sendImage", "setFrameSync", "releaseSender", "closeOpenGL")
"""Every method of SpoutGL's SpoutSender this output calls (checked against the real wheel by the tests)."""


class _SpoutOutput:
    def __init__(self, spout, name: str):
        self.name = name
        self._sender = spout.SpoutSender()
        self._sender.createOpenGL()
        self._sender.setSenderName(name)
        self._format = getattr(getattr(spout, "enums", spout), "GL_RGBA", GL_RGBA)

    def send(self, rgba: np.ndarray) -> None:
        height, width = rgba.shape[:2]
        if not self._sender.sendImage(rgba, width, height, self._format, False, 0):
            raise RuntimeError(f"Spout did not take the {width}x{height} frame (no DirectX 11 / OpenGL "
                               "interop on this GPU?)")
        self._sender.setFrameSync(self.name)

    def clients(self) -> int | None:
        return None

    def pump(self) -> None:
        pass

    def close(self) -> None:
        self._sender.releaseSender()
        self._sender.closeOpenGL()


class SpoutBackend:
    label = "Spout"
    extra = "pip install 'latentvj[spout]'"

    def __init__(self, module: Any | None = None, *, platform: str = sys.platform):
        if module is None:
            if platform != "win32":
                raise TextureUnavailable(_elsewhere("Spout", "Windows", platform))
            try:
                import SpoutGL as module
            except ImportError as exc:
                raise TextureUnavailable(_missing("Spout", "SpoutGL", ("SpoutGL",), self.extra, exc)) from None
        self.module = module

    def open(self, name: str) -> TextureOutput:
        return _SpoutOutput(self.module, name)


# ---- Syphon -----------------------------------------------------------------------------------------

SYPHON_CALLS = {
    "syphon": ("SyphonMetalServer",),
    "syphon.server.SyphonMetalServer": ("publish_frame_texture", "stop", "has_clients", "device"),
    "syphon.utils.raw": ("create_mtl_texture",),
    "syphon.utils.numpy": ("copy_image_to_mtl_texture",),
}
"""What this output uses of syphon-python, by module (checked against the real wheel by the tests)."""

RUN_LOOP_S = 0.001
"""How long the Syphon sender runs its thread's run loop after each frame (and each idle poll)."""


class _SyphonOutput:
    def __init__(self, modules: dict[str, Any], name: str):
        self._raw, self._numpy, self._foundation = modules["raw"], modules["numpy"], modules["foundation"]
        self._server = modules["syphon"].SyphonMetalServer(name)
        self._texture = None
        self._size: tuple[int, int] | None = None

    def send(self, rgba: np.ndarray) -> None:
        height, width = rgba.shape[:2]
        if self._size != (width, height):
            self._texture = self._raw.create_mtl_texture(self._server.device, width, height)
            self._size = (width, height)
        self._numpy.copy_image_to_mtl_texture(rgba, self._texture)
        self._server.publish_frame_texture(self._texture, is_flipped=False)
        self.pump()

    def clients(self) -> int | None:
        return int(bool(self._server.has_clients))

    def pump(self) -> None:
        foundation = self._foundation
        foundation.NSRunLoop.currentRunLoop().runMode_beforeDate_(
            foundation.NSDefaultRunLoopMode, foundation.NSDate.dateWithTimeIntervalSinceNow_(RUN_LOOP_S))

    def close(self) -> None:
        self._server.stop()


class SyphonBackend:
    label = "Syphon"
    extra = "pip install 'latentvj[syphon]'"

    def __init__(self, modules: dict[str, Any] | None = None, *, platform: str = sys.platform):
        """modules: ``syphon``, ``raw`` (syphon.utils.raw), ``numpy`` (syphon.utils.numpy) and
        ``foundation`` (NSRunLoop, NSDate, NSDefaultRunLoopMode); imported when not given."""
        if modules is None:
            if platform != "darwin":
                raise TextureUnavailable(_elsewhere("Syphon", "macOS", platform))
            try:
                import Foundation
                import syphon
                import syphon.utils.numpy
                import syphon.utils.raw
            except ImportError as exc:
                raise TextureUnavailable(_missing("Syphon", "syphon-python", ("syphon", "Foundation", "objc"),
                                                  self.extra, exc)) from None
            modules = {"syphon": syphon, "raw": syphon.utils.raw, "numpy": syphon.utils.numpy,
                       "foundation": Foundation}
        self.modules = modules

    def open(self, name: str) -> TextureOutput:
        return _SyphonOutput(self.modules, name)


def _elsewhere(what: str, where: str, platform: str) -> str:
    here = {"win32": "Windows", "darwin": "macOS"}.get(platform, "Linux" if platform.startswith("linux") else platform)
    instead = {"Windows": "--spout NAME", "macOS": "--syphon NAME"}.get(here, "--ndi NAME or shared memory")
    return f"{what} exists only on {where}; on {here} use {instead} (docs/spout-syphon.md)"


def _missing(what: str, package: str, modules: tuple[str, ...], extra: str, exc: ImportError) -> str:
    """modules: the top-level modules the extra installs (one of them missing: the extra is not there)."""
    if (exc.name or "").split(".")[0] in modules:
        return f"{what} output needs the optional {package} package: {extra}"
    return f"{what} output: {package} is installed but does not load ({exc}); reinstall it: {extra}"


# ---- the sink ---------------------------------------------------------------------------------------

class TextureSender(LatestFrameSender):
    """A frame sink that shares frames as the Spout sender or Syphon server NAME, from its own thread."""

    restartable = False  # the platform's sender is released by stop()

    def __init__(self, name: str, backend: Backend):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"the {backend.label} sender name must be a non-empty string, got {name!r}")
        super().__init__(f"{backend.label.lower()}-sender")
        self.name = name
        self.backend = backend
        self.sent = 0
        self.idle = 0
        """Frames not shared because no client receives (Syphon only)."""
        self.errors = 0
        self.last_error = ""
        self.clients: int | None = None
        self.size: tuple[int, int] | None = None
        self._output: TextureOutput | None = None
        self._retry_at = 0.0  # after a sender that would not open: not before this (time.monotonic)

    # ---- the render loop's side (see LatestFrameSender.write) ----
    def check(self, pixels: np.ndarray) -> None:
        check_frame(pixels, type(self).__name__)

    def wants(self, pixels: np.ndarray) -> bool:
        if self.clients == 0 and self.size == (pixels.shape[1], pixels.shape[0]):
            self.idle += 1  # nobody receives: not even copied (the thread asks again every poll)
            return False
        return True

    def buffer_shape(self, pixels: np.ndarray) -> tuple[int, ...]:
        return (*pixels.shape[:2], 4)

    def fill(self, buffer, pixels: np.ndarray) -> None:
        if pixels.shape[2] == 4:
            np.copyto(buffer.array, pixels)
            return
        if buffer.note != "opaque":  # alpha is set once per buffer, not per frame
            buffer.array[..., 3] = 255
            buffer.note = "opaque"
        buffer.array[..., :3] = pixels  # grey (1 channel) broadcasts to R, G and B

    def status(self) -> dict:
        width, height = self.size or (0, 0)
        return {"name": self.name, "running": self.running, "width": width, "height": height,
                "sent": self.sent, "dropped": self.dropped, "idle": self.idle, "clients": self.clients,
                "errors": self.errors, "last_error": self.last_error}

    # ---- the sender's thread ----
    def send(self, frame: np.ndarray | None) -> None:
        if self._output is None:
            if frame is None or time.monotonic() < self._retry_at:
                return  # opened on the first frame: receivers never list a sender with nothing in it
            self._retry_at = time.monotonic() + REOPEN_S
            self._output = self.backend.open(self.name)
            log.info("%s sender %r open", self.backend.label, self.name)
        if frame is None:
            self._output.pump()
            self.clients = self._output.clients()
            return
        if self.clients == 0:
            self.clients = self._output.clients()
            if self.clients == 0:
                self.idle += 1
                return
        if self.size != (frame.shape[1], frame.shape[0]):
            self.size = (frame.shape[1], frame.shape[0])
            log.info("%s sender %r: %dx%d", self.backend.label, self.name, *self.size)
        self._output.send(frame)
        self.sent += 1
        self.clients = self._output.clients()

    def failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self.last_error:
            log.warning("%s output: %s", self.backend.label, message)
        self.last_error = message
        self.errors += 1

    def finish(self) -> None:
        if self._output is not None:
            output, self._output = self._output, None
            try:
                output.close()
            except Exception as exc:
                self.failed(exc)
