"""Problems reported per source, without letting a hostile or broken source flood the log or the network.

A controller with a bug (or an attacker) can send thousands of bad messages a second. Each one is still
counted, but only the first few of each source in a window are logged and answered in full; the rest are
counted and summarised once the window is over::

    1,204 problems from 127.0.0.1:53211 in the last 10 s (the first 5 logged; latest: /lvj/x: unknown address)

Protocol logic only: no sockets. The caller asks :meth:`ProblemLog.report` whether to log and answer one
problem, and calls :meth:`ProblemLog.summaries` now and then (the OSC thread does, every time round its
loop) to log and answer the summaries that are due.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Hashable

WINDOW_S = 10.0
"""Length of one counting window per source."""
LOGGED_PER_WINDOW = 5
"""Problems of one source logged in full per window."""
ANSWERED_PER_WINDOW = 200
"""Problems of one source answered (an /lvj/error reply) per window."""
MAX_SOURCES = 1024
"""Sources tracked at once; beyond that, new sources share one entry (so memory stays bounded)."""
OTHERS = ("(other senders)", 0)


@dataclass
class Verdict:
    log: bool
    """Log this problem in full."""
    answer: bool
    """Send the error reply for this problem."""


@dataclass
class Summary:
    source: Hashable
    count: int
    """Problems in the window."""
    unanswered: int
    """Of those, how many got no reply."""
    latest: str
    seconds: float


@dataclass
class _Window:
    start: float
    count: int = 0
    latest: str = ""


class ProblemLog:
    def __init__(self, logger: logging.Logger, *, window: float = WINDOW_S, logged: int = LOGGED_PER_WINDOW,
                 answered: int = ANSWERED_PER_WINDOW, clock: Callable[[], float] = time.monotonic):
        """
        Args:
            logger: where the problems and the summaries are logged (as warnings).
            window: seconds per counting window.
            logged: problems per source and window logged in full.
            answered: problems per source and window answered.
            clock: monotonic seconds (tests pass their own).
        """
        self.logger = logger
        self.window = window
        self.logged = logged
        self.answered = answered
        self.clock = clock
        self.total = 0
        """Problems reported since start."""
        self._lock = threading.Lock()  # the UDP thread and WebSocket client threads both report
        self._windows: dict[Hashable, _Window] = {}

    def report(self, source: Hashable, text: str, *, exc_info: BaseException | None = None) -> Verdict:
        """Count one problem of ``source``; log it in full (with the traceback of ``exc_info``, for a bug)
        when it is among the first of its window."""
        now = self.clock()
        with self._lock:
            self.total += 1
            if source not in self._windows and len(self._windows) >= MAX_SOURCES:
                source = OTHERS
            window = self._windows.get(source)
            if window is None:
                window = self._windows[source] = _Window(now)
            window.count += 1
            window.latest = text
            verdict = Verdict(log=window.count <= self.logged, answer=window.count <= self.answered)
        if verdict.log:
            self.logger.warning("%s", text, exc_info=exc_info)
        return verdict

    def summaries(self) -> list[Summary]:
        """The windows that are over: each with more problems than were logged is logged as one line and
        returned (to answer its source); the others are forgotten."""
        now = self.clock()
        due: list[Summary] = []
        with self._lock:
            for source, window in list(self._windows.items()):
                if now - window.start < self.window:
                    continue
                del self._windows[source]
                if window.count > self.logged:
                    due.append(Summary(source, window.count, max(0, window.count - self.answered),
                                       window.latest, now - window.start))
        for summary in due:
            self.logger.warning("%s problems from %s in the last %.0f s (the first %d logged; latest: %s)",
                                f"{summary.count:,}", describe_source(summary.source), summary.seconds,
                                self.logged, summary.latest[:200])
        return due


def describe_source(source: Hashable) -> str:
    if source is None:
        return "LatentVJ itself"
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], int):
        return f"{source[0]}:{source[1]}" if source[1] else str(source[0])
    return str(source)
