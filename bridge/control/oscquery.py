"""OSCQuery: the OSC namespace, discoverable over HTTP and streamed over WebSocket.

Follows the Vidvox OSCQuery proposal (https://github.com/Vidvox/OSCQueryProposal). ``GET /`` returns the
whole namespace as JSON, built from the parameter registry at request time (so VALUEs are current);
``GET /lvj/walk/speed`` one node; ``GET /lvj/walk/speed?VALUE`` one attribute (``{"VALUE": [1.0]}``);
``GET /?HOST_INFO`` where to send OSC and which parts of the proposal are served. A page of this machine
(an http(s) origin on loopback, ``localhost`` or this server's address; a page opened from a file only
with ``allow_file_pages``) may read the answers: it is named in ``Access-Control-Allow-Origin``. Pages
from elsewhere are not, and requests whose ``Host`` is not this machine (DNS rebinding) are refused, as
are clients outside the allow list and more than ``max_clients`` at once (see httpguard.py).

A WebSocket on the same port (an HTTP Upgrade on any path; RFC 6455 on the standard library) takes JSON
commands ``{"COMMAND": "LISTEN", "DATA": "/lvj/walk/speed"}`` and ``IGNORE``; after LISTEN, every change
of that address, whoever made it, is sent as a binary frame holding the OSC message. When a model with
another latent size is loaded, clients are sent ``{"COMMAND": "PATH_CHANGED", "DATA": "/lvj/z"}``.

Binary messages a client sends are OSC packets, handed to ``on_osc`` (the same protocol the UDP server
runs, see :func:`websocket_osc`) with the client as the sender; the replies for that sender come back to
it as binary frames. Because any web page may open a WebSocket to 127.0.0.1, OSC is only taken from
clients whose ``Origin`` is this machine (or absent: not a browser; ``null``, a page opened from a file
or a sandboxed frame, only with ``allow_file_pages``); reading the namespace and LISTEN stay open to every
client that may connect. At most ``max_websockets`` WebSockets are open at once; one that has sent nothing
for ``PING_AFTER_S`` is pinged, and dropped when it stays silent for ``DROP_AFTER_S``. A command that
cannot be followed is answered with an ``/lvj/error`` OSC message (a binary frame).

The state's listener runs on whatever thread made the change, so it only appends to each listening
client's bounded queue (dropping the oldest when full); each client has its own sender thread, and a client
that stops reading for ``send_timeout`` seconds is dropped. Optional mDNS (``mdns=True``, the zeroconf
extra) advertises ``_oscjson._tcp`` on the HTTP port and ``_osc._udp`` on the OSC port.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import ipaddress
import json
import logging
import socket
import struct
import threading
import time
from http import HTTPStatus
from typing import Any, Callable, Iterable
from urllib.parse import unquote, urlsplit

from latentvj.plugin.oscwire import Arg

from .state import Change, ControlState, Live
from ..httpguard import GuardedHandler, GuardedHTTPServer
from .osc import ERROR_ADDRESS, AllowList, OscProtocol, build_message, clip
from .problems import ProblemLog
from .params import PREFIX, Param

log = logging.getLogger("latentvj.oscquery")

ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "ACCESS", "VALUE", "RANGE", "DESCRIPTION", "UNIT")
"""Attributes a node may carry, and so the attribute queries (``?VALUE``) this server answers."""

EXTENSIONS = {
    "ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True, "TAGS": False, "EXTENDED_TYPE": False,
    "UNIT": True, "CRITICAL": False, "CLIPMODE": False, "LISTEN": True, "PATH_CHANGED": True,
    "PATH_RENAMED": False, "PATH_ADDED": False, "PATH_REMOVED": False, "HTML": False, "ECHO": False,
}
"""HOST_INFO's EXTENSIONS: the optional parts of the proposal this server implements."""

ACCESS = {"r": 1, "w": 2, "rw": 3}
"""Proposal's ACCESS: 0 no value (containers), 1 read-only, 2 write-only, 3 read and write."""

UNITS = {"s": "time.second", "Hz": "time.hz", "px": "distance.pixels", "x": "time.speed"}
"""Registry units that have a name in the proposal's unit list (units.md); others are served as is."""

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 64 * 1024
"""Largest WebSocket message a client may send (commands are a few dozen bytes); larger closes with 1009."""
QUEUE_LIMIT = 256
"""Changes waiting for one client; when full, the oldest is dropped."""
MAX_CLIENTS = 64
"""HTTP connections at once, WebSockets included."""
MAX_WEBSOCKETS = 32
"""WebSocket clients at once; one more is answered 503."""
PING_AFTER_S = 30.0
"""A WebSocket client silent this long is pinged (browsers and WebSocket libraries answer by themselves)."""
DROP_AFTER_S = 90.0
"""A WebSocket client silent this long (no pong either) is dropped."""

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

