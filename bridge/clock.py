"""Musical time: what the walks are a function of, apart from pacing (when the engine renders).

The engine asks its clock once per frame for the time, in seconds, and gives that time to the decks. The
clock here is free-running: seconds since start on a monotonic clock, never going backwards. The tempo issue
adds beats behind the same call (BPM, tap, MIDI clock, Ableton Link), so the walks can be locked to music.
"""

from __future__ import annotations

import time
from typing import Callable


class FreeClock:
    def __init__(self, now: Callable[[], float] = time.monotonic):
        """now: a monotonic clock in seconds (tests pass a fake one)."""
        self._now = now
        self._start = now()
        self._last = 0.0

    def time(self) -> float:
        """Seconds of walk time since the clock started; never less than the last answer."""
        self._last = max(self._last, self._now() - self._start)
        return self._last
