"""MIDI in: ports found by name on the system's MIDI (ALSA sequencer or JACK on Linux, CoreMIDI, Windows MM),
messages handed on as bytes with their arrival time. Needs the ``midi`` extra (python-rtmidi, MIT), imported
only when a port is asked for.

Today the MIDI clock (``--midi-clock PORT``) is read here into :class:`latentvj.bridge.clock.MidiClock`;
the modulation issue adds notes and CCs through the same port opening.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger("latentvj.midi")

INSTALL = "MIDI needs the midi extra: pip install 'latentvj[midi]'"


class MidiError(RuntimeError):
    """A MIDI port that cannot be had; the message says why and what there is."""


def _rtmidi():
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


class MidiInput:
    """One open MIDI input port; every message goes to ``on_message(bytes, arrival)`` on rtmidi's thread."""

    def __init__(self, port: str, on_message: Callable[[bytes, float], None], *, api: str = "auto",
                 client: str = "LatentVJ", now: Callable[[], float] = time.monotonic):
        """port: a port name, or part of one (case-insensitive), or ``auto`` for the first port."""
        rtmidi = _rtmidi()
        tried, problems = [], []
        for number in _apis(rtmidi, api):
            try:
                midi_in = rtmidi.MidiIn(number, name=client)
                ports = midi_in.get_ports()
            except Exception as exc:
                problems.append(f"{rtmidi.get_api_name(number)}: {str(exc).strip()}")
                continue
            tried += [f"{rtmidi.get_api_name(number)}: {p}" for p in ports]
            matches = [i for i, p in enumerate(ports) if port == "auto" or port.lower() in p.lower()]
            if matches:
                self.name = ports[matches[0]]
                self.system = rtmidi.get_api_name(number)
                midi_in.ignore_types(sysex=True, timing=False, active_sense=True)  # clock is timing: keep it
                midi_in.set_callback(lambda message, _: on_message(bytes(message[0]), now()))
                midi_in.open_port(matches[0], "in")
                self._in = midi_in
                log.info("MIDI in from %s (%s)", self.name, self.system)
                return
            midi_in.delete()
        there = "; ".join(tried) if tried else "none"
        why = f" ({'; '.join(problems)})" if problems and not tried else ""
        raise MidiError(f"no MIDI input port matches {port!r}; ports: {there}{why}")

    def close(self) -> None:
        midi_in, self._in = getattr(self, "_in", None), None
        if midi_in is not None:
            midi_in.cancel_callback()
            midi_in.close_port()
            midi_in.delete()
