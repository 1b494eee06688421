"""The shared-memory frame ring: layout, no torn frames across processes, readers that come and go."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import threading
import time
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
import pytest

from latentvj.bridge.outputs.shm import SharedMemoryInUseError, ShmFrameWriter
from latentvj.plugin import shmring
from latentvj.plugin.shmring import (
    HEADER,
    MAGIC,
    ReconnectingReader,
    ShmFrameReader,
    StreamNotFoundError,
    validate_name,
)

SHMRING_PATH = Path(shmring.__file__)
_names = itertools.count()
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX shared-memory semantics (unlink, kill)")


@pytest.fixture
def name():
    """A segment name no other test (or test run) uses; removed afterwards if a test left it."""
    segment = f"lvjt{os.getpid()}_{next(_names)}"
    yield segment
    try:
        leftover = shared_memory.SharedMemory(name=segment)
    except FileNotFoundError:
        return
    leftover.close()
    leftover.unlink()


def frame_value(number: int) -> int:
    return number % 251


def filled(shape, number: int) -> np.ndarray:
    return np.full(shape, frame_value(number), np.uint8)


def start_python(code: str, *args: str, stdin=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


# A writer process: fills every pixel of frame n with n % 251 and publishes as fast as it can until its
# stdin closes. With "forget" it drops its resource-tracker registration, so SIGKILL leaves the segment
# behind the way a crash of the whole process group does.
WRITER = """
    import sys, threading
    import numpy as np
    from latentvj.bridge.outputs.shm import ShmFrameWriter
    name, mode = sys.argv[1], sys.argv[5]
    width, height, slots = map(int, sys.argv[2:5])
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    frame = np.empty((height, width, 3), np.uint8)
    writer = ShmFrameWriter(name, width, height, slots=slots)
    if mode == "forget":
        from multiprocessing import resource_tracker
        resource_tracker.unregister(writer._shm._name, "shared_memory")
    frame.fill(1)
    writer.write(frame)
    print("ready", flush=True)
    while not stop.is_set():
        frame.fill((writer.frame_count + 1) % 251)
        writer.write(frame)
    writer.close()
    print(writer.frame_count, flush=True)
