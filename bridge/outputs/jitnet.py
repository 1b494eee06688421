"""Send frames to Max/Jitter's ``jit.net.recv`` over TCP, speaking ``jit.net.send``'s protocol.

In Max, ``[jit.net.recv @port 7474]`` listens for TCP connections and outputs every matrix it receives;
``JitNetSender`` is the client that connects to it (``latentvj serve --jitter 127.0.0.1:7474``) and sends
each frame as a 4-plane char matrix: planes A, R, G, B (alpha 255), ``dim = [width, height]``, row 0 the
top row of the picture, which is also the row Jitter draws at the top.

The render loop only hands over the newest frame (one strided copy into a preallocated ARGB buffer); the
network work happens on the sender's own thread, so a slow or absent receiver never slows the main
output. Latest wins: a frame that arrives while another one is still being sent replaces the pending one
and is counted as dropped. The thread connects, re-connects every ``reconnect_interval`` seconds after the
receiver goes away or refuses, and reads (never waits for) the receiver's latency replies.

Wire format
-----------
Source: the Max SDK's "Jitter Networking Specification" (Cycling74/max-sdk,
``doxygen/content/api_40_jit_networking.h``; also cycling74.com/sdk/max-sdk-8.2.0/chapter_jit_networking.html),
with the byte order of each field taken from three independent programs that interoperate with real
Max: the vvvv "Jitter Matrix Encoder/Decoder" (github.com/mhusinsky/VVVV.nodes.Jitter,
``RawJitterMatrixNodes.cs``), ofxJitterNetworkSender (github.com/bakercp/ofxJitterNetworkSender) and a
Unity/HoloLens receiver of ``jit.net.send`` data (class ``JitNetRecvUWP``; it reads the chunk size
little-endian and the matrix header big-endian). The SDK text gives the structs but
not one consistent byte order (it says "little endian" while its own sample decoder byte-swaps with
``BE_I32``); the programs agree with each other, and this module follows them:

One matrix is 8 + 288 + datasize bytes::

    chunk header (8 bytes, t_jit_net_packet_header)
      0   4  id          b"JMTX"  ('JMTX' most significant byte first)
      4   4  size        int32 LITTLE-endian = 288, the size of the matrix header that follows
    matrix header (288 bytes, t_jit_net_packet_matrix), big-endian except the id
      0   4  id          b"XTMJ"  ('JMTX' as a little-endian int32: what both third-party senders
                                   write, i.e. the field left in host order; not checked against Max here)
      4   4  size        int32 = 288
      8   4  planecount  int32 = 4
     12   4  type        int32 = 0 (char; 1 long, 2 float32, 3 float64)
     16   4  dimcount    int32 = 2
     20 128  dim[32]     int32 x 32 = [width, height, 0, ...]
    148 128  dimstride[32] int32 x 32 = [4, 4 * width, 0, ...]  (bytes per cell, bytes per row)
    276   4  datasize    int32 = 4 * width * height
    280   8  time        float64 = the sender's clock in milliseconds when the matrix is sent
    matrix data (datasize bytes)
      rows top first; each row ``width`` cells of 4 bytes A, R, G, B; no row padding (dimstride[1] =
      4 * width says so; the vvvv encoder sends unpadded rows the same way)

``jit.net.recv`` answers each matrix with a latency packet, t_jit_net_packet_latency: id 'JMLP' and three
float64 milliseconds (client_time_original: the ``time`` we sent; server_time_before_data,
server_time_after_data). The SDK does not say whether a chunk header precedes it, nor the byte order of
the id, nor whether the struct's 4 padding bytes after the id are sent, so :class:`LatencyReplies` does
not rely on framing: it scans what comes back for the tag (``JMLP`` or ``PLMJ``), matches the reply to a
matrix we sent by finding that matrix's ``time`` in the bytes after the tag (big- or little-endian), and
falls back to the oldest unanswered matrix. The latency is the SDK's estimate: half the round trip plus
half the receiver's processing time (when the reply's two server times can be read). Message chunks
('JMMP', Max messages to jit.net.recv's middle outlet) are never sent.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import select
import socket
import struct
import time
from collections import deque

import numpy as np

from .latest import Buffer, LatestFrameSender

__all__ = ["DEFAULT_PORT", "JitNetSender", "LatencyReplies", "matrix_header", "CHUNK_HEADER", "MATRIX_HEADER"]

log = logging.getLogger("latentvj.jitnet")

DEFAULT_PORT = 7474
"""jit.net.recv's default ``@port``, and the port of ``plugin/max/latentvj.maxpat``'s receiver."""

MATRIX_ID = b"JMTX"
"""The chunk id of a matrix, as it appears on the wire in the chunk header."""
MATRIX_HEADER_ID = b"XTMJ"
"""The id inside the matrix header: 'JMTX' as a little-endian int32 (see the module docstring)."""
LATENCY_TAGS = (b"JMLP", b"PLMJ")
"""The latency reply's id in either byte order."""

