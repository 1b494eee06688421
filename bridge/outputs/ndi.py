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
import threading
from fractions import Fraction
from typing import Callable, Protocol

import numpy as np

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


class NdiSender:
    """A frame sink that publishes frames as the NDI source NAME, from its own thread."""

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
        self.name = name
        self.frame_rate = Fraction(fps if fps > 0 else 60.0).limit_denominator(1001)
        if open_output is None:
            ndi = _import_cyndilib()  # raises NdiUnavailable naming the pip install

            def open_output(width: int, height: int, alpha: bool) -> NdiOutput:
                return _CyndilibOutput(ndi, name, self.frame_rate, width, height, alpha)

        self._open_output = open_output
        self._cond = threading.Condition()
        self._pending: np.ndarray | None = None  # the newest frame not yet taken by the sender thread
        self._spare: np.ndarray | None = None  # a frame buffer the sender thread is done with, for reuse
        self._stopping = False
        self._started = False
        self.sent = 0
        self.dropped = 0
        self.idle = 0
        self.errors = 0
        self.last_error = ""
        self.connections = 0
        self.source_name = ""
        self.size: tuple[int, int] | None = None  # (width, height) of the open output
        self._open_shape: tuple[int, ...] | None = None  # (height, width, channels) the output is open for
        self._thread = threading.Thread(target=self._send_loop, name="ndi-sender", daemon=True)

    # Called by the render loop: one copy, no conversion, no NDI call.
    def write(self, pixels: np.ndarray, *, timestamp: float | None = None) -> None:
        """Hand over one uint8 (height, width, 1|3|4) frame, top row first. ``timestamp`` is accepted for
        the sink interface; NDI stamps frames itself when they are sent."""
        if pixels.ndim != 3 or pixels.dtype != np.uint8 or pixels.shape[2] not in (1, 3, 4):
            raise ValueError(f"NdiSender.write expects a uint8 (height, width, 1|3|4) array, "
                             f"got {pixels.dtype} {pixels.shape}")
        if self.connections == 0 and self._open_shape == pixels.shape:
            self.idle += 1  # the source is up and nobody receives it: no copy (the thread polls for receivers)
            return
        with self._cond:
            if self._stopping:
                return
            frame, self._spare = self._spare, None
        if frame is None or frame.shape != pixels.shape:
            frame = np.empty(pixels.shape, np.uint8)
        np.copyto(frame, pixels)
        with self._cond:
            if self._pending is not None:
                self.dropped += 1  # the sender thread had not taken it yet: latest wins
            self._pending = frame
            self._cond.notify_all()

    def start(self) -> None:
        if self._started:
            return
        if self._stopping:
            raise RuntimeError("an NdiSender cannot be restarted after stop(); make a new one")
        self._started = True
        problem = discovery_problem()
        if problem:
            log.warning("NDI source %r will not be found by mDNS: %s (receivers set up with NDI Extra IPs "
                        "still find it)", self.name, problem)
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop the thread and close the NDI sender (receivers see the source go). Safe to call twice."""
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the NDI sender thread did not stop within %.1f s", timeout)

    def __enter__(self) -> NdiSender:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def status(self) -> dict:
        width, height = self.size or (0, 0)
        return {
            "name": self.name,
            "source": self.source_name,  # HOST (NAME), once the first frame opened the sender
            "running": self._thread.is_alive(),
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

    def _send_loop(self) -> None:
        output: NdiOutput | None = None
        key = None  # (height, width, channels) the output and the buffer were made for
        rgba = np.empty((0, 0, 4), np.uint8)
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping or self._pending is not None,
                                        timeout=CONNECTIONS_POLL_S)
                    if self._stopping:
                        return
                    frame, self._pending = self._pending, None
                try:
                    if frame is not None and frame.shape != key:
                        if output is not None:
                            old, output, key = output, None, None
                            self._close(old)
                        output, rgba = self._open(frame.shape)
                        key = frame.shape
                    if output is not None:
                        self.connections = output.connections()
                    if frame is None or output is None:
                        continue
                    if self.connections == 0:
                        self.idle += 1
                        continue
                    if frame.shape[2] == 4:
                        np.copyto(rgba, frame)
                    else:
                        rgba[..., :3] = frame  # grey (1 channel) broadcasts to R, G and B
                    output.send(rgba)
                    self.sent += 1
                except Exception as exc:  # one failed frame must not end the output
                    self._failed(exc)
                finally:
                    if frame is not None:
                        with self._cond:
                            self._spare = frame
        finally:
            if output is not None:
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
