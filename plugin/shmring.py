"""Read LatentVJ frames from shared memory: the ring layout and a reader.

This file uses only the standard library and numpy, and imports nothing else from LatentVJ, so it can be
copied unchanged next to a TouchDesigner project (or any script) and imported there. The writer lives in
``latentvj.bridge.outputs.shm`` and takes its constants from here.

A stream is one shared-memory segment (``multiprocessing.shared_memory``) named e.g. ``latentvj``
(``/latentvj`` on Linux and macOS). All numbers are little-endian. The segment is a 128-byte header
followed by ``slot_count`` slots of ``slot_stride`` bytes each; slot ``i`` starts at byte
``header_size + i * slot_stride``.

Header (offset 0, 128 bytes)::

    offset size type  field             meaning
    0      4    4s    magic             b"LVJF"
    4      2    u16   version           1
    6      2    u16   header_size       128: where slot 0 starts
    8      4    u32   width             pixels per row
    12     4    u32   height            rows
    16     2    u16   channels          3 or 4
    18     2    u16   pixel_format      1 = RGB8, 2 = RGBA8 (uint8 per channel, interleaved)
    20     2    u16   row_order         0 = top row first
    22     2    u16   slot_count        slots in the ring (3 by default, at least 2)
    24     4    u32   slot_header_size  64: where a slot's pixels start inside the slot
    28     4    u32   slot_stride       bytes per slot including its header, a multiple of 64
    32     8    u64   frame_counter     number of the newest published frame (0 = none yet; the first is 1)
    40     8    f64   timestamp         writer's time.time() of the newest frame
    48     4    u32   newest_slot       slot index holding frame `frame_counter`
    52     4    u32   state             1 = live, 2 = closed (the writer shut down cleanly; re-attach later)
    56     4    u32   writer_pid        process id of the writer
    60     68   -     reserved          zeros

Slot (``slot_stride`` bytes)::

    offset size          type  field         meaning
    0      8             u64   seq           seqlock sequence: odd while the writer is copying pixels in
    8      8             u64   frame_number  number of the frame in this slot
    16     8             f64   timestamp     writer's time.time() of that frame
    24     40            -     reserved      zeros
    64     H * W * C     u8    pixels        rows top to bottom, each row W * C bytes, channels interleaved

Writing frame ``n`` (the writer is the only process that writes): take slot ``n % slot_count``; set its
``seq`` to odd; copy the pixels; write ``frame_number`` and ``timestamp``; set ``seq`` to even; then
update the header's ``frame_counter``, ``timestamp`` and ``newest_slot``.

Reading (see :meth:`ShmFrameReader.read`): read ``frame_counter`` and ``newest_slot``; read the slot's
``seq`` (it must be even); copy the pixels into your own buffer; read ``seq`` again. The copy is whole
only if both reads of ``seq`` are equal, and it is the announced frame only if ``frame_number`` is not
older than ``frame_counter``; otherwise try again. With 3 slots the writer has to publish two more frames
before it comes back to the slot being read, so retries are rare.
"""

from __future__ import annotations

import os
import re
import struct
import sys
import time
from multiprocessing import shared_memory
from typing import NamedTuple

import numpy as np

__all__ = [
    "DEFAULT_NAME",
    "Frame",
    "Header",
    "ReconnectingReader",
    "ShmFrameReader",
    "StreamNotFoundError",
    "read_header",
    "validate_name",
]

MAGIC = b"LVJF"
VERSION = 1
DEFAULT_NAME = "latentvj"
HEADER_SIZE = 128
SLOT_HEADER_SIZE = 64
ALIGNMENT = 64
ROW_ORDER_TOP_FIRST = 0
STATE_LIVE = 1
STATE_CLOSED = 2
PIXEL_FORMATS = {1: ("RGB8", 3), 2: ("RGBA8", 4)}
PIXEL_FORMAT_FOR_CHANNELS = {channels: code for code, (_, channels) in PIXEL_FORMATS.items()}

