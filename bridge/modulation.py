"""The modulation matrix: sources bend continuous parameters, frame by frame, on top of what the performer set.

A route takes a source's value, brings it into 0..1 over the route's input range, shapes it with a curve,
scales it by ``amount`` and adds ``offset`` (both in fractions of the target's range), smooths it, and adds
it to the target's base value: the value the performer set, as the engine has smoothed it. The sum is
clamped to the target's range. The base is what echoes and presets hold; the modulated values are in the
status (``modulated``), and nothing here goes through the echo path: a route moves the image, not the faders.

Sources (``Source.parse``):

- ``lfo:SHAPE:BEATS[:PHASE]``: a beat LFO on the tempo clock: sine, triangle, saw, square or hit (a
  decaying hit on each cycle), once every BEATS beats (4: a bar), shifted by PHASE of a cycle;
- ``osc:NAME``: the last value sent to ``/lvj/mod/source/NAME`` (a sensor, a Kinect joint, Wekinator);
- ``midi:cc:CH:N``, ``midi:note:CH:N`` (velocity while held), ``midi:gate:CH:N``, ``midi:bend:CH``: a MIDI
  controller on ``--midi PORT`` (bridge/control/midi.py), each 0..1.

- ``audio:level``, ``audio:low``, ``audio:mid``, ``audio:high``, ``audio:mel1`` .. ``audio:mel8``, ``audio:flux``, ``audio:onset``: live audio
  (``--audio DEVICE`` or ``--audio-file song.wav``, bridge/audio.py), each 0..1.
- ``env:ATTACK:DECAY:TRIGGER``: an envelope, rising to 1 over ATTACK seconds and falling back to 0 over
  DECAY seconds each time TRIGGER (any other source but an envelope: ``audio:onset``, ``midi:gate:10:36``,
  ``osc:kick``) rises through 0.5; a trigger during the envelope starts it again from where it is.

Targets: every continuous parameter (``walk/speed``, ``direction/N``, ``truncation``, ``temperature``,
``output/fade``, ``crossfade``), on either deck (``deck/b/direction/1``; a deck parameter without a deck is
the deck selected when the route is made), and two names from Lucid Sonic Dreams' vocabulary: ``motion``
(the speed of travel: ``walk/speed``) and ``pulse`` / ``pulse/N`` (a momentary push of the latent point along
direction N, 1 by default: ``direction/N``).

Routes live in their own file beside the presets (``routes.json``: a MIDI map outlives presets), written
atomically.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from .audio import FEATURES as AUDIO_FEATURES
from .clock import Moment
from .control.params import PARAMS, ParamError, Registry, deck_name, split_deck
from .control.midi import KINDS as MIDI_KINDS, MAX_MAPPINGS, Control, Mapping
from .control.presets import write_atomically

SHAPES = ("sine", "triangle", "saw", "square", "hit")
CURVES = ("linear", "exp", "s")
MAX_ROUTES = 64
MAX_INPUTS = 64
NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")
FORMAT_VERSION = 1

SETS: dict[str, tuple[str, ...]] = {
    "beat-breathing": (
        "lfo:sine:4 truncation amount=0.1 offset=-0.05",
        "lfo:sine:16 direction/1 amount=0.2 offset=-0.1",
        "lfo:hit:1 output/fade amount=0.1 offset=-0.1",
    ),
    "bar-sweep": (
        "lfo:triangle:16 direction/2 amount=0.3 offset=-0.15 curve=s",
        "lfo:saw:4 direction/3 amount=0.1 offset=-0.05",
    ),
    # Lucid Sonic Dreams' two mappings, live: the bass pushes the latent point, onsets kick it sideways,
    # the loudness sets the speed of travel.
    "bass-pulse": (
        "audio:low pulse/1 amount=0.25 smooth=0.05",
        "audio:onset pulse/2 amount=0.15 smooth=0.1",
        "audio:level motion amount=0.1 smooth=0.3",
    ),
    # Eight knobs sending CC 21-28 on channel 1 (the first knob row of many controllers' default maps),
    # each bending a direction either way around where it was set.
    "controller-8-knobs": tuple(f"midi:cc:1:{20 + n} direction/{n} amount=1 offset=-0.5" for n in range(1, 9)),
}
"""Route sets shipped as starting points (``/lvj/mod/load NAME``)."""


def lfo(shape: str, phase: float) -> float:
    """A beat LFO's value, 0..1, at ``phase`` (0..1) of its cycle; every shape starts its cycle at 0 except
    square (up for the first half) and hit (1 on the beat, decaying)."""
    p = phase % 1.0
    if shape == "sine":
        return 0.5 - 0.5 * math.cos(2 * math.pi * p)
    if shape == "triangle":
        return 1.0 - abs(2.0 * p - 1.0)
    if shape == "saw":
        return p
    if shape == "square":
        return 1.0 if p < 0.5 else 0.0
    return math.exp(-6.0 * p)  # hit


def shape(curve: str, x: float) -> float:
    """A curve from 0..1 onto 0..1: linear, exp (slow start, fast end) or s (eased at both ends)."""
    if curve == "exp":
        return x * x
    if curve == "s":
        return x * x * (3.0 - 2.0 * x)
    return x


@dataclass(frozen=True)
class Source:
    kind: str
    """lfo, osc, midi, audio or env."""
    name: str = ""
    """An OSC source's name; a MIDI source's whole text (``midi:cc:1:74``), as MidiMap names its inputs; an
    envelope's trigger source."""
    shape: str = "sine"
    beats: float = 4.0
    phase: float = 0.0
    attack: float = 0.0
    decay: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Source:
        parts = text.strip().split(":")
        if parts[0] == "lfo":
            if not 3 <= len(parts) <= 4 or parts[1] not in SHAPES:
                raise ParamError(f"an LFO is lfo:SHAPE:BEATS[:PHASE] with SHAPE one of {', '.join(SHAPES)}, "
                                 f"got {text!r}")
            beats = _number(parts[2], "the LFO's beats", 1 / 16, 1024)
            phase = _number(parts[3], "the LFO's phase", -1, 1) if len(parts) == 4 else 0.0
            return cls("lfo", shape=parts[1], beats=beats, phase=phase)
        if parts[0] == "osc" and len(parts) == 2 and NAME.fullmatch(parts[1]):
            return cls("osc", name=parts[1])
        if parts[0] == "midi" and _midi_source(parts[1:]):
            return cls("midi", name=":".join(parts))
        if parts[0] == "audio" and len(parts) == 2 and parts[1] in AUDIO_FEATURES:
            return cls("audio", name=":".join(parts))
        if parts[0] == "env":
            if len(parts) < 4 or parts[3] == "env":
                raise ParamError(f"an envelope is env:ATTACK:DECAY:TRIGGER (seconds, and a source that is not an "
                                 f"envelope, e.g. env:0.01:0.5:audio:onset), got {text!r}")
            trigger = cls.parse(":".join(parts[3:]))
            return cls("env", name=str(trigger), attack=_number(parts[1], "the envelope's attack", 0, 60),
                       decay=_number(parts[2], "the envelope's decay", 0.001, 60))
        raise ParamError(f"unknown source {text!r}: lfo:SHAPE:BEATS[:PHASE], osc:NAME (letters, digits, "
                         "_ . -, up to 32), midi:cc:CHANNEL:NUMBER, midi:note:CHANNEL:NUMBER (velocity while "
                         "held), midi:gate:CHANNEL:NUMBER, midi:bend:CHANNEL, audio:FEATURE (level, low, mid, high, mel1..mel8, flux, onset) "
                         "or env:ATTACK:DECAY:TRIGGER")

    def __str__(self) -> str:
        if self.kind == "osc":
            return f"osc:{self.name}"
        if self.kind in ("midi", "audio"):
            return self.name
        if self.kind == "env":
            return f"env:{self.attack:g}:{self.decay:g}:{self.name}"
        return f"lfo:{self.shape}:{self.beats:g}" + (f":{self.phase:g}" if self.phase else "")

    def value(self, m: Moment, inputs: Mapping[str, float]) -> float | None:
        """The source's value at ``m`` (an envelope's comes from :class:`Envelope`, which remembers)."""
        if self.kind == "lfo":
            return lfo(self.shape, m.phase(self.beats) + self.phase)
        return inputs.get(self.name)


