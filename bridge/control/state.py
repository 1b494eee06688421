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

from .params import DECKS, PARAMS, Registry, deck_name, split_deck

log = logging.getLogger("latentvj.control")

Address = tuple[str, int]


@dataclass(frozen=True)
class Snapshot:
    values: Mapping[str, Any]
    serials: Mapping[str, int]
    """How many times each parameter has been set since start; only ever grows."""
    sources: Mapping[str, "Address | None"]
    """Who set each parameter last (errors about applying it go back there); None: LatentVJ itself."""
    writes: int = 0
    """How many writes the state had when it was taken: two snapshots with the same count are the same."""

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
        self._writes = 0  # every write (set, set_item, take_items) counts one
        self._snapshot: Snapshot | None = None
        self.selected = registry["deck"].default if "deck" in self._serials else DECKS[0]
        """The deck that the names without a deck (``walk/speed``) stand for; ``/lvj/deck`` changes it."""
        self.latent_dims = {deck: 0 for deck in DECKS}
        """Latent size of each deck's model (the length its /lvj/z takes); set by the engine."""
        self.model_kinds: dict[str, str | None] = {deck: None for deck in DECKS}
        """The kind of each deck's model ("gan", "vae", "stylegan2", "stylegan3"): which of truncation /
        temperature and the StyleGAN controls apply; set by the engine."""
        self.model_classes = {deck: 0 for deck in DECKS}
        """Classes of each deck's model (0: not class-conditional); set by the engine."""

    # One model for both decks, as before there were decks (and for tests that need no second deck).
    @property
    def latent_dim(self) -> int:
        return self.latent_dims[self.selected]

    @latent_dim.setter
    def latent_dim(self, size: int) -> None:
        self.latent_dims = {deck: size for deck in DECKS}

    @property
    def model_kind(self) -> str | None:
        return self.model_kinds[self.selected]

    @model_kind.setter
    def model_kind(self, kind: str | None) -> None:
        self.model_kinds = {deck: kind for deck in DECKS}

    def deck_of(self, name: str) -> str | None:
        """The deck a parameter belongs to: its own for ``deck/b/...``, the selected one for a deck
        parameter without a deck, None for the output's parameters."""
        deck = self.registry[name].deck
        return self.selected if deck == "*" else deck

    def set(self, name: str, value: Any, *, source: Address | None = None) -> int:
        """Record an already validated value (see :meth:`Param.coerce`); the newest write wins.
        Triggers (``I`` parameters and commands) are recorded the same way: the serial says "again".

        A deck parameter without a deck (``walk/speed``) is the selected deck's (``deck/a/walk/speed``),
        and the selected deck's values are also kept (and told) under the names without a deck, so both
        addresses echo. Selecting another deck (``deck``) tells every value of that deck under those names.
        Returns the new serial of the parameter the value went to (the deck's own name for a deck's)."""
        if name not in self._serials:
            raise KeyError(f"unknown parameter {name!r}")
        changes = []
        with self._lock:
            param = self.registry[name]
            if param.deck == "*":
                name = deck_name(self.selected, name)
                param = self.registry[name]
            serial = self._store(name, value, source, changes)
            deck, base = split_deck(name)
            if deck is not None and deck == self.selected:
                self._store(base, value, source, changes)
            if name == "deck" and value != self.selected:
                self.selected = value
                for other in self.registry:
                    if other.deck == value and other.access != "w" and not other.name.endswith("/N"):
                        self._store(split_deck(other.name)[1], self._values.get(other.name), None, changes)
        for change in changes:
            self._tell(change)
        return serial

    def _store(self, name: str, value: Any, source: Address | None, changes: list) -> int:
        self._writes += 1
        self._values[name] = value
        self._serials[name] += 1
        self._sources[name] = source
        changes.append(Change(name, value, source=source))
        return self._serials[name]

    def set_item(self, name: str, index: int, value: Any, *, source: Address | None = None) -> None:
        """Set one element of an indexed parameter (``z/N``): the snapshot holds {index: newest value}
        for the indices set since the engine last took them (see :meth:`take_items`). Without a deck: the
        selected deck's."""
        with self._lock:
            if self.registry[name].deck == "*":
                name = deck_name(self.selected, name)
            items = self._values.get(name)
            items = dict(items) if isinstance(items, dict) else {}
            items[index] = value
            self._values[name] = items
            self._writes += 1
            self._serials[name] += 1
            self._sources[name] = source
            deck, base = split_deck(name)
            told = [Change(name, value, index=index, source=source)]
            if deck is not None and deck == self.selected:
                told.append(Change(base, value, index=index, source=source))
        for change in told:
            self._tell(change)

    def take_items(self, name: str) -> dict[int, Any]:
        """Hand over (and forget) the indexed values set since the last call."""
        with self._lock:
            if self.registry[name].deck == "*":
                name = deck_name(self.selected, name)
            items = self._values.get(name)
            self._values[name] = None
            self._writes += 1
        return items if isinstance(items, dict) else {}

    def get(self, name: str) -> Any:
        """The current value (a deck parameter without a deck: the selected deck's)."""
        return self._values.get(name)

    @property
    def writes(self) -> int:
        """How many writes the state has had (a snapshot's ``writes`` still equal to it: nothing changed)."""
        return self._writes

    def snapshot(self) -> Snapshot:
        """The values, serials and sources now. Nothing written since the last one: that one again (a
        snapshot is read, never changed)."""
        with self._lock:
            if self._snapshot is None or self._snapshot.writes != self._writes:
                self._snapshot = Snapshot(dict(self._values), dict(self._serials), dict(self._sources),
                                          self._writes)
            return self._snapshot

    def listen(self, listener: Listener) -> None:
        """Call ``listener(change)`` after every change, on the thread that made it. Keep it cheap."""
        self._listeners.append(listener)

    def _tell(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:  # a broken listener must not break control
                log.exception("a listener failed on %s", change.address)


@dataclass(frozen=True)
class Live:
    """A read-only value that moves every frame or audio block (what a route draws, an audio feature), at
    its address: OSCQuery serves it when asked, subscribers get it with the periodic status; it never goes
    through the echo path."""
    path: str
    value: float
    low: float
    high: float
    description: str
