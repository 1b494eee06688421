"""Latest-wins control state shared by the controllers (OSC thread) and the render loop.

Controllers write validated values; the render loop takes one :class:`Snapshot` per frame. Every accepted
write bumps the parameter's serial, so the engine can tell "the seed was sent again" (a trigger: morph
back to it) from "nothing changed".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Mapping

from .params import PARAMS, Registry


@dataclass(frozen=True)
class Snapshot:
    values: Mapping[str, Any]
    serials: Mapping[str, int]
    """How many times each parameter has been set since start; only ever grows."""

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


class ControlState:
    def __init__(self, registry: Registry = PARAMS):
        self.registry = registry
        self._lock = threading.Lock()
        self._values: dict[str, Any] = registry.defaults()
        self._serials: dict[str, int] = {name: 0 for name in self._values}

    def set(self, name: str, value: Any) -> None:
        """Record an already validated value (see :meth:`Param.coerce`); the newest write wins."""
        if name not in self._values:
            raise KeyError(f"unknown parameter {name!r}")
        with self._lock:
            self._values[name] = value
            self._serials[name] += 1

    def get(self, name: str) -> Any:
        return self._values[name]

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(dict(self._values), dict(self._serials))