class Envelope:
    """An ``env:`` source's state: when its trigger last rose through 0.5, and from what level."""

    def __init__(self, source: Source):
        self.source = source
        self._trigger = _source(source.name)
        self._was = 0.0
        self._start: float | None = None
        self._from = 0.0
        self.level = 0.0

    def step(self, m: Moment, inputs: Mapping[str, float]) -> float:
        now = self._trigger.value(m, inputs) or 0.0
        if now >= 0.5 > self._was:  # a rising edge: attack again from where the envelope is
            self._start, self._from = m.seconds, self.level
        self._was = now
        if self._start is not None:
            t, attack, decay = m.seconds - self._start, self.source.attack, self.source.decay
            if t < attack:
                self.level = self._from + (1.0 - self._from) * t / attack
            else:
                self.level = max(0.0, 1.0 - (t - attack) / decay)
                if self.level == 0.0:
                    self._start = None
        return self.level


@dataclass(frozen=True)
class Route:
    source: str
    target: str
    """The parameter's name in the state (``deck/a/direction/1``, ``crossfade``)."""
    amount: float = 1.0
    offset: float = 0.0
    low: float = 0.0
    """The source's value that maps to 0 (an OSC source's own range: a sensor's 0..1023)."""
    high: float = 1.0
    curve: str = "linear"
    smooth: float = 0.0
    """Seconds: the time constant of a smoothing of the route's output (0: none)."""

    def describe(self) -> str:
        """The route as the words ``/lvj/mod/route`` takes (and ``/lvj/mod/list`` replies)."""
        words = [self.source, self.target, f"amount={self.amount:g}"]
        if self.offset:
            words.append(f"offset={self.offset:g}")
        if (self.low, self.high) != (0.0, 1.0):
            words.append(f"range={self.low:g},{self.high:g}")
        if self.curve != "linear":
            words.append(f"curve={self.curve}")
        if self.smooth:
            words.append(f"smooth={self.smooth:g}")
        return " ".join(words)