CHUNK_HEADER = struct.Struct("<4si")
"""t_jit_net_packet_header: id bytes, size (little-endian, as jit.net.send writes it)."""
MATRIX_HEADER = struct.Struct(">4s4i32i32iid")
"""t_jit_net_packet_matrix: id bytes, size, planecount, type, dimcount, dim[32], dimstride[32], datasize,
time; big-endian."""
assert MATRIX_HEADER.size == 288, MATRIX_HEADER.size

TYPE_CHAR = 0
PLANES = 4
CONNECT_TIMEOUT = 3.0
"""Seconds one connection attempt may take (a host that drops SYNs); stop() interrupts it sooner."""
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, getattr(errno, "WSAEWOULDBLOCK", -1))
"""connect_ex results of a non-blocking connection attempt still under way (POSIX and Windows)."""
IDLE_POLL = 0.2
"""While connected and no frame comes, the thread looks for replies and a closed connection this often."""
READ_PER_TURN = 256 * 1024
"""Most bytes taken from the receiver per frame sent (or per IDLE_POLL): a receiver that floods bytes back
is read no faster than this, the rest waits in the kernel and TCP slows the receiver down."""
REPLIES_PER_FEED = 16
"""Most latency replies looked at per read; a flood of them only counts."""


def matrix_header(width: int, height: int, time_ms: float) -> bytes:
    """Chunk header and matrix header (8 + 288 bytes) of one width x height 4-plane char matrix."""
    dim = [width, height] + [0] * 30
    dimstride = [PLANES, PLANES * width] + [0] * 30
    datasize = PLANES * width * height
    return (CHUNK_HEADER.pack(MATRIX_ID, MATRIX_HEADER.size)
            + MATRIX_HEADER.pack(MATRIX_HEADER_ID, MATRIX_HEADER.size, PLANES, TYPE_CHAR, 2, *dim, *dimstride,
                                 datasize, time_ms))


class LatencyReplies:
    """Reads jit.net.recv's latency replies out of the bytes it sends back; protocol logic on bytes only.

    Call :meth:`sent` with the ``time`` of every matrix sent and :meth:`feed` with whatever the socket
    returned; ``latency_ms`` is the newest estimate (None until a reply came).
    """

    def __init__(self, *, pending: int = 64):
        """
        Args:
            pending: how many unanswered matrices to remember (a receiver that answers none must not
                make memory grow).
        """
        self._buffer = bytearray()
        self._offset = 0  # position in the stream of the buffer's first byte
        self._last_reply = -12  # position in the stream of the last reply's tag
        self._sent: deque[float] = deque(maxlen=pending)
        self.replies = 0
        self.latency_ms: float | None = None

    def sent(self, time_ms: float) -> None:
        self._sent.append(time_ms)

    def feed(self, data: bytes, now_ms: float) -> None:
        self._buffer += data
        buffer = bytes(self._buffer)
        replies: list[int] = []
        for pos in sorted(pos for tag in LATENCY_TAGS for pos in _find_all(buffer, tag)):
            if self._offset + pos < self._last_reply + 12:
                continue  # the struct's own id right after a chunk header that names the same reply
            replies.append(pos)
            self._last_reply = self._offset + pos
        ends = replies[1:] + [len(buffer)]
        self.replies += max(0, len(replies) - REPLIES_PER_FEED)  # a flood of replies: counted, not matched
        for pos, end in list(zip(replies, ends))[-REPLIES_PER_FEED:]:
            self._answer(buffer[pos + 4:min(end, pos + 4 + 48)], now_ms)
        # Keep only what may still hold the start of a tag split across two reads.
        start = max(len(buffer) - 3, 0) if not replies else max(replies[-1] + 4, len(buffer) - 3)
        del self._buffer[:start]
        self._offset += start

    def _answer(self, reply: bytes, now_ms: float) -> None:
        """One reply (the bytes after its tag): find the matrix it answers by the time it echoes."""
        self.replies += 1
        if not self._sent:
            return
        index, times = 0, None  # without a readable time: the oldest unanswered matrix
        for i, t in enumerate(self._sent):
            found = [(reply.find(struct.pack(order + "d", t)), order) for order in (">", "<")]
            at, order = max(found)
            if at >= 0:
                index = i
                if len(reply) >= at + 24:
                    times = struct.unpack(order + "dd", reply[at + 8:at + 24])
                break
        for _ in range(index):
            self._sent.popleft()  # older matrices that got no reply
        round_trip = max(now_ms - self._sent.popleft(), 0.0)
        processing = 0.0
        if times is not None and all(math.isfinite(x) for x in times) and 0 <= times[1] - times[0] < 60_000:
            processing = times[1] - times[0]
        self.latency_ms = round_trip / 2 + processing / 2


