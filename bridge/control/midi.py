"""MIDI in: ports found by name on the system's MIDI (ALSA sequencer or JACK on Linux, CoreMIDI, Windows MM),
messages handed on as bytes with their arrival time (:class:`ArrivalTimes`). Needs the ``midi`` extra (python-rtmidi, MIT), imported
only when a port is asked for.

The MIDI clock (``--midi-clock PORT``) is read into :class:`latentvj.bridge.clock.MidiClock`; controllers
(``--midi PORT``) into :class:`MidiMap`: CCs, notes and pitch bend as modulation sources, and learned
mappings that send OSC messages through the one command path (an adapter: it never validates or echoes).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

log = logging.getLogger("latentvj.midi")

INSTALL = "MIDI needs the midi extra: pip install 'latentvj[midi]'"
POLL_S = 0.001
"""How often the MIDI input is read when it is quiet (a message waits at most this long)."""


ARRIVAL_LAG_S = 0.25
"""Longest a message's reading may lag its arrival before its time is taken from the clock again."""


class ArrivalTimes:
    """When each message arrived, from rtmidi's delta times (stamped by its own thread as the system hands
    a message over: JACK's process thread) rather than from when our reading thread got to it, which a
    busy machine or the GIL can hold back by several milliseconds and then hand over in a bunch; a MIDI
    clock's tempo is fitted to these times. Anchored to ``now`` at the first message, after a silence,
    and whenever the sum of deltas falls ARRIVAL_LAG_S behind ``now``; never ahead of ``now``."""

    def __init__(self):
        self._last: float | None = None

    def stamp(self, delta: float, now: float) -> float:
        if self._last is None or not 0.0 <= delta < ARRIVAL_LAG_S:
            t = now  # the first message, or the first after a pause (its delta spans the pause)
        else:
            t = min(self._last + delta, now)
            if t < now - ARRIVAL_LAG_S:
                t = now
        self._last = t
        return t


class MidiError(RuntimeError):
    """A MIDI port that cannot be had; the message says why and what there is."""


def _rtmidi():
    # Looking for JACK ports must never start a JACK server (libjack would, taking seconds and the sound
    # card): LatentVJ uses the JACK that is running, or none.
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    try:
        import rtmidi
    except ImportError:
        raise MidiError(INSTALL) from None
    return rtmidi


def _apis(rtmidi, api: str) -> list[int]:
    names = {"alsa": rtmidi.API_LINUX_ALSA, "jack": rtmidi.API_UNIX_JACK, "coremidi": rtmidi.API_MACOSX_CORE,
             "windows": rtmidi.API_WINDOWS_MM}
    if api == "auto":
        return list(rtmidi.get_compiled_api())
    if api not in names:
        raise MidiError(f"unknown MIDI system {api!r}; expected auto, {', '.join(names)}")
    return [names[api]]


def list_ports(api: str = "auto") -> list[str]:
    """The MIDI input ports there are, as 'system: port' (systems that are not running are skipped)."""
    rtmidi = _rtmidi()
    found = []
    for number in _apis(rtmidi, api):
        try:
            found += [f"{rtmidi.get_api_name(number)}: {p}" for p in rtmidi.MidiIn(number).get_ports()]
        except Exception:  # no ALSA sequencer device, no JACK server
            continue
    return found


def _open_port(kind: str, port: str, api: str, client: str):
    """The first ``kind`` (MidiIn or MidiOut) port whose name contains ``port`` (or any, for ``auto``) on the
    MIDI systems asked for, open: (the rtmidi object, the port's name, its system); MidiError listing what
    there is."""
    rtmidi = _rtmidi()
    tried, problems = [], []
    for number in _apis(rtmidi, api):
        system = rtmidi.get_api_name(number)
        try:
            midi = getattr(rtmidi, kind)(number, name=client)
            ports = midi.get_ports()
        except Exception as exc:  # no ALSA sequencer device, no JACK server
            problems.append(f"{system}: {str(exc).strip()}")
            continue
        tried += [f"{system}: {p}" for p in ports]
        matches = [i for i, p in enumerate(ports) if port == "auto" or port.lower() in p.lower()]
        if matches:
            midi.open_port(matches[0], "in" if kind == "MidiIn" else "out")
            return midi, ports[matches[0]], system
        midi.delete()
    there = "; ".join(tried) if tried else "none"
    why = f" ({'; '.join(problems)})" if problems and not tried else ""
    raise MidiError(f"no MIDI {'input' if kind == 'MidiIn' else 'output'} port matches {port!r}; ports: {there}{why}")


