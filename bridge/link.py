"""Ableton Link: join the session on the local network, follow and set its tempo, share its beat.

Needs the ``link`` extra: aalink (GPL-3.0, as Link itself is GPL-2.0+ or proprietary), an optional package
of this MIT project, imported only when Link is asked for. aalink wants an asyncio loop, so the session
lives on its own thread ("link"), which reads the session's beat, tempo and peers a hundred times a second;
the clock reads that reading (never the library) and extrapolates it to the frame's moment.

Link agrees on the phase of a bar between peers and leaves each peer its own count of beats. LatentVJ asks
for its beats with a very long quantum, so the count it gets is the session's own: every LatentVJ node on
one session has the same beat at the same moment, which is what lets render nodes draw one walk together.
The bar (4 beats by default) is counted on that beat, so it agrees with every other Link app's bar.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Callable

from .clock import SourceReading

log = logging.getLogger("latentvj.link")

INSTALL = ("Ableton Link needs the link extra (aalink, GPL-3.0, optional): pip install 'latentvj[link]'")
SHARED_QUANTUM = 2.0 ** 20
"""The quantum LatentVJ asks Link for: beats agree between LatentVJ nodes up to this many, i.e. exactly."""
POLL_S = 0.01
MOVED_BEATS = 0.05
"""A session's beat further than this from where its last reading and tempo put it: another timeline."""


def moved(before: tuple[float, float, float], after: tuple[float, float, float]) -> bool:
    """Whether the session's beat jumped between two readings (when, beat, tempo): joining another session
    moves it to that session's timeline; a tempo change does not (Link keeps the beat where it is), so
    the beat must lie between where either tempo would have carried it."""
    (t0, b0, bpm0), (t1, b1, bpm1) = before, after
    low, high = sorted((b0 + (t1 - t0) * bpm0 / 60.0, b0 + (t1 - t0) * bpm1 / 60.0))
    return not low - MOVED_BEATS <= b1 <= high + MOVED_BEATS


class LinkError(RuntimeError):
    pass


class LinkSession:
    def __init__(self, bpm: float, *, now: Callable[[], float] = time.monotonic):
        try:
            import aalink  # noqa: F401
        except ImportError:
            raise LinkError(INSTALL) from None
        self._now = now
        self._lock = threading.Lock()
        self._reading: tuple[float, float, float, int] | None = None  # (when, beat, tempo, peers)
        self._timeline = 0  # counts the timelines the session moved to (SourceReading.timeline)
        self._tempo_request: float | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(float(bpm),), name="link", daemon=True)
        self._thread.start()
        if not self._ready.wait(5.0) or self._error is not None:
            self.close()
            raise LinkError(f"could not join Ableton Link: {self._error or 'no answer in 5 s'}")

    def _run(self, bpm: float) -> None:
        try:
            asyncio.run(self._session(bpm))
        except BaseException as exc:  # the library failed: say so once, the clock free-runs
            self._error = exc
            self._ready.set()
            log.error("Ableton Link stopped: %s", exc)

    async def _session(self, bpm: float) -> None:
        import aalink

        link = aalink.Link(bpm)
        link.quantum = SHARED_QUANTUM
        link.enabled = True
        self._take(link)
        self._ready.set()
        while not self._stop.is_set():
            with self._lock:
                request, self._tempo_request = self._tempo_request, None
            if request is not None:
                link.tempo = request
            self._take(link)
            await asyncio.sleep(POLL_S)
        link.enabled = False

    def _take(self, link) -> None:
        when = self._now()
        reading = (when, float(link.beat), float(link.tempo), int(link.num_peers))
        with self._lock:
            if self._reading is not None and moved(self._reading[:3], reading[:3]):
                self._timeline += 1
            self._reading = reading

    def reading(self, now: float) -> SourceReading | None:
        """The session's beat at ``now`` (extrapolated from the last reading), tempo and peers."""
        with self._lock:
            reading = self._reading
            timeline = self._timeline
        if reading is None or not self._thread.is_alive():
            return None
        when, beat, tempo, peers = reading
        return SourceReading(bpm=tempo, position=beat + (now - when) * tempo / 60.0, peers=peers,
                             timeline=timeline)

    def set_tempo(self, bpm: float) -> None:
        """Set the session's tempo (every peer follows)."""
        with self._lock:
            self._tempo_request = float(bpm)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
