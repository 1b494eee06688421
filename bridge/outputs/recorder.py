"""The live recorder: the frames as played, into an MP4 (H.264) or a HAP .mov, written on its own thread.

The render loop hands every frame to :meth:`Recorder.write`, which does nothing while nothing is recorded
and otherwise copies the frame into a bounded queue and returns. The take's thread ("recorder") takes the
frames in order and pipes them to the clip writer that ``latentvj render`` uses (outputs/video.py, live:
fragmented, so whatever ends the recording leaves a playable file).

The file keeps the set's time. Each frame has a slot, its moment since the take began times the
recording's frame rate; a slot the show skipped (a render that stalled, frames dropped below) is filled
with the frame before it, and a frame whose slot is already written is left out. So a minute of show is a
minute of file, whatever the render's own rate did.

Nothing waits for the disk. When the queue is full (the encoder or the disk is slower than the show), the
newest frame is dropped from the recording, counted and reported, and the output goes on untouched. A
writer that fails (ffmpeg ends, the disk fills) ends the take with the reason; so does a disk with less
than ``MIN_FREE_BYTES`` left, before it is full, which closes the file properly.

A change of size or channels mid-take (``/lvj/output/size``) cannot go into the same video stream: the take
goes on in a new file beside it, ``NAME-2.mp4``, ``NAME-3.mp4``...
"""

from __future__ import annotations

import collections
import logging
import re
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from .video import LIVE_FORMATS, WriterError, open_writer

log = logging.getLogger("latentvj.recorder")

QUEUE_SECONDS = 2.0
"""The most frames waiting for the encoder, in seconds of show ..."""
QUEUE_BYTES = 256 << 20
"""... and in bytes, whichever is less (at least two frames)."""
MIN_FREE_BYTES = 64 << 20
"""A take ends, its file closed properly, when its disk has less than this left."""
DISK_CHECK_S = 1.0
"""How often the take's thread asks the disk how much is left."""
MAX_HELD_S = 10.0
"""The longest gap a take fills with its last frame (a wall clock that jumped is not a ten-hour still)."""
CLOSE_TIMEOUT_S = 30.0
"""How long stopping the server waits for a take to write what is queued and close its file."""

_NAME = re.compile(r"^[\w][\w .,()+=-]{0,127}$")


class RecordError(ValueError):
    """A recording that cannot start as asked; the message says why."""


def default_name(now: datetime | None = None, suffix: str = ".mp4") -> str:
    """latentvj-20261203-214501.mp4: the file a take is written to when none is named."""
    return f"latentvj-{(now or datetime.now()).strftime('%Y%m%d-%H%M%S')}{suffix}"


def recording_path(asked: str | None, folder: Path) -> Path:
    """Where ``/lvj/record/start [FILE]`` writes: a bare file name (no folders: a controller on the
    network never names a path on this disk) ending .mp4 or .mov, in ``folder``; none: a name with the
    time. Raises RecordError for anything else, or a file that exists (a recording never overwrites)."""
    if asked is None or not asked.strip():
        first = folder / default_name()
        path, n = first, 1
        while path.exists():  # two takes in one second
            n += 1
            path = first.with_name(f"{first.stem}-{n}{first.suffix}")
    else:
        name = asked.strip()
        if "/" in name or "\\" in name or not _NAME.match(name):
            raise RecordError(f"{name!r}: give a file name only (letters, digits, spaces, . , - _ + = ( )), "
                              f"written in {folder}; --record on the command line takes a path")
        path = folder / name
    return checked_path(path)


def checked_path(path: Path) -> Path:
    """``path`` if a recording may be written there: .mp4 or .mov, not there yet, its folder there."""
    if path.suffix.lower() not in LIVE_FORMATS:
        raise RecordError(f"{path.name}: a recording is an .mp4 (H.264) or a .mov (HAP)")
    if path.exists():
        raise RecordError(f"{path} already exists; a recording never overwrites: choose another name")
    if not path.parent.is_dir():
        raise RecordError(f"the folder {path.parent} does not exist")
    return path


