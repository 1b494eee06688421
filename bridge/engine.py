"""The render loop: owns the device and the resident model, walks the latent space on a steady clock.

One frame is: take one control snapshot (latest wins), apply what changed to the walker, evaluate the walk at
the frame's clock time, run the model, turn the image into uint8 HxWxC once on the device, hand the same
array to every sink (shared-memory ring, preview). A frame that fails is logged and counted; the loop goes
on. When the model is slower than the target frame rate the loop renders as fast as it can and says so.
"""

from __future__ import annotations

import collections
import logging
import math
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np
import torch

from datetime import datetime, timezone

from latentvj.models.checkpoint import LoadedModel


from .control.state import ControlState, Snapshot
from .device import describe
from .control.params import DECKS, DIRECTIONS, OUTPUT_SIDES, PARAMS, QUANTISED, TIMED, deck_name, split_deck
from .clock import Moment, TempoClock, next_boundary, quantum_beats
from .deck import Deck, Smoother, moment_of
from .modulation import Modulation
from .renderer import Prepared, Renderer
from .threads import ThreadTuner
from .control.presets import PresetError, PresetStore, PresetWriter, Scene

log = logging.getLogger("latentvj.engine")


def _names_of(deck: str) -> Callable[[str], str]:
    """Where deck ``deck`` finds its parameters in the state: its own for a deck's parameter, the shared
    one for the others (smoothing). A table, looked up dozens of times a frame."""
    table = {p.name: deck_name(deck, p.name) if p.deck == "*" else p.name for p in PARAMS}
    return table.__getitem__


_DECK_QUANTISED = tuple(name for name in QUANTISED if PARAMS[name].deck == "*" and name != "preset/recall")
"""A deck's own changes that wait for the quantise boundary (its walk: seed, randomise, mode)."""
_ENGINE_QUANTISED = (*((None, deck_name(deck, "preset/recall")) for deck in DECKS), (None, "scene/recall"),
                     (None, "crossfade/go"), (None, "cross"))
"""The engine's: preset and scene recalls, the crossfader's go, and model/blend's cross ("cross")."""


def _by_deck(values: dict[str, float]) -> dict[tuple[str | None, str], float]:
    return {split_deck(name): value for name, value in values.items()}


def _between(a: Moment, b: Moment, position: float) -> Moment:
    """The moment between frames ``a`` and ``b`` at which the timeline is at ``position``."""
    span = b.position - a.position
    f = min(1.0, max(0.0, (position - a.position) / span)) if span > 0 else 1.0
    return Moment(seconds=a.seconds + f * (b.seconds - a.seconds), beat=a.beat + f * (b.beat - a.beat),
                  position=position, bpm=b.bpm, quantum=b.quantum, playing=b.playing)


def _no_outside_source(name: str) -> None:
    if name in ("midi", "link"):
        raise ValueError(f"tempo/source {name} needs the server started with "
                         f"{'--midi-clock PORT' if name == 'midi' else '--link'}")
    return None


def _log_report(address: str, reason: str, source, *, warning: bool = False) -> None:
    log.warning("%s: %s", address, reason)


class FrameSink(Protocol):
    def write(self, pixels: np.ndarray, *, timestamp: float | None = None) -> object:
        """Take one uint8 HxWxC frame. The array is only valid during the call: copy what you keep."""


MAX_LATENCY_S = 1.0
"""The longest lookahead a performer may set."""


def lookahead(fps: float, max_latency: float, batch: int) -> int:
    """How many frames the lookahead may draw ahead: those due within ``max_latency`` seconds, at most
    ``batch`` (at ``fps`` 0, as fast as they render: ``batch`` when there is a lookahead)."""
    if max_latency <= 0:
        return 0
    if fps <= 0:
        return batch
    return min(batch, math.floor(max_latency * fps + 1e-9))


@dataclass
class EngineConfig:
    device: str = "auto"
    """auto (cuda > mps > cpu), cuda, cuda:N, mps or cpu."""
    precision: str = "auto"
    """auto (fp16 on CUDA/MPS, bf16 on a CPU with bf16 arithmetic, else fp32), fp32, fp16 or bf16."""
    fps: float = 30.0
    """Target frame rate; 0 renders as fast as the model allows (benchmarks)."""
    size: tuple[int, int] | None = None
    """Output (width, height); None keeps the model's resolution. Other sizes are scaled to cover and
    centre-cropped on the device."""
    threads: int | None = None
    """CPU threads of the forward pass: a fixed count, or None to tune them as the frame times say
    (bridge/threads.py). Only on the CPU."""
    compile: bool = False
    """Compile each model's forward pass in the background (torch.compile) and play it once ready; the
    eager one plays meanwhile and whenever compiling fails (bridge/renderer.py FastPath)."""
    max_latency: float = 0.0
    """The lookahead (``--max-latency-ms``, in seconds here): how long before its tick a frame may be drawn.
    Above 0, while nothing moves the picture but the walk, the engine draws the frames due within this
    time ahead, in one batch (at most ``batch`` frames) when batches are measured faster per frame here,
    and sends each on its tick; any control change drops the frames drawn ahead, so a fader never waits
    for them. 0: each frame drawn on its tick."""
    batch: int = 4
    """The most frames the lookahead draws in one pass."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fps) and 0 <= self.fps <= 240):
            raise ValueError(f"fps must be between 0 and 240, got {self.fps}")
        if not (math.isfinite(self.max_latency) and 0 <= self.max_latency <= MAX_LATENCY_S):
            raise ValueError(f"the lookahead's latency must be 0 to {MAX_LATENCY_S * 1e3:g} ms, "
                             f"got {self.max_latency * 1e3:g}")
        if not 1 <= self.batch <= 16:
            raise ValueError(f"a batch must be 1 to 16 frames, got {self.batch}")
        if self.size is not None:
            w, h = self.size
            lo, hi = OUTPUT_SIDES
            if not (lo <= w <= hi and lo <= h <= hi):
                raise ValueError(f"output size must be {lo}..{hi} pixels per side, got {w}x{h}")


@dataclass
class _Frame:
    """A frame submitted to the renderer and not yet published: what publishing it needs."""

    pending: object
    """The renderer's :class:`Pending`."""
    snap: Snapshot
    prev: Moment
    """The frame before's moment (a pulse is sent when a beat falls between the two)."""
    moment: Moment
    taken: float
    """When its moment was read from the clock (Unix seconds)."""
    started: float
    cpu: float
    """``time.perf_counter()`` and ``time.process_time()`` when it was submitted."""
    index: int | None = None
    """Its place in the batch it was drawn in (None: drawn alone)."""
    count: int = 1
    """How many frames its pass drew."""
    timed: bool = False
    """Whether its pass's render time was noted already (frames drawn ahead: when they were drawn)."""
    stale: float = math.inf
    """A frame drawn ahead: the clock's seconds after which its tick is long gone and it is dropped."""


