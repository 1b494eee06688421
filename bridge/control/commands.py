"""The one command path: every controller hands a message here, and sends back what comes back.

UDP OSC, OSC over the OSCQuery WebSocket and (later) MIDI are thin adapters: they turn what they receive into
an address and its values and call :meth:`Commands.call`, which finds the parameter in the registry,
checks and coerces the values (ints and floats for each other, ranges, finite numbers, the playing model's
latent size and kind), and then runs the command, if the address is one (a row of ``table``: a status
request, a subscription, a model load, an encode), or sets the value in the state (latest wins; the render
loop reads it). Everything that cannot be applied is answered through :meth:`Commands.error_replies`, the
one error path, bounded per sender. Echoes of accepted changes are the state's listeners' job.

Replies are OSC messages (bytes) with their destinations; an adapter sends them its way.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable, Iterable, Mapping, Sequence

from latentvj.models.kinds import KINDS
from latentvj.plugin.oscwire import encode_message

from .params import PREFIX, STYLEGAN_PARAMS, TIMED, ParamError, is_release, split_deck
from .problems import ProblemLog, describe_source
from .state import ControlState, Live

log = logging.getLogger("latentvj.osc")

ERROR_ADDRESS = f"{PREFIX}/error"
WARNING_ADDRESS = f"{PREFIX}/warning"
STATUS_ADDRESS = f"{PREFIX}/status"
MODEL_LIST_ADDRESS = f"{PREFIX}/model/list"

# Order of the arguments of the /lvj/status reply; documented in docs/osc.md. New fields go at the end.
STATUS_FIELDS = (
    ("model", "s"), ("device", "s"), ("width", "i"), ("height", "i"), ("target_fps", "f"),
    ("fps", "f"), ("frame", "i"), ("mode", "s"), ("seed", "i"), ("preset", "i"), ("latent_dim", "i"),
    ("oscquery_port", "i"), ("kind", "s"), ("bpm", "f"), ("tempo_source", "s"), ("recording", "s"),
    ("recorded_s", "f"),
)
MAX_SUBSCRIBERS = 32

MAX_SHOWN = 120
"""Longest address (or argument) quoted back in an error reply or a log line."""

Address = tuple[str, int]
Reply = tuple[bytes, Address]
Command = Callable[..., "list[Reply] | None"]
"""A command: (the checked value, the sender) -> replies (or None: nothing to say). A deck's command (a
model load, an encode) is also given ``deck=`` the deck it was sent to."""
_RAW = ("subscribe", "unsubscribe", "mod/route", "midi/learn", "record/start")
"""Commands that read their own arguments (a port and a host, a file name) instead of the registry's coerced
value."""


def build_message(address: str, *args: Any) -> bytes:
    return encode_message(address, *args)


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters (hostile input can be 64 KB long), marked when it was cut."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def osc_args(value: Any) -> list:
    """A parameter value as OSC arguments."""
    if value is None:
        return []
    if isinstance(value, bool):
        return [int(value)]  # 0/1: OSC's T/F tags are unknown to Pd's [oscparse] and some other hosts
    if isinstance(value, (tuple, list)):
        return [float(v) if isinstance(v, float) else v for v in value]
    return [value]


class Subscribers:
    """Where echoes, errors and periodic status go besides the sender. Thread-safe, bounded."""

    def __init__(self, initial: Iterable[Address] = ()):
        self._lock = threading.Lock()
        self._addresses: list[Address] = []
        for address in initial:
            self.add(address)

    def add(self, address: Address) -> None:
        with self._lock:
            if address in self._addresses:
                return
            if len(self._addresses) >= MAX_SUBSCRIBERS:
                dropped = self._addresses.pop(0)
                log.warning("more than %d subscribers: dropping the oldest, %s:%d", MAX_SUBSCRIBERS, *dropped)
            self._addresses.append(address)

    def remove(self, address: Address) -> bool:
        with self._lock:
            if address in self._addresses:
                self._addresses.remove(address)
                return True
            return False

    def __iter__(self):
        with self._lock:
            return iter(list(self._addresses))

    def __contains__(self, address) -> bool:
        with self._lock:
            return address in self._addresses

    def __len__(self) -> int:
        return len(self._addresses)


class Commands:
    """The command path (see the module docstring); no sockets."""

    def __init__(self, state: ControlState, *, status: Callable[[], dict],
                 models: Callable[[], list[str]] = lambda: [], subscribers: Subscribers | None = None,
                 problems: ProblemLog | None = None, table: Mapping[str, Command] | None = None,
                 live: Callable[[], Iterable[Live]] = tuple):
        """
        Args:
            state: where values go; its registry says what exists.
            status: the server's status, for ``/lvj/status``.
            models: the names of the models one may load, for ``/lvj/model/list``.
            subscribers: who else hears errors (and echoes, from the adapters).
            problems: bounds the logging and answering of errors per sender.
            table: commands besides the built-in ones (status, model/list, subscribe, unsubscribe), by
                parameter name: ``{"model/load": ...}``. A command's parameter must be in the registry.
            live: the values that move too fast to echo (see :class:`Live`): they follow every status.
        """
        self.state = state
        self.status = status
        self.live = live
        self.models = models
        self.subscribers = subscribers if subscribers is not None else Subscribers()
        self.problems = problems if problems is not None else ProblemLog(log)
        self.errors = 0
        """Messages answered with /lvj/error since start (answered or, under a flood, only counted)."""
        self.table: dict[str, Command] = {
            "status": lambda value, sender: [(message, sender) for message in self._status_for(sender)],
            "model/list": lambda value, sender: [(build_message(MODEL_LIST_ADDRESS, *self.models()), sender)],
            "subscribe": lambda args, sender: self._subscription("subscribe", args, sender),
            "unsubscribe": lambda args, sender: self._subscription("unsubscribe", args, sender),
            **(table or {}),
        }
        for name in self.table:
            state.registry[name]  # KeyError at start, not on stage, for a command with no parameter

    def call(self, address: str, args: Sequence[Any], sender: Address) -> list[Reply]:
        """One message from a controller: find the address, check and coerce the arguments (and that the
        model playing takes them), then run the command or set the value; the replies to send."""
        found = self.state.registry.find(address)
        if found is None:
            return self.unknown(sender, address)
        param, index = found
        shown = param.address if index is None else re.sub(r"/(N|NAME)$", f"/{index}", param.address)
        if param.access == "r":
            return self.refuse(sender, shown, "read-only: LatentVJ sets it and echoes it; send /lvj/subscribe to follow it")
        name = param.name
        base = split_deck(name)[1]
        if base in TIMED and len(args) == 2 and isinstance(args[1], str):  # /lvj/walk/period 16 beats
            unit = args[1].strip().lower()
            if unit in ("beats", "beat", "b"):
                name = name[: len(name) - len(base)] + TIMED[base]
                param, base = self.state.registry[name], TIMED[base]
            elif unit not in ("s", "sec", "secs", "second", "seconds"):
                return self.refuse(sender, shown, f"expected a time and its unit, seconds or beats; got unit "
                                                  f"{clip(repr(args[1]))}")
            args = args[:1]
        if name in _RAW or (param.access == "w" and not param.trigger and name.startswith("mod/")
                                and name not in self.table):
            if name not in self.table:
                return self.refuse(sender, shown, "not available in this server")
            try:
                return self.table[name](list(args), sender) or []
            except ParamError as exc:
                return self.refuse(sender, shown, str(exc))
        if param.trigger and is_release(args):
            return []  # the release of a momentary button
        deck = self.state.deck_of(name)
        latent_dim = self.state.latent_dims[deck] if deck else self.state.latent_dim
        try:
            value = param.coerce(args, size=latent_dim or None)
            if isinstance(index, int) and not 0 <= index < latent_dim:
                raise ParamError(f"this model's latent has {latent_dim} dimensions (0..{latent_dim - 1})")
            kind_error = _wrong_model_kind(base, self.state.model_kinds[deck] if deck else None) \
                or _not_for_this_model(base, value, self.state.model_kinds[deck] if deck else None,
                                       self.state.model_classes[deck] if deck else 0)
            if kind_error:
                raise ParamError(kind_error)
        except ParamError as exc:
            return self.refuse(sender, shown, str(exc))
        command = self.table.get(base)
        if command is not None:
            try:
                if isinstance(index, str):  # mod/source/NAME: the command takes the name
                    return command(value, sender, name=index) or []
                return (command(value, sender, deck=deck) if deck else command(value, sender)) or []
            except ParamError as exc:  # a command's own check (a route's words)
                return self.refuse(sender, shown, str(exc))
        if index is None:
            self.state.set(name, value, source=sender)
            if base in TIMED:  # a time in seconds: the same time in beats no longer applies
                beats = name[: len(name) - len(base)] + TIMED[base]
                if self.state.get(beats):
                    self.state.set(beats, 0.0, source=sender)
        else:
            self.state.set_item(name, index, value, source=sender)
        return []

    def _status_for(self, sender: Address) -> list[bytes]:
        """/lvj/status to the sender; the live values too only for a subscriber, which asked for traffic
        (a 20-byte request from anyone must not be answered with a datagram per meter)."""
        return self.status_messages() if sender in self.subscribers else [self.status_message()]

    def status_messages(self) -> list[bytes]:
        """/lvj/status, then each live value as a message of its own at its address (a meter's, what a
        route draws): Pd's oscparse takes no bundles."""
        return [self.status_message(), *(build_message(node.path, float(node.value)) for node in self.live())]

    def status_message(self) -> bytes:
        status = self.status()
        return build_message(STATUS_ADDRESS, *(_cast(status.get(field), tag) for field, tag in STATUS_FIELDS))

    def _subscription(self, name: str, args: Sequence[Any], sender: Address) -> list[Reply]:
        """``/lvj/subscribe [PORT [HOST]]`` and ``/lvj/unsubscribe`` (the same arguments)."""
        host, port = sender
        try:
            if len(args) > 2:
                raise ParamError(f"expected at most 2 arguments (port, host), got {len(args)}")
            if args:
                port = args[0]
                if isinstance(port, float) and port.is_integer():
                    port = int(port)
                if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                    raise ParamError(f"expected a port 1..65535, got {port!r}")
            if len(args) == 2:
                if not isinstance(args[1], str) or not args[1].strip():
                    raise ParamError(f"expected a host name or address, got {args[1]!r}")
                host = args[1].strip()
        except ParamError as exc:
            return self.refuse(sender, f"{PREFIX}/{name}", str(exc))
        target = (host, port)
        if name == "unsubscribe":
            self.subscribers.remove(target)
            return []
        self.subscribers.add(target)
        log.info("subscribed %s:%d", *target)
        # A new subscriber gets every current value at once, so its faders show the truth from the start.
        return [(data, target) for data in self.dump()]

    def dump(self) -> list[bytes]:
        """Every readable parameter's current value, as the messages an echo would send, then the status."""
        messages = []
        for param in self.state.registry:
            if param.access == "w" or param.name in ("z/N",):
                continue
            value = self.state.get(param.name)
            if value is None or (param.name == "z" and not value):
                continue
            messages.append(build_message(param.address, *osc_args(value)))
        messages.append(self.status_message())
        return messages

    def unknown(self, sender: Address, address: str) -> list[Reply]:
        return self.refuse(sender, address, f"unknown address (see docs/osc.md for the {PREFIX}/... namespace)")

    def refuse(self, sender: Address, address: str, reason: str) -> list[Reply]:
        """A message that cannot be applied: counted in ``errors``, answered (see :meth:`error_replies`)."""
        self.errors += 1
        return self.error_replies(sender, address, reason)

    def error_replies(self, sender: Address | None, address: str, reason: str, *,
                      warning: bool = False) -> list[Reply]:
        """The replies for one problem with ``address``: an /lvj/error (or /lvj/warning: done, but not as
        asked) to the sender (None: LatentVJ itself) and the subscribers, and a log line; unless this sender
        has had its share of answers in this window (then it is counted, and summarised later). Every
        error of every controller goes through here: UDP, the WebSocket, the engine, the loaders."""
        text = f"{clip(address)}: {clip(reason, 4 * MAX_SHOWN)}"
        where = "" if sender is None else f"OSC from {describe_source(sender)}: "
        verdict = self.problems.report(sender, f"{where}{text}")
        if not verdict.answer:
            return []
        message = build_message(WARNING_ADDRESS if warning else ERROR_ADDRESS, text)
        return [(message, target) for target in _with(sender, self.subscribers)]