WEBSOCKET_PORT = 0
"""The port of a WebSocket client's OSC sender address, ``(its IP, 0)``: no UDP sender has port 0, so it is
never mistaken for one, and a UDP send to it (an echo to "the controller that asked") fails at once."""

Address = tuple[str, int]
OscHandler = Callable[[bytes, Address], list[bytes]]
"""OSC from a WebSocket client: (packet, sender) -> the replies for that sender."""


# ---- the namespace as JSON ---------------------------------------------------------------------------

def namespace(state: ControlState, *, name: str = "LatentVJ", live: Iterable[Live] = ()) -> dict[str, Any]:
    """The whole OSCQuery tree of the state's registry, with current values.

    Each path segment is a node; a parameter is a node with TYPE/ACCESS/RANGE/...; a node may be both a
    parameter and have CONTENTS (``/lvj/status`` and ``/lvj/status/rate``; ``/lvj/z`` and its dimensions).
    ``z/N`` becomes one leaf per latent dimension (``/lvj/z/0`` ...), as many as the deck's latent size
    (``/lvj/deck/b/z/...``: deck B's; ``/lvj/z/...``: the selected deck's)."""
    root = {"FULL_PATH": "/", "DESCRIPTION": name, "ACCESS": 0, "CONTENTS": {}}
    for param in state.registry:
        head, _, tail = param.name.rpartition("/")
        if tail == "NAME":  # mod/source/NAME: the names are the sender's own; there is nothing to list
            continue
        if tail == "N":  # indexed: one leaf per latent dimension (z/N is the only indexed parameter)
            parent = _container(root, f"{PREFIX}/{head}")
            for index in range(_latent_dim(param, state)):
                parent["CONTENTS"][str(index)] = _leaf(param, state, f"{PREFIX}/{head}/{index}", single=True)
            continue
        node = _container(root, param.address)
        contents = node.pop("CONTENTS", {})
        node.clear()
        node.update(_leaf(param, state, param.address))
        node["CONTENTS"] = contents
    for node in live:
        _container(root, node.path).update({
            "FULL_PATH": node.path, "TYPE": "f", "ACCESS": ACCESS["r"], "VALUE": [float(node.value)],
            "RANGE": [{"MIN": node.low, "MAX": node.high}], "DESCRIPTION": node.description})
    _prune(root)
    return root


def _prune(node: dict) -> None:
    """Drop empty CONTENTS (a parameter with no children, /lvj/z before a model is loaded)."""
    for child in node.get("CONTENTS", {}).values():
        _prune(child)
    if not node.get("CONTENTS") and node["FULL_PATH"] != "/":
        node.pop("CONTENTS", None)


def _container(root: dict, path: str) -> dict:
    """The node at ``path``, creating containers (ACCESS 0) on the way."""
    node = root
    full = ""
    for segment in path.strip("/").split("/"):
        full += "/" + segment
        contents = node.setdefault("CONTENTS", {})
        if segment not in contents:
            contents[segment] = {"FULL_PATH": full, "ACCESS": 0, "CONTENTS": {}}
        node = contents[segment]
    return node


def _latent_dim(param: Param, state: ControlState) -> int:
    """The latent size that a deck parameter's values have (its deck's, or the selected deck's)."""
    deck = state.deck_of(param.name)
    return state.latent_dims[deck] if deck else state.latent_dim


def _leaf(param: Param, state: ControlState, path: str, *, single: bool = False) -> dict[str, Any]:
    tags = _type_tags(param, _latent_dim(param, state))
    node: dict[str, Any] = {"FULL_PATH": path, "DESCRIPTION": param.description}
    if tags:
        node["TYPE"] = tags
    latent = param.type == "f*" or single
    # The latent point moves every frame and the state only holds the last request for it, so /lvj/z
    # and /lvj/z/N are served as write-only: nothing true could be read back.
    node["ACCESS"] = ACCESS["w"] if latent else ACCESS[param.access]
    value = None if latent or param.access == "w" else state.get(param.name)
    if value is not None and tags:
        node["VALUE"] = _json_value(param, value)
    if param.choices:
        node["RANGE"] = [{"VALS": list(param.choices)}]
    elif param.range is not None and tags:
        lo, hi = param.range
        if "i" in tags:
            lo, hi = int(lo), int(hi)
        node["RANGE"] = [{} if tag == "s" else {"MIN": lo, "MAX": hi} for tag in tags]
    if param.unit and tags:
        node["UNIT"] = [UNITS.get(param.unit, param.unit) for _ in tags]
    return node