class BatchChooser:
    """Whether drawing the next frames in one batch raises throughput on this machine, now: it keeps the
    render time per frame of the last passes of one frame and of batches, and batches while batches are
    measured faster per frame (by GAIN at least). Batches are tried first; the side not chosen is measured
    again every RETRY frames (the machine's load changes), and both afresh when the thread count or the
    compiled state changes (:meth:`forget`)."""

    PASSES = 8
    """Passes of each kind measured before choosing."""
    GAIN = 0.95
    RETRY = 600

    def __init__(self) -> None:
        self.forced: bool | None = None
        """Batches (True) or single frames (False) whatever is measured (the bench); None: as measured."""
        self._times: dict[bool, collections.deque[float]] = {
            batched: collections.deque(maxlen=2 * self.PASSES) for batched in (False, True)}
        self._frames = 0

    def record(self, frames: int, seconds: float) -> None:
        """One pass: ``frames`` drawn in ``seconds``."""
        self._times[frames > 1].append(seconds / frames)
        self._frames += frames
        if self._frames >= self.RETRY:  # measure the side not chosen again
            self._frames = 0
            self._times[not self.batches].clear()

    @property
    def batches(self) -> bool:
        if self.forced is not None:
            return self.forced
        single, batched = self._times[False], self._times[True]
        if len(batched) < self.PASSES:
            return True
        if len(single) < self.PASSES:
            return False
        return statistics.median(batched) < self.GAIN * statistics.median(single)

    def seconds(self, frames: int) -> float:
        """What a pass of ``frames`` measured (the median per frame, times ``frames``); 0 before any."""
        times = self._times[frames > 1]
        return frames * statistics.median(times) if times else 0.0

    def forget(self) -> None:
        for times in self._times.values():
            times.clear()
        self._frames = 0


AHEAD_PAUSE_FRAMES = 300
"""After a pass drawn ahead fails, the frames the lookahead waits before it tries again."""
AHEAD_SLACK_S = 0.001
"""A frame drawn ahead is dropped when the clock moved its beat by more than this since (a tap, a resync)."""
SHARED_CPU = 0.6
"""Below this share of its render threads' time while rendering, the CPU is shared with other work."""
PACE_WINDOW_S = 1.0
"""The frame rate (status, the "behind" flag) is measured over this many seconds of frames."""



