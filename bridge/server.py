"""`latentvj serve`: config -> server -> start / run / stop.

The server binds its sockets first (a port in use is reported at once, before the slow model load), loads
the model, creates the shared-memory ring at the engine's output size, then runs the render loop on the
calling thread until ``stop()`` (which only sets a flag, so a signal handler may call it). Everything it
opened is closed on the way out, the shared-memory segment included.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
from dataclasses import dataclass, field

from latentvj.models.registry import DEFAULT_MODEL, load

from .control import ControlState
from .device import pick_device
from .engine import Engine, EngineConfig
from .osc import OscProtocol, OscServer
from .preview import PreviewEncoder, PreviewServer
from .shm import ShmFrameWriter

log = logging.getLogger("latentvj.server")


@dataclass
class ServeConfig:
    model: str = DEFAULT_MODEL
    """A bundled model's name or a path to a .safetensors model file."""
    engine: EngineConfig = field(default_factory=EngineConfig)
    osc_host: str = "127.0.0.1"
    osc_port: int = 9000
    http_host: str = "127.0.0.1"
    http_port: int = 9001
    shm: str = "latentvj"
    """Name of the shared-memory frame ring (<= 30 characters, for macOS)."""


class ServeError(RuntimeError):
    """Something the user can fix (a port in use, a bad address); the message says what."""


def _bind(what: str, host: str, port: int, option: str, make):
    try:
        return make()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"{what} port {port} on {host} is already in use (another latentvj serve?); "
                             f"pick another with {option}") from None
        raise ServeError(f"cannot listen for {what} on {host}:{port}: {exc.strerror or exc}") from None


class Server:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.control = ControlState()
        self._stop = threading.Event()
        self._resources = contextlib.ExitStack()
        pick_device(config.engine.device)  # a device that is not there is reported before anything starts
        try:
            protocol = OscProtocol(self.control, status=self.status)
            self.osc = _bind("OSC", config.osc_host, config.osc_port, "--osc-port",
                             lambda: OscServer(protocol, host=config.osc_host, port=config.osc_port))
            self._resources.callback(self.osc.stop)
            self.encoder = PreviewEncoder()
            self.preview = _bind("HTTP preview", config.http_host, config.http_port, "--http-port",
                                 lambda: PreviewServer(self.encoder, self.status, host=config.http_host,
                                                       port=config.http_port))
            self._resources.callback(self.preview.stop)
            model = load(config.model)
            self.engine = Engine(model, config=config.engine, control=self.control)
            self.shm = ShmFrameWriter(config.shm, self.engine.width, self.engine.height,
                                      channels=self.engine.channels)
            self._resources.callback(self.shm.close)
            self.engine.sinks = [self.shm, self.encoder]
        except BaseException:
            self._resources.close()
            raise

    def status(self) -> dict:
        engine = getattr(self, "engine", None)
        status = engine.status() if engine else {"model": self.config.model, "frame": 0}
        status.update(
            shm=self.config.shm,
            osc=f"{self.osc.address[0]}:{self.osc.address[1]}",
            preview=self.preview.url,
        )
        return status

    def describe(self) -> str:
        s = self.engine.status()
        note = "  (untrained placeholder: random weights)" if s["random_init"] else ""
        return "\n".join([
            f"LatentVJ serving '{s['model']}' ({s['kind']}){note}",
            f"  device:  {s['device']} ({s['precision']}), target {s['target_fps']:g} fps",
            f"  frames:  shared memory '{self.config.shm}', {s['width']}x{s['height']} RGB8, top row first"
            f" (read with latentvj.plugin.shmring)",
            f"  preview: {self.preview.url}",
            f"  OSC:     udp {self.osc.address[0]}:{self.osc.address[1]} (send /lvj/status for a reply;"
            f" addresses in docs/osc.md)",
            "Ctrl-C to stop.",
        ])

    def run(self) -> None:
        """Serve until :meth:`stop`; closes everything on the way out."""
        with self._resources:
            self.engine.warm_up()
            self.osc.start()
            self.preview.start()
            log.info("rendering")
            self.engine.run(self._stop)
            log.info("stopping after %d frames", self.engine.frames)

    def stop(self) -> None:
        """Ask the render loop to finish its frame and return. Safe to call from a signal handler."""
        self._stop.set()

    def close(self) -> None:
        """Release sockets and shared memory of a server that was never run."""
        self._resources.close()