@dataclass
class _Frame:
    pixels: np.ndarray
    slot: int


class Take:
    """One recording, from start to stop: the queue, the thread and the writer(s) of its file(s)."""

    def __init__(self, path: Path, fps: float, *, report: Callable[[str], None],
                 on_file: Callable[["Take", Path | None], None] = lambda take, path: None,
                 warn: Callable[[str], None] = lambda text: None,
                 clock: Callable[[], float] = time.time, free_bytes: Callable[[Path], int] | None = None):
        """report: told why the take ended early. on_file: told the file being written (a new part after a
        resize) and None when the take has ended. warn: told when frames are left out (the first, then
        every hundredth), besides the log."""
        self.path = path
        """The file being written now (a new part after a resize)."""
        self.files: list[Path] = [path]
        self.fps = fps
        self.report = report
        self.on_file = on_file
        self.warn = warn
        self.clock = clock
        self.free_bytes = free_bytes or (lambda p: shutil.disk_usage(p).free)
        self.started = clock()
        self.frames = 0
        """Frames in the file(s), the held ones too."""
        self.held = 0
        """Slots filled with the frame before (the show skipped them, or they were dropped here)."""
        self.dropped = 0
        """Frames the show played that the recording left out: the queue was full."""
        self.state = "recording"
        """recording, finishing (writing what is queued), done, failed."""
        self.error = ""
        self._queue: collections.deque[_Frame] = collections.deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._t0: float | None = None
        self._last_slot = -1
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    # ---- the render loop's side ---------------------------------------------------------------------
    def write(self, pixels: np.ndarray, timestamp: float | None) -> None:
        t = self.clock() if timestamp is None else timestamp
        if self._t0 is None:
            self._t0 = t
        slot = round((t - self._t0) * self.fps)
        with self._cond:
            if self._stopping:
                return
            limit = max(2 * pixels.nbytes, min(QUEUE_BYTES, QUEUE_SECONDS * self.fps * pixels.nbytes))
            if self._queued_bytes + pixels.nbytes > limit:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    text = (f"recording {self.path.name}: the encoder or the disk is behind the show; "
                            f"{self.dropped} frame(s) left out of the recording so far (the output is not affected)")
                    log.warning("%s", text)
                    self.warn(text)
                return
            self._queue.append(_Frame(pixels.copy(), slot))
            self._queued_bytes += pixels.nbytes
            self._cond.notify()

    # ---- any thread ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish: what is queued is written, then the file is closed (on the take's thread)."""
        with self._cond:
            if not self._stopping:
                self._stopping = True
                if self.state == "recording":
                    self.state = "finishing"
            self._cond.notify()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def status(self) -> dict:
        return {"file": str(self.path), "files": [str(p) for p in self.files], "state": self.state,
                "seconds": round(self.seconds, 3), "frames": self.frames, "held": self.held,
                "dropped": self.dropped, "queued": len(self._queue), "error": self.error}

    # ---- the take's thread --------------------------------------------------------------------------
    def _run(self) -> None:
        writer = None
        shape = None
        previous: np.ndarray | None = None
        checked = 0.0
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._queue or self._stopping)
                    if not self._queue:
                        break  # stopping, and all written
                    frame = self._queue.popleft()
                    self._queued_bytes -= frame.pixels.nbytes
                if frame.pixels.shape != shape:
                    if writer is not None:
                        writer.close()
                        self._next_part()
                    height, width = frame.pixels.shape[:2]
                    writer = open_writer(self.path, width, height, self.fps, live=True)
                    shape, previous = frame.pixels.shape, None
                if frame.slot <= self._last_slot:
                    continue  # its moment is already in the file
                if previous is not None:
                    gap = min(frame.slot - self._last_slot - 1, int(MAX_HELD_S * self.fps))
                    for _ in range(gap):
                        writer.write(previous)
                    self.held += gap
                    self.frames += gap
                writer.write(frame.pixels)
                self.frames += 1
                self._last_slot, previous = frame.slot, frame.pixels
                now = time.monotonic()
                if now - checked >= DISK_CHECK_S:
                    checked = now
                    free = self.free_bytes(self.path.parent)
                    if free < MIN_FREE_BYTES:
                        raise WriterError(f"the disk holding {self.path.parent} has {free >> 20} MB left; "
                                          "recording stopped, the file closed")
            if writer is not None:
                writer.close()
            self.state = "done"
            log.info("recorded %s: %.1f s, %d frames (%d held, %d left out)", ", ".join(map(str, self.files)),
                     self.seconds, self.frames, self.held, self.dropped)
        except (WriterError, OSError) as exc:
            self.error = str(exc)
            self.state = "failed"
            if writer is not None:
                try:
                    writer.close()  # what was written stays: the fragments before are playable
                except (WriterError, OSError):
                    pass
            with self._cond:
                self._stopping = True
                self._queue.clear()
                self._queued_bytes = 0
            self.report(f"recording {self.path.name} ended after {self.seconds:.1f} s: {exc}")
        finally:
            self.on_file(self, None)

    def _next_part(self) -> None:
        first = self.files[0]
        n = len(self.files) + 1
        path = first.with_name(f"{first.stem}-{n}{first.suffix}")
        while path.exists():
            n += 1
            path = first.with_name(f"{first.stem}-{n}{first.suffix}")
        self.path = path
        self.files.append(path)
        self._last_slot = -1
        self._t0 = None
        self.on_file(self, path)