def _type_tags(param: Param, latent_dim: int) -> str:
    """The OSC type tag string a message to this parameter carries (empty: no arguments known yet)."""
    if param.type == "f*":
        return "f" * latent_dim
    return param.type


def _json_value(param: Param, value: Any) -> list:
    if param.type in ("ii", "ff", "f*"):
        return [int(v) if param.type == "ii" else float(v) for v in value]
    if param.type == "f":
        return [float(value)]
    if param.type == "i":
        return [int(value)]
    if param.type == "T":
        return [bool(value)]
    return [value]


def find_node(tree: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The node at an HTTP path (``/lvj/walk/speed``, trailing slash optional), or None."""
    node = tree
    for segment in (s for s in path.split("/") if s):
        node = node.get("CONTENTS", {}).get(segment)
        if node is None:
            return None
    return node


def host_info(*, name: str, osc_host: str, osc_port: int) -> dict[str, Any]:
    """``GET /?HOST_INFO``. OSC_IP is left out for a wildcard host (0.0.0.0): clients then use the IP they
    reached this server on, as the proposal says."""
    info: dict[str, Any] = {"NAME": name, "EXTENSIONS": dict(EXTENSIONS)}
    if not _is_wildcard(osc_host):
        info["OSC_IP"] = osc_host
    info["OSC_PORT"] = osc_port
    info["OSC_TRANSPORT"] = "UDP"
    return info  # no WS_IP/WS_PORT: the WebSocket is on this same port


def osc_message(param: Param, change: Change) -> bytes:
    """One change as the OSC message a LISTENing client is sent (address + the new value)."""
    value = change.value
    if param.type == "I" or value is None:
        args = []  # a pulse: the message itself is the event
    elif param.type in ("ii", "ff", "f*") and change.index is None:
        args = [Arg("i", int(v)) if param.type == "ii" else Arg("f", float(v)) for v in value]
    elif param.type == "T":
        args = [Arg("i", int(bool(value)))]  # 0/1, as over UDP: Pd's [oscparse] and others know no T/F
    elif param.type == "i":
        args = [Arg("i", int(value))]
    elif param.type == "s":
        args = [Arg("s", str(value))]
    else:
        args = [Arg("f", float(value))]
    return build_message(change.address, *args)


# ---- OSC over the WebSocket ---------------------------------------------------------------------------

def websocket_osc(protocol: OscProtocol, *, send: Callable[[bytes, Address], None]) -> OscHandler:
    """``on_osc`` for :class:`OscQueryServer`: packets from a WebSocket client go through ``protocol`` like a
    UDP datagram (validated, applied, echoed to subscribers, errors reported). Replies for the client are
    returned (the server sends them back as binary frames); replies for others (errors to subscribers, a
    subscription's current values) go out with ``send``, the UDP server's.

    It runs on each client's reading thread, beside the UDP server's thread: the state is thread-safe, and a
    bundle timed in the future joins the protocol's schedule, applied when due by the UDP thread (errors of
    such a message then reach the subscribers only)."""

    def handle(data: bytes, sender: Address) -> list[bytes]:
        replies = []
        for message, target in protocol.handle(data, sender):
            if target == sender:
                replies.append(message)
            else:
                send(message, target)
        if protocol.subscribers.remove(sender):  # a /lvj/subscribe without a port: nothing to send UDP to
            replies.append(build_message(ERROR_ADDRESS, f"{PREFIX}/subscribe: a WebSocket client follows "
                                         "changes with LISTEN; give a port to subscribe a UDP one"))
        return replies

    return handle


def origin_allowed(origin: str | None, server_hosts: set[str], *, file_pages: bool = False) -> bool:
    """Whether a WebSocket client may send OSC (and a page may read the answers), judged by its ``Origin``:
    absent (not a browser), an http(s) page whose host is loopback, ``localhost`` or one of ``server_hosts``
    (the addresses this server answers on), and with ``file_pages`` also ``null``/``file://``. ``null`` is
    what a page opened from a file sends, but also any page's sandboxed frame, so it is refused unless asked
    for. Host names other than ``localhost`` are refused: a page could rebind its own name to this
    machine's address."""
    if origin is None:
        return True
    if origin.strip() in ("null", "file://"):
        return file_pages
    try:
        url = urlsplit(origin.strip())
        host = url.hostname
    except ValueError:
        return False
    if url.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost" or host in server_hosts:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---- WebSocket framing (RFC 6455) ----------------------------------------------------------------------

class WebSocketError(Exception):
    """A client broke the protocol; ``code`` is the close status it is sent (1002, 1007, 1009)."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def encode_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One unfragmented, unmasked (server-to-client) frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def read_message(recv_exact: Callable[[int, bool], bytes], *, on_control: Callable[[int, bytes], None],
                 limit: int = MAX_MESSAGE) -> tuple[int, bytes]:
    """Read frames until one whole data message (text or binary, defragmented) has come; returns
    (opcode, payload). Control frames met on the way are handed to ``on_control``; a close frame is
    returned as (OP_CLOSE, payload). ``recv_exact(n, at_boundary)`` reads exactly n bytes (``at_boundary``:
    the client may be silent here for as long as it likes)."""
    opcode, parts, size = None, [], 0
    while True:
        b0, b1 = recv_exact(2, opcode is None)
        fin, op, masked, length = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
        if b0 & 0x70:
            raise WebSocketError(1002, "reserved bits set (no extension was negotiated)")
        if not masked:
            raise WebSocketError(1002, "client frames must be masked")
        if length == 126:
            (length,) = struct.unpack("!H", recv_exact(2, False))
        elif length == 127:
            (length,) = struct.unpack("!Q", recv_exact(8, False))
        control = op & 0x8
        if control and (length > 125 or not fin):
            raise WebSocketError(1002, "control frames must be whole and at most 125 bytes")
        if op not in (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
            raise WebSocketError(1002, f"unknown opcode {op}")
        if not control and size + length > limit:
            raise WebSocketError(1009, f"message larger than {limit} bytes")
        mask = recv_exact(4, False)
        payload = _unmask(recv_exact(length, False) if length else b"", mask)
        if control:
            if op == OP_CLOSE:
                return OP_CLOSE, payload
            on_control(op, payload)
            continue
        if (op == OP_CONTINUATION) != (opcode is not None):
            raise WebSocketError(1002, "unexpected continuation frame" if op == OP_CONTINUATION
                                 else "a new message began inside a fragmented one")
        opcode = opcode if op == OP_CONTINUATION else op
        parts.append(payload)
        size += length
        if fin:
            return opcode, b"".join(parts)


def _unmask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    key = int.from_bytes((mask * (len(data) // 4 + 1))[:len(data)], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")


class _WebSocketClient:
    """One connected WebSocket: the paths it listens to, its queue, and its sender thread."""

    def __init__(self, sock: socket.socket, peer: tuple, *, send_timeout: float,
                 osc_refused: str | None = None):
        self.sock = sock
        self.peer = peer
        self.sender: Address = (peer[0], WEBSOCKET_PORT)
        """Who this client is to the OSC protocol (errors name it; its replies are routed back here)."""
        self.osc_refused = osc_refused
        """Why OSC from this client is refused (an /lvj/error answers each packet), or None."""
        self.osc_refusals = 0
        """OSC packets refused so far."""
        self.paths: frozenset[str] = frozenset()
        """Addresses this client LISTENs to; replaced whole (read without a lock by the listener)."""
        self._queue: collections.deque[bytes] = collections.deque(maxlen=QUEUE_LIMIT)
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._closing = False
        self.dropped = 0
        """Messages dropped because this client read too slowly."""
        sock.settimeout(send_timeout)
        self._thread = threading.Thread(target=self._send_loop, name=f"oscquery-ws-{peer[1]}", daemon=True)
        self._thread.start()

    def enqueue(self, frame: bytes) -> None:
        """Cheap and non-blocking: called on the thread that changed the state."""
        with self._cond:
            if self._closing:
                return
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
                if self.dropped == 1:
                    log.info("OSCQuery WebSocket client %s reads too slowly: dropping its oldest changes",
                             self.peer[0])
            self._queue.append(frame)
            self._cond.notify()

    def send_now(self, frame: bytes) -> None:
        """Send from the reading thread (pongs); a failure closes the connection."""
        try:
            with self._send_lock:
                self.sock.sendall(frame)
        except OSError:
            self.close()

    def close(self, code: int | None = None, reason: str = "") -> None:
        """Stop sending; with a code, the sender thread first sends a close frame (best effort)."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._queue.clear()
            if code is not None:
                self._queue.append(encode_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120]))
            self._cond.notify()

    def join(self) -> None:
        self._thread.join()

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    break  # closing, nothing left to say
                frame = self._queue.popleft()
            try:
                with self._send_lock:
                    self.sock.sendall(frame)
            except OSError as exc:  # a timeout (a client that stopped reading) or a broken connection
                log.info("OSCQuery WebSocket client %s dropped: %s", self.peer[0], exc.strerror or exc)
                with self._cond:
                    self._closing = True
                    self._queue.clear()
                break
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
        except OSError:
            pass  # already gone