# The whole 60-byte header description; offsets are listed in the module docstring.
HEADER = struct.Struct("<4sHHIIHHHHIIQdIII")
# Pieces the writer updates and readers poll, at their offsets.
PUBLISHED = struct.Struct("<QdI")  # frame_counter, timestamp, newest_slot
PUBLISHED_OFFSET = 32
STATE = struct.Struct("<I")
STATE_OFFSET = 52
PID_OFFSET = 56
# Slot header pieces, relative to the slot start.
SEQ = struct.Struct("<Q")
SLOT_FRAME = struct.Struct("<Qd")  # frame_number, timestamp
SLOT_FRAME_OFFSET = 8

MAX_NAME_LENGTH = 30  # macOS allows 31 characters including the leading slash
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
# Python < 3.13 on POSIX registers every attached segment with the resource tracker, which unlinks it
# when the attaching process exits; readers must undo that. Python 3.13 has `track=False` instead.
_TRACKER_NEEDS_UNDO = os.name == "posix" and sys.version_info < (3, 13)


class StreamNotFoundError(FileNotFoundError):
    """No LatentVJ stream of that name exists (the server is not running, or uses another name)."""


class EmptySegmentError(ValueError):
    """A shared-memory segment of that name exists but has no bytes (made, never sized: its maker died)."""


class Header(NamedTuple):
    """The fields of a stream's header, as described in the module docstring."""

    magic: bytes
    version: int
    header_size: int
    width: int
    height: int
    channels: int
    pixel_format: int
    row_order: int
    slot_count: int
    slot_header_size: int
    slot_stride: int
    frame_counter: int
    timestamp: float
    newest_slot: int
    state: int
    writer_pid: int


class Frame(NamedTuple):
    """One frame read from the ring."""

    pixels: np.ndarray  # (height, width, channels) uint8, top row first unless read with bottom_up=True
    number: int  # frame number, counting from 1; never goes backwards for one writer
    timestamp: float  # writer's time.time() when it published the frame


def validate_name(name: str) -> str:
    """Return ``name`` if it can name a stream on every platform, else raise ValueError saying why."""
    if not isinstance(name, str):
        raise ValueError(f"shared memory name must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError("shared memory name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"shared memory name {name!r} is {len(name)} characters long; at most {MAX_NAME_LENGTH} "
            "are allowed (macOS limits names to 31 characters including the leading slash)"
        )
    if not _NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"shared memory name {name!r} may only contain letters, digits, '_', '.' and '-'"
        )
    return name


