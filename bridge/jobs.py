"""Slow requests (model loads, image encodes) run on one owned worker each, newest request first.

A controller can ask for a hundred model loads in one datagram. Each request of a kind goes to that kind's
:class:`LatestJob`: one thread runs one request at a time; a request that comes while another is running
waits in a single slot, and a newer one takes that slot over, the one it replaces being answered as
superseded. So a burst costs at most one running and one waiting job, and every request gets an answer.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Generic, TypeVar

log = logging.getLogger("latentvj.jobs")

Request = TypeVar("Request")


class LatestJob(Generic[Request]):
    def __init__(self, name: str, run: Callable[[Request], None], *,
                 superseded: Callable[[Request, Request], None] = lambda old, new: None):
        """
        Args:
            name: the worker thread's name (``model-load``, ``encode``), for logs and debuggers.
            run: does one request, on the worker thread. It reports its own result; an exception it
                lets through is logged and the worker goes on with the next request.
            superseded: called with (the request that was waiting, the newer one that replaced it), on the
                thread that submitted the newer one, so the older one's sender can be told.
        """
        self.name = name
        self._run = run
        self._superseded = superseded
        self._cond = threading.Condition()
        self._waiting: list[Request] = []  # at most one
        self._busy = False
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.done = 0
        """Requests run to the end (successfully or not)."""
        self.replaced = 0
        """Requests superseded before they ran."""

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: Request) -> None:
        """Run ``request`` after the one running now; it replaces any request still waiting. Never blocks."""
        with self._cond:
            if self._stopping:
                return
            old = self._waiting.pop() if self._waiting else None
            self._waiting.append(request)
            if old is not None:
                self.replaced += 1
            self._cond.notify_all()
        if old is not None:
            self._superseded(old, request)

    @property
    def idle(self) -> bool:
        """Nothing running and nothing waiting."""
        with self._cond:
            return not self._busy and not self._waiting

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing runs or waits (tests, shutdown); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy and not self._waiting, timeout=timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Drop what waits, let the running request finish (up to ``timeout`` s), end the thread."""
        with self._cond:
            self._stopping = True
            self._waiting.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s: the running job did not finish within %.0f s; leaving it behind", self.name,
                            timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._waiting)
                if self._stopping:
                    return
                request = self._waiting.pop()
                self._busy = True
            try:
                self._run(request)
            except Exception:  # the job reports its own failures; this is a bug in it, not the end of the worker
                log.exception("%s failed", self.name)
            finally:
                with self._cond:
                    self._busy = False
                    self.done += 1
                    self._cond.notify_all()
