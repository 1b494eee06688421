"""OSC control: the protocol works on datagram bytes, the UDP server is a thin adapter around it.

Every message is validated against the parameter registry. A message that cannot be applied (malformed
packet, unknown address, wrong type, out of range, NaN) is answered with ``/lvj/error s`` ("ADDRESS:
reason") to its sender and logged; nothing a controller sends can stop rendering or the handling of later
messages.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Callable

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from .control import ControlState
from .params import PREFIX, ParamError, address_to_name

log = logging.getLogger("latentvj.osc")

ERROR_ADDRESS = f"{PREFIX}/error"
STATUS_ADDRESS = f"{PREFIX}/status"

# Order of the arguments of the /lvj/status reply; documented in docs/osc.md. New fields go at the end.
STATUS_FIELDS = (
    ("model", "s"), ("device", "s"), ("width", "i"), ("height", "i"), ("target_fps", "f"),
    ("fps", "f"), ("frame", "i"), ("mode", "s"),
)

Address = tuple[str, int]
Reply = tuple[bytes, Address]


def build_message(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class OscProtocol:
    """Turns one datagram from one sender into state changes and the replies to send back."""

    def __init__(self, state: ControlState, *, status: Callable[[], dict]):
        self.state = state
        self.status = status
        self.errors = 0
        """Messages answered with /lvj/error since start."""

    def handle(self, data: bytes, sender: Address) -> list[Reply]:
        try:
            if data[:1] in (b"/", b"#"):
                messages = [timed.message for timed in OscPacket(data).messages]
            else:  # TouchDesigner's OSC Out CHOP may send bare channel names: an address without the slash
                messages = [OscMessage(data)]
        except Exception as exc:  # python-osc raises assorted errors on hostile bytes; all mean "malformed"
            return [self._error(sender, "(packet)", f"malformed OSC packet of {len(data)} bytes ({exc})")]
        replies: list[Reply] = []
        for message in messages:
            replies.extend(self._handle_message(message.address, list(message.params), sender))
        return replies

    def _handle_message(self, address: str, args: list, sender: Address) -> list[Reply]:
        name = address_to_name(address)
        if name == "status":
            status = self.status()
            values = [status.get(field, "") for field, _ in STATUS_FIELDS]
            values = [_cast(v, tag) for v, (_, tag) in zip(values, STATUS_FIELDS)]
            return [(build_message(STATUS_ADDRESS, *values), sender)]
        param = self.state.registry.find(address)
        if param is None:
            return [self._error(sender, address, f"unknown address (see docs/osc.md for the {PREFIX}/... namespace)")]
        try:
            value = param.coerce(args)
        except ParamError as exc:
            return [self._error(sender, param.address, str(exc))]
        self.state.set(param.name, value)
        log.debug("%s <- %r from %s:%d", param.address, value, *sender)
        return []

    def _error(self, sender: Address, address: str, reason: str) -> Reply:
        self.errors += 1
        log.warning("OSC from %s:%d: %s: %s", sender[0], sender[1], address, reason)
        return build_message(ERROR_ADDRESS, f"{address}: {reason}"), sender


def _cast(value: Any, tag: str) -> Any:
    if tag == "i":
        return int(value or 0)
    if tag == "f":
        return float(value or 0.0)
    return str(value)


class OscServer:
    """UDP socket + receive thread around an :class:`OscProtocol`. Binds in the constructor, so a port in
    use is reported before the model is loaded."""

    RECV_BUFFER = 4 * 1024 * 1024

    def __init__(self, protocol: OscProtocol, *, host: str = "127.0.0.1", port: int = 9000):
        self.protocol = protocol
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # A burst of controller messages must queue in the kernel, not be dropped there.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RECV_BUFFER)
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.address: Address = self.sock.getsockname()
        self.sock.settimeout(0.2)  # how often the receive loop looks at the stop flag
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="osc", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                data, sender = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    return
                log.warning("OSC receive failed: %s", exc)  # e.g. ICMP port unreachable echoes on some OSes
                continue
            try:
                replies = self.protocol.handle(data, sender)
            except Exception:  # a bug here must not end control; log it and keep receiving
                log.exception("OSC handler failed on a %d-byte packet from %s:%d", len(data), *sender)
                continue
            for reply, destination in replies:
                try:
                    self.sock.sendto(reply, destination)
                except OSError as exc:
                    log.debug("could not reply to %s:%d: %s", *destination, exc)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self.sock.close()