class MidiInput:
    """One open MIDI input port; every message goes to ``on_message(bytes, arrival)`` on its "midi-in" thread."""

    def __init__(self, port: str, on_message: Callable[[bytes, float], None], *, api: str = "auto",
                 client: str = "LatentVJ", now: Callable[[], float] = time.monotonic):
        """port: a port name, or part of one (case-insensitive), or ``auto`` for the first port."""
        midi_in, self.name, self.system = _open_port("MidiIn", port, api, client)
        midi_in.ignore_types(sysex=True, timing=False, active_sense=True)  # clock is timing: keep it
        self._in = midi_in
        # Read by a thread of ours, not by rtmidi's callback: with JACK that callback runs on JACK's process
        # thread, which closing the port waits for while holding the GIL the callback needs (a hang at
        # shutdown). A poll every POLL_S costs nothing measurable.
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(on_message, now), name="midi-in", daemon=True)
        self._thread.start()
        log.info("MIDI in from %s (%s)", self.name, self.system)

    def _read(self, on_message: Callable[[bytes, float], None], now: Callable[[], float]) -> None:
        midi_in, arrivals = self._in, ArrivalTimes()
        while not self._stop.is_set():
            message = midi_in.get_message()
            if message is None:
                self._stop.wait(POLL_S)
                continue
            data, delta = message
            try:
                on_message(bytes(data), arrivals.stamp(delta, now()))
            except Exception:  # one bad message must not end MIDI in
                log.exception("a MIDI message could not be handled")

    def close(self) -> None:
        midi_in, self._in = getattr(self, "_in", None), None
        if midi_in is not None:
            self._stop.set()
            self._thread.join(2.0)
            midi_in.close_port()
            midi_in.delete()


class MidiOutput:
    """One open MIDI output port (to a controller's motorised faders and LED rings)."""

    def __init__(self, port: str, *, api: str = "auto", client: str = "LatentVJ"):
        self._out, self.name, _ = _open_port("MidiOut", port, api, client)
        self._lock = threading.Lock()
        log.info("MIDI out to %s", self.name)

    def send(self, data: bytes) -> None:
        with self._lock:
            if self._out is not None:
                self._out.send_message(list(data))

    def close(self) -> None:
        with self._lock:
            midi_out, self._out = self._out, None
        if midi_out is not None:
            midi_out.close_port()
            midi_out.delete()


# ---- messages --------------------------------------------------------------------------------------------

NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PITCH_BEND = 0x80, 0x90, 0xB0, 0xE0
KINDS = ("continuous", "toggle", "trigger", "relative", "relative-offset")
"""How a learned control drives its parameter: CC 0-127 (14-bit with its pair) across the parameter's range;
a note or a CC that toggles a switch; a note that fires a command; an endless encoder, sending steps as two's
complement (1..63 up, 65..127 down) or as binary offset (65.. up, ..63 down)."""
MAX_MAPPINGS = 256


@dataclass(frozen=True)
class Control:
    """A physical control: a CC or a note on a channel (1-16)."""

    kind: str  # "cc" or "note"
    channel: int
    number: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.channel}:{self.number}"

    @classmethod
    def parse(cls, text: str) -> Control:
        kind, channel, number = text.split(":")
        control = cls(kind, int(channel), int(number))
        if kind not in ("cc", "note") or not 1 <= control.channel <= 16 or not 0 <= control.number <= 127:
            raise ValueError(f"not a MIDI control: {text!r} (cc:CHANNEL:NUMBER or note:CHANNEL:NUMBER)")
        return control


@dataclass(frozen=True)
class Mapping:
    control: Control
    address: str
    """The OSC address it drives, as /lvj/... (a deck's parameter with its deck)."""
    kind: str = "continuous"
    args: tuple = ()
    """A trigger's arguments (``/lvj/preset/recall`` 3)."""

    def describe(self) -> str:
        return " ".join([str(self.control), self.address, self.kind, *map(str, self.args)])


