"""Musical time: what the walks are a function of, apart from pacing (when the engine renders).

The engine asks its clock once per frame for a :class:`Moment`: seconds since start, and the beat, the
tempo, whether the music is playing. The beat comes from one source, chosen by name:

- ``internal``: a free-running tempo, set by ``/lvj/tempo/bpm`` or by tapping (``/lvj/tempo/tap``);
- ``osc``: beats sent by another program (``/lvj/tempo/beat`` on every beat): the tempo follows their spacing;
- ``midi``: MIDI clock (24 pulses a beat, start, stop, continue, song position pointer), parsed by
  :class:`MidiClock` from the bytes a port delivers (``bridge/control/midi.py``);
- ``link``: an Ableton Link session (``bridge/link.py``), whose tempo and beat every peer shares.

Two promises hold whatever the source does. The beat only moves forward: a source that says the beat is
behind where the clock is slows the clock down until they agree (at most half a beat per beat), one that
says it is ahead speeds it up, and a source that starts the music (MIDI start, a song position) makes the
clock jump forward to the next beat in that phase, never back. And a source that goes quiet (MIDI clock
stops coming, Link's last peer leaves, OSC beats stop) leaves the clock free-running at the last tempo,
saying so in the status.

``position`` is where the walks are on the shared timeline: the beat, plus the offset a Link session's
timeline sets when it joins (the beat cannot move back, the position of a session can; a deck whose walk is
in beats moves its walk there over its morph time). Several render nodes on one Link session have the same
position at the same moment, so they draw the same walk with nothing streamed between them.

Everything here is pure: time comes in as an argument (``now``), so tests use a fake clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol

SOURCES = ("internal", "osc", "midi", "link", "audio")
QUANTISE = ("off", "beat", "bar", "2bars", "4bars")
BPM_RANGE = (20.0, 999.0)
TAP_RESET_S = 2.0
"""A pause this long between taps starts a new tap tempo."""
TAPS = 4
"""Tap tempo averages the intervals of the last this-many taps."""
SLEW = 0.5
"""At most this many beats of correction per beat: a phase correction never runs the beat backwards."""


@dataclass(frozen=True)
class Moment:
    """The musical time of one frame."""

    seconds: float
    """Seconds since the clock started (forward only)."""
    beat: float
    """Beats since the clock started (forward only; the axis of walks in beats)."""
    position: float
    """Where the walks are on the shared timeline: ``beat`` plus the timeline's offset (see the module)."""
    bpm: float
    quantum: int = 4
    """Beats a bar."""
    playing: bool = True

    @property
    def bar(self) -> float:
        """Bars on the shared timeline; a whole number on a downbeat."""
        return self.position / self.quantum

    def phase(self, beats: float = 1.0) -> float:
        """Where this moment is within a cycle of ``beats`` beats on the timeline, 0 <= phase < 1: 1 for a
        beat's phase, ``quantum`` for a bar's, 4 * quantum for four bars' (what beat LFOs are shaped on)."""
        f = (self.position / beats) % 1.0
        return 0.0 if f >= 1.0 else f

    def beats_to_seconds(self, beats: float) -> float:
        return beats * 60.0 / self.bpm

    def seconds_to_beats(self, seconds: float) -> float:
        return seconds * self.bpm / 60.0

    def later(self, seconds: float) -> Moment:
        """The moment ``seconds`` after this one at this tempo: what a steady clock will say then (the
        engine's lookahead draws the next frames at these)."""
        beats = seconds * self.bpm / 60.0
        return Moment(self.seconds + seconds, self.beat + beats, self.position + beats, self.bpm, self.quantum,
                      self.playing)


def quantum_beats(quantise: str, quantum: int) -> float:
    """The length in beats of a quantise setting's grid (0 for off)."""
    return {"off": 0.0, "beat": 1.0, "bar": float(quantum), "2bars": 2.0 * quantum,
            "4bars": 4.0 * quantum}[quantise]


def next_boundary(position: float, grid: float) -> float:
    """The first grid line strictly after ``position`` (a change sent exactly on a boundary waits for the
    next one: it was sent a moment after the beat it heard)."""
    return (math.floor(position / grid + 1e-9) + 1) * grid


class Source(Protocol):
    """Something the clock follows (MidiClock, LinkSession, audio.AudioTempo); one with ``set_tempo(bpm)`` takes a tempo."""

    def reading(self, now: float) -> SourceReading | None:
        """What the source says at ``now`` (the monotonic clock's seconds); None while it is quiet."""