"""


def start_writer(name: str, width: int, height: int, *, slots: int = 3, mode: str = "normal"):
    proc = start_python(WRITER, name, str(width), str(height), str(slots), mode, stdin=subprocess.PIPE)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"writer did not start: {line!r} {proc.stderr.read()}")
    return proc


def test_round_trip_in_process(name):
    with ShmFrameWriter(name, 5, 4) as writer, ShmFrameReader(name) as reader:
        header = reader.header()
        assert header.magic == MAGIC and header.version == 1 and header.header_size == 128
        assert (header.width, header.height, header.channels) == (5, 4, 3)
        assert (header.pixel_format, header.row_order, header.slot_count) == (1, 0, 3)
        assert header.slot_stride % 64 == 0 and header.slot_stride >= 64 + 5 * 4 * 3
        assert header.state == 1 and header.writer_pid == os.getpid()
        assert reader.shape == (4, 5, 3) and reader.pixel_format == "RGB8"
        assert reader.read() is None  # nothing published yet

        rng = np.random.default_rng(0)
        for expected in range(1, 8):  # more frames than slots: the ring wraps
            pixels = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
            assert writer.write(pixels, timestamp=100.0 + expected) == expected
            frame = reader.read()
            assert frame.number == expected == writer.frame_count == reader.frame_count
            assert frame.timestamp == 100.0 + expected == reader.header().timestamp
            np.testing.assert_array_equal(frame.pixels, pixels)

        out = np.zeros((4, 5, 3), np.uint8)
        frame = reader.read(out=out, bottom_up=True)
        assert frame.pixels is out
        np.testing.assert_array_equal(out, pixels[::-1])
        assert reader.read(newer_than=frame.number) is None


def test_rgba_and_default_timestamp(name):
    with ShmFrameWriter(name, 3, 2, channels=4, slots=2) as writer, ShmFrameReader(name) as reader:
        before = time.time()
        writer.write(np.full((2, 3, 4), 9, np.uint8))
        frame = reader.read()
        assert reader.pixel_format == "RGBA8" and reader.header().slot_count == 2
        assert frame.pixels.shape == (2, 3, 4) and (frame.pixels == 9).all()
        assert before <= frame.timestamp <= time.time()


def test_shapes_are_checked_with_clear_messages(name):
    with ShmFrameWriter(name, 4, 2) as writer, ShmFrameReader(name) as reader:
        with pytest.raises(ValueError, match=r"shape \(H, W, C\) = \(2, 4, 3\), got uint8 \(4, 2, 3\)"):
            writer.write(np.zeros((4, 2, 3), np.uint8))
        with pytest.raises(ValueError, match="got float32"):
            writer.write(np.zeros((2, 4, 3), np.float32))
        writer.write(np.zeros((2, 4, 3), np.uint8))
        with pytest.raises(ValueError, match=r"shape \(2, 4, 3\), got uint8 \(2, 4, 4\)"):
            reader.read(out=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="channels must be 3"):
        ShmFrameWriter(name, 4, 2, channels=1)
    with pytest.raises(ValueError, match="slots must be"):
        ShmFrameWriter(name, 4, 2, slots=1)


@pytest.mark.parametrize(
    "bad, message",
    [("a" * 31, "at most 30"), ("", "empty"), ("late/ntvj", "only contain"), ("late ntvj", "only contain")],
)
def test_names_are_validated(bad, message):
    with pytest.raises(ValueError, match=message):
        validate_name(bad)
    with pytest.raises(ValueError, match=message):
        ShmFrameWriter(bad, 4, 4)
    with pytest.raises(ValueError, match=message):
        ShmFrameReader(bad)
    assert validate_name("a" * 30) == "a" * 30
    assert validate_name("LatentVJ_main.2-b") == "LatentVJ_main.2-b"


@pytest.mark.integration
def test_no_torn_frames_across_processes(name):
    # Two slots and a 256x256 frame: the writer comes back to the slot being copied after one frame,
    # so plenty of copies overlap a write and the seqlock has to catch them.
    writer = start_writer(name, 256, 256, slots=2)
    try:
        with ShmFrameReader(name) as reader:
            out = np.empty(reader.shape, np.uint8)
            numbers, bad = [], []
            deadline = time.monotonic() + 8.0
            while (len(numbers) < 3000 or reader.retries < 20) and time.monotonic() < deadline:
                frame = reader.read(out=out)
                if frame is None:
                    continue
                low, high = int(out.min()), int(out.max())
                if low != high or low != frame_value(frame.number):
                    bad.append((frame.number, low, high))
                numbers.append(frame.number)
            # a second server on the same name is refused while this one lives
            in_use = f"in use by another LatentVJ server \\(pid {writer.pid}\\)"
            with pytest.raises(SharedMemoryInUseError, match=in_use):
                ShmFrameWriter(name, 8, 8)
    finally:
        written, errors = writer.communicate(input="", timeout=30)
    assert writer.returncode == 0, errors
    assert bad == [], f"{len(bad)} torn or mislabelled frames of {len(numbers)}, e.g. {bad[:5]}"
    assert len(numbers) >= 3000
    assert all(a <= b for a, b in zip(numbers, numbers[1:])), "frame numbers went backwards"
    assert numbers[-1] > numbers[0] + 100, "the writer was not running during the reads"
    assert reader.retries > 0, "no read overlapped a write, so the test proved nothing"
    assert int(written) >= numbers[-1]


# A reader process that loads shmring.py by file path, as TouchDesigner would, and leaves in one of
# three ways: close(), falling off the end of the script, or os._exit without any cleanup.
READER = """
    import importlib.util, os, sys
    path, name, how = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("shmring", path)
    shmring = importlib.util.module_from_spec(spec)
    sys.modules["shmring"] = shmring
    spec.loader.exec_module(shmring)
    reader = shmring.ShmFrameReader(name)
    frame = reader.read()
    uniform = bool((frame.pixels == frame.pixels.flat[0]).all())
    foreign = sorted(m for m in sys.modules if m == "torch" or m.startswith("latentvj"))
    print(frame.number, int(frame.pixels.flat[0]), uniform, foreign, flush=True)
    if how == "close":
        reader.close()
    elif how == "exit":
        os._exit(0)
