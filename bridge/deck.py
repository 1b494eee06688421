"""A deck: one model and the performer's hands on its latent space.

Each frame the engine gives a deck the control snapshot and the walk time; the deck applies what changed
(walk mode, speed, period, seed, a latent point, direction knobs, truncation or temperature) and answers
with the latent point its model draws: the walk, moved along the direction knobs, scaled by truncation (a
GAN) or temperature (a VAE). It also makes and recalls presets of itself. No I/O, no threads, no device:
time comes in as an argument, so a deck is tested with a fake clock.

A deck reads its parameters from the state under the names ``names`` gives it, so that several decks can
live side by side in one registry; values it decides itself (a random seed, the switch to hold when a latent
point comes, a recalled preset) it writes back to the state, which echoes them to the controllers.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

import torch

from latentvj.models.kinds import KINDS, Styling
from latentvj.models.walks import Walker, ease, seed_latent

from .control.params import DIRECTIONS, PARAMS
from .control.presets import PRESET_PARAMS, Preset, PresetStore
from .control.state import ControlState, Snapshot
from .clock import Moment
from .renderer import Prepared


class Smoother:
    """A continuous parameter that glides to its target: exponentially with the smoothing time constant
    (frame-rate independent: the step depends on elapsed time, not on frames), or along an eased ramp of
    a fixed length (preset recalls)."""

    def __init__(self, value: float):
        self.value = self.target = float(value)
        self._ramp: tuple[float, float, float] | None = None  # (from, start time, seconds)

    def set(self, target: float, *, t: float, ramp: float | None = None) -> None:
        target = float(target)
        if ramp is not None and ramp > 0:
            self._ramp = (self.value, t, ramp)
        elif ramp is not None:  # a ramp of 0 s: a cut
            self.value, self._ramp = target, None
        elif target != self.target:
            self._ramp = None  # a new value from a controller takes over from a recall's ramp
        self.target = target

    @property
    def at_rest(self) -> bool:
        """Whether it holds its value (no glide, no ramp under way)."""
        return self._ramp is None and self.value == self.target

    def step(self, t: float, dt: float, tau: float) -> float:
        if self._ramp is None and self.value == self.target:  # at rest: most of them, most frames
            return self.value
        if self._ramp is not None:
            start, t0, seconds = self._ramp
            u = min(1.0, max(0.0, (t - t0) / seconds))
            self.value = start + (self.target - start) * ease(u)
            if u >= 1.0:
                self._ramp = None
        elif tau <= 0 or dt >= 20 * tau:
            self.value = self.target
        else:
            self.value += (self.target - self.value) * (1.0 - math.exp(-dt / tau))
            if abs(self.target - self.value) < 1e-6:
                self.value = self.target
        return self.value


SMOOTHED = tuple(p.name for p in PARAMS if p.smooth and p.deck == "*" and p.name != "z/N")
"""A deck's continuous parameters, which glide over the smoothing time."""
_KNOBS = tuple(f"direction/{k}" for k in range(1, DIRECTIONS + 1))
_TIMING = ("morph/time", "morph/beats", "walk/period", "walk/beats")
_STYLE = ("walk/space", "style/seed", "style/layers", "sg3/translate", "class")
"""The StyleGAN controls that apply at once (noise, style/mix and sg3/rotate glide: SMOOTHED)."""


def moment_of(t: float | Moment) -> Moment:
    """A frame's time as a Moment; a bare number of seconds is taken at 120 BPM from beat 0 (tests, and
    callers with no tempo clock)."""
    if isinstance(t, Moment):
        return t
    t = float(t)
    return Moment(seconds=t, beat=2.0 * t, position=2.0 * t, bpm=120.0)


def same_names(name: str) -> str:
    """The names of the one deck: its parameters under their own names."""
    return name