@dataclass(frozen=True)
class SourceReading:
    bpm: float | None
    """The source's tempo, or None when it has none yet."""
    position: float | None
    """Where the source says the beat is now (None: it says nothing of the phase)."""
    playing: bool = True
    peers: int | None = None
    jump: bool = False
    """The source started the music (MIDI start, a song position): take its phase at once, forward."""
    timeline: int = 0
    """Which of the source's timelines the position is on: it counts up when the source moves to another one
    (a Link session joined), and the clock then takes the new position at once instead of slewing to it."""


class TempoClock:
    def __init__(self, now: Callable[[], float] = time.monotonic, *, bpm: float = 120.0, quantum: int = 4,
                 source: str = "internal"):
        """now: a monotonic clock in seconds (tests pass a fake one)."""
        self._now = now
        self._lock = threading.Lock()
        self._start = now()
        self._t = 0.0  # seconds of the last advance
        self._beat = 0.0
        self._offset = 0.0  # position - beat
        self._correction = 0.0  # beats still to absorb (slewed, see SLEW)
        self._bpm = _check_bpm(bpm)
        self.quantum = int(quantum)
        self._source = "internal"
        self._follow: Source | None = None
        self._quiet_since: float | None = None
        self._taps: deque[float] = deque(maxlen=TAPS + 1)
        self._osc_beats: deque[float] = deque(maxlen=TAPS + 1)
        self._last = Moment(0.0, 0.0, 0.0, self._bpm, self.quantum)
        self.latency = 0.0
        """Seconds of lookahead: the moment given is this far ahead of now, for the display chain."""
        self.playing = True
        self.peers: int | None = None
        self.note = ""
        """Why the clock free-runs when it was asked to follow a source ("" while it follows, or internal)."""
        self.resyncs = 0
        """Times a source moved the shared position (the beat stays, the walks move over their morph)."""
        self._timeline = 0  # the source's timeline last followed (SourceReading.timeline)
        self.set_source(source)

    # ---- reading -------------------------------------------------------------------------------

    def time(self) -> float:
        """Seconds since the clock started; never less than the last answer."""
        return self.moment().seconds

    def moment(self) -> Moment:
        """The musical time now (plus the lookahead ``latency``), moved on from the last call."""
        with self._lock:
            self._advance(max(self._t, self._now() - self._start))
            ahead = self.latency * self._bpm / 60.0
            last = self._last
            moment = Moment(seconds=max(last.seconds, self._t + self.latency),
                            beat=max(last.beat, self._beat + ahead), position=self._beat + self._offset + ahead,
                            bpm=self._bpm, quantum=self.quantum, playing=self.playing)
            self._last = moment  # a shorter lookahead must not run the time back either
            return moment

    @property
    def bpm(self) -> float:
        return self._bpm

    @property
    def steady(self) -> bool:
        """Whether the moments ahead are known (:meth:`Moment.later`): no phase correction under way, and
        no MIDI clock or Link to read again each frame."""
        return self._follow is None and self._correction == 0.0

    @property
    def source(self) -> str:
        return self._source

    @property
    def following(self) -> bool:
        """Whether the clock follows its source now (False: internal, or free-running)."""
        return self._source != "internal" and not self.note

    # ---- setting -------------------------------------------------------------------------------

    def set_source(self, source: str, follow: Source | None = None) -> None:
        """Follow ``source``: ``follow.reading(now)`` is asked every frame for midi and link (see
        SourceReading); osc follows :meth:`beat_now` calls; internal free-runs."""
        if source not in SOURCES:
            raise ValueError(f"unknown tempo source {source!r}; expected one of {', '.join(SOURCES)}")
        with self._lock:
            self._source, self._follow = source, follow
            self._quiet_since = None
            self.note = "" if source == "internal" else f"waiting for {_SOURCE_NAMES[source]}"
            self.peers = None
            self.playing = True

    def set_bpm(self, bpm: float) -> None:
        """A new tempo from now on; the beat goes on from where it is (no jump). A source that takes a
        tempo (Link: the session's) is given it too."""
        with self._lock:
            self._advance(self._elapsed())
            self._bpm = _check_bpm(bpm)
            self._tell_source()

    @property
    def takes_tempo(self) -> bool:
        """Whether a tempo set here holds: not while following a source that sets it (MIDI clock)."""
        return self._follow is None or hasattr(self._follow, "set_tempo") or not self.following

    def _tell_source(self) -> None:
        if self._follow is not None and hasattr(self._follow, "set_tempo"):
            self._follow.set_tempo(self._bpm)

    def tap(self) -> float | None:
        """A tap: after two taps the tempo is the mean interval of the last taps (a pause of TAP_RESET_S
        starts over) and the beat falls on the tap. Returns the new tempo, or None on a first tap."""
        with self._lock:
            t = self._elapsed()
            self._advance(t)
            bpm = _tempo_of(self._taps, t)
            if bpm is not None:
                self._bpm = bpm
                self._tell_source()
            self._align(1.0)
            return bpm

    def beat_now(self) -> float | None:
        """"A beat is now" (``/lvj/tempo/beat``): the beat's phase moves to it; with the osc source the
        tempo also follows the spacing of these. Returns the tempo when it changed."""
        with self._lock:
            t = self._elapsed()
            self._advance(t)
            bpm = _tempo_of(self._osc_beats, t) if self._source == "osc" else None
            if bpm is not None:
                self._bpm = bpm
            if self._source == "osc":
                self._quiet_since, self.note = None, ""
            self._align(1.0)
            return bpm

    def bar_now(self) -> None:
        """"A bar starts now" (``/lvj/tempo/bar``): the downbeat moves to it."""
        with self._lock:
            self._advance(self._elapsed())
            self._align(float(self.quantum))

    # ---- internals -----------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return max(self._t, self._now() - self._start)

    def _align(self, grid: float) -> None:
        """Correct the phase so that a grid line (a beat, a bar) is now: towards the nearest one."""
        position = self._beat + self._offset + self._correction
        nearest = round(position / grid) * grid
        self._correction += nearest - position

    def _advance(self, t: float) -> None:
        dt = t - self._t
        if dt < 0:
            return
        db = dt * self._bpm / 60.0
        step = min(max(self._correction, -SLEW * db), SLEW * db)
        self._beat += db + step
        self._correction -= step
        self._t = t
        if self._follow is not None:  # what the source says of now, against where the clock is now
            self._listen(t)
        elif self._source == "osc" and self._osc_beats:
            self._check_quiet(t, self._osc_beats[-1], 2.5 * 60.0 / self._bpm, "OSC beats stopped")

    def _listen(self, t: float) -> None:
        reading = self._follow.reading(t + self._start)
        if reading is None:
            if self._quiet_since is None:
                self._quiet_since = t
                self.note = f"{_SOURCE_NAMES[self._source]} is quiet: free-running at {self._bpm:.2f} BPM"
            return
        self._quiet_since, self.note = None, ""
        self.peers = reading.peers
        self.playing = reading.playing
        if reading.bpm is not None:
            self._bpm = _clamp_bpm(reading.bpm)
        if self._source == "link" and reading.peers == 0:
            self.note = f"alone on Link: free-running at {self._bpm:.2f} BPM until a peer joins"
        elif not reading.playing:
            self.note = f"{_SOURCE_NAMES[self._source]} stopped: free-running at {self._bpm:.2f} BPM"
        if reading.position is None:
            return
        # Where the source says the beat is, against where the clock is (with what it still has to absorb).
        ahead = self._beat + self._offset + self._correction
        error = reading.position - ahead
        if reading.jump:  # start, song position: that phase at once, the next beat of it forward
            grid = float(self.quantum)
            shift = error % grid
            if shift > grid - 0.5:  # just past the source's downbeat: slew back the little bit
                self._correction += shift - grid
            else:
                self._beat += self._correction + shift
                self._correction = 0.0
            return
        moved, self._timeline = reading.timeline != self._timeline, reading.timeline
        if abs(error) <= self.quantum / 2 and not moved:
            self._correction += error
        else:  # another timeline (a Link session joined): the walks move to it at once, the beat goes on;
            # what was still being slewed towards the old timeline is dropped, or the walks would lag by it
            self._offset += error + self._correction
            self._correction = 0.0
            self.resyncs += 1

    def _check_quiet(self, t: float, last: float, patience: float, why: str) -> None:
        if t - last > patience and not self.note:
            self.note = f"{why}: free-running at {self._bpm:.2f} BPM"