# ---- the server ----------------------------------------------------------------------------------------

class OscQueryServer:
    """OSCQuery over HTTP + WebSocket. Binds in the constructor, so a port in use raises OSError before
    the model loads; ``start()`` serves on a thread, ``stop()`` closes every connection and joins."""

    def __init__(self, state: ControlState, *, host: str = "127.0.0.1", port: int = 9002,
                 osc_host: str = "127.0.0.1", osc_port: int = 9000, name: str = "LatentVJ", mdns: bool = False,
                 send_timeout: float = 3.0, on_osc: OscHandler | None = None,
                 allow: Callable[[str], bool] | None = None, allow_file_pages: bool = False,
                 max_clients: int = MAX_CLIENTS, max_websockets: int = MAX_WEBSOCKETS,
                 live: Callable[[], Iterable[Live]] | None = None):
        self.state = state
        """Where the namespace (registry, latent size) and the values come from; changes are streamed."""
        self.live = live or tuple
        """The nodes whose values move too fast to stream (see :class:`Live`), as they are now."""
        self.osc_host = osc_host
        """Where controllers send OSC (HOST_INFO's OSC_IP; left out when it is a wildcard address)."""
        self.osc_port = osc_port
        """The OSC UDP port (HOST_INFO's OSC_PORT, and the port advertised as _osc._udp)."""
        self.name = name
        """HOST_INFO's NAME, the root's DESCRIPTION and the mDNS service name."""
        self.mdns = mdns
        """Advertise over mDNS/DNS-SD (needs the zeroconf extra; without it, one warning and no advert)."""
        self.send_timeout = send_timeout
        """Seconds a WebSocket client may leave us unable to send before it is dropped."""
        self.on_osc = on_osc
        """Handles OSC that clients send into the WebSocket (:func:`websocket_osc`); None ignores it."""
        self.allow = allow or AllowList()
        """Which client addresses may connect at all (the OSC server's ``--allow`` list)."""
        self.allow_file_pages = allow_file_pages
        """Take OSC from (and show the answers to) pages whose origin is ``null``: opened from a file, or
        sandboxed frames of any page (``--allow-file-pages``)."""
        self.max_websockets = max_websockets
        self._clients: set[_WebSocketClient] = set()
        self._websockets = 0
        """WebSocket slots taken (handshakes under way and clients connected), at most max_websockets."""
        self._connections: dict[socket.socket, threading.Thread] = {}
        """Requests being served (WebSockets included), so that stop() can end and join them."""
        self._lock = threading.Lock()
        self._running = False
        self._served_dims = dict(state.latent_dims)
        self.problems = ProblemLog(log)
        """Refused commands, logged without flooding the log."""
        self._zeroconf = None
        self._mdns_thread: threading.Thread | None = None
        self.httpd = GuardedHTTPServer((host, port), self._handler_class(), allow=self.allow,
                                       max_clients=max_clients, what="OSCQuery")
        self.address: tuple[str, int] = self.httpd.server_address[:2]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="oscquery-http", daemon=True)
        state.listen(self._on_change)

    @property
    def url(self) -> str:
        host = f"[{self.address[0]}]" if ":" in self.address[0] else self.address[0]
        return f"http://{host}:{self.address[1]}/"

    @property
    def websocket_clients(self) -> int:
        """WebSocket clients connected now."""
        with self._lock:
            return len(self._clients)

    def start(self) -> None:
        self._running = True
        self._thread.start()
        if self.mdns:
            self._mdns_thread = threading.Thread(target=self._advertise, name="oscquery-mdns", daemon=True)
            self._mdns_thread.start()

    def stop(self) -> None:
        with self._lock:
            self._running = False  # no new WebSocket clients from here on, and no more streaming
            clients = list(self._clients)
        if self._mdns_thread is not None:
            self._mdns_thread.join()
        if self._zeroconf is not None:
            try:
                self._zeroconf.unregister_all_services()
            finally:
                self._zeroconf.close()
                self._zeroconf = None
        if self._thread.is_alive():
            self.httpd.shutdown()
        for client in clients:
            client.close(1001, "server stopping")
        for client in clients:
            client.join()  # the close frame is out (or send_timeout passed) and the socket is shut down
        with self._lock:
            connections = dict(self._connections)
        for sock in connections:  # requests still being read or answered: end them now
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
        for thread in connections.values():
            thread.join(timeout=self.send_timeout + 1.0)
        self.httpd.server_close()

    # ---- changes -> listening clients (on the thread that made the change: keep it cheap) ----
    def _on_change(self, change: Change) -> None:
        with self._lock:
            clients = list(self._clients) if self._running else []
        if change.name.endswith("model/name") and self.state.latent_dims != self._served_dims:
            # The engine sets the latent size before it announces the new model: /lvj/z has new children.
            changed = [deck for deck, size in self.state.latent_dims.items() if self._served_dims.get(deck) != size]
            self._served_dims = dict(self.state.latent_dims)
            paths = [f"{PREFIX}/deck/{deck}/z" for deck in changed]
            if self.state.selected in changed:
                paths.insert(0, f"{PREFIX}/z")
            for path in paths:
                notice = encode_frame(OP_TEXT, json.dumps({"COMMAND": "PATH_CHANGED", "DATA": path}).encode())
                for client in clients:
                    client.enqueue(notice)
        if not clients:
            return
        address = change.address
        listening = [c for c in clients if address in c.paths]
        if not listening:
            return
        frame = encode_frame(OP_BINARY, osc_message(self.state.registry[change.name], change))
        for client in listening:
            client.enqueue(frame)

    # ---- OSC sent into the WebSocket (on the client's reading thread) ----
    def _osc(self, client: _WebSocketClient, packet: bytes) -> None:
        if self.on_osc is None:
            log.debug("OSCQuery WebSocket %s: ignored a binary message (OSC is not taken here)", client.peer[0])
            return
        if client.osc_refused is not None:
            if not client.osc_refusals:  # logged once; every packet is answered
                log.warning("OSCQuery WebSocket %s: %s", client.peer[0], client.osc_refused)
            client.osc_refusals += 1
            error = build_message(ERROR_ADDRESS, f"(websocket): {client.osc_refused}")
            client.enqueue(encode_frame(OP_BINARY, error))
            return
        try:
            replies = self.on_osc(packet, client.sender)
        except Exception:  # a bug in handling must not end this client's connection
            log.exception("OSC from WebSocket client %s failed", client.peer[0])
            return
        for reply in replies:
            client.enqueue(encode_frame(OP_BINARY, reply))

    # ---- WebSocket commands ----
    def _command(self, client: _WebSocketClient, text: str) -> None:
        try:
            command = json.loads(text)
            verb, path = command["COMMAND"], command["DATA"]
        except (ValueError, TypeError, KeyError, RecursionError):  # RecursionError: "[[[[..." too deep
            self._refuse(client, "(websocket)", f"expected {{\"COMMAND\": \"LISTEN\"|\"IGNORE\", \"DATA\": "
                         f"\"/lvj/...\"}}, got {clip(text, 80)!r}")
            return
        if verb not in ("LISTEN", "IGNORE"):
            self._refuse(client, "(websocket)", f"command {clip(str(verb), 40)!r} is not supported (LISTEN and "
                         "IGNORE are)")
            return
        address = self._address(path) if isinstance(path, str) else None
        if address is None:
            self._refuse(client, clip(str(path)), f"{verb}: no such parameter")
            return
        if verb == "LISTEN":
            client.paths = client.paths | {address}
        else:
            client.paths = client.paths - {address}

    def _refuse(self, client: _WebSocketClient, address: str, reason: str) -> None:
        """A command that cannot be followed: an /lvj/error to that client (and a log line, not a flood)."""
        self.problems.report(client.sender, f"OSCQuery WebSocket {client.peer[0]}: {address}: {reason}")
        client.enqueue(encode_frame(OP_BINARY, build_message(ERROR_ADDRESS, f"{address}: {reason}")))

    def _address(self, path: str) -> str | None:
        """The canonical address (the one changes carry) of a LISTEN path, or None."""
        found = self.state.registry.find(path)
        if found is None:
            return None
        param, index = found
        if index is None:
            return None if param.name.endswith("/N") else param.address
        return param.address.replace("/N", f"/{index}")

    # ---- mDNS ----
    def _advertise(self) -> None:
        try:
            import zeroconf
        except ImportError:
            log.warning('mDNS advertising needs zeroconf: pip install "latentvj[mdns]" (OSCQuery still '
                        'serves on %s)', self.url)
            return
        host, port = self.address
        osc_host = self.osc_host if not _is_wildcard(self.osc_host) else host
        try:
            zc = zeroconf.Zeroconf()
        except OSError as exc:
            log.warning("mDNS advertising failed (%s); OSCQuery still serves on %s", exc, self.url)
            return
        self._zeroconf = zc
        failures: list[Exception] = []

        def register(type_: str, bind: str, service_port: int) -> None:
            info = zeroconf.ServiceInfo(
                type_, f"{self.name}.{type_}", port=service_port, properties={"txtvers": "1"},
                server=f"latentvj-{port}.local.", parsed_addresses=_advertised_addresses(bind))
            try:
                zc.register_service(info, allow_name_change=True)  # probes the name first: ~2 s
            except (OSError, zeroconf.Error) as exc:
                failures.append(exc)

        # Both at once: each registration spends most of its time waiting out the name probe.
        osc = threading.Thread(target=register, args=("_osc._udp.local.", osc_host, self.osc_port),
                               name="oscquery-mdns-osc", daemon=True)
        osc.start()
        register("_oscjson._tcp.local.", host, port)
        osc.join()
        if failures:
            log.warning("mDNS advertising failed (%s); OSCQuery still serves on %s", failures[0], self.url)
        else:
            log.info("advertising OSCQuery over mDNS as %r", self.name)

    # ---- HTTP ----
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(GuardedHandler):
            server_version = "LatentVJ-OSCQuery"
            rbufsize = 0  # read the request unbuffered: nothing of a WebSocket's first frame is swallowed

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    if not server._running:  # accepted just as stop() began: not served
                        try:
                            self.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass  # the client is gone already
                        return
                    server._connections[self.connection] = threading.current_thread()

            def finish(self) -> None:
                with server._lock:
                    server._connections.pop(self.connection, None)
                super().finish()

            def do_GET(self) -> None:
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    self._websocket()
                    return
                url = urlsplit(self.path)
                query = [q.split("=", 1)[0].upper() for q in url.query.split("&") if q]
                if "HOST_INFO" in query:
                    self._json(host_info(name=server.name, osc_host=server.osc_host, osc_port=server.osc_port))
                    return
                node = find_node(namespace(server.state, name=server.name, live=server.live()),
                                 unquote(url.path))
                if node is None:
                    self._send(HTTPStatus.NOT_FOUND, f"no OSC node at {url.path}\n".encode(), "text/plain")
                elif not query:
                    self._json(node)
                elif len(query) > 1 or query[0] not in ATTRIBUTES:
                    self._send(HTTPStatus.BAD_REQUEST, f"unknown attribute query ?{url.query}; one of "
                               f"{', '.join(ATTRIBUTES)} or HOST_INFO\n".encode(), "text/plain")
                elif query[0] not in node:
                    self._send(HTTPStatus.NO_CONTENT, b"", None)  # e.g. VALUE of a write-only node
                else:
                    self._json({query[0]: node[query[0]]})

            def _json(self, data: dict) -> None:
                self._send(HTTPStatus.OK, json.dumps(data, allow_nan=False).encode(), "application/json")

            def _send(self, status: HTTPStatus, body: bytes, content_type: str | None) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                origin = self.headers.get("Origin")
                if origin is not None and origin_allowed(origin, self._server_hosts(),
                                                         file_pages=server.allow_file_pages):
                    self.send_header("Access-Control-Allow-Origin", origin.strip())  # a page of this machine
                    self.send_header("Vary", "Origin")
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def _websocket(self) -> None:
                key = self.headers.get("Sec-WebSocket-Key", "")
                if self.headers.get("Sec-WebSocket-Version") != "13":
                    self.send_response(HTTPStatus.UPGRADE_REQUIRED)
                    self.send_header("Sec-WebSocket-Version", "13")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    valid = len(base64.b64decode(key, validate=True)) == 16
                except ValueError:
                    valid = False
                if not valid or "upgrade" not in self.headers.get("Connection", "").lower():
                    self._send(HTTPStatus.BAD_REQUEST, b"bad WebSocket handshake\n", "text/plain")
                    return
                with server._lock:  # the slot is taken before the handshake is answered: no race past the cap
                    full = server._websockets >= server.max_websockets
                    if not full:
                        server._websockets += 1
                if full:
                    self._send(HTTPStatus.SERVICE_UNAVAILABLE, f"at most {server.max_websockets} WebSocket "
                               "clients at once; try again later\n".encode(), "text/plain")
                    return
                try:
                    self._accept_websocket(key)
                finally:
                    with server._lock:
                        server._websockets -= 1

            def _accept_websocket(self, key: str) -> None:
                self.protocol_version = "HTTP/1.1"  # RFC 6455 answers an HTTP/1.1 request in kind
                self.send_response(HTTPStatus.SWITCHING_PROTOCOLS)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept_key(key))
                self.end_headers()
                self.close_connection = True
                client = _WebSocketClient(self.connection, self.client_address, send_timeout=server.send_timeout,
                                          osc_refused=self._osc_refusal())
                with server._lock:
                    if server._running:
                        server._clients.add(client)
                    else:
                        client.close(1001, "server stopping")
                try:
                    self._serve_websocket(client)
                finally:
                    client.close()
                    client.join()
                    with server._lock:
                        server._clients.discard(client)

            def _server_hosts(self) -> set[str]:
                return {h for h in (server.address[0], self.connection.getsockname()[0]) if not _is_wildcard(h)}

            def _osc_refusal(self) -> str | None:
                """Why OSC from this WebSocket client is not taken, or None when it is."""
                origin = self.headers.get("Origin")
                if not origin_allowed(origin, self._server_hosts(), file_pages=server.allow_file_pages):
                    if origin.strip() in ("null", "file://"):
                        return ("OSC over the WebSocket is refused for pages opened from a file (origin null, "
                                "which sandboxed frames of any web page send too): start the server with "
                                "--allow-file-pages to take it (docs/oscquery.md)")
                    return (f"OSC over the WebSocket is refused for pages from {clip(origin, 80)}: open the page "
                            "from localhost or from this server's address (docs/oscquery.md)")
                return None

            def _serve_websocket(self, client: _WebSocketClient) -> None:
                sock = self.connection

                heard = [time.monotonic(), False]  # when the client last sent anything; pinged since

                def recv_exact(n: int, at_boundary: bool) -> bytes:
                    data = b""
                    while len(data) < n:
                        try:
                            chunk = sock.recv(n - len(data))
                        except socket.timeout:
                            if at_boundary and not data:  # a quiet client is fine between messages...
                                silent = time.monotonic() - heard[0]
                                if silent >= DROP_AFTER_S:  # ...unless it does not even answer a ping
                                    raise
                                if silent >= PING_AFTER_S and not heard[1]:
                                    client.send_now(encode_frame(OP_PING, b"lvj"))
                                    heard[1] = True
                                continue
                            raise
                        if not chunk:
                            raise ConnectionResetError("client went away")
                        heard[0], heard[1] = time.monotonic(), False
                        data += chunk
                    return data

                def on_control(op: int, payload: bytes) -> None:
                    if op == OP_PING:
                        client.send_now(encode_frame(OP_PONG, payload))

                while True:
                    try:
                        opcode, payload = read_message(recv_exact, on_control=on_control)
                    except WebSocketError as exc:
                        log.info("OSCQuery WebSocket %s: %s", client.peer[0], exc)
                        client.close(exc.code, str(exc))
                        return
                    except OSError:
                        return  # gone, timed out mid-frame, or shut down by stop()
                    if opcode == OP_CLOSE:  # answer with the client's status code, as RFC 6455 suggests
                        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1000
                        client.close(code if 1000 <= code < 5000 and code not in (1004, 1005, 1006, 1015)
                                     else 1002)
                        return
                    if opcode == OP_TEXT:
                        try:
                            text = payload.decode("utf-8")
                        except UnicodeDecodeError:
                            client.close(1007, "text frames must be UTF-8")
                            return
                        server._command(client, text)
                    else:
                        server._osc(client, payload)

            def log_message(self, format: str, *args) -> None:
                log.debug("%s - %s", self.address_string(), format % args)

        return Handler


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


def _advertised_addresses(host: str) -> list[str]:
    """The addresses an mDNS record names: the bound one, or every interface's for a wildcard bind."""
    if not _is_wildcard(host):
        return [host]
    import ifaddr  # comes with zeroconf

    addresses = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                addresses.append(ip.ip)
    return addresses or ["127.0.0.1"]