def slot_stride_for(width: int, height: int, channels: int) -> int:
    """Bytes per slot: the slot header plus the pixels, rounded up to a multiple of 64."""
    size = SLOT_HEADER_SIZE + width * height * channels
    return -(-size // ALIGNMENT) * ALIGNMENT


def read_header(buf) -> Header:
    """Decode the header at the start of ``buf`` (a memoryview or bytes of at least 64 bytes)."""
    return Header(*HEADER.unpack_from(buf, 0))


def attach_segment(name: str) -> shared_memory.SharedMemory:
    """Attach to an existing segment without letting this process's exit unlink it.

    On Python < 3.13 (POSIX) attaching registers the segment with the resource tracker, which unlinks it
    and warns about a "leaked shared_memory object" when this process exits; we withdraw that
    registration. The exception is a segment whose writer is this very process: the tracker holds
    one registration per name, and it is the writer's, which its unlink withdraws.
    Raises StreamNotFoundError when no segment has that name.
    """
    validate_name(name)
    try:
        if sys.version_info >= (3, 13):
            shm = shared_memory.SharedMemory(name=name, track=False)
        else:
            shm = shared_memory.SharedMemory(name=name)
    except FileNotFoundError:
        raise StreamNotFoundError(
            f"no LatentVJ stream named {name!r} (is `latentvj serve` running?)"
        ) from None
    except ValueError:  # mmap refuses a 0-byte segment
        raise EmptySegmentError(f"shared memory {name!r} is empty (0 bytes): not a LatentVJ stream") from None
    if _TRACKER_NEEDS_UNDO and _writer_pid(shm) != os.getpid():
        from multiprocessing import resource_tracker

        resource_tracker.unregister(shm._name, "shared_memory")
    return shm


def unlink_attached_segment(shm: shared_memory.SharedMemory) -> None:
    """Unlink a segment opened with :func:`attach_segment`, keeping the resource tracker balanced."""
    if _TRACKER_NEEDS_UNDO and _writer_pid(shm) != os.getpid():
        from multiprocessing import resource_tracker

        # SharedMemory.unlink withdraws a registration; give it the one attach_segment withdrew.
        resource_tracker.register(shm._name, "shared_memory")
    shm.unlink()


def _writer_pid(shm: shared_memory.SharedMemory) -> int | None:
    if shm.size < HEADER.size or bytes(shm.buf[:4]) != MAGIC:
        return None
    return read_header(shm.buf).writer_pid


class ShmFrameReader:
    """Attach to a LatentVJ frame stream and copy out its newest complete frame.

    Readers never write to the segment, never unlink it, and may attach, detach or die at any time
    without disturbing the writer or other readers. Use one reader per thread.
    """

    def __init__(self, name: str = DEFAULT_NAME, *, max_attempts: int = 64):
        """
        Args:
            name: the stream's shared-memory name, as given to ``latentvj serve --shm`` (default "latentvj").
            max_attempts: how many times one ``read`` may retry a copy that the writer overwrote while it
                was being taken before giving up and returning None.
        Raises:
            StreamNotFoundError (a FileNotFoundError): no stream of that name.
            ValueError: the segment is not a LatentVJ stream, or one of an unsupported version.
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._name = validate_name(name)
        self._max_attempts = max_attempts
        self._shm: shared_memory.SharedMemory | None = attach_segment(name)
        try:
            self._header = self._check_header()
        except ValueError:
            self._shm.close()
            self._shm = None
            raise
        h = self._header
        self._buf = self._shm.buf
        self._slot_offsets = [h.header_size + i * h.slot_stride for i in range(h.slot_count)]
        shape = (h.height, h.width, h.channels)
        pixels = h.width * h.height * h.channels
        self._slot_pixels = [
            np.frombuffer(self._buf, np.uint8, pixels, offset + h.slot_header_size).reshape(shape)
            for offset in self._slot_offsets
        ]
        self.retries = 0  # copies thrown away because the writer overwrote the slot meanwhile
        self.missed_reads = 0  # reads that gave up after max_attempts retries

    def _check_header(self) -> Header:
        shm = self._shm
        if shm.size < HEADER_SIZE:
            raise ValueError(
                f"shared memory {self._name!r} is not a LatentVJ stream: {shm.size} bytes, "
                f"smaller than the {HEADER_SIZE}-byte header"
            )
        h = read_header(shm.buf)
        if h.magic != MAGIC:
            raise ValueError(
                f"shared memory {self._name!r} is not a LatentVJ stream: magic {h.magic!r}, "
                f"expected {MAGIC!r}"
            )
        if h.version != VERSION:
            raise ValueError(
                f"LatentVJ stream {self._name!r} has layout version {h.version}; this reader "
                f"understands version {VERSION}: use the shmring.py that ships with that server"
            )
        if h.pixel_format not in PIXEL_FORMATS or PIXEL_FORMATS[h.pixel_format][1] != h.channels:
            raise ValueError(
                f"LatentVJ stream {self._name!r} has pixel format {h.pixel_format} with "
                f"{h.channels} channels; expected one of {PIXEL_FORMATS}"
            )
        if h.row_order != ROW_ORDER_TOP_FIRST:
            raise ValueError(f"LatentVJ stream {self._name!r} has unknown row order {h.row_order}")
        needed_stride = h.slot_header_size + h.width * h.height * h.channels
        needed_size = h.header_size + h.slot_count * h.slot_stride
        if (
            h.header_size < HEADER.size
            or h.slot_header_size < SLOT_FRAME_OFFSET + SLOT_FRAME.size
            or h.slot_count < 1
            or h.slot_stride < needed_stride
            or shm.size < needed_size
        ):
            raise ValueError(
                f"LatentVJ stream {self._name!r} has an inconsistent header: {h} "
                f"(segment of {shm.size} bytes)"
            )
        return h

    @property
    def name(self) -> str:
        return self._name

    @property
    def width(self) -> int:
        return self._header.width

    @property
    def height(self) -> int:
        return self._header.height

    @property
    def channels(self) -> int:
        return self._header.channels

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of every frame in this stream."""
        return (self._header.height, self._header.width, self._header.channels)

    @property
    def pixel_format(self) -> str:
        """"RGB8" or "RGBA8"."""
        return PIXEL_FORMATS[self._header.pixel_format][0]

    @property
    def writer_pid(self) -> int:
        return self._header.writer_pid

    @property
    def frame_count(self) -> int:
        """Number of the newest frame the writer has published (0 when none yet)."""
        return PUBLISHED.unpack_from(self._live_buf(), PUBLISHED_OFFSET)[0]

    @property
    def writer_closed(self) -> bool:
        """True once the writer has shut down; a restarted server makes a new segment: attach again."""
        return STATE.unpack_from(self._live_buf(), STATE_OFFSET)[0] == STATE_CLOSED

    def header(self) -> Header:
        """The header as it is now (frame counter, timestamp, state and all)."""
        return read_header(self._live_buf())

    def read(
        self, *, out: np.ndarray | None = None, newer_than: int | None = None, bottom_up: bool = False
    ) -> Frame | None:
        """Copy out the newest complete frame.

        Args:
            out: a C-contiguous (height, width, channels) uint8 array to copy into (no allocation);
                by default a new array is returned.
            newer_than: return None at once, copying nothing, unless a frame numbered higher than this
                has been published; pass the number of the last frame you got.
            bottom_up: store the bottom row first (what TouchDesigner's Script TOP wants); the copy
                costs the same.
        Returns:
            The frame, or None when nothing (newer) has been published, or when the writer overwrote the
            slot during every one of ``max_attempts`` copies (counted in ``missed_reads``).
        """
        buf = self._live_buf()
        if out is None:
            out = np.empty(self.shape, np.uint8)
        elif not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != self.shape:
            got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
            raise ValueError(f"out must be a uint8 array of shape {self.shape}, got {got}")
        target = out[::-1] if bottom_up else out
        for _ in range(self._max_attempts):
            counter, _, slot = PUBLISHED.unpack_from(buf, PUBLISHED_OFFSET)
            if counter == 0 or (newer_than is not None and counter <= newer_than):
                return None
            if slot >= len(self._slot_offsets):
                raise ValueError(
                    f"LatentVJ stream {self._name!r} names slot {slot}, but has {len(self._slot_offsets)}"
                )
            offset = self._slot_offsets[slot]
            seq_before = SEQ.unpack_from(buf, offset)[0]
            if seq_before % 2 == 0:
                number, timestamp = SLOT_FRAME.unpack_from(buf, offset + SLOT_FRAME_OFFSET)
                np.copyto(target, self._slot_pixels[slot])
                seq_after = SEQ.unpack_from(buf, offset)[0]
                if seq_after == seq_before and number >= counter:
                    return Frame(out, number, timestamp)
            self.retries += 1
        self.missed_reads += 1
        return None

    def _live_buf(self) -> memoryview:
        if self._shm is None:
            raise ValueError(f"reader of {self._name!r} is closed")
        return self._buf

    def close(self) -> None:
        """Detach from the stream (never removes it). Safe to call twice."""
        if self._shm is None:
            return
        # numpy views export the buffer; they must go before the mapping can be closed.
        self._slot_pixels = []
        self._buf = None
        self._shm.close()
        self._shm = None

    def __del__(self) -> None:
        if getattr(self, "_shm", None) is not None:
            self.close()

    def __enter__(self) -> ShmFrameReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._shm is None:
            return f"ShmFrameReader({self._name!r}, closed)"
        return f"ShmFrameReader({self._name!r}, {self.width}x{self.height} {self.pixel_format})"


class ReconnectingReader:
    """A reader for hosts that poll every frame (TouchDesigner's Script TOP cooks once per frame).

    ``read()`` never raises because the server is absent or restarting: it returns the newest frame if
    there is a new one, else None (keep showing the last one). It attaches when a server appears,
    re-attaches when the server shuts down and starts again (at any size), and checks for a new
    server when no frame has arrived for ``retry_interval`` seconds (one whose predecessor crashed).

    The returned ``pixels`` array is reused by the next ``read``; copy it if you keep it.
    """

    def __init__(self, name: str = DEFAULT_NAME, *, bottom_up: bool = False, retry_interval: float = 1.0):
        """
        Args:
            name: the stream's shared-memory name (default "latentvj").
            bottom_up: return the bottom row first, as TouchDesigner's copyNumpyArray expects.
            retry_interval: seconds between attempts to attach while no stream is there, and how long
                without a new frame before looking for a restarted server.
        """
        if retry_interval < 0:
            raise ValueError(f"retry_interval must be >= 0 seconds, got {retry_interval}")
        self.name = validate_name(name)
        self.bottom_up = bottom_up
        self.retry_interval = retry_interval
        self._reader: ShmFrameReader | None = None
        self._buffer: np.ndarray | None = None
        self._last_number: int | None = None
        self._next_attempt = 0.0
        self._last_news = 0.0

    @property
    def reader(self) -> ShmFrameReader | None:
        """The reader currently attached, or None."""
        return self._reader

    def read(self) -> Frame | None:
        try:
            return self._read()
        except ValueError:
            # A segment caught while a server makes or replaces it (empty, a short or unfinished header),
            # or one that is not a stream at all: no frame now; look again after retry_interval.
            self._detach()
            self._next_attempt = time.monotonic() + self.retry_interval
            return None

    def _read(self) -> Frame | None:
        now = time.monotonic()
        if self._reader is not None and self._reader.writer_closed:
            self._detach()
            self._next_attempt = now  # a restarted server may be there already
        if self._reader is None:
            if now < self._next_attempt:
                return None
            self._next_attempt = now + self.retry_interval
            try:
                self._attach(ShmFrameReader(self.name))
            except StreamNotFoundError:
                return None
            self._last_news = now
        frame = self._reader.read(out=self._buffer, newer_than=self._last_number, bottom_up=self.bottom_up)
        if frame is not None:
            self._last_number = frame.number
            self._last_news = now
        elif now - self._last_news >= self.retry_interval and now >= self._next_attempt:
            self._next_attempt = now + self.retry_interval
            if self._found_new_writer():
                self._last_news = now
                return self._read()
        return frame

    def _found_new_writer(self) -> bool:
        """Silence from a writer that did not say it closed: has a new one taken over the name?"""
        try:
            candidate = ShmFrameReader(self.name)
        except StreamNotFoundError:
            return False
        if candidate.writer_pid == self._reader.writer_pid:
            candidate.close()
            return False
        self._detach()
        self._attach(candidate)
        return True

    def _attach(self, reader: ShmFrameReader) -> None:
        self._reader = reader
        self._last_number = None
        if self._buffer is None or self._buffer.shape != reader.shape:
            self._buffer = np.empty(reader.shape, np.uint8)

    def _detach(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def close(self) -> None:
        self._detach()

    def __enter__(self) -> ReconnectingReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