_SOURCE_NAMES = {"internal": "the internal tempo", "osc": "OSC beats", "midi": "MIDI clock",
                 "link": "Ableton Link", "audio": "the beat of the live audio"}


def _check_bpm(bpm: float) -> float:
    bpm = float(bpm)
    if not (math.isfinite(bpm) and BPM_RANGE[0] <= bpm <= BPM_RANGE[1]):
        raise ValueError(f"tempo must be {BPM_RANGE[0]:g}..{BPM_RANGE[1]:g} BPM, got {bpm:g}")
    return bpm


def _clamp_bpm(bpm: float) -> float:
    return min(max(float(bpm), BPM_RANGE[0]), BPM_RANGE[1])


def _tempo_of(taps: deque[float], t: float) -> float | None:
    """Add a tap at ``t`` to ``taps``; the tempo of the last taps (None: not enough yet)."""
    if taps and t - taps[-1] > TAP_RESET_S:
        taps.clear()
    taps.append(t)
    if len(taps) < 2:
        return None
    interval = (taps[-1] - taps[0]) / (len(taps) - 1)
    return _clamp_bpm(60.0 / interval) if interval > 0 else None


# ---- MIDI clock --------------------------------------------------------------------------------------

PPQN = 24
TICK, START, CONTINUE, STOP, SONG_POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2
MIDI_QUIET_S = 0.5
"""No clock pulse for this long: the MIDI clock has stopped (30 BPM sends one every 83 ms)."""