def channel_message(data: bytes) -> tuple[int, int, int, int] | None:
    """(status without channel, channel 1-16, data1, data2) of a channel voice message, else None."""
    if len(data) < 2 or not 0x80 <= data[0] < 0xF0:
        return None
    status, channel = data[0] & 0xF0, (data[0] & 0x0F) + 1
    second = data[2] if len(data) > 2 else 0
    if status == NOTE_ON and second == 0:
        status = NOTE_OFF  # note on with velocity 0 is a note off
    return status, channel, data[1] & 0x7F, second & 0x7F


class MidiMap:
    """The MIDI in state and the learned mappings: each message -> modulation inputs (``midi:cc:1:74``,
    ``midi:note:1:36`` velocity while held, ``midi:gate:1:36``, ``midi:bend:1``, each 0..1) and the OSC
    messages its mappings send through the command path. Learn: :meth:`learn` an address, and the next
    CC or note is mapped to it. Any thread (rtmidi's callback)."""

    def __init__(self, registry, *, selected: Callable[[], str] = lambda: "a",
                 current: Callable[[str], Any] = lambda address: None):
        """registry: what can be mapped; selected: the deck a deck parameter's address means now;
        current: a parameter's value by its address (a relative encoder steps from it)."""
        self.registry = registry
        self.selected = selected
        self.current = current
        self._lock = threading.Lock()
        self.mappings: list[Mapping] = []
        self.inputs: dict[str, float] = {}
        self._msb: dict[tuple[int, int], int] = {}  # 14-bit pairs: (channel, cc) -> the MSB last sent
        self._learning: tuple[str, str | None, tuple] | None = None
        self._toggles: dict[str, bool] = {}
        self.on_change: Callable[[list[Mapping]], None] | None = None
        self.messages = 0
        self._sent: dict[Control, int] = {}  # what feedback last told each control

    # ---- learn ---------------------------------------------------------------------------------

    def learn(self, words: Sequence[str]) -> str:
        """Map the next CC or note to ``ADDRESS [relative|relative-offset|ARGS...]``; the address as the
        mapping will send it. ValueError for an address that cannot be mapped."""
        words = [w for word in words for w in str(word).split()]
        if not words:
            raise ValueError("/lvj/midi/learn ADDRESS: the parameter to map the next control to")
        address, rest = self._address(words[0]), words[1:]
        kind = rest[0] if rest and rest[0] in ("relative", "relative-offset") else None
        args = tuple(_number_or_word(w) for w in rest) if kind is None else ()
        with self._lock:
            self._learning = (address, kind, args)
        return address

    def forget(self, address: str) -> int:
        address = self._address(address)
        with self._lock:
            kept = [m for m in self.mappings if m.address != address]
            gone, self.mappings = len(self.mappings) - len(kept), kept
        if gone:
            self._changed()
        return gone

    def replace(self, mappings: Sequence[Mapping]) -> None:
        with self._lock:
            self.mappings = list(mappings)[:MAX_MAPPINGS]
        self._changed()

    def _address(self, text: str) -> str:
        from .params import PREFIX, deck_name, split_deck

        found = self.registry.find(text)
        if found is None or found[0].access == "r" or found[1] is not None or found[0].type in ("f*", "ii", "ff", "si"):
            raise ValueError(f"{text!r}: not a parameter a MIDI control can drive (see docs/osc.md)")
        param = found[0]
        deck, base = split_deck(param.name)
        name = deck_name(self.selected(), base) if param.deck == "*" else param.name
        return f"{PREFIX}/{name}"

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(list(self.mappings))

    # ---- messages ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[tuple[str, list]]:
        """One MIDI message: update the inputs, learn if asked, and the OSC messages to send."""
        message = channel_message(data)
        if message is None:
            return []
        status, channel, first, second = message
        with self._lock:
            self.messages += 1
            control = None
            if status == CONTROL_CHANGE:
                control = Control("cc", channel, first)
                value = second / 127.0
                if first < 32:
                    self._msb[(channel, first)] = second
                elif 32 <= first < 64 and (channel, first - 32) in self._msb:  # the LSB of a 14-bit pair
                    msb = self._msb[(channel, first - 32)]
                    control, value = Control("cc", channel, first - 32), (msb * 128 + second) / 16383.0
                self.inputs[f"midi:{control}"] = value
            elif status in (NOTE_ON, NOTE_OFF):
                control = Control("note", channel, first)
                held = status == NOTE_ON
                self.inputs[f"midi:note:{channel}:{first}"] = second / 127.0 if held else 0.0
                self.inputs[f"midi:gate:{channel}:{first}"] = 1.0 if held else 0.0
                value = second / 127.0 if held else None
            elif status == PITCH_BEND:
                self.inputs[f"midi:bend:{channel}"] = ((second << 7) | first) / 16383.0
                return []
            else:
                return []
            learned = self._take_learning(control)
            mappings = [m for m in self.mappings if m.control == control]
        if learned:
            self._changed()
        return [out for m in mappings if (out := self._drive(m, status, second, value)) is not None]

    def feedback(self, address: str, value: Any) -> list[bytes]:
        """The messages that show a parameter's new value on the controls mapped to it (motorised faders, LED
        rings): a CC's position for a continuous mapping, on/off for a toggle. Call it for changes the
        controller did not make itself (no feedback loop); a value a control already shows is not resent."""
        with self._lock:
            mappings = [m for m in self.mappings if m.address == address and m.kind in ("continuous", "toggle")]
        param = self.registry.find(address)
        if not mappings or param is None:
            return []
        param = param[0]
        out = []
        for m in mappings:
            if m.kind == "toggle":
                level = 127 if value else 0
            elif param.range is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                lo, hi = param.range
                level = round(min(1.0, max(0.0, (float(value) - lo) / (hi - lo))) * 127)
            else:
                continue
            if self._sent.get(m.control) == level:
                continue
            self._sent[m.control] = level
            channel = m.control.channel - 1
            if m.control.kind == "cc":
                out.append(bytes([CONTROL_CHANGE | channel, m.control.number, level]))
            else:  # a pad's light
                out.append(bytes([(NOTE_ON if level else NOTE_OFF) | channel, m.control.number, level]))
        return out

    def _take_learning(self, control: Control) -> bool:
        if self._learning is None:
            return False
        address, kind, args = self._learning
        param = self.registry.find(address)[0]
        if kind is None:
            kind = ("toggle" if param.type == "T" else "trigger" if param.trigger or args or control.kind == "note"
                    else "continuous")
        self._learning = None
        self.mappings = [m for m in self.mappings if m.control != control and m.address != address]
        self.mappings.append(Mapping(control, address, kind, args))
        del self.mappings[:-MAX_MAPPINGS]
        log.info("MIDI %s -> %s (%s)", control, address, kind)
        return True

    def _drive(self, mapping: Mapping, status: int, raw: int, value: float | None) -> tuple[str, list] | None:
        param = self.registry.find(mapping.address)[0]
        if mapping.kind == "trigger":
            if mapping.control.kind == "note" and status != NOTE_ON:
                return None
            if mapping.control.kind == "cc" and raw < 64:
                return None
            return mapping.address, list(mapping.args)
        if mapping.kind == "toggle":
            if value is None or (mapping.control.kind == "cc" and raw < 64):
                return None
            on = not self._toggles.get(mapping.address, False)
            self._toggles[mapping.address] = on
            return mapping.address, [1 if on else 0]
        if param.range is None or value is None:
            return None
        lo, hi = param.range
        if mapping.kind in ("relative", "relative-offset"):
            steps = (raw - 128 if raw >= 64 else raw) if mapping.kind == "relative" else raw - 64
            current = self.current(mapping.address)
            base = float(current) if isinstance(current, (int, float)) else lo
            number = min(hi, max(lo, base + steps * (hi - lo) / 128.0))
            return mapping.address, [int(round(number)) if param.type == "i" else number]
        number = lo + value * (hi - lo)
        return mapping.address, [int(round(number)) if param.type == "i" else number]


def _number_or_word(text: str):
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number
