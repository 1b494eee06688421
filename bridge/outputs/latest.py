"""The hand-off every network output shares: the newest frame wins, and the output works on its own thread.

The render loop calls :meth:`LatestFrameSender.write`, which copies the frame into a buffer of the output's
own (the render loop's array is only valid during the call) and returns at once; a frame that arrives
before the thread took the last one replaces it and is counted as dropped. The output's thread wakes when a
frame is there, or every ``poll`` seconds without one (to reconnect, to count receivers), and calls
:meth:`LatestFrameSender.send` with the frame or None. A send that raises is handed to
:meth:`LatestFrameSender.failed`, and the thread goes on: one bad frame never ends an output.

An output says which frames it wants (none while nobody receives: no copy at all), the shape of its
buffers, how to fill one from a frame (a plain copy, or a repack), and what to do with it.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

log = logging.getLogger("latentvj.outputs")


class Buffer:
    """One of an output's frame buffers, with a note the output may keep about its contents."""

    __slots__ = ("array", "note")

    def __init__(self, array: np.ndarray):
        self.array = array
        self.note: object = None


def check_frame(pixels: np.ndarray, who: str) -> None:
    """Raise ValueError, saying what came, unless ``pixels`` is a uint8 (height, width, 1|3|4) frame."""
    if pixels.ndim != 3 or pixels.dtype != np.uint8 or pixels.shape[2] not in (1, 3, 4):
        raise ValueError(f"{who}.write expects a uint8 (height, width, 1|3|4) array, got {pixels.dtype} "
                         f"{pixels.shape}")


class LatestFrameSender:
    poll = 0.2
    """Seconds the output's thread waits for a frame before calling send(None)."""
    restartable = True
    """False for an output whose library handle ends with it (NDI, Spout, Syphon): once stopped, start()
    raises and a new one must be made."""

    def __init__(self, thread_name: str):
        self.thread_name = thread_name
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: Buffer | None = None  # the newest frame the thread has not taken yet
        self._free: list[Buffer] = []  # buffers to reuse (one being filled, one pending, one sent)
        self.dropped = 0
        """Frames replaced by a newer one before the output's thread took them (latest wins)."""
        self._stopped = False

    # ---- the render loop's side: must be cheap -------------------------------------------------------
    def write(self, pixels: np.ndarray, *, timestamp: float | None = None) -> None:
        """Hand over one frame (uint8, height x width x channels, top row first); returns at once."""
        self.check(pixels)
        if self._stopping.is_set() or not self.wants(pixels):
            return
        shape = self.buffer_shape(pixels)
        with self._cond:
            self._free = [b for b in self._free if b.array.shape == shape]
            buffer = self._free.pop() if self._free else None
        if buffer is None:
            buffer = Buffer(np.empty(shape, np.uint8))
        self.fill(buffer, pixels)
        with self._cond:
            if self._pending is not None:
                self.dropped += 1
                self._free.append(self._pending)
            self._pending = buffer
            self._cond.notify_all()

    # ---- what an output says ------------------------------------------------------------------------
    def check(self, pixels: np.ndarray) -> None:
        """Raise ValueError, saying what came, for a frame this output cannot take."""

    def wants(self, pixels: np.ndarray) -> bool:
        """Whether to take this frame at all (False while nobody receives: it is not even copied)."""
        return True

    def buffer_shape(self, pixels: np.ndarray) -> tuple[int, ...]:
        return pixels.shape

    def fill(self, buffer: Buffer, pixels: np.ndarray) -> None:
        """Copy (or repack) the render loop's frame into one of the output's buffers (``buffer.array``;
        ``buffer.note`` is the output's to keep, e.g. what a plane already holds)."""
        np.copyto(buffer.array, pixels)

    def send(self, frame: np.ndarray | None) -> None:
        """On the output's thread: send a frame (a buffer's array), or (None) do the idle work."""

    def failed(self, exc: Exception) -> None:
        """On the output's thread: a send raised (the thread goes on)."""
        log.warning("%s: %s: %s", self.thread_name, type(exc).__name__, exc)

    def interrupt(self) -> None:
        """Wake a send blocked in the network, as stop() begins (shut a socket down, say)."""

    def finish(self) -> None:
        """On the output's thread, as it ends: close what it opened."""

    # ---- lifecycle ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the output's thread. Starting a running output does nothing."""
        if self._stopped and not self.restartable:
            raise RuntimeError(f"a {type(self).__name__} cannot be restarted after stop(); make a new one")
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop the thread (interrupting a send), join it. Safe to call twice, and before start."""
        self._stopped = True
        self._stopping.set()
        with self._cond:
            self._pending = None
            self._cond.notify_all()
        self.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s did not stop within %.1f s", self.thread_name, timeout)
            self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping.is_set() or self._pending is not None,
                                        timeout=self.poll)
                    if self._stopping.is_set():
                        return
                    frame, self._pending = self._pending, None
                try:
                    self.send(None if frame is None else frame.array)
                except Exception as exc:  # one failed frame must not end the output
                    if self._stopping.is_set():
                        return
                    self.failed(exc)
                finally:
                    if frame is not None:
                        with self._cond:
                            self._free.append(frame)
        finally:
            self.finish()