class MidiClock:
    """MIDI clock in, from the bytes of each message and its arrival time (any thread; the clock reads
    :meth:`reading`). The tempo is the pulse interval fitted (least squares) to the last two beats' pulses,
    so that ports which deliver in blocks (JACK: a period at a time) still give it to a fraction of a BPM;
    the position counts pulses
    from start (beat 0) or from a song position pointer (in sixteenths), and stands still while stopped."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ticks: deque[float] = deque(maxlen=2 * PPQN)
        self._position: float | None = None  # beats, at the last pulse
        self._playing = False
        self._pending_jump = False
        self._cued: float | None = None  # where start/continue/song position put the next pulse
        self.messages = 0

    def feed(self, data: bytes | list[int], t: float) -> None:
        """One MIDI message (its bytes), received at ``t`` (seconds on the clock's monotonic clock)."""
        if not data:
            return
        status = data[0]
        with self._lock:
            self.messages += 1
            if status == TICK:
                self._ticks.append(t)
                if self._playing:
                    if self._cued is not None:
                        self._position, self._cued = self._cued, None
                    else:
                        self._position = (self._position or 0.0) + 1.0 / PPQN
            elif status == START:
                self._playing, self._cued, self._pending_jump = True, 0.0, True
            elif status == CONTINUE:
                self._playing, self._pending_jump = True, True
                if self._cued is None:
                    self._cued = self._position if self._position is not None else 0.0
            elif status == STOP:
                self._playing = False
            elif status == SONG_POSITION and len(data) >= 3:
                sixteenths = (data[1] & 0x7F) | ((data[2] & 0x7F) << 7)
                self._cued = sixteenths / 4.0
                self._pending_jump = True

    def reading(self, now: float) -> SourceReading | None:
        """What the MIDI clock says at ``now``; None when no pulse came for MIDI_QUIET_S."""
        with self._lock:
            if not self._ticks or now - self._ticks[-1] > MIDI_QUIET_S:
                return None
            interval = _pulse_interval(self._ticks)
            bpm = 60.0 / (interval * PPQN) if interval else None
            position = None
            jump = False
            if self._playing and self._position is not None and self._cued is None:
                since = min(now - self._ticks[-1], 60.0 / ((bpm or 120.0) * PPQN))  # no further than the next pulse
                position = self._position + since * (bpm or 120.0) / 60.0
                jump, self._pending_jump = self._pending_jump, False
            return SourceReading(bpm=bpm, position=position, playing=self._playing, jump=jump)


def _pulse_interval(ticks: deque[float]) -> float | None:
    """The least-squares interval between pulses received at ``ticks`` (None for fewer than two)."""
    n = len(ticks)
    if n < 2:
        return None
    mean_i = (n - 1) / 2.0
    mean_t = sum(ticks) / n
    num = sum((i - mean_i) * (t - mean_t) for i, t in enumerate(ticks))
    den = sum((i - mean_i) ** 2 for i in range(n))
    interval = num / den
    return interval if interval > 0 else None