def parse_route(words: Sequence[str], *, selected: str = "a", registry: Registry = PARAMS) -> Route:
    """``SOURCE TARGET [amount=A] [offset=O] [range=LO,HI] [curve=linear|exp|s] [smooth=S]`` (as separate
    OSC strings or as one), checked: ParamError saying what is wrong."""
    words = [w for word in words for w in str(word).split()]
    if len(words) < 2:
        raise ParamError("a route is SOURCE TARGET [amount=A] [offset=O] [range=LO,HI] [curve=linear|exp|s] "
                         "[smooth=S], e.g. lfo:sine:4 direction/1 amount=0.5")
    source = Source.parse(words[0])
    target = resolve_target(words[1], selected=selected, registry=registry)
    options: dict = {}
    for word in words[2:]:
        key, sep, value = word.partition("=")
        if not sep:
            raise ParamError(f"{word!r}: options are KEY=VALUE (amount, offset, range, curve, smooth)")
        if key in ("amount", "offset"):
            options[key] = _number(value, key, -10, 10)
        elif key == "range":
            low, _, high = value.partition(",")
            options["low"] = _number(low, "range's low", -1e6, 1e6)
            options["high"] = _number(high, "range's high", -1e6, 1e6)
            if options["low"] == options["high"]:
                raise ParamError("range=LO,HI needs two different numbers")
        elif key == "curve":
            if value not in CURVES:
                raise ParamError(f"curve must be one of {', '.join(CURVES)}, got {value!r}")
            options["curve"] = value
        elif key == "smooth":
            options["smooth"] = _number(value, "smooth", 0, 10)
        else:
            raise ParamError(f"unknown option {key!r} (amount, offset, range, curve, smooth)")
    return Route(source=str(source), target=target, **options)