"""


@pytest.mark.integration
@posix_only
def test_readers_attach_and_detach_freely(name):
    writer = ShmFrameWriter(name, 64, 48)
    writer.write(filled(writer.shape, 1))
    stop = threading.Event()
    failures = []

    def keep_writing():
        try:
            while not stop.wait(0.001):
                writer.write(filled(writer.shape, writer.frame_count + 1))
        except Exception as error:  # reported by the main thread below
            failures.append(error)

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        ways_out = ("close", "return", "exit", "close")
        readers = [start_python(READER, str(SHMRING_PATH), name, how) for how in ways_out]
        results = [proc.communicate(timeout=60) + (proc.returncode,) for proc in readers]
    finally:
        stop.set()
        thread.join()
    assert failures == []
    for out, err, returncode in results:
        assert returncode == 0, err
        number, value, uniform, foreign = out.split(maxsplit=3)
        assert int(value) == frame_value(int(number)) and uniform == "True"
        assert foreign.strip() == "[]", "shmring.py must not import torch or the rest of LatentVJ"
        assert "resource_tracker" not in err and "leaked" not in err, err

    # the segment survived every reader's exit, and the writer carries on
    before = writer.frame_count
    assert writer.write(filled(writer.shape, before + 1)) == before + 1
    with ShmFrameReader(name) as reader:
        frame = reader.read()
        assert frame.number == before + 1 and (frame.pixels == frame_value(before + 1)).all()
    writer.close()


def test_writer_close_tells_readers_and_removes_the_stream(name):
    writer = ShmFrameWriter(name, 4, 4)
    writer.write(filled(writer.shape, 1))
    reader = ShmFrameReader(name)
    assert not reader.writer_closed
    writer.close()
    writer.close()  # idempotent
    assert reader.writer_closed
    assert reader.read().number == 1  # what was published stays readable until the reader detaches
    reader.close()
    missing = f"no LatentVJ stream named '{name}' \\(is `latentvj serve` running\\?\\)"
    with pytest.raises(StreamNotFoundError, match=missing):
        ShmFrameReader(name)
    with pytest.raises(FileNotFoundError):  # the error is also a FileNotFoundError
        ShmFrameReader(name)
    with pytest.raises(ValueError, match="closed"):
        writer.write(filled(writer.shape, 2))


def test_live_writer_in_this_process_is_refused(name):
    with ShmFrameWriter(name, 4, 4) as first:
        with pytest.raises(SharedMemoryInUseError, match=f"pid {os.getpid()}\\); pick another --shm name"):
            ShmFrameWriter(name, 8, 8)
        first.write(filled(first.shape, 1))  # the refused attempt disturbed nothing
        with ShmFrameReader(name) as reader:
            assert reader.read().number == 1


def test_foreign_segment_is_neither_read_nor_replaced(name):
    foreign = shared_memory.SharedMemory(name=name, create=True, size=4096)
    try:
        foreign.buf[:4] = b"XXXX"
        with pytest.raises(ValueError, match="not a LatentVJ stream"):
            ShmFrameReader(name)
        with pytest.raises(SharedMemoryInUseError, match="not a LatentVJ stream"):
            ShmFrameWriter(name, 4, 4)
        assert bytes(foreign.buf[:4]) == b"XXXX"
    finally:
        foreign.close()
        foreign.unlink()


def test_reader_refuses_other_layout_versions(name):
    with ShmFrameWriter(name, 4, 4) as writer:
        writer._buf[4:6] = (2).to_bytes(2, "little")
        with pytest.raises(ValueError, match="layout version 2; this reader understands version 1"):
            ShmFrameReader(name)


@pytest.mark.integration
@posix_only
def test_stale_segment_of_crashed_writer_is_replaced_and_readers_follow(name):
    crashed = start_writer(name, 32, 16, mode="forget")
    crashed_pid = crashed.pid
    follower = ReconnectingReader(name, retry_interval=0)
    # The writer writes on as fast as it can: a read that it laps (the reader descheduled mid-copy on a
    # busy machine) is dropped and answers None, as it should; the next one gets a frame.
    deadline = time.monotonic() + 30
    while (first := follower.read()) is None:
        assert time.monotonic() < deadline, "no frame from the writer"
    assert follower.reader.writer_pid == crashed_pid
    crashed.kill()  # SIGKILL: no close, the header still says "live"
    crashed.communicate(timeout=30)

    with ShmFrameReader(name) as leftover:  # the segment outlived its writer
        assert not leftover.writer_closed and leftover.writer_pid == crashed_pid

    with ShmFrameWriter(name, 8, 6) as replacement:
        with ShmFrameReader(name) as reader:
            assert reader.writer_pid == os.getpid() and reader.shape == (6, 8, 3)
        replacement.write(filled(replacement.shape, 1))
        # The dead writer's last frames may still be unread (it wrote on after `first`); the follower shows
        # them, then hears silence from it, looks again and finds the new writer.
        frames = [follower.read() for _ in range(4)]
        new = [f for f in frames if f is not None and f.pixels.shape == (6, 8, 3)]
        assert [f.number for f in new] == [1], frames
        first_new = next(i for i, f in enumerate(frames) if f is new[0])
        assert all(f.pixels.shape == (16, 32, 3) for f in frames[:first_new] if f is not None)
        assert follower.reader.writer_pid == os.getpid()
    follower.close()


def test_reconnecting_reader_follows_the_server_coming_and_going(name):
    follower = ReconnectingReader(name, retry_interval=0)
    assert follower.read() is None and follower.reader is None  # no server yet

    first = ShmFrameWriter(name, 8, 6)
    assert follower.read() is None  # attached, nothing published
    assert follower.reader is not None
    first.write(filled(first.shape, 1))
    frame = follower.read()
    assert frame.number == 1 and frame.pixels.shape == (6, 8, 3) and (frame.pixels == 1).all()
    assert follower.read() is None  # nothing new
    first.write(filled(first.shape, 2))
    assert follower.read().number == 2
    first.close()
    assert follower.read() is None and follower.reader is None  # server gone: detached

    second = ShmFrameWriter(name, 16, 4, channels=4)
    second.write(np.arange(16 * 4 * 4, dtype=np.uint8).reshape(4, 16, 4))
    frame = follower.read()
    assert frame.number == 1 and frame.pixels.shape == (4, 16, 4)
    second.close()
    follower.close()


def test_reconnecting_reader_can_flip_rows_for_touchdesigner(name):
    follower = ReconnectingReader(name, bottom_up=True, retry_interval=0)
    with ShmFrameWriter(name, 2, 3) as writer, follower:
        pixels = np.arange(18, dtype=np.uint8).reshape(3, 2, 3)
        writer.write(pixels)
        np.testing.assert_array_equal(follower.read().pixels, pixels[::-1])


def test_reconnecting_reader_waits_between_attempts(name):
    follower = ReconnectingReader(name, retry_interval=3600)
    assert follower.read() is None  # first attempt: nobody there
    with ShmFrameWriter(name, 4, 4) as writer:
        writer.write(filled(writer.shape, 1))
        assert follower.read() is None and follower.reader is None  # next attempt is an hour away


def test_header_struct_matches_documented_offsets():
    assert HEADER.size == 60
    assert shmring.HEADER_SIZE == 128 and shmring.SLOT_HEADER_SIZE == 64
    assert (shmring.PUBLISHED_OFFSET, shmring.STATE_OFFSET, shmring.PID_OFFSET) == (32, 52, 56)
    assert HEADER.unpack(HEADER.pack(b"LVJF", 1, 128, 1, 2, 3, 1, 0, 3, 64, 128, 7, 1.5, 1, 1, 42))[11:] == (
        7, 1.5, 1, 1, 42,
    )


# ---- resizes and odd segments (the writer re-creates the ring; readers must never see it break) ---------

@posix_only
def test_a_reshaped_ring_is_made_before_the_old_one_goes(name):
    writer = ShmFrameWriter(name, 32, 16)
    writer.write(filled((16, 32, 3), 1))
    with ShmFrameReader(name) as old_reader:
        new = writer.reshaped(64, 48, channels=4)
        try:
            assert old_reader.writer_closed, "readers of the old ring are told to re-attach"
            with ShmFrameReader(name) as reader:
                assert reader.shape == (48, 64, 4) and reader.writer_pid == os.getpid()
                new.write(filled((48, 64, 4), 2))
                assert reader.read().pixels[0, 0, 0] == frame_value(2)
        finally:
            new.close()
    with pytest.raises(StreamNotFoundError):
        ShmFrameReader(name)  # closing the new writer removed the name, as for any writer


@posix_only
def test_a_resize_that_fails_keeps_the_old_ring_playing(name, monkeypatch):
    writer = ShmFrameWriter(name, 32, 16)
    real = shared_memory.SharedMemory

    def no_file_descriptors(*args, create=False, **kwargs):
        if create:
            raise OSError(24, "Too many open files")
        return real(*args, **kwargs)

    with ShmFrameReader(name) as reader:
        monkeypatch.setattr(shared_memory, "SharedMemory", no_file_descriptors)
        with pytest.raises(OSError, match="Too many open files"):
            writer.reshaped(64, 48, channels=3)
        monkeypatch.setattr(shared_memory, "SharedMemory", real)
        writer.write(filled((16, 32, 3), 5))
        assert not reader.writer_closed and reader.read().pixels[0, 0, 0] == frame_value(5)
    writer.close()


@posix_only
def test_a_reconnecting_reader_never_raises_across_many_resizes(name):
    writer = ShmFrameWriter(name, 16, 16)
    stop, problems, frames = threading.Event(), [], []

    def poll():
        reader = ReconnectingReader(name, retry_interval=0.0)
        while not stop.is_set():
            try:
                frame = reader.read()
            except Exception as exc:  # noqa: BLE001 - what the test looks for
                problems.append(repr(exc))
                continue
            if frame is not None:
                frames.append(frame.pixels.shape)
        reader.close()

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        # 120 replacements at least, and on until the reader has had a frame (on a loaded machine the
        # reader's thread may not run at all during the first 120).
        n, deadline = 0, time.monotonic() + 30
        while n < 120 or not frames:
            assert time.monotonic() < deadline, "the reader never read a frame"
            side = 16 + (n % 5) * 8
            writer = writer.reshaped(side, side, channels=3 + n % 2)
            writer.write(filled(writer.shape, n))
            n += 1
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert problems == [] and frames, "read() returns None while a ring is replaced, never raises"


@posix_only
def test_an_empty_segment_of_the_same_name_is_neither_a_stream_nor_a_reason_to_crash(name):
    fd = os.open(f"/dev/shm/{name}", os.O_CREAT | os.O_RDWR, 0o600) if os.path.isdir("/dev/shm") else None
    if fd is None:
        pytest.skip("needs /dev/shm to make an empty segment")
    os.close(fd)
    assert ReconnectingReader(name).read() is None
    with pytest.raises(ValueError, match="empty"):
        ShmFrameReader(name)
    with ShmFrameWriter(name, 16, 16) as writer:  # made but never sized: its maker died; replaced
        writer.write(filled((16, 16, 3), 1))
        assert ShmFrameReader(name).read() is not None