class Deck:
    def __init__(self, prepared: Prepared, control: ControlState, *, t: float | Moment = 0.0,
                 names: Callable[[str], str] = same_names, rng: np.random.Generator | None = None):
        """
        Args:
            prepared: the model it starts with (from the renderer).
            control: the state it reads its parameters from (one snapshot a frame) and writes the values it
                decides to.
            t: the time it starts at (a Moment of the tempo clock, or seconds).
            names: a deck parameter's name (``walk/speed``) -> its name in the state.
            rng: where random seeds come from (``/lvj/walk/randomise``).
        """
        self.control = control
        self.names = names
        self._rng = rng or np.random.default_rng()
        snap = control.snapshot()
        self._applied = {name: snap.serials[names(name)] for name in OWN_NAMES}
        self._seen = -1  # the state's writes as of the last frame that applied all changes
        self.smoothers = {name: Smoother(snap[names(name)]) for name in SMOOTHED}
        self.walker: Walker | None = None
        self.in_beats = False
        """Whether the walk runs on the beat (walk/beats > 0) or on seconds."""
        self._timeline = 0.0  # the shared timeline's offset the walk in beats was started on
        self.modulated: dict[str, float] = {}
        """This frame's modulated values (routes on top of the smoothed ones), by the deck's own names."""
        self._style = {name: snap[names(name)] for name in _STYLE}
        """The StyleGAN controls that are not smoothed, as last applied."""
        self._mix: tuple[int, torch.Tensor] | None = None  # (style/seed, its point)
        self._classes: tuple[np.ndarray, np.ndarray, float, float] | None = None  # from, to, start, seconds
        self.install(prepared, snap, t)

    def _get(self, snap: Snapshot, name: str) -> Any:
        return snap[self.names(name)]

    def _publish(self, name: str, value: Any) -> None:
        """Write a value the deck decided to the state (it is echoed) and take it as applied."""
        self._applied[name] = self.control.set(self.names(name), value)

    # ---- the walk's time -------------------------------------------------------------------------

    def walk_time(self, t: float | Moment) -> float:
        """The walker's clock at ``t``: the beat for a walk in beats, else seconds."""
        m = moment_of(t)
        return m.beat if self.in_beats else m.seconds

    def _period(self, snap: Snapshot) -> float:
        beats = self._get(snap, "walk/beats")
        return beats if beats > 0 else self._get(snap, "walk/period")

    def _to_walk(self, m: Moment, seconds: float, beats: float = 0.0) -> float:
        """A duration given in seconds, or in beats when ``beats`` > 0, on the walker's clock."""
        if beats > 0:
            return beats if self.in_beats else m.beats_to_seconds(beats)
        return m.seconds_to_beats(seconds) if self.in_beats else seconds

    def _morph(self, snap: Snapshot, m: Moment) -> float:
        return self._to_walk(m, self._get(snap, "morph/time"), self._get(snap, "morph/beats"))

    def _phase(self, snap: Snapshot, m: Moment) -> float:
        """Where a walk in beats is at ``m``: the position on the shared timeline, shifted by walk/offset."""
        return m.position + snap["walk/offset"] if self.in_beats else 0.0

    def _restart(self, snap: Snapshot, m: Moment, point: np.ndarray | None) -> None:
        """A new walker with the current settings, on the deck's clock from ``m``, starting from ``point``
        (the image goes on from where it is) or on the walk."""
        old = self.walker
        self._timeline = m.position - m.beat + snap["walk/offset"]
        self.walker = Walker(
            self.prepared.model.latent_dim, seed=old.seed if old else self._get(snap, "seed"),
            mode=old.mode if old else self._get(snap, "walk/mode"), speed=self.speed(snap),
            period=self._period(snap), morph_time=self._morph(snap, m),
            keyframes=old.keyframes if old else None, t0=self.walk_time(m), phase=self._phase(snap, m),
            start_from=point)

    # ---- the model -------------------------------------------------------------------------------

    def install(self, prepared: Prepared, snap: Snapshot, t: float | Moment) -> None:
        """Play ``prepared`` from now on; a latent space of another size starts a new walk there with the
        current settings (the image changes anyway)."""
        self.prepared = prepared
        if self.walker is None or self.walker.dim != prepared.model.latent_dim:
            self.walker = None
            self.in_beats = self._get(snap, "walk/beats") > 0
            self._restart(snap, moment_of(t), None)

    @property
    def model(self):
        return self.prepared.model

    # ---- one frame -------------------------------------------------------------------------------

    def _changed(self, snap: Snapshot, name: str) -> bool:
        """Whether ``name`` was set since the deck last applied it (serials only grow: a value the deck
        published itself after this snapshot was taken counts as applied)."""
        serial = snap.serials[self.names(name)]
        if serial <= self._applied.get(name, -1):
            return False
        self._applied[name] = serial
        return True

    def waiting(self, snap: Snapshot, names: tuple[str, ...]) -> list[str]:
        """Which of ``names`` were set since the deck last applied them (without applying them)."""
        return [name for name in names if snap.serials[self.names(name)] > self._applied.get(name, -1)]

    def apply(self, snap: Snapshot, t: float | Moment, *, tau: float, held: tuple[str, ...] = (),
              only: tuple[str, ...] | None = None) -> None:
        """Apply what changed in the snapshot since the last frame (``tau``: the smoothing time). ``held``:
        changes that wait (for a quantise boundary); ``only``: apply just these (the ones whose boundary
        has come, at its moment)."""
        m = moment_of(t)
        if only is None and not held and snap.writes == self._seen:
            changed = set()  # nothing was set since the last frame
        else:
            names = only if only is not None else OWN_NAMES
            changed = {name for name in names if name not in held and self._changed(snap, name)}
            if only is None and not held:
                self._seen = snap.writes
        in_beats = self._get(snap, "walk/beats") > 0
        moved = self.in_beats and abs(m.position - m.beat + snap["walk/offset"] - self._timeline) > 1e-9
        if in_beats != self.in_beats or moved:  # the walk changes clocks, or its timeline moved
            point = self.walker.at(self.walk_time(m))
            self.in_beats = in_beats
            self._restart(snap, m, point)
        t = self.walk_time(m)
        walker = self.walker
        if changed & {"morph/time", "morph/beats"}:
            walker.set_morph_time(self._morph(snap, m), t)
        if changed & {"walk/period", "walk/beats"}:
            walker.set_period(self._period(snap), t)
        if "walk/mode" in changed and self._get(snap, "walk/mode") != walker.mode:
            walker.set_mode(self._get(snap, "walk/mode"), t)
        if "seed" in changed:
            walker.set_seed(self._get(snap, "seed"), t)  # a trigger: the same seed again morphs back in hold
        if "walk/randomise" in changed:
            seed = int(self._rng.integers(0, 2**31 - 1))
            walker.set_seed(seed, t)
            self._publish("seed", seed)  # echoed: controllers show the new seed
        for name in SMOOTHED:
            if name in changed:
                self.smoothers[name].set(self._get(snap, name), t=m.seconds)
        for name in _STYLE:
            if name in changed:
                if name == "class":
                    self._morph_class(int(self._get(snap, name)), m.seconds, self._get(snap, "morph/time"))
                self._style[name] = self._get(snap, name)
        if "z" in changed and self._get(snap, "z") is not None:
            self._hold_at(np.asarray(self._get(snap, "z"), dtype=np.float32), t, seconds=None)
        if "z/N" in changed:
            items = self.control.take_items(self.names("z/N"))
            if items:
                point = walker.at(t)
                for index, value in items.items():
                    if index < point.shape[0]:
                        point[index] = value
                self._hold_at(point, t, seconds=self._to_walk(m, 3 * tau))

    def advance(self, snap: Snapshot, t: float | Moment, dt: float, *, tau: float) -> None:
        """Move the smoothers on to time ``t`` (``dt`` seconds after the last frame) and set the walk's
        speed."""
        m = moment_of(t)
        for smoother in self.smoothers.values():
            smoother.step(m.seconds, dt, tau)
        speed = self.speed(snap)
        if speed != self.walker.speed:
            self.walker.set_speed(speed, self.walk_time(m))

    def speed(self, snap: Snapshot) -> float:
        """The walk's speed: the smoothed speed knob, or 0 while frozen."""
        return 0.0 if self._get(snap, "walk/freeze") else self.smoothers["walk/speed"].value

    def value(self, name: str) -> float:
        """A continuous parameter as this frame draws it: modulated when a route bends it, else smoothed."""
        return self.modulated.get(name, self.smoothers[name].value)

    def modulate(self, values: dict[str, float], t: float | Moment) -> None:
        """This frame's modulated values; a modulated walk speed moves the walk clock (never the point)."""
        self.modulated = values
        if "walk/speed" in values and not self.control.get(self.names("walk/freeze")) \
                and values["walk/speed"] != self.walker.speed:
            self.walker.set_speed(values["walk/speed"], self.walk_time(t))

    @property
    def at_rest(self) -> bool:
        """Whether its next frames are its walk's alone, known ahead (the engine's lookahead): no knob
        gliding, no route bending one, and for a StyleGAN one styling for them all (no animated noise, no
        class morph under way)."""
        if self.modulated or not all(smoother.at_rest for smoother in self.smoothers.values()):
            return False
        return not KINDS[self.model.kind].styled or (self.value("noise") <= 0 and
                                                     (self._classes is None or self._classes[3] <= 0))

    def latent(self, t: float | Moment) -> np.ndarray:
        """The latent point the model draws at ``t``: the walk, moved along the direction knobs. The model
        applies its latent knob (:attr:`truncation`) itself, as its kind says. Walking in W (a StyleGAN's
        ``walk/space w``), the point is coordinates on W's principal axes and knob k moves the k-th."""
        return self._knobbed(self.walker.at(self.walk_time(t)))

    def latents(self, moments: list[Moment]) -> np.ndarray:
        """:meth:`latent` at each of ``moments`` (the lookahead's batch; the knobs at rest), (frames, dim)."""
        return self._knobbed(np.stack([self.walker.at(self.walk_time(m)) for m in moments]))

    def _knobbed(self, z: np.ndarray) -> np.ndarray:
        """Points (dim,) or (frames, dim) moved along the direction knobs as they are now."""
        knobs = np.array([self.value(name) for name in _KNOBS], dtype=np.float32)
        if knobs.any():
            if self._in_w():
                z = z.copy()
                dims = min(DIRECTIONS, z.shape[-1])
                z[..., :dims] += knobs[:dims]
            else:
                z = z + knobs @ self.prepared.directions
        return z

    def _in_w(self) -> bool:
        space = self.prepared.w_space
        return (self._style["walk/space"] == "w" and space is not None
                and space.axes.shape[0] == self.model.latent_dim)

    def styling(self, t: float | Moment) -> Styling | None:
        """How a StyleGAN draws this deck's point at ``t`` (None for other kinds): W or z, the noise and the
        walk's time for it, the style mix, StyleGAN3's transform, the class."""
        if not KINDS[self.model.kind].styled:
            return None
        s = self._style
        mix = None
        if s["style/layers"] != "off":
            if self._mix is None or self._mix[0] != s["style/seed"] or self._mix[1].shape[0] != self.model.latent_dim:
                self._mix = (s["style/seed"], torch.from_numpy(seed_latent(s["style/seed"], self.model.latent_dim)))
            mix = self._mix[1]
        classes = int(getattr(self.model.config, "c_dim", 0))
        c = None
        if classes:
            c = torch.from_numpy(self._class_weights(moment_of(t).seconds, classes))
        return Styling(space="w" if self._in_w() else "z", w_space=self.prepared.w_space,
                       noise=self.value("noise"), noise_time=self.walk_time(t), mix=mix,
                       mix_layers=s["style/layers"], mix_amount=self.value("style/mix"),
                       translate=tuple(s["sg3/translate"]), rotate=self.value("sg3/rotate"), c=c)

    def _morph_class(self, new: int, now: float, seconds: float) -> None:
        classes = int(getattr(self.model.config, "c_dim", 0))
        if not classes:
            return
        target = np.zeros(classes, np.float32)
        target[min(new, classes - 1)] = 1.0
        self._classes = (self._class_weights(now, classes), target, now, max(0.0, float(seconds)))

    def _class_weights(self, now: float, classes: int) -> np.ndarray:
        """The class weights at ``now``: the class set, eased in from the one before over morph/time."""
        if self._classes is None or self._classes[0].shape[0] != classes:
            first = np.zeros(classes, np.float32)
            first[min(int(self._style["class"]), classes - 1)] = 1.0
            self._classes = (first, first, now, 0.0)
        before, after, start, seconds = self._classes
        if seconds > 0 and now - start >= seconds:  # arrived
            self._classes = (after, after, now, 0.0)
            return after.astype(np.float32)
        u = 1.0 if seconds <= 0 else ease((now - start) / seconds)
        return (before + (after - before) * u).astype(np.float32)

    @property
    def truncation(self) -> float:
        """The value of the model's latent knob: truncation (a GAN), temperature (a VAE)."""
        return self.value(KINDS[self.model.kind].knob)

    def _hold_at(self, point: np.ndarray, t: float, *, seconds: float | None) -> None:
        self.walker.set_point(point, t, seconds=seconds)
        if self.control.get(self.names("walk/mode")) != "hold":
            self._publish("walk/mode", "hold")  # echoed; already holding

    # ---- presets ---------------------------------------------------------------------------------

    def preset(self, slot: int, snap: Snapshot, t: float | Moment, *, stored: str) -> Preset:
        """This deck as a preset: its latent point now and every parameter of its look."""
        params = {name: self._get(snap, name) for name in PRESET_PARAMS if self._get(snap, name) is not None}
        return Preset(slot=slot, model=self.model.name, model_id=self.prepared.id,
                      latent=tuple(float(v) for v in self.walker.at(self.walk_time(t))), params=params,
                      stored=stored)

    def check(self, preset: Preset, presets: PresetStore) -> None:
        """PresetError when the preset was made with another model than this deck's."""
        presets.check_model(preset, self.model.name, self.prepared.id, latent_dim=self.model.latent_dim)

    def recall(self, preset: Preset, t: float | Moment, *, seconds: float) -> None:
        """Go to a preset over ``seconds``: a preset made in hold returns to its exact point; one made while
        moving resumes its motion (seed, mode, period) around its seed. The walk first, then the values,
        whose echoes controllers may answer with a status request: it must already show the preset."""
        m = moment_of(t)
        params = dict(preset.params)
        snap = self.control.snapshot()
        in_beats = params.get("walk/beats", 0.0) > 0
        if in_beats != self.in_beats:
            point = self.walker.at(self.walk_time(m))
            self.in_beats = in_beats
            self._restart(snap, m, point)
        walker = self.walker
        t = self.walk_time(m)
        mode = params.get("walk/mode", walker.mode)
        walker.set_morph_time(self._to_walk(m, seconds), t)
        beats = params.get("walk/beats", 0.0)
        walker.set_period(beats if beats > 0 else params.get("walk/period", walker.period), t)
        walker.set_seed(params.get("seed", walker.seed), t)
        if mode == "hold":
            walker.set_point(np.asarray(preset.latent, dtype=np.float32), t, seconds=self._to_walk(m, seconds))
        else:
            walker.set_mode(mode, t)
        walker.set_morph_time(self._to_walk(m, params.get("morph/time", self._get(snap, "morph/time")),
                                            params.get("morph/beats", self._get(snap, "morph/beats"))), t)
        for name, value in params.items():
            if name in self.smoothers:
                self.smoothers[name].set(value, t=m.seconds, ramp=seconds)
            self._publish(name, value)

    def status(self) -> dict:
        return {"mode": self.walker.mode, "seed": self.walker.seed, "speed": self.walker.speed,
                "walk_in": "beats" if self.in_beats else "seconds"}


OWN_NAMES = (*_TIMING, "walk/mode", "seed", "walk/randomise", "z", "z/N", *_STYLE, *SMOOTHED)
"""The deck parameters whose serials a deck follows."""