def resolve_target(text: str, *, selected: str = "a", registry: Registry = PARAMS) -> str:
    """A route's target as the state names it; ParamError for one that cannot be modulated."""
    name = text.strip().strip("/")
    name = name[4:] if name.startswith("lvj/") else name
    deck, base = split_deck(name)
    if base == "motion":
        base = "walk/speed"
    elif base == "pulse" or base.startswith("pulse/"):
        base = "direction/" + (base[6:] or "1")
    try:
        param = registry[base]
    except KeyError:
        raise ParamError(f"unknown target {text!r}: a continuous parameter (walk/speed, direction/1..8, "
                         "truncation, temperature, output/fade, crossfade), motion or pulse/N") from None
    if not modulatable(param):
        raise ParamError(f"{text!r} cannot be modulated: only continuous parameters can (walk/speed, "
                         "direction/N, truncation, temperature, output/fade, crossfade)")
    if param.deck == "*":
        return deck_name(deck or selected, base)
    return base


def modulatable(param) -> bool:
    return param.type == "f" and param.smooth and param.access == "rw" and not param.name.endswith("/N")


class Modulation:
    """The routes and the OSC sources' values (any thread), and their sum for a frame (the render thread)."""

    def __init__(self, registry: Registry = PARAMS):
        self.registry = registry
        self._lock = threading.Lock()
        self._routes: list[Route] = []
        self._inputs: dict[str, float] = {}
        self._midi: dict[str, float] = {}
        self._smoothed: dict[Route, float] = {}
        self._envelopes: dict[str, Envelope] = {}  # the env: sources' state, by source
        self.last: dict[str, float] = {}
        """The modulated values of the last frame, by the state's name."""
        self.on_change: Callable[[list[Route]], None] | None = None
        """Called (on the caller's thread) with the routes whenever they change: the file's writer."""

    @property
    def routes(self) -> list[Route]:
        with self._lock:
            return list(self._routes)

    @property
    def active(self) -> bool:
        """Whether there is a route (asked every frame: no copy, no lock; a list is replaced, never changed)."""
        return bool(self._routes)

    def add(self, route: Route) -> None:
        """A route; one with the same source and target replaces it (changing a route is sending it again)."""
        with self._lock:
            kept = [r for r in self._routes if (r.source, r.target) != (route.source, route.target)]
            if len(kept) >= MAX_ROUTES:
                raise ParamError(f"at most {MAX_ROUTES} routes; remove some first (/lvj/mod/remove TARGET)")
            self._routes = kept + [route]
        self._changed()

    def remove(self, target: str, *, selected: str = "a") -> int:
        """Remove the routes to ``target`` (or every route: ``all``); how many went."""
        with self._lock:
            if target.strip() == "all":
                gone, self._routes = len(self._routes), []
            else:
                name = resolve_target(target, selected=selected, registry=self.registry)
                kept = [r for r in self._routes if r.target != name]
                gone, self._routes = len(self._routes) - len(kept), kept
        if gone:
            self._changed()
        return gone

    def replace(self, routes: Iterable[Route]) -> None:
        routes = list(routes)[:MAX_ROUTES]
        with self._lock:
            self._routes = routes
        self._changed()

    def set_input(self, name: str, value: float) -> None:
        """The value of OSC source ``name`` (``/lvj/mod/source/NAME``)."""
        with self._lock:
            if name not in self._inputs and len(self._inputs) >= MAX_INPUTS:
                raise ParamError(f"at most {MAX_INPUTS} OSC sources")
            self._inputs[name] = float(value)

    def set_midi(self, values: Mapping[str, float]) -> None:
        """MIDI inputs by their source names (``midi:cc:1:74``: 0..1), from the MIDI map."""
        with self._lock:
            self._midi.update(values)

    def set_audio(self, features: Mapping[str, float]) -> None:
        """The newest audio features (``level``, ``low``...: 0..1), from the audio's thread."""
        with self._lock:
            self._midi.update({f"audio:{name}": value for name, value in features.items()})

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.routes)

    def apply(self, m: Moment, dt: float, base: Callable[[str], float]) -> dict[str, float]:
        """The modulated value of every routed target for the frame at ``m`` (``dt`` seconds after the last
        one), on top of ``base(name)``: the value the performer set, as smoothed."""
        with self._lock:
            routes, inputs = list(self._routes), {**self._midi, **self._inputs}
        sums: dict[str, float] = {}
        smoothed = {}
        envelopes = {}
        for route in routes:  # each envelope steps once a frame, however many routes it feeds
            source = _source(route.source)
            if source.kind == "env" and route.source not in envelopes:
                envelope = self._envelopes.get(route.source) or Envelope(source)
                envelopes[route.source] = envelope
                envelope.step(m, inputs)
        self._envelopes = envelopes
        for route in routes:
            source = _source(route.source)
            value = envelopes[route.source].level if source.kind == "env" else source.value(m, inputs)
            if value is None:
                continue  # an OSC source nobody has sent yet
            x = min(1.0, max(0.0, (value - route.low) / (route.high - route.low)))
            out = route.offset + route.amount * shape(route.curve, x)
            if route.smooth > 0 and route in self._smoothed:
                previous = self._smoothed[route]
                out = previous + (out - previous) * (1.0 - math.exp(-dt / route.smooth))
            smoothed[route] = out
            sums[route.target] = sums.get(route.target, 0.0) + out
        self._smoothed = smoothed
        result = {}
        for name, push in sums.items():
            lo, hi = self.registry[name].range
            result[name] = min(hi, max(lo, base(name) + push * (hi - lo)))
        self.last = result
        return result