class Recorder:
    """A frame sink of the server that records takes: ``start(path)``, ``stop()``, ``status()``."""

    def __init__(self, folder: Path, fps: float, *, report: Callable[[str], None] | None = None,
                 on_file: Callable[[Path | None], None] | None = None, warn: Callable[[str], None] | None = None):
        """folder: where takes named by a controller (or by no one) are written. fps: the recording's
        frame rate (the show's target; 30 for an unpaced show). report: told why a take ended early.
        on_file: told the file being recorded now, None when recording ends. warn: told when a take leaves
        frames out."""
        self.folder = folder
        self.fps = fps if fps > 0 else 30.0
        self.report = report or (lambda text: log.warning("%s", text))
        self.on_file = on_file or (lambda path: None)
        self.warn = warn or (lambda text: None)
        self.take: Take | None = None
        """The take being recorded or the last one (its status stays until the next start)."""
        self._lock = threading.Lock()

    @property
    def recording(self) -> bool:
        take = self.take
        return take is not None and take.state == "recording"

    def start(self, path: Path) -> Take:
        """Start a take into ``path`` (see ``checked_path``); a take already recording is stopped first."""
        checked_path(path)
        with self._lock:
            if self.take is not None:
                self.take.stop()
            self.take = Take(path, self.fps, report=self.report, on_file=self._file_changed, warn=self.warn)
        self.on_file(path)
        log.info("recording to %s", path)
        return self.take

    def _file_changed(self, take: Take, path: Path | None) -> None:
        if take is self.take:  # an earlier take finishing after a new one began says nothing
            self.on_file(path)

    def stop(self) -> Take | None:
        """Stop the take (its file is finished on its thread); the take, or None if none was recording."""
        with self._lock:
            take = self.take
        if take is None or take.state != "recording":
            return None
        take.stop()
        return take

    def write(self, pixels: np.ndarray, *, timestamp: float | None = None) -> None:
        take = self.take
        if take is not None and take.state == "recording":
            take.write(pixels, timestamp)

    def status(self) -> dict:
        take = self.take
        return {"folder": str(self.folder), **(take.status() if take else {"state": "off"})}

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Stop and wait for the file to be finished (the server's stop)."""
        take = self.take
        if take is None:
            return
        take.stop()
        if not take.join(timeout):
            log.warning("recording %s: still writing after %.0f s; ffmpeg finishes the file when its input "
                        "ends", take.path, timeout)
