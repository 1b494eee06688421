"""JitNetSender against a jit.net.recv stand-in on a real TCP socket, plus its byte-level parts.

The stand-in is written from the Max SDK's "Jitter Networking Specification" (chunk header, 288-byte
matrix header, matrix data, a 'JMLP' latency reply per matrix) with the byte order that real Max uses
(see bridge/outputs/jitnet.py's docstring); it does not import the sender's structs, so a layout mistake in
either shows up here.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

import numpy as np
import pytest

from latentvj.bridge.outputs.jitnet import JitNetSender, LatencyReplies, matrix_header

DEADLINE = 5.0


def wait_until(condition, timeout: float = DEADLINE) -> bool:
    """Poll a condition until it holds or the deadline passes (for state with no event to wait on)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        threading.Event().wait(0.01)
    return condition()


def frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGB frame whose every byte differs from its neighbours, so a flip or plane swap shows."""
    values = np.arange(height * width * 3, dtype=np.int64).reshape(height, width, 3) * 7 + seed * 31
    return (values % 251).astype(np.uint8)


def recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(size - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


class JitNetRecv:
    """Stands in for ``[jit.net.recv @port N]``: accepts one connection at a time and parses, per matrix,

    - chunk header: id (4 bytes, b"JMTX"), size (int32, little-endian, 288);
    - matrix header, 288 bytes: id (b"XTMJ"), then big-endian int32 size, planecount, type, dimcount,
      dim[32], dimstride[32], datasize and a float64 time;
    - datasize bytes of matrix data, rows dimstride[1] bytes apart, cells dimstride[0] bytes apart;

    and answers with a latency packet: b"JMLP" and three big-endian float64s (the matrix's time, the
    receive time before and after the data, in milliseconds).
    """

    def __init__(self, port: int = 0, *, read: bool = True, close_after: int | None = None):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.read = read
        self.close_after = close_after
        self.matrices: list[dict] = []
        self.errors: list[str] = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.finished = threading.Event()
        self._stop = threading.Event()
        self.conn: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                if select.select([self.listener], [], [], 0.05)[0]:
                    self.conn, _ = self.listener.accept()
                    break
            else:
                return
            self.connected.set()
            if not self.read:
                self._stop.wait()  # holds the connection and reads nothing
                return
            while not self._stop.is_set() and self._receive_one():
                if self.close_after is not None and len(self.matrices) >= self.close_after:
                    self.listener.close()  # first, so the sender cannot reconnect to this one
                    self.conn.close()
                    return
        except OSError as exc:
            if not self._stop.is_set():
                self.errors.append(repr(exc))
        finally:
            self.finished.set()

    def _receive_one(self) -> bool:
        chunk = recv_exactly(self.conn, 8)
        if chunk is None:
            return False
        before = time.monotonic() * 1000
        chunk_id, chunk_size = chunk[:4], struct.unpack("<i", chunk[4:])[0]
        header = recv_exactly(self.conn, 288)
        fields = struct.unpack(">4s4i32i32iid", header)
        m = {"chunk_id": chunk_id, "chunk_size": chunk_size, "id": fields[0], "size": fields[1],
             "planecount": fields[2], "type": fields[3], "dimcount": fields[4], "dim": list(fields[5:37]),
             "dimstride": list(fields[37:69]), "datasize": fields[69], "time": fields[70]}
        data = recv_exactly(self.conn, m["datasize"])
        width, height = m["dim"][:2]
        cell, row = m["dimstride"][:2]
        rows = np.frombuffer(data, np.uint8).reshape(height, row)
        m["cells"] = rows[:, :width * cell].reshape(height, width, cell)[..., :m["planecount"]]
        self.conn.sendall(b"JMLP" + struct.pack(">ddd", m["time"], before, time.monotonic() * 1000))
        with self.cond:
            self.matrices.append(m)
            self.cond.notify_all()
        return True

    def wait_for(self, count: int, timeout: float = DEADLINE) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.matrices) >= count, timeout)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        if self.conn is not None:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.conn.close()
        self.thread.join(timeout=DEADLINE)


class Feeder:
    """Stands in for the render loop: writes a numbered frame every few milliseconds."""

    def __init__(self, sink: JitNetSender, width: int, height: int):
        self.sink, self.width, self.height = sink, width, height
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(0.005):
            n += 1
            self.sink.write(frame(self.width, self.height, seed=n))

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()


@pytest.fixture
def cleanup():
    """Things with a stop() or close(), stopped after the test whatever happened."""
    things = []
    yield things.append
    for thing in reversed(things):
        (getattr(thing, "stop", None) or thing.close)()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- bytes only ------------------------------------------------------------------------------------

def test_matrix_header_layout():
    header = matrix_header(640, 360, 1234.5)
    assert len(header) == 8 + 288
    assert header[:4] == b"JMTX" and header[4:8] == (288).to_bytes(4, "little")
    body = header[8:]
    assert body[:4] == b"XTMJ"
    assert struct.unpack(">5i", body[4:24]) == (288, 4, 0, 2, 640)
    assert struct.unpack(">i", body[24:28]) == (360,)  # dim[1]
    assert struct.unpack(">2i", body[148:156]) == (4, 4 * 640)  # dimstride[0], dimstride[1]
    assert body[28:148] == bytes(120) and body[156:276] == bytes(120)  # unused dims and strides
    assert struct.unpack(">i", body[276:280]) == (4 * 640 * 360,)
    assert struct.unpack(">d", body[280:288]) == (1234.5,)


@pytest.mark.parametrize("reply", [
    lambda t: b"JMLP" + struct.pack(">ddd", t, 10.0, 14.0),                     # the SDK's table, packed
    lambda t: b"JMLP" + bytes(4) + struct.pack(">ddd", t, 10.0, 14.0),          # the C struct, padded
    lambda t: b"JMLP" + struct.pack("<i", 32) + b"PLMJ" + bytes(4) + struct.pack("<ddd", t, 10.0, 14.0),
], ids=["packed", "padded", "chunk-header-little-endian"])
def test_latency_replies_in_any_layout(reply):
    replies = LatencyReplies()
    replies.sent(1000.0)
    replies.sent(1010.0)
    data = reply(1000.0) + reply(1010.0)
    replies.feed(data[:5], now_ms=1020.0)  # a tag split across two reads
    replies.feed(data[5:], now_ms=1020.0)
    assert replies.replies == 2
    assert replies.latency_ms == pytest.approx((1020.0 - 1010.0) / 2 + (14.0 - 10.0) / 2)


def test_latency_reply_for_a_later_matrix_skips_the_unanswered_ones():
    replies = LatencyReplies()
    for t in (1.0, 2.0, 3.0):
        replies.sent(t)
    replies.feed(b"JMLP" + struct.pack(">ddd", 3.0, 5.0, 5.0), now_ms=7.0)
    assert replies.latency_ms == pytest.approx(2.0)
    replies.feed(b"JMLP" + bytes(24), now_ms=8.0)  # nothing left to answer: counted, no estimate change
    assert replies.replies == 2 and replies.latency_ms == pytest.approx(2.0)


def test_arguments_and_frames_are_checked():
    with pytest.raises(ValueError, match="port"):
        JitNetSender("127.0.0.1", 0)
    with pytest.raises(ValueError, match="host"):
        JitNetSender("", 7474)
    with pytest.raises(ValueError, match="reconnect_interval"):
        JitNetSender("127.0.0.1", 7474, reconnect_interval=0)
    sender = JitNetSender("127.0.0.1", 7474)
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        sender.write(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        sender.write(np.zeros((4, 4), np.uint8))
    sender.write(np.zeros((4, 4, 3), np.uint8))  # not started: ignored, nothing to send to
    sender.stop()
    sender.stop()
    assert sender.status() == {"target": "127.0.0.1:7474", "connected": False, "sent_frames": 0,
                               "dropped_frames": 0, "latency_ms": None, "last_error": None}


# ---- on sockets ------------------------------------------------------------------------------------

@pytest.mark.integration
def test_frames_arrive_as_a_4_plane_char_argb_matrix_top_row_first(cleanup):
    receiver = JitNetRecv()
    cleanup(receiver)
    sender = JitNetSender("127.0.0.1", receiver.port, reconnect_interval=0.05)
    cleanup(sender)
    sender.start()
    width, height = 7, 5
    sent = frame(width, height, seed=3)
    sent[0] = 255  # a white top row
    sent[-1] = 0  # a black bottom row
    assert wait_until(lambda: sender.status()["connected"])
    sender.write(sent)
    assert receiver.wait_for(1), receiver.errors
    m = receiver.matrices[0]
    assert m["chunk_id"] == b"JMTX" and m["chunk_size"] == 288
    assert m["id"] == b"XTMJ" and m["size"] == 288
    assert (m["planecount"], m["type"], m["dimcount"]) == (4, 0, 2)
    assert m["dim"][:2] == [width, height] and m["dimstride"][:2] == [4, 4 * width]
    assert m["datasize"] == 4 * width * height
    cells = m["cells"]
    assert cells.shape == (height, width, 4)
    assert (cells[..., 0] == 255).all()  # plane 0: alpha
    np.testing.assert_array_equal(cells[..., 1:], sent)  # planes 1..3: R, G, B
    assert (cells[0, :, 1:] == 255).all() and (cells[-1, :, 1:] == 0).all()  # row 0 is the top row

    rgba = np.dstack([frame(width, height, seed=4), np.full((height, width), 128, np.uint8)])
    sender.write(rgba)
    assert receiver.wait_for(2)
    np.testing.assert_array_equal(receiver.matrices[1]["cells"], rgba[..., [3, 0, 1, 2]])
    sender.write(sent)  # the same buffers again, after an RGBA frame: alpha is 255 again
    assert receiver.wait_for(3)
    assert (receiver.matrices[2]["cells"][..., 0] == 255).all()

    assert wait_until(lambda: sender.status()["latency_ms"] is not None)  # the replies were read
    assert wait_until(lambda: sender.status()["sent_frames"] == 3)  # counted once sendall returned
    status = sender.status()
    assert status["connected"] and status["sent_frames"] == 3 and status["dropped_frames"] == 0
    assert status["target"] == f"127.0.0.1:{receiver.port}"
    assert 0 <= status["latency_ms"] < 1000


@pytest.mark.integration
def test_reconnects_when_the_receiver_comes_back(cleanup):
    first = JitNetRecv(close_after=1)
    cleanup(first)
    sender = JitNetSender("127.0.0.1", first.port, reconnect_interval=0.05)
    cleanup(sender)
    sender.start()
    cleanup(Feeder(sender, 8, 6))
    assert first.wait_for(1), first.errors
    assert first.finished.wait(DEADLINE)  # it closed the connection and stopped listening
    assert wait_until(lambda: not sender.status()["connected"])
    assert sender.status()["last_error"]

    second = JitNetRecv(first.port)  # a new jit.net.recv on the same port
    cleanup(second)
    assert second.wait_for(2), second.errors
    m = second.matrices[-1]
    assert (m["planecount"], m["type"], m["dim"][:2]) == (4, 0, [8, 6])
    assert (m["cells"][..., 0] == 255).all()
    assert sender.status()["connected"]


@pytest.mark.integration
def test_write_never_waits_for_a_receiver_that_does_not_read(cleanup):
    receiver = JitNetRecv(read=False)
    cleanup(receiver)
    sender = JitNetSender("127.0.0.1", receiver.port, reconnect_interval=0.05)
    cleanup(sender)
    sender.start()
    assert receiver.connected.wait(DEADLINE)
    assert wait_until(lambda: sender.status()["connected"])
    big = frame(512, 512)  # 1 MiB a matrix: the socket buffers fill after a few
    writes = 200
    slowest = 0.0
    for n in range(writes):
        big[0, 0, 0] = n
        start = time.perf_counter()
        sender.write(big)
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 0.1
    status = sender.status()
    assert status["connected"]
    assert status["dropped_frames"] > writes // 2
    assert writes - 2 <= status["sent_frames"] + status["dropped_frames"] <= writes  # one sending, one pending
    start = time.perf_counter()
    sender.stop()  # interrupts the send that is blocked on the full socket
    assert time.perf_counter() - start < 2.0
    assert not sender.status()["connected"]


@pytest.mark.integration
def test_stop_is_prompt_when_no_receiver_ever_came(cleanup):
    sender = JitNetSender("127.0.0.1", free_port(), reconnect_interval=30.0)
    cleanup(sender)
    sender.start()
    assert wait_until(lambda: sender.status()["last_error"] is not None)  # refused, now waiting 30 s
    sender.write(frame(4, 4))  # nobody to send to: ignored
    start = time.perf_counter()
    sender.stop()
    assert time.perf_counter() - start < 1.0
    sender.stop()  # twice is fine
    status = sender.status()
    assert not status["connected"] and status["sent_frames"] == 0 and status["dropped_frames"] == 0


@pytest.mark.integration
def test_context_manager_starts_and_stops(cleanup):
    receiver = JitNetRecv()
    cleanup(receiver)
    with JitNetSender("127.0.0.1", receiver.port, reconnect_interval=0.05) as sender:
        assert wait_until(lambda: sender.status()["connected"])
        sender.write(frame(3, 2))
        assert receiver.wait_for(1)
    assert not sender.status()["connected"]
    assert receiver.finished.wait(DEADLINE)  # the sender closed its end


@pytest.mark.integration
def test_a_receiver_that_floods_bytes_back_never_holds_up_write(cleanup, monkeypatch):
    """The sender thread reads the flood (here: stuck in reading it) without the lock write() needs."""
    from latentvj.bridge.outputs import jitnet

    reading, release = threading.Event(), threading.Event()

    class StuckReplies(LatencyReplies):
        def feed(self, data: bytes, now_ms: float) -> None:
            reading.set()
            release.wait(DEADLINE)  # the sender thread is busy with what the receiver sent
            super().feed(data, now_ms)

    monkeypatch.setattr(jitnet, "LatencyReplies", StuckReplies)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sender = JitNetSender("127.0.0.1", listener.getsockname()[1], reconnect_interval=0.05)
        cleanup(sender)
        sender.start()
        conn, _ = listener.accept()
        with conn:
            assert wait_until(lambda: sender.status()["connected"])
            conn.sendall(b"JMLP" * 4096)  # bytes back, unasked for
            assert reading.wait(DEADLINE)
            done = threading.Event()
            threading.Thread(target=lambda: (sender.write(frame(64, 64)), done.set()), daemon=True).start()
            assert done.wait(DEADLINE), "write() waited for the sender thread's reading"
            assert sender.status()["connected"], "status() does not wait either"
            release.set()


def test_a_flood_of_latency_replies_is_counted_not_matched_one_by_one():
    replies = LatencyReplies()
    replies.sent(1000.0)
    replies.feed(b"JMLP" + b"\0" * 28 + b"PLMJ" * 50_000, now_ms=1010.0)
    assert replies.replies > 10_000 and replies.latency_ms == pytest.approx(5.0)
