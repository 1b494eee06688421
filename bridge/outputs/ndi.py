"""NDI output: publishes the rendered frames as an NDI video source that receivers on the LAN can pick.

``NdiSender(name)`` is a frame sink like the preview: the render loop calls ``write(pixels)``, which only copies
the frame and hands it over. Everything else happens on the sender's own thread ("ndi-sender"): it takes
the newest frame (latest wins: a frame replaced before the thread got to it is counted as dropped), converts
RGB to RGBX (alpha 255; RGBA when the model renders 4 channels, grey is spread to RGB), opens the NDI sender
for the frame size (again when the size changes: receivers see the source go and come back), and sends it.
While no receiver is connected, frames are counted as idle and neither converted nor sent. NDI never paces
the render loop: the sender does not clock itself, the engine does.

The NDI runtime comes from the optional ``cyndilib`` package (``pip install 'latentvj[ndi]'``), imported
only when an ``NdiSender`` is made; without it the constructor raises ``NdiUnavailable`` naming that command.

Discovery: receivers find sources by mDNS (the source appears as ``HOST (NAME)`` once the first frame has
been rendered). On Linux the NDI library asks avahi-daemon over the D-Bus system bus, so both must run; on
macOS and Windows the system's mDNS is used. Without mDNS, receivers can still be told where to look (NDI
"Extra IPs": ``ndi.networks.ips`` in ``ndi-config.v1.json``, in ``~/.ndi/`` or the folder ``NDI_CONFIG_DIR``
names). ``discovery_problem()`` says why mDNS discovery cannot work here, or None.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from fractions import Fraction
from typing import Callable, Protocol

import numpy as np

from .latest import LatestFrameSender, check_frame

log = logging.getLogger("latentvj.ndi")

INSTALL_HINT = "pip install 'latentvj[ndi]'"

CONNECTIONS_POLL_S = 0.5
"""How often the sender thread refreshes the receiver count while no frames arrive."""

DBUS_SYSTEM_SOCKETS = ("/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket")
AVAHI_SOCKETS = ("/run/avahi-daemon/socket", "/var/run/avahi-daemon/socket")


class NdiUnavailable(RuntimeError):
    """The optional NDI runtime (cyndilib) is missing or does not load."""


def _import_cyndilib():
    try:
        import cyndilib
    except ImportError as exc:
        if exc.name == "cyndilib":
            raise NdiUnavailable(f"NDI output needs the optional cyndilib package: {INSTALL_HINT}") from None
        raise NdiUnavailable(f"cyndilib is installed but does not load ({exc}); reinstall it: "
                             f"pip install --force-reinstall 'latentvj[ndi]'") from exc
    except OSError as exc:  # the bundled NDI runtime (libndi) failed to load
        raise NdiUnavailable(f"the NDI runtime in cyndilib does not load ({exc}); reinstall it: "
                             f"pip install --force-reinstall 'latentvj[ndi]'") from exc
    return cyndilib


def ndi_available() -> str | None:
    """None when NDI output can be used here, else the reason (naming the pip install that fixes it)."""
    try:
        _import_cyndilib()
    except NdiUnavailable as exc:
        return str(exc)
    return None


def discovery_problem() -> str | None:
    """Why receivers cannot find NDI sources of this machine by mDNS, or None when nothing is known wrong.

    Only Linux is checked: there NDI reaches avahi-daemon over the D-Bus system bus, so both sockets must
    accept a connection (a socket file left by a dead daemon does not)."""
    if not sys.platform.startswith("linux"):
        return None
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    dbus = (address[len("unix:path="):].split(",")[0],) if address.startswith("unix:path=") else DBUS_SYSTEM_SOCKETS
    if not any(_accepts(path) for path in dbus):
        return (f"the D-Bus system bus is not running (no {dbus[0]}); NDI finds sources through avahi-daemon "
                "over D-Bus: start dbus-daemon --system, then avahi-daemon")
    if not any(_accepts(path) for path in AVAHI_SOCKETS):
        return f"avahi-daemon is not running (no {AVAHI_SOCKETS[0]}); NDI finds sources through it: start it"
    return None


def _accepts(path: str) -> bool:
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


class NdiOutput(Protocol):
    """One open NDI sender for one frame size and pixel format."""

    source_name: str
    """The name receivers list, ``HOST (NAME)``."""

    def send(self, rgba: np.ndarray) -> None:
        """Send one contiguous uint8 (height, width, 4) frame; the array may be reused after the call."""

    def connections(self) -> int:
        """How many receivers are connected now."""

    def close(self) -> None:
        ...


OpenOutput = Callable[[int, int, bool], NdiOutput]
"""(width, height, alpha) -> an open NdiOutput; alpha False means RGBX (alpha ignored by receivers)."""


class _CyndilibOutput:
    def __init__(self, ndi, name: str, frame_rate: Fraction, width: int, height: int, alpha: bool):
        frame = ndi.VideoSendFrame()
        frame.set_resolution(width, height)
        frame.set_fourcc(ndi.FourCC.RGBA if alpha else ndi.FourCC.RGBX)
        frame.set_frame_rate(frame_rate)
        # clock_video=False: the render loop keeps time; NDI's clock would block and drop frames instead.
        self._sender = ndi.Sender(name, clock_video=False, clock_audio=False)
        self._sender.set_video_frame(frame)
        self._sender.open()
        self.source_name = self._sender.name

    def send(self, rgba: np.ndarray) -> None:
        if not self._sender.write_video_async(rgba.reshape(-1)):  # copies into cyndilib's own buffer
            raise RuntimeError("the NDI sender is not open")

    def connections(self) -> int:
        return int(self._sender.get_num_connections(0.0))

    def close(self) -> None:
        self._sender.close()


class NdiSender(LatestFrameSender):
    """A frame sink that publishes frames as the NDI source NAME, from its own thread (the shared latest-
    frame hand-off: outputs/latest.py). The render loop's call copies the frame and nothing more; the thread
    converts it and sends it."""

    poll = CONNECTIONS_POLL_S
    restartable = False  # the NDI sender is closed by stop()

    def __init__(self, name: str, *, fps: float = 30.0, open_output: OpenOutput | None = None):
        """
        Args:
            name: the NDI source name; receivers list it as ``HOST (NAME)``.
            fps: the frame rate announced to receivers (NDI frames carry one); it does not pace anything.
                0 or less (the engine's "as fast as it can") announces 60.
            open_output: opens the NDI output for a frame size; by default cyndilib's Sender. Tests pass
                a fake so that the threading can be checked without NDI.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"the NDI source name must be a non-empty string, got {name!r}")
        super().__init__("ndi-sender")
        self.name = name
        self.frame_rate = Fraction(fps if fps > 0 else 60.0).limit_denominator(1001)
        if open_output is None:
            ndi = _import_cyndilib()  # raises NdiUnavailable naming the pip install

            def open_output(width: int, height: int, alpha: bool) -> NdiOutput:
                return _CyndilibOutput(ndi, name, self.frame_rate, width, height, alpha)

        self._open_output = open_output
        self.sent = 0
        self.idle = 0
        self.errors = 0
        self.last_error = ""
        self.connections = 0
        self.source_name = ""
        self.size: tuple[int, int] | None = None  # (width, height) of the open output
        self._open_shape: tuple[int, ...] | None = None  # (height, width, channels) the output is open for
        self._output: NdiOutput | None = None
        self._rgba = np.empty((0, 0, 4), np.uint8)

    # ---- the render loop's side (see LatestFrameSender.write) ----
    def check(self, pixels: np.ndarray) -> None:
        check_frame(pixels, "NdiSender")

    def wants(self, pixels: np.ndarray) -> bool:
        if self.connections == 0 and self._open_shape == pixels.shape:
            self.idle += 1  # the source is up and nobody receives it: no copy (the thread polls for receivers)
            return False
        return True

    # ---- lifecycle ----
    def start(self) -> None:
        problem = None if self.running or self._stopped else discovery_problem()
        if problem:
            log.warning("NDI source %r will not be found by mDNS: %s (receivers set up with NDI Extra IPs "
                        "still find it)", self.name, problem)
        super().start()


    def status(self) -> dict:
        width, height = self.size or (0, 0)
        return {
            "name": self.name,
            "source": self.source_name,  # HOST (NAME), once the first frame opened the sender
            "running": self.running,
            "width": width,
            "height": height,
            "fps": float(self.frame_rate),
            "sent": self.sent,
            "dropped": self.dropped,
            "idle": self.idle,  # frames not sent because no receiver was connected
            "connections": self.connections,
            "errors": self.errors,
            "last_error": self.last_error,
        }

    # ---- the output's thread ----
    def send(self, frame: np.ndarray | None) -> None:
        if frame is not None and frame.shape != self._open_shape:
            if self._output is not None:
                old, self._output = self._output, None
                self._close(old)
            self._output, self._rgba = self._open(frame.shape)
        if self._output is not None:
            self.connections = self._output.connections()
        if frame is None or self._output is None:
            return
        if self.connections == 0:
            self.idle += 1
            return
        if frame.shape[2] == 4:
            np.copyto(self._rgba, frame)
        else:
            self._rgba[..., :3] = frame  # grey (1 channel) broadcasts to R, G and B
        self._output.send(self._rgba)
        self.sent += 1

    def failed(self, exc: Exception) -> None:
        self._failed(exc)

    def finish(self) -> None:
        if self._output is not None:
            output, self._output = self._output, None
            self._close(output)

    def _open(self, shape: tuple[int, ...]) -> tuple[NdiOutput, np.ndarray]:
        height, width, channels = shape
        if width % 2 or height % 2:
            log.warning("NDI sends even sizes: receivers get %dx%d of the %dx%d frames",
                        width - width % 2, height - height % 2, width, height)
        output = self._open_output(width, height, channels == 4)
        rgba = np.full((height, width, 4), 255, np.uint8)  # alpha stays 255 for RGB frames
        self.size, self.source_name = (width, height), output.source_name
        self._open_shape = shape
        log.info("NDI source %r: %dx%d at %s fps", output.source_name, width, height, self.frame_rate)
        return output, rgba

    def _close(self, output: NdiOutput) -> None:
        self._open_shape = None
        try:
            output.close()
        except Exception as exc:
            self._failed(exc)
        self.connections = 0

    def _failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self.last_error:
            log.warning("NDI output: %s", message)
        self.last_error = message
        self.errors += 1