class Engine:
    def __init__(
        self,
        model: LoadedModel,
        *,
        config: EngineConfig | None = None,
        control: ControlState | None = None,
        sinks: Sequence[FrameSink] = (),
        presets: PresetStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        renderer: Renderer | None = None,
        music: TempoClock | None = None,
        report: Callable[..., None] | None = None,
        on_resize: Callable[[int, int, int], None] | None = None,
        tempo_source: Callable[[str], object | None] | None = None,
        on_pulse: Callable[[str, int], None] | None = None,
        modulation: Modulation | None = None,
    ):
        self.config = config or EngineConfig()
        self.control = control or ControlState()
        self.sinks = list(sinks)
        self.presets = presets
        self.clock = clock
        self.report: Callable[..., None] = report or _log_report
        """Where problems applying a control go: (address, reason, the controller that asked), and
        ``warning=True`` for a change that was made but does not work out as asked."""
        self.on_resize = on_resize
        """Called on the render thread with (width, height, channels) before the output size or channel count
        changes (the server makes a new ring); raising keeps the old format."""
        self.tempo_source = tempo_source or _no_outside_source
        """tempo/source -> what the clock follows (None: internal and osc); raises when it cannot be had."""
        self.on_pulse = on_pulse
        """Called on the render thread with ("beat" or "bar", its number) when a frame crosses one and
        tempo/pulse asks for it."""
        self.modulation = modulation or Modulation()
        """The routes that bend continuous parameters each frame, on top of what the performer set."""
        self.renderer = renderer or Renderer(self.config.device, self.config.precision, compile=self.config.compile)
        """Owns the device: every forward pass of a playing model goes through it."""
        self.threads = ThreadTuner(self.config.threads) if self.renderer.device.type == "cpu" else None
        """The CPU render threads' tuner (None on a GPU, where the CPU's threads hardly matter)."""
        self._compiling = False  # a playing model compiles (the tuner waits)
        if self.threads is not None:
            self.renderer.thread_counts = self.threads.likely  # asked when a compile starts: the count now first
        most = lookahead(self.config.fps, self.config.max_latency, self.config.batch)
        if most > 1:  # compiled for the lookahead's batch too (models/kinds that can be batched)
            self.renderer.batches = (1, most)
        self.batching = BatchChooser()
        """Whether the lookahead's batches are faster per frame here, measured."""
        self._ahead: collections.deque[_Frame] = collections.deque()
        """Frames drawn ahead (the lookahead), each waiting for its tick."""
        self._measured: tuple = ()  # what the chooser measured at (threads, size, the decks drawn, compiled)
        self._last: _Frame | None = None  # the last frame begun or taken from those drawn ahead
        self._ahead_paused = 0  # the lookahead waits until this many frames are out (a pass ahead failed)
        self.drawn_together = 1
        """Frames the last pass drew (the lookahead's batch, or 1)."""
        self.width, self.height = self.config.size or (model.resolution, model.resolution)
        self._rng = np.random.default_rng()
        self._pending_models: dict[str, tuple[Prepared, bool]] = {}  # deck -> (model, cross to it)
        self._pending_lock = threading.Lock()
        self._writer = PresetWriter(presets, failed=self._write_failed) if presets is not None else None

        snap = self.control.snapshot()
        self.music = music or TempoClock(self.clock, bpm=snap["tempo/bpm"])
        """The walks' time, asked once a frame (pacing, when to render, goes by ``clock``)."""
        self._prev = Moment(0.0, 0.0, 0.0, self.music.bpm, self.music.quantum)  # the clock starts here
        self._waits: dict[tuple, float] = {}  # what waits for a quantise boundary -> that position
        self._cross_waiting: float | None = None  # model/blend's cross, waiting for the boundary
        self._bpm_told = (self.music.bpm, -math.inf)
        self._shown = (self._prev, 0.0, 0.0)  # the last frame's moment, when it was taken, when drawn
        self._fade = Smoother(snap["output/fade"])
        self._cross = Smoother(snap["crossfade"])
        self._crossfade = self._cross.value  # the crossfader as drawn: modulated on top of what was set
        self._tau = snap["smoothing"]
        self._applied = dict(snap.serials)
        prepared = self.prepare(model)
        self.decks = {deck: Deck(prepared, self.control, t=self._prev, names=_names_of(deck), rng=self._rng)
                      for deck in DECKS}
        """Decks A and B, each with its model, its walk, its knobs; both start with the same model."""
        self.channels = prepared.channels
        for deck in DECKS:
            self._install(deck, prepared, snap, self._prev)
        self._applied["output/size"] = self.control.set("output/size", (self.width, self.height))
        self._applied["output/fps"] = self.control.set(
            "output/fps", float(self.config.fps) if self.config.fps > 0 else 240.0)

        self._frame_times: collections.deque[float] = collections.deque(maxlen=90)
        self.frames = 0
        self.frame_errors = 0
        self.last_error = ""
        self.behind = False
        self._renders: collections.deque[tuple[float, float]] = collections.deque(maxlen=30)
        """The last frames' (render seconds, share of the render threads' time the process had)."""
        self._behind_since: float | None = None
        self._warned_behind = False
        self._reformatted: tuple[str, object, float] = ("", None, -math.inf)

    # ---- models ----------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.renderer.device

    @property
    def dtype(self) -> torch.dtype:
        return self.renderer.dtype

    def prepare(self, model: LoadedModel) -> Prepared:
        """The renderer's :meth:`Renderer.prepare`: safe from another thread while the current model plays;
        CheckpointError for a model that cannot be played."""
        return self.renderer.prepare(model)

    def swap_model(self, prepared: Prepared, *, deck: str | None = None, cross: bool = False) -> None:
        """Play a prepared model on a deck (the selected one by default) from the next frame on; with
        ``cross``, then cross the crossfader to that deck over ``crossfade/time``. Any thread."""
        with self._pending_lock:
            self._pending_models[deck or self.control.selected] = (prepared, cross)

    def _install(self, deck: str, prepared: Prepared, snap: Snapshot, t: Moment) -> None:
        model = prepared.model
        self.decks[deck].install(prepared, snap, t)
        self.control.latent_dims[deck] = model.latent_dim
        self.control.model_kinds[deck] = model.kind
        self.control.model_classes[deck] = int(getattr(model.config, "c_dim", 0))
        self.control.set(deck_name(deck, "model/name"), model.name)
        channels = max(d.prepared.channels for d in self.decks.values())
        if channels != self.channels:  # RGB <-> RGBA: the outputs are made anew, as for a resize
            self._reformat(self.width, self.height, channels, source=None, address="/lvj/model/load")

    @property
    def deck(self) -> Deck:
        """The selected deck (the one the addresses without a deck address)."""
        return self.decks[self.control.selected]

    # ---- one frame -------------------------------------------------------------------------------

    def render(self, z: np.ndarray, *, fade: float = 1.0, truncation: float = 1.0) -> np.ndarray:
        """The image for one latent point of the selected deck's model: uint8 (height, width, channels)."""
        return self.renderer.render([(self.deck.prepared, z, 1.0, truncation)], width=self.width,
                                    height=self.height, channels=self.channels, fade=fade)

    def layers(self, t: float | Moment) -> list[tuple[Prepared, np.ndarray, float]]:
        """What the crossfader shows at ``t``: one deck at either end (only it is drawn), both blended in
        between."""
        return [(deck.prepared, deck.latent(t), weight, deck.truncation, deck.styling(t))
                for deck, weight in self._drawn()]

    def _drawn(self) -> list[tuple[Deck, float]]:
        """The decks the crossfader shows now, each with its weight: one at either end, both in between."""
        b = min(1.0, max(0.0, self._crossfade))
        return [(deck, weight) for deck, weight in ((self.decks["a"], 1.0 - b), (self.decks["b"], b)) if weight > 0.0]

    # The selected deck's parts, as the engine's own (what a patch made before there were decks sees).
    @property
    def prepared(self) -> Prepared:
        return self.deck.prepared

    @property
    def model(self) -> LoadedModel:
        return self.deck.model

    @property
    def model_id(self) -> str:
        return self.deck.prepared.id

    @property
    def directions(self) -> np.ndarray:
        return self.deck.prepared.directions

    @property
    def walker(self):
        return self.deck.walker

    def latent(self, t: float | Moment) -> np.ndarray:
        """The latent point the selected deck draws at ``t``."""
        return self.deck.latent(t)

    def step(self, t: float | Moment | None = None) -> np.ndarray | None:
        """Render and publish the frame for time ``t`` (a Moment of the tempo clock, or seconds since start;
        the clock's now by default). Returns the frame, or None when it failed (logged and counted)."""
        return self._publish(self._begin(t))

    def _begin(self, t: float | Moment | None = None) -> _Frame | None:
        """The frame for time ``t``: controls applied, decks moved on, its layers submitted to the renderer;
        None when that failed (logged and counted)."""
        m = self.music.moment() if t is None else moment_of(t)
        if t is None and (m.seconds < self._prev.seconds or m.beat < self._prev.beat):
            m = self._prev  # frames drawn ahead went out before their moments (flat out): time never runs back
        taken = time.time()
        prev, self._prev = self._prev, m
        dt = max(0.0, m.seconds - prev.seconds)
        try:
            snap = self.control.snapshot()
            with self._pending_lock:
                pending, self._pending_models = self._pending_models, {}
            for deck, (prepared, cross) in pending.items():
                self._install(deck, prepared, snap, m)
                if cross:
                    self._cross_waiting = 1.0 if deck == "b" else 0.0
            self._apply(snap, prev, m)
            for deck in self.decks.values():
                deck.advance(snap, m, dt, tau=self._tau)
            self._cross.step(m.seconds, dt, self._tau)
            self._fade.step(m.seconds, dt, self._tau)
            modulated = self.modulation.apply(m, dt, self._base) if self.modulation.routes else {}
            for name, deck in self.decks.items():
                deck.modulate({base: v for (d, base), v in _by_deck(modulated).items() if d == name}, m)
            self._crossfade = modulated.get("crossfade", self._cross.value)
            started, cpu = time.perf_counter(), time.process_time()
            pending = self.renderer.submit(self.layers(m), width=self.width, height=self.height,
                                           channels=self.channels, fade=modulated.get("output/fade", self._fade.value))
        except Exception as exc:  # one bad frame must not end the performance
            self._last = None  # nothing is drawn ahead of it
            self._frame_failed(exc)
            return None
        self._last = _Frame(pending, snap, prev, m, taken, started, cpu)
        return self._last

    def _can_draw_ahead(self, room: float) -> int:
        """How many frames the lookahead draws ahead of the last one now, in ``room`` seconds: none unless
        those frames are known (nothing set since the last frame was begun, nothing that moves the picture
        under way: :meth:`_ahead_count`)."""
        last = self._last
        if last is None or self.control.writes != last.snap.writes or self.frames < self._ahead_paused:
            return 0
        return self._ahead_count(room)

    def _draw_ahead(self, count: int) -> None:
        """The lookahead: once a frame is out, the frames of the next ``count`` ticks drawn now, in one
        pass, each to go out on its own tick (on time: drawn before it comes)."""
        last = self._last
        period = self._period()
        moments = [last.moment.later(k * period) for k in range(1, count + 1)]
        try:
            started, cpu = time.perf_counter(), time.process_time()
            pending = self.renderer.submit(self.layers_at(moments), width=self.width, height=self.height,
                                           channels=self.channels, fade=self._fade.value)
            pending.result()  # the loop has nothing else to do before the next tick: the pass's time, measured
        except Exception as exc:  # each tick draws its own frame for a while (no failing pass every frame)
            self._ahead_paused = self.frames + AHEAD_PAUSE_FRAMES
            log.warning("drawing %d frames ahead failed (%s: %s); each frame is drawn on its tick for the next "
                        "%d frames", count, type(exc).__name__, exc, AHEAD_PAUSE_FRAMES)
            return
        self._note_render(time.perf_counter() - started, time.process_time() - cpu, count, ahead=True)
        stale = max(self.config.max_latency, period)  # late by more than this: its tick is long gone
        self._ahead.extend(_Frame(pending, last.snap, moments[k - 1] if k else last.moment, moments[k],
                                  last.taken + (k + 1) * period, started, cpu, index=k, count=count, timed=True,
                                  stale=moments[k].seconds + stale)
                           for k in range(count))

    def _ahead_count(self, room: float = math.inf) -> int:
        """How many frames the lookahead draws ahead now, in a pass that must end within ``room`` seconds
        (before the next tick): none while something that moves the picture is under way (a knob gliding,
        a route, a crossfade still drawn where a route left it, a change waiting for its boundary, a model
        waiting, a tempo clock that follows MIDI or Link or corrects its phase) or while a model compiles;
        else the most the latency allows (and the largest batch each model is compiled for), or one when
        batches are not measured faster per frame here (:class:`BatchChooser`); fewer, or none, when the
        pass measured so far would not end in time (a frame drawn ahead would then go out late)."""
        count = lookahead(self.config.fps, self.config.max_latency, self.config.batch)
        if count == 0 or self.modulation.active or self._waits or self._cross_waiting is not None \
                or self._pending_models or self._crossfade != self._cross.value \
                or not (self._cross.at_rest and self._fade.at_rest and self.music.steady):
            return 0
        for deck in self.decks.values():
            fast = deck.prepared.fast
            if not deck.at_rest or fast.state == "compiling":
                return 0
            if fast.function is not None:
                count = max(b for b in fast.batches if b <= count)
        if count > 1 and not self.batching.batches:
            count = 1
        while count > 0 and self.batching.seconds(count) > room:
            count = 1 if count > 1 else 0
        return count

    def _period(self) -> float:
        """The time between frames: the target's, or as fast as they render when that is slower (the last
        frames' median)."""
        rendered = statistics.median(w for w, _ in self._renders) if self._renders else 0.0
        return max(1.0 / self.config.fps if self.config.fps > 0 else 0.0, rendered)

    def layers_at(self, moments: Sequence[Moment]) -> list[tuple]:
        """:meth:`layers` for several moments, drawn in one batch: each deck's latents stacked (decks at
        rest, so that the walk alone moves them, and a StyleGAN's styling is the same for them all)."""
        return [(deck.prepared, deck.latents(moments), weight, deck.truncation, deck.styling(moments[0]))
                for deck, weight in self._drawn()]

    def _still_ahead(self) -> bool:
        """Whether the next frame drawn ahead still shows what its tick would draw: nothing was set, no model
        waits, no route was made, and the clock still gives the moments it was drawn at (a tap, a beat or
        a tempo from elsewhere moves them). Else the frames drawn ahead are dropped."""
        frame = self._ahead[0]
        if self.control.writes != frame.snap.writes or self._pending_models or self.modulation.active:
            return False
        now = self.music.moment()
        if now.seconds > frame.stale:
            return False  # its tick is long gone (the loop was held up)
        drawn = frame.moment  # where a steady clock would be now, from there: as many beats on as seconds went
        went = drawn.seconds_to_beats(now.seconds - drawn.seconds)
        slack = drawn.seconds_to_beats(AHEAD_SLACK_S)
        return (now.bpm == drawn.bpm and abs(now.position - drawn.position - went) <= slack
                and abs(now.beat - drawn.beat - went) <= slack)

    def _publish(self, frame: _Frame | None) -> np.ndarray | None:
        """Wait for a submitted frame and hand it to every sink. Returns it, or None."""
        if frame is None:
            return None
        snap, prev, m, taken = frame.snap, frame.prev, frame.moment, frame.taken
        try:
            pixels = frame.pending.result()
        except Exception as exc:  # the device failed after the frame was submitted
            self._ahead.clear()  # the rest of its batch with it
            self._frame_failed(exc)
            return None
        if frame.index is not None:
            pixels = pixels[frame.index]
        if not frame.timed:  # the pass's time: from submitted to on the host (on CUDA the device's time)
            self._note_render(time.perf_counter() - frame.started, time.process_time() - frame.cpu, frame.count)
        timestamp = time.time()
        self._shown = (m, taken, timestamp)  # one tuple: status never pairs one frame's beat with another's time
        for sink in self.sinks:
            try:
                sink.write(pixels, timestamp=timestamp)
            except Exception as exc:
                self._frame_failed(exc, where=type(sink).__name__)
        self.frames += 1
        self._frame_times.append(self.clock())
        self._pulse(snap, prev, m)
        return pixels

    def _changed(self, snap: Snapshot, name: str) -> bool:
        """Whether ``name`` was set since the engine last applied it (serials only grow: a value the engine
        published itself after this snapshot was taken counts as applied)."""
        serial = snap.serials[name]
        if serial <= self._applied.get(name, -1):
            return False
        self._applied[name] = serial
        return True

    def _apply(self, snap: Snapshot, prev: Moment, m: Moment) -> None:
        """Apply what changed in the snapshot since the last frame: the deck's parameters by the deck, the
        output's, the tempo's and the presets' here. What starts something waits for the quantise
        boundary when quantise is on, and starts exactly on it."""
        self._tau = snap["smoothing"]
        self._apply_tempo(snap)
        due, held = self._quantise(snap, prev, m)
        for (deck, name), at in sorted(due.items(), key=lambda item: item[1].position):
            if deck is None:
                self._apply_engine(snap, at, (name,))
            else:
                self.decks[deck].apply(snap, at, tau=self._tau, only=(name,))
        for name, deck in self.decks.items():
            deck.apply(snap, m, tau=self._tau, held=tuple(n for d, n in held if d == name))
        t = m.seconds
        if self._changed(snap, "output/fade"):
            self._fade.set(snap["output/fade"], t=t)
        if self._changed(snap, "crossfade"):
            self._cross.set(snap["crossfade"], t=t)
        if self._changed(snap, "output/fps"):
            self.config.fps = snap["output/fps"]
        if self._changed(snap, "output/size") and snap["output/size"] is not None:
            self._resize(*snap["output/size"], snap.sources["output/size"])
        for deck in DECKS:
            store = deck_name(deck, "preset/store")
            if self._changed(snap, store):
                self._store_preset(deck, snap[store], snap, m, snap.sources[store])
        if self._changed(snap, "scene/store"):
            self._store_scene(snap["scene/store"], snap, m, snap.sources["scene/store"])
        self._apply_engine(snap, m, tuple(n for d, n in _ENGINE_QUANTISED if (d, n) not in held))

    def _apply_engine(self, snap: Snapshot, m: Moment, names: tuple[str, ...]) -> None:
        """The engine's own changes that can wait for a boundary, at moment ``m``."""
        for name in names:
            if name == "cross":
                # model/blend crosses once the model is ready: also compiled, when it compiles (the cross
                # would otherwise draw it uncompiled beside its compile, and frames come late meanwhile)
                target = None if self._cross_waiting is None else self.decks["b" if self._cross_waiting else "a"]
                if target is not None and target.prepared.fast.state != "compiling":
                    self._cross_to(self._cross_waiting, m.seconds, self._seconds(snap, "crossfade/time", m))
                    self._cross_waiting = None
            elif self._changed(snap, name):
                if name == "crossfade/go":
                    self._cross_to(0.0 if self._cross.target >= 0.5 else 1.0, m.seconds,
                                   self._seconds(snap, "crossfade/time", m))
                elif name == "scene/recall":
                    self._recall_scene(snap[name], snap, m, snap.sources[name])
                else:
                    deck = name.split("/")[1]
                    self._recall_preset(deck, snap[name], snap, m, snap.sources[name])

    def _waiting(self, snap: Snapshot) -> list[tuple[str | None, str]]:
        """What was sent since it was last applied, of the changes quantise holds back."""
        waiting = [(name, n) for name, deck in self.decks.items()
                   for n in deck.waiting(snap, _DECK_QUANTISED)]
        waiting += [(None, n) for _, n in _ENGINE_QUANTISED
                    if n != "cross" and snap.serials[n] > self._applied.get(n, -1)]
        if self._cross_waiting is not None:
            waiting.append((None, "cross"))
        return waiting

    def _quantise(self, snap: Snapshot, prev: Moment, m: Moment) -> tuple[dict, set]:
        """The quantised changes whose boundary has come (-> the moment of their boundary) and those still
        waiting; with quantise off, nothing waits."""
        grid = quantum_beats(snap["quantise"], m.quantum)
        if grid <= 0:
            self._waits.clear()
            return {}, set()
        due, held = {}, set()
        for key in self._waiting(snap):
            # The boundary after the last frame before the change came: it can fall between two frames,
            # and then the change starts between them, exactly on it.
            boundary = self._waits.setdefault(key, next_boundary(prev.position, grid))
            if boundary <= m.position:
                due[key] = _between(prev, m, boundary)
                del self._waits[key]
            else:
                held.add(key)
        for key in [k for k in self._waits if k not in held]:
            del self._waits[key]
        return due, held

    def _base(self, name: str) -> float:
        """A continuous parameter as the performer set it and the engine smoothed it (what routes add to)."""
        if name == "crossfade":
            return self._cross.value
        if name == "output/fade":
            return self._fade.value
        deck, base = split_deck(name)
        return self.decks[deck].smoothers[base].value

    def _seconds(self, snap: Snapshot, name: str, m: Moment) -> float:
        """A transition time in seconds: its beats parameter at the tempo now when that is set."""
        beats = snap[TIMED[name]]
        return m.beats_to_seconds(beats) if beats > 0 else float(snap[name])

    # ---- tempo -----------------------------------------------------------------------------------

    def _apply_tempo(self, snap: Snapshot) -> None:
        clock = self.music
        if self._changed(snap, "tempo/source") and snap["tempo/source"] != clock.source:
            try:
                clock.set_source(snap["tempo/source"], self.tempo_source(snap["tempo/source"]))
            except Exception as exc:  # no MIDI port, no Link package
                self.report("/lvj/tempo/source", str(exc), snap.sources["tempo/source"])
                self._applied["tempo/source"] = self.control.set("tempo/source", clock.source)
            else:
                log.info("tempo from %s", clock.source)
        if self._changed(snap, "tempo/bpm") and abs(snap["tempo/bpm"] - clock.bpm) > 1e-6:
            if not clock.takes_tempo:
                self.report("/lvj/tempo/bpm", "the MIDI clock sets the tempo (tempo/source midi)",
                            snap.sources["tempo/bpm"])
            else:
                clock.set_bpm(snap["tempo/bpm"])
        if self._changed(snap, "tempo/latency"):
            clock.latency = snap["tempo/latency"] / 1000.0
        peers = clock.peers or 0
        if peers != self.control.get("tempo/peers"):
            self.control.set("tempo/peers", peers)
        bpm, when = self._bpm_told
        now = self.clock()
        if abs(clock.bpm - bpm) > 0.05 and now - when > 0.25:  # a source moved it: echoed, not per frame
            self._bpm_told = (clock.bpm, now)
            self._applied["tempo/bpm"] = self.control.set("tempo/bpm", round(clock.bpm, 3))

    def _pulse(self, snap: Snapshot, prev: Moment, m: Moment) -> None:
        kind = snap["tempo/pulse"]
        if kind == "off" or self.on_pulse is None:
            return
        grid = 1.0 if kind == "beat" else float(m.quantum)
        number = math.floor(m.position / grid + 1e-9)
        if number > math.floor(prev.position / grid + 1e-9):
            try:
                self.on_pulse(kind, int(number))
            except Exception as exc:
                log.warning("could not send the %s pulse: %s", kind, exc)

    def _cross_to(self, target: float, t: float, seconds: float) -> None:
        """Glide the crossfader to ``target`` over ``seconds`` (echoed)."""
        self._cross.set(target, t=t, ramp=seconds)
        self._applied["crossfade"] = self.control.set("crossfade", target)

    def _reformat(self, width: int, height: int, channels: int, *, source, address: str) -> bool:
        """Change the output size or channels: the outputs are made anew first (``on_resize``), and only
        when that worked does the engine draw the new format; else the old one plays on and the error is
        reported to ``source``."""
        if (width, height, channels) == (self.width, self.height, self.channels):
            return True
        if self.on_resize is not None:
            try:
                self.on_resize(width, height, channels)
            except Exception as exc:  # no memory, no file descriptors (EMFILE), a name taken...
                log.warning("could not make the outputs at %dx%d: %s", width, height, exc)
                self.report(address, f"could not make the outputs at {width}x{height} ({exc}); still "
                            f"{self.width}x{self.height}", source)
                return False
        self.width, self.height, self.channels = width, height, channels
        log.info("output %dx%d, %s", width, height, "RGBA" if channels == 4 else "RGB")
        self._reformatted = (address, source, self.clock())  # told if this size cannot hold the frame rate
        return True

    def _resize(self, width: int, height: int, source) -> None:
        if not self._reformat(width, height, self.channels, source=source, address="/lvj/output/size"):
            self._applied["output/size"] = self.control.set("output/size", (self.width, self.height))

    # ---- presets ---------------------------------------------------------------------------------

    def _store_preset(self, deck: str, slot: int, snap: Snapshot, t: Moment, source) -> None:
        if self.presets is None:
            self.report("/lvj/preset/store", "presets are off (no presets file)", source)
            return
        preset = self.decks[deck].preset(slot, snap, t,
                                         stored=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        try:
            self.presets.put(preset)  # recallable at once; the file is written by the preset writer
        except PresetError as exc:
            self.report("/lvj/preset/store", str(exc), source)
            return
        self.control.set(deck_name(deck, "preset/current"), slot)
        self._writer.request(source)

    def _store_scene(self, slot: int, snap: Snapshot, t: Moment, source) -> None:
        if self.presets is None:
            self.report("/lvj/scene/store", "presets are off (no presets file)", source)
            return
        stored = datetime.now(timezone.utc).isoformat(timespec="seconds")
        scene = Scene(slot=slot, decks={name: deck.preset(slot, snap, t, stored=stored)
                                        for name, deck in self.decks.items()},
                      crossfade=min(1.0, max(0.0, self._cross.target)), stored=stored)
        try:
            self.presets.put_scene(scene)
        except PresetError as exc:
            self.report("/lvj/scene/store", str(exc), source)
            return
        self.control.set("scene/current", slot)
        self._writer.request(source)

    def _recall_scene(self, slot: int, snap: Snapshot, m: Moment, source) -> None:
        if self.presets is None:
            self.report("/lvj/scene/recall", "presets are off (no presets file)", source)
            return
        try:
            scene = self.presets.get_scene(slot)
            for name, deck in self.decks.items():
                if name not in scene.decks:
                    raise PresetError(f"scene {slot} holds no deck {name.upper()}")
                try:
                    deck.check(scene.decks[name], self.presets)
                except PresetError as exc:
                    raise PresetError(f"scene {slot}, deck {name.upper()}: {exc} (load it there first: "
                                      f"/lvj/deck/{name}/model/load {scene.decks[name].model})") from None
        except PresetError as exc:
            self.report("/lvj/scene/recall", str(exc), source)
            return
        seconds = self._seconds(snap, "preset/time", m)
        self.control.set("scene/current", slot)
        for name, deck in self.decks.items():
            deck.recall(scene.decks[name], m, seconds=seconds)
        self._cross_to(scene.crossfade, m.seconds, seconds)

    def _write_failed(self, exc: Exception, source) -> None:
        self.report("/lvj/preset/store", f"could not write the presets file: {exc}", source)

    def close(self, timeout: float = 5.0) -> None:
        """Write the presets still in memory only (one write, at most ``timeout`` s) and end the writer."""
        if self._writer is not None:
            self._writer.close(timeout)

    def _recall_preset(self, deck: str, slot: int, snap: Snapshot, m: Moment, source) -> None:
        if self.presets is None:
            self.report("/lvj/preset/recall", "presets are off (no presets file)", source)
            return
        try:
            preset = self.presets.get(slot)
            self.decks[deck].check(preset, self.presets)
        except PresetError as exc:
            self.report("/lvj/preset/recall", str(exc), source)
            return
        seconds = self._seconds(snap, "preset/time", m)
        self.control.set(deck_name(deck, "preset/current"), slot)
        self.decks[deck].recall(preset, m, seconds=seconds)
        if "output/fade" in preset.params:
            self._fade.set(preset.params["output/fade"], t=m.seconds, ramp=seconds)
        self._tau = preset.params.get("smoothing", self._tau)

    def _frame_failed(self, exc: Exception, *, where: str = "render") -> None:
        self.frame_errors += 1
        message = f"{where}: {type(exc).__name__}: {exc}"
        # The first failure and every new kind of failure get a traceback; repeats are counted, not spammed.
        if message != self.last_error:
            log.error("frame %d failed (%s); rendering goes on", self.frames + 1, message, exc_info=exc)
        self.last_error = message

    # ---- the clock -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """One untimed render, so first-call costs (kernel selection, allocations) do not hit the clock."""
        self.render(self.deck.latent(self.music.moment()))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def run(self, stop: threading.Event) -> None:
        """Render until ``stop`` is set: on the target frame rate's ticks, or back to back when the model
        is slower than that. With a renderer that draws while the host goes on (CUDA), a frame that is
        behind its tick stays in flight while the next one is prepared and submitted, so the device never
        waits for the host; with time to spare each frame goes out as soon as it is drawn (no latency
        added)."""
        next_tick = self.clock()
        in_flight: _Frame | None = None
        self._ahead.clear()  # drawn for the ticks of an earlier run
        try:
            while not stop.is_set():
                wait = next_tick - self.clock()
                if wait > 0 and in_flight is not None:  # time to spare again: the frame in flight goes out
                    self._publish(in_flight)
                    in_flight = None
                    wait = next_tick - self.clock()
                if wait > 0 and stop.wait(wait):
                    break
                if self._ahead and self._still_ahead():  # drawn ahead for this tick
                    frame = self._last = self._ahead.popleft()
                    self._prev = frame.moment
                else:
                    self._ahead.clear()
                    frame = self._begin()
                if in_flight is not None:
                    self._publish(in_flight)
                    in_flight = None
                period = 1.0 / self.config.fps if self.config.fps > 0 else 0.0  # /lvj/output/fps may change it
                next_tick += period
                now = self.clock()
                if now - next_tick > period:
                    next_tick = now  # late by more than a frame: carry on from now, never burst to catch up
                if frame is not None and self.renderer.asynchronous and next_tick <= now:
                    in_flight = frame  # behind: the next frame is prepared while the device draws this one
                else:
                    self._publish(frame)
                if not self._ahead and self.config.max_latency > 0 and (count := self._can_draw_ahead(
                        next_tick - self.clock() if self.config.fps > 0 else math.inf)):
                    if in_flight is not None:  # out first: a pass ahead may take its buffer (CUDA's two pinned ones)
                        self._publish(in_flight)
                        in_flight = None
                    self._draw_ahead(count)
                self._check_pace(now)
        finally:
            self._publish(in_flight)

    def _check_pace(self, now: float) -> None:
        if self.config.fps <= 0 or len(self._frame_times) < 3:
            return
        slow = self.fps < 0.9 * self.config.fps
        if slow and self._behind_since is None:
            self._behind_since = now
        elif not slow:
            self._behind_since = None
        # Say so once the shortfall has lasted two seconds (a single hiccup is not news).
        self.behind = self._behind_since is not None and now - self._behind_since >= 2.0
        if self.behind and not self._warned_behind:
            log.warning("output at %.1f fps, below the target %.1f fps: rendering as fast as it can (%s)",
                        self.fps, self.config.fps, self._behind_advice())
            self._warned_behind = True
            address, source, when = self._reformatted
            if address == "/lvj/output/size" and now - when < 10.0:  # the change that asked too much
                self.report(address, f"{self.width}x{self.height} renders at {self.fps:.1f} fps on "
                            f"{describe(self.device)}, below the target {self.config.fps:g} fps: rendering as "
                            "fast as it can (a smaller size holds the target)", source, warning=True)
        elif not self.behind and self._warned_behind and self._behind_since is None:
            log.info("back on the target %.1f fps", self.config.fps)
            self._warned_behind = False

    def _note_render(self, wall: float, cpu: float, frames: int = 1, *, ahead: bool = False) -> None:
        """One pass's render of ``frames`` frames: its wall time and the CPU time the process had meanwhile
        (for the thread tuner, for telling why frames are behind and, for a pass ``ahead``, the lookahead's
        chooser: it compares passes drawn the same way, at rest, never a frame drawn while things move)."""
        threads = self.threads.threads if self.threads else 1
        share = cpu / (wall * threads) if wall > 0 else 1.0
        self._renders.extend([(wall / frames, share)] * frames)
        self.drawn_together = frames
        # While a playing model compiles, its frames measure the compile beside them, not the machine: the
        # tuner waits; and what it measured of the uncompiled pass says nothing of the compiled one.
        compiling = any(deck.prepared.fast.state == "compiling" for deck in self.decks.values())
        if ahead:  # batches against single frames: at one thread count and size, the same decks drawn as played
            measured = (threads, self.width, self.height,
                        tuple((deck.prepared.id, deck.prepared.fast.state) for deck, _ in self._drawn()))
            if measured != self._measured:
                self._measured = measured
                self.batching.forget()
            self.batching.record(frames, wall)
        if self.threads is None:
            return
        if compiling != self._compiling:
            self._compiling = compiling
            self.threads.forget()
        if not compiling:
            for _ in range(frames):
                self.threads.record(wall / frames, 1.0 / self.config.fps if self.config.fps else 0.0)

    def _behind_advice(self) -> str:
        """Why frames are behind, from what the last frames' renders took: the loop kept from running, the
        CPU shared while rendering, or a model too slow for the size."""
        period = 1.0 / self.fps if self.fps > 0 else float("inf")
        wall = statistics.median(w for w, _ in self._renders) if self._renders else 0.0
        share = statistics.median(s for _, s in self._renders) if self._renders else 1.0
        if wall < 0.8 * period:
            return (f"a frame renders in {wall * 1e3:.1f} ms but comes every {period * 1e3:.0f} ms: other work keeps "
                    "the CPU busy and LatentVJ's loop waits for it; free a core for LatentVJ, or a lower --fps")
        if self.device.type == "cpu" and share < SHARED_CPU:
            return (f"other work keeps the CPU busy: LatentVJ had {share:.0%} of its render threads' time while "
                    "rendering; free a core for LatentVJ, or --threads 1")
        side = self.model.resolution
        if self.width * self.height > side * side:
            return (f"the model draws {side}x{side} and is scaled up to {self.width}x{self.height}: a smaller "
                    "--size or a lower --fps holds the target")
        return (f"the model at {self.width}x{self.height} takes {wall * 1e3:.0f} ms a frame on "
                f"{describe(self.device)}, too slow for this target: a lower --fps holds it, a smaller model or "
                "a GPU is faster")

    @property
    def fps(self) -> float:
        """Frames per second over the last PACE_WINDOW_S seconds (at least the last two frames), falling
        at once when frames stop coming."""
        times = self._frame_times
        if len(times) < 2:
            return 0.0
        last = times[-1]
        first = len(times) - 2  # the window: from the oldest frame within PACE_WINDOW_S of the last
        while first > 0 and last - times[first - 1] <= PACE_WINDOW_S:
            first -= 1
        span = last - times[first]
        if span <= 0:
            return 0.0
        rate = (len(times) - 1 - first) / span
        silent = self.clock() - last
        return min(rate, 1.0 / silent) if silent > span / (len(times) - 1 - first) else rate

    def tempo_status(self) -> dict:
        """The clock as the last frame saw it: ``beat`` is the timeline's position that frame draws, taken
        from the clock at ``beat_time`` and drawn by ``frame_time`` (Unix seconds), so two nodes' beats can be
        compared at one moment."""
        (m, taken, drawn), clock = self._shown, self.music
        return {"bpm": round(clock.bpm, 3), "source": clock.source, "following": clock.following,
                "note": clock.note, "peers": clock.peers, "beat": round(m.position, 4),
                "bar": math.floor(m.bar + 1e-9) + 1, "beat_in_bar": math.floor(m.phase(m.quantum) * m.quantum) + 1,
                "phase": round(m.phase(), 4), "playing": m.playing, "quantum": m.quantum,
                "latency_ms": round(clock.latency * 1000.0, 1), "resyncs": clock.resyncs,
                "beat_time": taken, "frame_time": drawn}

    def status(self) -> dict:
        meta = self.model.metadata
        return {
            "model": meta.get("name", self.model.path.stem if self.model.path else "?"),
            "kind": self.model.kind,
            "random_init": bool(meta.get("random_init", False)),
            "device": describe(self.device),
            "precision": str(self.dtype).removeprefix("torch."),
            "width": self.width,
            "height": self.height,
            "target_fps": self.config.fps,
            "fps": round(self.fps, 2),
            "behind": self.behind,
            "threads": self.threads.threads if self.threads else None,
            "lookahead": lookahead(self.config.fps, self.config.max_latency, self.config.batch),
            "batch": self.drawn_together,
            "compiled": self.prepared.fast.state,
            "frame": self.frames,
            **self.deck.status(),
            "latent_dim": self.model.latent_dim,
            "deck": self.control.selected,
            "crossfade": round(self._crossfade, 4),
            "modulated": {name: round(value, 4) for name, value in self.modulation.last.items()}
                         if self.modulation.routes else {},
            "decks": {name: {"model": deck.model.name, "kind": deck.model.kind, "latent_dim": deck.model.latent_dim,
                             **deck.status()} for name, deck in self.decks.items()},
            "tempo": self.tempo_status(),
            "bpm": round(self.music.bpm, 3),
            "tempo_source": self.music.source,
            "quantise": self.control.get("quantise"),
            "frame_errors": self.frame_errors,
            "last_error": self.last_error,
        }
