"""Latest-wins control state shared by the controllers (OSC thread) and the render loop.

Controllers write validated values; the render loop takes one :class:`Snapshot` per frame. Every accepted
write bumps the parameter's serial, so the engine can tell "the seed was sent again" (a trigger) from
"nothing changed". Listeners hear of every change (OSC echo to subscribers, OSCQuery's LISTEN stream), on
the thread that made it, whoever made it: a controller, a preset recall, the engine itself.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .params import PARAMS, Registry

log = logging.getLogger("latentvj.control")

Address = tuple[str, int]


@dataclass(frozen=True)
class Snapshot:
    values: Mapping[str, Any]
    serials: Mapping[str, int]
    """How many times each parameter has been set since start; only ever grows."""
    sources: Mapping[str, "Address | None"]
    """Who set each parameter last (errors about applying it go back there); None: LatentVJ itself."""

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


@dataclass(frozen=True)
class Change:
    name: str
    """Parameter name, e.g. ``walk/speed``."""
    value: Any
    index: int | None = None
    """For an indexed parameter (``z/N``): which one."""
    source: Address | None = None
    """The controller that asked for it (it gets the echo too), or None when LatentVJ made the change."""

    @property
    def address(self) -> str:
        name = self.name if self.index is None else self.name.replace("/N", f"/{self.index}")
        return f"/lvj/{name}"


Listener = Callable[[Change], None]


class ControlState:
    def __init__(self, registry: Registry = PARAMS):
        self.registry = registry
        self._lock = threading.Lock()
        self._values: dict[str, Any] = registry.defaults()
        self._serials: dict[str, int] = {p.name: 0 for p in registry}
        self._sources: dict[str, Address | None] = {p.name: None for p in registry}
        self._listeners: list[Listener] = []
        self.latent_dim = 0
        """Latent size of the model being played (the length /lvj/z takes); set by the engine."""
        self.model_kind: str | None = None
        """"gan" or "vae": which of truncation/temperature applies; set by the engine."""

    def set(self, name: str, value: Any, *, source: Address | None = None) -> int:
        """Record an already validated value (see :meth:`Param.coerce`); the newest write wins.
        Triggers (``I`` parameters and commands) are recorded the same way: the serial says "again".
        Returns the parameter's new serial."""
        if name not in self._serials:
            raise KeyError(f"unknown parameter {name!r}")
        with self._lock:
            self._values[name] = value
            self._serials[name] += 1
            self._sources[name] = source
            serial = self._serials[name]
        self._tell(Change(name, value, source=source))
        return serial

    def set_item(self, name: str, index: int, value: Any, *, source: Address | None = None) -> None:
        """Set one element of an indexed parameter (``z/N``): the snapshot holds {index: newest value}
        for the indices set since the engine last took them (see :meth:`take_items`)."""
        with self._lock:
            items = self._values.get(name)
            items = dict(items) if isinstance(items, dict) else {}
            items[index] = value
            self._values[name] = items
            self._serials[name] += 1
            self._sources[name] = source
        self._tell(Change(name, value, index=index, source=source))

    def take_items(self, name: str) -> dict[int, Any]:
        """Hand over (and forget) the indexed values set since the last call."""
        with self._lock:
            items = self._values.get(name)
            self._values[name] = None
        return items if isinstance(items, dict) else {}

    def get(self, name: str) -> Any:
        return self._values.get(name)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(dict(self._values), dict(self._serials), dict(self._sources))

    def listen(self, listener: Listener) -> None:
        """Call ``listener(change)`` after every change, on the thread that made it. Keep it cheap."""
        self._listeners.append(listener)

    def _tell(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:  # a broken listener must not break control
                log.exception("a listener failed on %s", change.address)