def _find_all(data: bytes, tag: bytes):
    pos = data.find(tag)
    while pos >= 0:
        yield pos
        pos = data.find(tag, pos + 1)


class JitNetSender(LatestFrameSender):
    """A frame sink that sends every frame it can to one ``jit.net.recv``; see the module docstring.

    ``write`` is called by the render loop and never blocks on the network (the shared latest-frame
    hand-off: outputs/latest.py, with the ARGB repack as its one copy); ``start``/``stop`` own the sender
    thread and the socket.
    """

    poll = IDLE_POLL

    def __init__(self, host: str, port: int, *, reconnect_interval: float = 1.0):
        """
        Args:
            host: name or address of the machine running Max (jit.net.recv listens on all of its
                interfaces by default).
            port: jit.net.recv's ``@port`` (its default is 7474).
            reconnect_interval: seconds between connection attempts while no receiver is there or after
                it went away.
        Raises:
            ValueError: an empty host, a port outside 1..65535 or a non-positive interval.
        """
        if not isinstance(host, str) or not host.strip():
            raise ValueError(f"host must be a non-empty string, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port must be an int in 1..65535, got {port!r}")
        if not (isinstance(reconnect_interval, (int, float)) and math.isfinite(reconnect_interval)
                and reconnect_interval > 0):
            raise ValueError(f"reconnect_interval must be a positive number of seconds, got {reconnect_interval!r}")
        self.host = host.strip()
        self.port = port
        self.reconnect_interval = float(reconnect_interval)
        super().__init__(f"jitnet-{self.target}")
        self._sock: socket.socket | None = None
        self._connected = False
        self._sent = 0
        self._last_error: str | None = None
        self._replies = LatencyReplies()
        self._waiting_logged = False

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    # ---- the render loop's side (see LatestFrameSender.write): must be cheap ----------------------
    def check(self, pixels: np.ndarray) -> None:
        """A uint8 HxWx3 RGB (or HxWx4 RGBA) frame, top row first; the matrix carries the time it is sent,
        as jit.net.send does."""
        if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 3
                and pixels.shape[2] in (3, 4)):
            shape = getattr(pixels, "shape", None)
            dtype = getattr(pixels, "dtype", type(pixels).__name__)
            raise ValueError(f"expected a uint8 HxWx3 (RGB) or HxWx4 (RGBA) array, got {dtype} {shape}")

    def wants(self, pixels: np.ndarray) -> bool:
        return self._connected  # nobody to send to: no copy

    def buffer_shape(self, pixels: np.ndarray) -> tuple[int, ...]:
        return (pixels.shape[0], pixels.shape[1], PLANES)

    def fill(self, buffer: Buffer, pixels: np.ndarray) -> None:
        """RGB -> planes 1..3, alpha -> plane 0 (255 for an RGB frame, written only when the buffer last
        held something else: its note says whether the alpha plane is all 255)."""
        argb = buffer.array
        argb[..., 1:] = pixels[..., :3]
        if pixels.shape[2] == 4:
            argb[..., 0] = pixels[..., 3]
            buffer.note = None
        elif buffer.note != "opaque":
            argb[..., 0] = 255
            buffer.note = "opaque"

    # ---- lifecycle ----------------------------------------------------------------------------------
    def interrupt(self) -> None:
        with self._cond:
            sock = self._sock
        if sock is not None:
            _shutdown(sock)  # wakes a sendall blocked on a receiver that stopped reading

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop the thread (interrupting a send or a connection attempt), join it and close the socket.
        Safe to call twice, and before start."""
        super().stop(timeout=timeout)
        self._disconnect(None)

    def status(self) -> dict:
        """JSON-ready: target, connected, sent_frames, dropped_frames, latency_ms (None until the
        receiver answered), last_error (why the last connection failed or ended, None if none did)."""
        with self._cond:
            return {
                "target": self.target,
                "connected": self._connected,
                "sent_frames": self._sent,
                "dropped_frames": self.dropped,
                "latency_ms": None if self._replies.latency_ms is None else round(self._replies.latency_ms, 3),
                "last_error": self._last_error,
            }

    # ---- the sender thread --------------------------------------------------------------------------
    def send(self, frame: np.ndarray | None) -> None:
        """Connect when not connected (waiting reconnect_interval after a refusal); then send the frame, if
        one came, and read the receiver's replies either way."""
        if self._sock is None:
            error = self._connect()
            if self._stopping.is_set():
                return
            if error is not None:
                self._last_error = error
                if not self._waiting_logged:
                    log.info("jit.net: waiting for jit.net.recv at %s (%s); retrying every %g s",
                             self.target, error, self.reconnect_interval)
                    self._waiting_logged = True
                self._stopping.wait(self.reconnect_interval)
                return
            self._waiting_logged = False
            log.info("jit.net: connected to jit.net.recv at %s", self.target)
            return  # frames come from here on
        sock = self._sock
        self._read_replies(sock)
        if frame is None:
            return
        height, width = frame.shape[:2]
        time_ms = time.monotonic() * 1000.0
        sock.sendall(matrix_header(width, height, time_ms))
        sock.sendall(memoryview(frame).cast("B"))
        with self._cond:
            self._sent += 1
        self._replies.sent(time_ms)  # the replies are the sender thread's alone: no lock
        self._read_replies(sock)

    def failed(self, exc: Exception) -> None:
        """A lost connection (or a bug): disconnect, log once, wait before trying again."""
        if not isinstance(exc, OSError):
            log.exception("jit.net: sending to %s failed", self.target, exc_info=exc)
        self._disconnect(_describe(exc))  # logs once; the refused attempts that follow do not
        self._waiting_logged = True
        self._stopping.wait(self.reconnect_interval)

    def finish(self) -> None:
        self._disconnect(None)

    def _read_replies(self, sock: socket.socket) -> None:
        """Take what the receiver sent back (up to READ_PER_TURN bytes), without waiting and without the lock
        that write() takes: nothing a receiver sends can hold up the render loop. Raises when the receiver
        closed the connection."""
        taken = 0
        while taken < READ_PER_TURN and select.select([sock], [], [], 0)[0]:
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError(errno.ECONNRESET, "jit.net.recv closed the connection")
            taken += len(data)
            self._replies.feed(data, time.monotonic() * 1000.0)

    def _connect(self) -> str | None:
        """One connection attempt, interruptible by stop(); None on success, else why it failed."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            return _describe(exc)
        error = "no address"
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                code = sock.connect_ex(address)
                deadline = time.monotonic() + CONNECT_TIMEOUT
                while code in _IN_PROGRESS:
                    if self._stopping.is_set() or time.monotonic() > deadline:
                        code = errno.ETIMEDOUT
                        break
                    _, writable, failed = select.select([], [sock], [sock], 0.1)
                    if writable or failed:
                        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code != 0:
                    raise OSError(code, os.strerror(code))  # ECONNREFUSED makes a ConnectionRefusedError
                sock.setblocking(True)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # jit.net.send's default: nagle 0
            except OSError as exc:
                sock.close()
                error = _describe(exc)
                continue
            with self._cond:
                if self._stopping.is_set():
                    sock.close()
                    return "stopping"
                self._sock = sock
                self._connected = True
                self._last_error = None
                self._replies = LatencyReplies()
            return None
        return error

    def _disconnect(self, reason: str | None) -> None:
        with self._cond:
            sock, self._sock = self._sock, None
            was_connected, self._connected = self._connected, False
            if self._pending is not None:
                self._free.append(self._pending)
                self._pending = None
            if reason is not None:
                self._last_error = reason
        if sock is None:
            return
        _shutdown(sock)
        sock.close()
        if was_connected:
            if reason is None:
                log.info("jit.net: disconnected from %s", self.target)
            else:
                log.info("jit.net: lost jit.net.recv at %s (%s); reconnecting every %g s",
                         self.target, reason, self.reconnect_interval)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected (any more): nothing to interrupt


def _describe(exc: Exception) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
