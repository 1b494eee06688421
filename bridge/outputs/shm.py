"""Publish frames into a shared-memory ring that TouchDesigner or any script can read.

The layout (header, slots, seqlock protocol) is defined and documented in ``latentvj.plugin.shmring``,
which is also the reader; see docs/shared-memory.md. This module is the one writer of a stream.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from multiprocessing import shared_memory

import numpy as np

from latentvj.plugin.shmring import (
    HEADER,
    HEADER_SIZE,
    MAGIC,
    PIXEL_FORMAT_FOR_CHANNELS,
    PUBLISHED,
    PUBLISHED_OFFSET,
    ROW_ORDER_TOP_FIRST,
    SEQ,
    SLOT_FRAME,
    SLOT_FRAME_OFFSET,
    SLOT_HEADER_SIZE,
    STATE,
    STATE_CLOSED,
    STATE_LIVE,
    STATE_OFFSET,
    VERSION,
    EmptySegmentError,
    StreamNotFoundError,
    attach_segment,
    read_header,
    slot_stride_for,
    unlink_attached_segment,
    validate_name,
)

__all__ = ["ShmFrameWriter", "SharedMemoryInUseError"]


class SharedMemoryInUseError(RuntimeError):
    """Another live process owns a segment with the requested name."""


class ShmFrameWriter:
    """Create a frame stream and publish uint8 frames into it.

    Not thread-safe: call ``write`` from one thread. ``write`` does one copy into a preallocated slot
    and allocates nothing else per frame.
    """

    def __init__(self, name: str, width: int, height: int, *, channels: int = 3, slots: int = 3):
        """
        Args:
            name: shared-memory name readers attach to; at most 30 characters of [A-Za-z0-9_.-].
            width: pixels per row of every frame.
            height: rows of every frame.
            channels: 3 (RGB8) or 4 (RGBA8).
            slots: frames in the ring, at least 2; with 3 a reader has two frame periods to finish a copy.
        Raises:
            ValueError: a bad name, size, channel or slot count.
            SharedMemoryInUseError: a live LatentVJ server, or something that is not LatentVJ, already
                uses the name. A segment left behind by a crashed server is replaced.
        """
        validate_name(name)
        for label, value in (("width", width), ("height", height)):
            if not isinstance(value, int) or not 1 <= value <= 65535:
                raise ValueError(f"{label} must be an int in 1..65535, got {value!r}")
        if channels not in PIXEL_FORMAT_FOR_CHANNELS:
            raise ValueError(f"channels must be 3 (RGB8) or 4 (RGBA8), got {channels!r}")
        if not isinstance(slots, int) or not 2 <= slots <= 255:
            raise ValueError(f"slots must be an int in 2..255, got {slots!r}")
        self._name = name
        self._shape = (height, width, channels)
        self._slot_count = slots
        self._slot_stride = slot_stride_for(width, height, channels)
        size = HEADER_SIZE + slots * self._slot_stride
        self._shm = self._create(name, size)
        self._buf = self._shm.buf
        self._slot_offsets = [HEADER_SIZE + i * self._slot_stride for i in range(slots)]
        pixels = width * height * channels
        self._slot_pixels = [
            np.frombuffer(self._buf, np.uint8, pixels, offset + SLOT_HEADER_SIZE).reshape(self._shape)
            for offset in self._slot_offsets
        ]
        self._seqs = [0] * slots
        self._frame_count = 0
        HEADER.pack_into(
            self._buf, 0,
            MAGIC, VERSION, HEADER_SIZE, width, height, channels, PIXEL_FORMAT_FOR_CHANNELS[channels],
            ROW_ORDER_TOP_FIRST, slots, SLOT_HEADER_SIZE, self._slot_stride,
            0, 0.0, 0, STATE_LIVE, os.getpid(),
        )  # fmt: skip

    @staticmethod
    def _create(name: str, size: int) -> shared_memory.SharedMemory:
        try:
            return shared_memory.SharedMemory(name=name, create=True, size=size)
        except FileExistsError:
            pass
        try:
            existing = attach_segment(name)
        except StreamNotFoundError:  # it went away meanwhile
            return shared_memory.SharedMemory(name=name, create=True, size=size)
        except EmptySegmentError:  # made but never sized: a writer that died while creating it
            _unlink_name(name)
            return shared_memory.SharedMemory(name=name, create=True, size=size)
        try:
            header = read_header(existing.buf) if existing.size >= HEADER.size else None
            if header is not None and header.magic == MAGIC:
                if header.state != STATE_CLOSED and _process_alive(header.writer_pid):
                    raise SharedMemoryInUseError(
                        f"shared memory {name!r} is in use by another LatentVJ server "
                        f"(pid {header.writer_pid}); pick another --shm name"
                    )
            elif header is None or any(bytes(existing.buf[: HEADER.size])):
                raise SharedMemoryInUseError(
                    f"shared memory {name!r} exists and is not a LatentVJ stream; pick another --shm name"
                )
            if os.name != "posix":
                # Windows removes a segment when its last handle closes; until then the name is taken.
                raise SharedMemoryInUseError(
                    f"shared memory {name!r} is still held open by a reader of a previous LatentVJ server; "
                    "it is freed when that reader detaches (try again), or pick another --shm name"
                )
            unlink_attached_segment(existing)  # left behind by a server that crashed
        finally:
            existing.close()
        return shared_memory.SharedMemory(name=name, create=True, size=size)

    @property
    def name(self) -> str:
        return self._name

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, channels) that every written frame must have."""
        return self._shape

    @property
    def frame_count(self) -> int:
        """Number of frames published so far (also the number of the newest one)."""
        return self._frame_count

    def write(self, pixels: np.ndarray, *, timestamp: float | None = None) -> int:
        """Publish one frame and return its number (1 for the first).

        Args:
            pixels: (height, width, channels) uint8, top row first; need not be contiguous.
            timestamp: the frame's time as time.time() seconds; now by default.
        """
        if self._shm is None:
            raise ValueError(f"writer of {self._name!r} is closed")
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.shape != self._shape:
            is_array = isinstance(pixels, np.ndarray)
            got = f"{pixels.dtype} {pixels.shape}" if is_array else type(pixels).__name__
            raise ValueError(f"expected a uint8 array of shape (H, W, C) = {self._shape}, got {got}")
        if timestamp is None:
            timestamp = time.time()
        number = self._frame_count + 1
        slot = number % self._slot_count
        offset = self._slot_offsets[slot]
        seq = self._seqs[slot]
        buf = self._buf
        SEQ.pack_into(buf, offset, seq + 1)  # odd: readers of this slot will retry
        np.copyto(self._slot_pixels[slot], pixels)
        SLOT_FRAME.pack_into(buf, offset + SLOT_FRAME_OFFSET, number, timestamp)
        SEQ.pack_into(buf, offset, seq + 2)  # even: the slot is whole again
        self._seqs[slot] = seq + 2
        PUBLISHED.pack_into(buf, PUBLISHED_OFFSET, number, timestamp, slot)
        self._frame_count = number
        return number

    def reshaped(self, width: int, height: int, *, channels: int) -> ShmFrameWriter:
        """A writer of the same name at another size or channel count, replacing this one.

        The new ring is made first; when that fails (no memory, no file descriptors: EMFILE) the error is
        raised and this writer goes on as before, its readers undisturbed. When it works, readers of this
        one are told it closed and re-attach to the new one, and this writer is closed.

        On Linux the new segment is made under a temporary name and renamed over the old one (POSIX shared
        memory lives in /dev/shm there), so the name always leads to a whole ring. Elsewhere the old
        segment is removed just before the new one is made under its name; should that last step fail,
        the old size is made again.
        """
        if self._shm is None:
            raise ValueError(f"writer of {self._name!r} is closed")
        temp = f"lvjtmp{os.getpid()}x{next(_temp_names)}"[:30]
        new = ShmFrameWriter(temp, width, height, channels=channels, slots=self._slot_count)  # may raise
        if _rename_segment(temp, self._name):
            new._adopt_name(self._name, old=temp)
            self._close(unlink=False)  # the name is the new ring's now
            return new
        new.close()  # the resources are there; make the ring under the real name
        old_height, old_width, old_channels = self._shape
        self.close()
        try:
            return ShmFrameWriter(self._name, width, height, channels=channels, slots=self._slot_count)
        except Exception:
            self.__init__(self._name, old_width, old_height, channels=old_channels, slots=self._slot_count)
            raise

    def _adopt_name(self, name: str, *, old: str) -> None:
        """After the segment was renamed from ``old`` to ``name`` under our feet (see :meth:`reshaped`)."""
        self._name = name
        self._shm._name = "/" + name  # what SharedMemory.unlink passes to shm_unlink (POSIX)
        if _TRACKED:
            from multiprocessing import resource_tracker

            resource_tracker.unregister("/" + old, "shared_memory")
            resource_tracker.register("/" + name, "shared_memory")

    def close(self) -> None:
        """Tell readers the stream has ended, then remove it. Safe to call twice."""
        self._close(unlink=True)

    def _close(self, *, unlink: bool) -> None:
        if self._shm is None:
            return
        STATE.pack_into(self._buf, STATE_OFFSET, STATE_CLOSED)
        self._slot_pixels = []  # numpy views must go before the mapping can close
        self._buf = None
        shm, self._shm = self._shm, None
        shm.close()
        if not unlink:
            return
        try:
            shm.unlink()
        except FileNotFoundError:  # someone removed it already; nothing left to free
            pass

    def __del__(self) -> None:
        if getattr(self, "_shm", None) is not None:
            self.close()

    def __enter__(self) -> ShmFrameWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        height, width, channels = self._shape
        state = "closed" if self._shm is None else f"{self._frame_count} frames"
        return f"ShmFrameWriter({self._name!r}, {width}x{height}x{channels}, {state})"


_temp_names = itertools.count()
_TRACKED = os.name == "posix"
"""Segments this process creates are registered with multiprocessing's resource tracker (POSIX)."""
_SHM_FOLDER = "/dev/shm"


def _unlink_name(name: str) -> None:
    """Remove a segment by name (POSIX; Windows frees a segment with its last handle)."""
    try:
        import _posixshmem
    except ImportError:
        return
    try:
        _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:
        pass


def _rename_segment(old: str, new: str) -> bool:
    """Rename a POSIX shared-memory segment atomically where the system keeps them as files (Linux);
    False where it cannot (macOS, Windows), leaving it as it was."""
    if not sys.platform.startswith("linux") or not os.path.isfile(os.path.join(_SHM_FOLDER, old)):
        return False
    try:
        os.replace(os.path.join(_SHM_FOLDER, old), os.path.join(_SHM_FOLDER, new))
    except OSError:
        return False
    return True


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # os.kill would terminate it on Windows; a live segment there is never stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