class RouteFile:
    """The routes' and the MIDI map's own file (JSON, written atomically): read at start, written on every
    change. Nothing in it is executed: each entry is checked as if it had been sent over OSC."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def read(self, registry: Registry = PARAMS) -> tuple[list[Route], list[Mapping]]:
        """The routes and MIDI mappings in the file (none when there is no file); ValueError naming the file
        and what is wrong."""
        if not self.path.exists():
            return [], []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != FORMAT_VERSION or not isinstance(data.get("routes"), list):
                raise ValueError(f"expected a version {FORMAT_VERSION} routes file")
            routes = []
            for entry in data["routes"][:MAX_ROUTES]:
                route = Route(**entry)
                routes.append(parse_route(route.describe().split()))  # checked as if sent over OSC
            mappings = []
            for entry in data.get("midi", [])[:MAX_MAPPINGS]:
                mapping = Mapping(Control.parse(entry["control"]), str(entry["address"]), str(entry["kind"]),
                                  tuple(entry.get("args", ())))
                if mapping.kind not in MIDI_KINDS or registry.find(mapping.address) is None:
                    raise ValueError(f"not a MIDI mapping: {entry!r}")
                mappings.append(mapping)
            return routes, mappings
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ValueError(f"routes file {self.path}: {exc}") from None

    def write(self, routes: Sequence[Route], mappings: Sequence[Mapping] = ()) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": FORMAT_VERSION, "routes": [asdict(r) for r in routes],
                           "midi": [{"control": str(m.control), "address": m.address, "kind": m.kind,
                                     "args": list(m.args)} for m in mappings]}, indent=2)
        write_atomically(self.path, text + "\n")


@functools.lru_cache(maxsize=4 * MAX_ROUTES)
def _source(text: str) -> Source:
    """A route's source, parsed once (routes hold the text; the render loop asks every frame)."""
    return Source.parse(text)


def _midi_source(parts: list[str]) -> bool:
    try:
        if parts[0] in ("cc", "note", "gate") and len(parts) == 3:
            return 1 <= int(parts[1]) <= 16 and 0 <= int(parts[2]) <= 127
        return parts[0] == "bend" and len(parts) == 2 and 1 <= int(parts[1]) <= 16
    except (ValueError, IndexError):
        return False


def _number(text: str, what: str, lo: float, hi: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParamError(f"{what} must be a number, got {text!r}") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ParamError(f"{what} must be {lo:g} .. {hi:g}, got {text}")
    return value