def _with(sender: Address | None, subscribers: Iterable[Address]) -> list[Address]:
    targets = list(subscribers)
    if sender is not None and sender not in targets:
        targets.append(sender)
    return targets


def _wrong_model_kind(name: str, kind: str | None) -> str | None:
    """Why a latent knob (truncation, temperature) does not apply to the kind of model playing, or None."""
    knobs = {k.knob: k for k in KINDS.values()}
    if kind is None or name not in knobs or KINDS[kind].knob == name:
        return None
    return (f"{name} applies to {knobs[name].name.upper()} models; this model is a {kind.upper()}: use "
            f"/lvj/{KINDS[kind].knob}")


def _not_for_this_model(name: str, value: Any, kind: str | None, classes: int) -> str | None:
    """Why a StyleGAN control does not apply to the model playing (its kind, its classes), or None."""
    if kind is None or name not in STYLEGAN_PARAMS:
        return None
    if not KINDS[kind].styled:
        return f"{name} applies to StyleGAN models; this model is a {kind.upper()}"
    if name.startswith("sg3/") and kind != "stylegan3":
        return f"{name} applies to StyleGAN3 models; this model is a StyleGAN2"
    if name == "noise" and kind != "stylegan2":
        return "noise applies to StyleGAN2 models (a StyleGAN3 has no noise inputs)"
    if name == "class":
        if not classes:
            return "class applies to class-conditional models; this one has no classes"
        if value >= classes:
            return f"this model has {classes} classes (0..{classes - 1}), got {value}"
    return None


def _cast(value: Any, tag: str) -> Any:
    if tag == "i":
        return int(value or 0)
    if tag == "f":
        return float(value or 0.0)
    return "" if value is None else str(value)
