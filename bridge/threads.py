"""How many threads torch's CPU operators use: chosen for a realtime loop that shares the machine with the
host application (TouchDesigner, Resolume), not for a benchmark.

Two things make a CPU server stutter on a shared machine (measured on the project's 2-core CPU: a busy core
elsewhere dropped the default server from 30 fps to 8 at 64 px, where one thread held 30):

- **Spinning threads.** OpenMP's worker threads busy-wait between operators by default, so each thread
  holds a core even while the loop sleeps between frames, and a thread whose core is taken by another
  program stalls every operator it shares. :func:`quiet_openmp` makes them sleep (``OMP_WAIT_POLICY=PASSIVE``,
  GNU OpenMP's ``GOMP_SPINCOUNT=0``, Intel's ``KMP_BLOCKTIME=0``) before torch loads, unless the user chose.
- **More threads than free cores.** A parallel operator is as slow as its slowest thread; with one core
  busy, two threads on two cores wait on the busy one. :class:`ThreadTuner` (``--threads auto``) starts
  with one thread fewer than the cores this process may use (at least one) and *measures*: it keeps a
  median of the render time per thread count and moves one step at a time: down when a frame's budget is
  met with room to spare (a core given back to the host) or when a count runs slower than the one below
  did; up only when frames are behind and one more thread has not been measured slower. ``--threads N``
  fixes the count.

And one thing makes it stutter while a model compiles beside it: the **interpreter lock**. The render loop
lets go of it for every operator and must take it back after; a compile thread that runs Python meanwhile
keeps it for up to the switch interval (5 ms) each time, so a frame of a few dozen operators waits whole
intervals. :func:`short_switches` shortens the interval while a compile runs (measured: 25 fps -> 29.5 fps
at a 30 fps target, frames over 50 ms apart 46-61 -> 7-8, the compile as long as before).
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import sys
import threading
from collections import deque
from typing import Callable, Iterator

log = logging.getLogger("latentvj")

QUIET_OPENMP = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0", "KMP_BLOCKTIME": "0"}
WINDOW = 30
"""Frames measured at one thread count before a decision."""
SPARE = 0.6
"""A median render time under this share of the frame period leaves room: one thread fewer is tried."""
MEMORY = 20
"""Windows after which a count's measurement is stale (the machine's load changes): it may be tried again."""


COMPILE_SWITCH_INTERVAL = 1e-4
"""Seconds: the interpreter's switch interval while a model compiles beside the render (Python's is 5 ms)."""
_switches = {"holders": 0, "before": None}
_switches_lock = threading.Lock()


@contextlib.contextmanager
def short_switches(interval: float = COMPILE_SWITCH_INTERVAL) -> Iterator[None]:
    """While inside, threads hand the interpreter lock over after ``interval`` seconds instead of Python's
    5 ms, so a render loop waits that long at most for it after each operator. Nests and overlaps (two
    compiles at once): the interval goes back to what it was when the last one leaves."""
    with _switches_lock:
        if _switches["holders"] == 0:
            _switches["before"] = sys.getswitchinterval()
            sys.setswitchinterval(interval)
        _switches["holders"] += 1
    try:
        yield
    finally:
        with _switches_lock:
            _switches["holders"] -= 1
            if _switches["holders"] == 0:
                sys.setswitchinterval(_switches["before"])


def quiet_openmp(environ: dict | None = None) -> dict[str, str]:
    """Make OpenMP's threads sleep instead of spinning, for the settings the user has not set; must run before
    torch is imported. Returns what it set."""
    environ = os.environ if environ is None else environ
    chosen = {k: v for k, v in QUIET_OPENMP.items() if k not in environ}
    environ.update(chosen)
    return chosen


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system says, else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_threads(text: str) -> int | None:
    """``auto`` -> None, a positive integer -> it; ValueError otherwise."""
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"--threads takes a number of threads or auto, got {text!r}") from None
    if not 1 <= value <= 256:
        raise ValueError(f"--threads must be between 1 and 256, got {value}")
    return value


class ThreadTuner:
    def __init__(self, fixed: int | None = None, *, cores: int | None = None,
                 apply: Callable[[int], None] | None = None):
        """
        Args:
            fixed: a thread count to keep (``--threads N``), or None to tune (``auto``).
            cores: the cores usable (default: this process's affinity).
            apply: sets the count (default: torch.set_num_threads).
        """
        self.cores = cores or usable_cores()
        self.fixed = fixed
        self.most = fixed or self.cores
        self._apply = apply or _torch_threads
        self.threads = fixed or max(1, self.cores - 1)
        self._times: deque[float] = deque(maxlen=WINDOW)
        self._measured: dict[int, tuple[float, int]] = {}  # count -> (median seconds, window it was taken in)
        self._window = 0
        self._apply(self.threads)

    @property
    def mode(self) -> str:
        return "fixed" if self.fixed else "auto"

    def likely(self, most: int = 4) -> tuple[int, ...]:
        """The counts this tuner may choose, the likeliest first (the one it plays at now, then its
        neighbours outwards), at most ``most`` of them: what a compiled pass is made for in advance
        (renderer.py)."""
        counts = [self.threads]
        for step in range(1, self.most):
            counts += [n for n in (self.threads - step, self.threads + step) if 1 <= n <= self.most]
        return tuple(counts[:most]) if not self.fixed else (self.fixed,)

    def record(self, seconds: float, period: float) -> int | None:
        """One frame's render time (``period``: the target frame period, 0 for as fast as possible). Returns
        the new thread count when it changed."""
        if self.fixed or seconds <= 0:
            return None
        self._times.append(seconds)
        if len(self._times) < WINDOW:
            return None
        median = statistics.median(self._times)
        self._times.clear()
        self._window += 1
        self._measured[self.threads] = (median, self._window)
        choice = self._choose(median, period)
        if choice == self.threads:
            return None
        log.info("render threads %d -> %d (median render %.1f ms at %d)", self.threads, choice, median * 1e3,
                 self.threads)
        self.threads = choice
        self._apply(choice)
        return choice

    def forget(self) -> None:
        """Drop what was measured: the frames to come are drawn another way (a model began or ended
        compiling beside them)."""
        self._times.clear()
        self._measured.clear()

    def _known(self, count: int) -> float | None:
        found = self._measured.get(count)
        return found[0] if found and self._window - found[1] <= MEMORY else None

    def _choose(self, median: float, period: float) -> int:
        n = self.threads
        below, above = self._known(n - 1), self._known(n + 1)
        if n > 1 and below is not None and below < median:
            return n - 1  # fewer threads were faster: the machine is busy elsewhere
        if period > 0 and median < SPARE * period:
            return n - 1 if n > 1 and below is None else n  # room to spare: try giving a core back
        if period <= 0 or median > period:  # behind (or unpaced: as fast as it goes)
            if n < self.most and (above is None or above < median):
                return n + 1  # one more thread, unless it was measured slower
            if n > 1 and below is None:
                return n - 1  # or one fewer, not measured lately (another program may hold a core)
        return n


def _torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(count)
