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
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np
import torch

from datetime import datetime, timezone

from latentvj.models.checkpoint import LoadedModel
from latentvj.models.walks import Walker, ease

from .control.state import ControlState, Snapshot
from .device import describe
from .control.params import DIRECTIONS, OUTPUT_SIDES, PARAMS
from .renderer import Prepared, Renderer
from .control.presets import PRESET_PARAMS, Preset, PresetError, PresetStore, PresetWriter

log = logging.getLogger("latentvj.engine")


def _log_report(address: str, reason: str, source, *, warning: bool = False) -> None:
    log.warning("%s: %s", address, reason)


class FrameSink(Protocol):
    def write(self, pixels: np.ndarray, *, timestamp: float | None = None) -> object:
        """Take one uint8 HxWxC frame. The array is only valid during the call: copy what you keep."""


@dataclass
class EngineConfig:
    device: str = "auto"
    """auto (cuda > mps > cpu), cuda, cuda:N, mps or cpu."""
    precision: str = "auto"
    """auto (fp16 on CUDA/MPS, fp32 on CPU), fp32, fp16 or bf16."""
    fps: float = 30.0
    """Target frame rate; 0 renders as fast as the model allows (benchmarks)."""
    size: tuple[int, int] | None = None
    """Output (width, height); None keeps the model's resolution. Other sizes are scaled to cover and
    centre-cropped on the device."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fps) and 0 <= self.fps <= 240):
            raise ValueError(f"fps must be between 0 and 240, got {self.fps}")
        if self.size is not None:
            w, h = self.size
            lo, hi = OUTPUT_SIDES
            if not (lo <= w <= hi and lo <= h <= hi):
                raise ValueError(f"output size must be {lo}..{hi} pixels per side, got {w}x{h}")


PACE_WINDOW_S = 1.0
"""The frame rate (status, the "behind" flag) is measured over this many seconds of frames."""

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

    def step(self, t: float, dt: float, tau: float) -> float:
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


# Walker setters, in the order a snapshot's changes are applied (morph time first: a seed sent in the same
# frame morphs with the new time).
_WALK_SETTERS = (
    ("morph/time", "set_morph_time"),
    ("walk/period", "set_period"),
    ("walk/mode", "set_mode"),
)
_SMOOTHED = tuple(p.name for p in PARAMS if p.smooth and p.name != "z/N")


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
    ):
        self.config = config or EngineConfig()
        self.control = control or ControlState()
        self.sinks = list(sinks)
        self.presets = presets
        self.clock = clock
        self.report: Callable[..., None] = _log_report
        """Where problems applying a control go: (address, reason, the controller that asked), and
        ``warning=True`` for a change that was made but does not work out as asked."""
        self.on_resize: Callable[[int, int, int], None] | None = None
        """Called on the render thread with (width, height, channels) before the output size or channel count
        changes (the server makes a new ring); raising keeps the old format."""
        self.renderer = renderer or Renderer(self.config.device, self.config.precision)
        """Owns the device: every forward pass of a playing model goes through it."""
        self.width, self.height = self.config.size or (model.resolution, model.resolution)
        self._rng = np.random.default_rng()
        self._pending_model: Prepared | None = None
        self._pending_lock = threading.Lock()
        self._writer = PresetWriter(presets, failed=self._write_failed) if presets is not None else None

        snap = self.control.snapshot()
        self._t_start = self.clock()  # walk time 0; walk time only moves forward, across runs too
        self._t_prev = 0.0
        self._smoothers = {name: Smoother(snap[name]) for name in _SMOOTHED}
        self._tau = snap["smoothing"]
        self._applied = dict(snap.serials)
        self._install(self.prepare(model), snap, 0.0)
        self._applied["output/size"] = self.control.set("output/size", (self.width, self.height))
        self._applied["output/fps"] = self.control.set(
            "output/fps", float(self.config.fps) if self.config.fps > 0 else 240.0)

        self._frame_times: collections.deque[float] = collections.deque(maxlen=90)
        self.frames = 0
        self.frame_errors = 0
        self.last_error = ""
        self.behind = False
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

    def swap_model(self, prepared: Prepared) -> None:
        """Play a prepared model from the next frame on (any thread)."""
        with self._pending_lock:
            self._pending_model = prepared

    def _install(self, prepared: Prepared, snap: Snapshot, t: float) -> None:
        model = prepared.model
        self.prepared = prepared
        self.model = model
        self.directions = prepared.directions
        channels = prepared.channels
        if not hasattr(self, "channels"):
            self.channels = channels
        self.model_id = prepared.id
        walker = getattr(self, "walker", None)
        if walker is None or walker.dim != model.latent_dim:
            # A new latent space: start a walk there with the current settings (the image changes anyway).
            self.walker = Walker(
                model.latent_dim, seed=snap["seed"], mode=snap["walk/mode"], speed=self._speed(),
                period=snap["walk/period"], morph_time=snap["morph/time"], t0=t,
            )
        self.control.latent_dim = model.latent_dim
        self.control.model_kind = model.kind
        self.control.set("model/name", model.name)
        if channels != self.channels:  # RGB <-> RGBA: the outputs are made anew, as for a resize
            self._reformat(self.width, self.height, channels, source=None, address="/lvj/model/load")

    # ---- one frame -------------------------------------------------------------------------------

    def render(self, z: np.ndarray, *, fade: float = 1.0) -> np.ndarray:
        """The image for one latent point of the playing model: uint8 (height, width, channels)."""
        return self.renderer.render([(self.prepared, z, 1.0)], width=self.width, height=self.height,
                                    channels=self.channels, fade=fade)

    def latent(self, t: float) -> np.ndarray:
        """The latent point the model draws at walk time ``t``: the walk, moved along the direction knobs,
        scaled by truncation (GAN) or temperature (VAE)."""
        z = self.walker.at(t)
        knobs = np.array([self._smoothers[f"direction/{k}"].value for k in range(1, DIRECTIONS + 1)],
                         dtype=np.float32)
        if knobs.any():
            z = z + knobs @ self.directions
        scale = self._smoothers["truncation" if self.model.kind == "gan" else "temperature"].value
        return z if scale == 1.0 else z * np.float32(scale)

    def step(self, t: float | None = None) -> np.ndarray | None:
        """Render and publish the frame for walk time ``t`` (seconds since start; now by default).
        Returns the frame, or None when it failed (the failure is logged and counted)."""
        if t is None:
            t = self.clock() - self._t_start
        dt, self._t_prev = max(0.0, t - self._t_prev), t
        try:
            snap = self.control.snapshot()
            with self._pending_lock:
                pending, self._pending_model = self._pending_model, None
            if pending is not None:
                self._install(pending, snap, t)
            self._apply(snap, t)
            for smoother in self._smoothers.values():
                smoother.step(t, dt, self._tau)
            speed = self._speed()
            if speed != self.walker.speed:
                self.walker.set_speed(speed, t)
            pixels = self.render(self.latent(t), fade=self._smoothers["output/fade"].value)
        except Exception as exc:  # one bad frame must not end the performance
            self._frame_failed(exc)
            return None
        timestamp = time.time()
        for sink in self.sinks:
            try:
                sink.write(pixels, timestamp=timestamp)
            except Exception as exc:
                self._frame_failed(exc, where=type(sink).__name__)
        self.frames += 1
        self._frame_times.append(self.clock())
        return pixels

    def _speed(self) -> float:
        return 0.0 if self.control.get("walk/freeze") else self._smoothers["walk/speed"].value

    def _changed(self, snap: Snapshot, name: str) -> bool:
        if snap.serials[name] == self._applied.get(name):
            return False
        self._applied[name] = snap.serials[name]
        return True

    def _apply(self, snap: Snapshot, t: float) -> None:
        """Apply what changed in the snapshot since the last frame."""
        self._tau = snap["smoothing"]
        for name, setter in _WALK_SETTERS:
            if self._changed(snap, name) and snap[name] != getattr(self.walker, setter[4:]):
                getattr(self.walker, setter)(snap[name], t)
        if self._changed(snap, "seed"):
            self.walker.set_seed(snap["seed"], t)  # a trigger: the same seed again morphs back in hold
        if self._changed(snap, "walk/randomise"):
            seed = int(self._rng.integers(0, 2**31 - 1))
            self.walker.set_seed(seed, t)
            self._applied["seed"] = self.control.set("seed", seed)  # echoed: controllers show the new seed
        for name in _SMOOTHED:
            if self._changed(snap, name):
                self._smoothers[name].set(snap[name], t=t)
        if self._changed(snap, "z") and snap["z"] is not None:
            self._hold_at(np.asarray(snap["z"], dtype=np.float32), t, seconds=None)
        if self._changed(snap, "z/N"):
            items = self.control.take_items("z/N")
            if items:
                point = self.walker.at(t)
                for index, value in items.items():
                    if index < point.shape[0]:
                        point[index] = value
                self._hold_at(point, t, seconds=3 * self._tau)
        if self._changed(snap, "output/fps"):
            self.config.fps = snap["output/fps"]
        if self._changed(snap, "output/size") and snap["output/size"] is not None:
            self._resize(*snap["output/size"], snap.sources["output/size"])
        if self._changed(snap, "preset/store"):
            self._store_preset(snap["preset/store"], snap, t, snap.sources["preset/store"])
        if self._changed(snap, "preset/recall"):
            self._recall_preset(snap["preset/recall"], t, snap.sources["preset/recall"])

    def _hold_at(self, point: np.ndarray, t: float, *, seconds: float | None) -> None:
        self.walker.set_point(point, t, seconds=seconds)
        if self.control.get("walk/mode") != "hold":
            self._applied["walk/mode"] = self.control.set("walk/mode", "hold")  # echoed; already holding

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

    def _store_preset(self, slot: int, snap: Snapshot, t: float, source) -> None:
        if self.presets is None:
            self.report("/lvj/preset/store", "presets are off (no presets file)", source)
            return
        params = {name: snap[name] for name in PRESET_PARAMS if snap[name] is not None}
        preset = Preset(slot=slot, model=self.model.name, model_id=self.model_id,
                        latent=tuple(float(v) for v in self.walker.at(t)), params=params,
                        stored=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        try:
            self.presets.put(preset)  # recallable at once; the file is written by the preset writer
        except PresetError as exc:
            self.report("/lvj/preset/store", str(exc), source)
            return
        self.control.set("preset/current", slot)
        self._writer.request(source)

    def _write_failed(self, exc: Exception, source) -> None:
        self.report("/lvj/preset/store", f"could not write the presets file: {exc}", source)

    def close(self, timeout: float = 5.0) -> None:
        """Write the presets still in memory only (one write, at most ``timeout`` s) and end the writer."""
        if self._writer is not None:
            self._writer.close(timeout)

    def _recall_preset(self, slot: int, t: float, source) -> None:
        if self.presets is None:
            self.report("/lvj/preset/recall", "presets are off (no presets file)", source)
            return
        try:
            preset = self.presets.get(slot)
            self.presets.check_model(preset, self.model.name, self.model_id, latent_dim=self.model.latent_dim)
        except PresetError as exc:
            self.report("/lvj/preset/recall", str(exc), source)
            return
        seconds = float(self.control.get("preset/time"))
        params = dict(preset.params)
        # The walk first: a preset made in hold returns to its exact point; one made while moving resumes
        # its motion (seed, mode, period) around its seed. Either way over preset/time. Then the values,
        # whose echoes controllers may answer with a status request: it must already show the preset.
        mode = params.get("walk/mode", self.walker.mode)
        self.walker.set_morph_time(seconds, t)
        self.walker.set_period(params.get("walk/period", self.walker.period), t)
        self.walker.set_seed(params.get("seed", self.walker.seed), t)
        if mode == "hold":
            self.walker.set_point(np.asarray(preset.latent, dtype=np.float32), t, seconds=seconds)
        else:
            self.walker.set_mode(mode, t)
        self.walker.set_morph_time(params.get("morph/time", self.control.get("morph/time")), t)
        self._tau = params.get("smoothing", self._tau)
        self.control.set("preset/current", slot)
        for name, value in params.items():
            if name in self._smoothers:
                self._smoothers[name].set(value, t=t, ramp=seconds)
            self._applied[name] = self.control.set(name, value)  # echoed; applied right here

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
        self.render(self.walker.at(max(0.0, self.clock() - self._t_start)))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def run(self, stop: threading.Event) -> None:
        """Render until ``stop`` is set: on the target frame rate's ticks, or back to back when the model
        is slower than that."""
        next_tick = self.clock()
        while not stop.is_set():
            wait = next_tick - self.clock()
            if wait > 0 and stop.wait(wait):
                break
            self.step()
            period = 1.0 / self.config.fps if self.config.fps > 0 else 0.0  # /lvj/output/fps may change it
            next_tick += period
            now = self.clock()
            if now - next_tick > period:
                next_tick = now  # late by more than a frame: carry on from now, never burst to catch up
            self._check_pace(now)

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

    def _behind_advice(self) -> str:
        side = self.model.resolution
        if self.width * self.height > side * side:
            return (f"the model draws {side}x{side} and is scaled up to {self.width}x{self.height}: a smaller "
                    "--size or a lower --fps holds the target")
        return (f"the model at {self.width}x{self.height} is too slow for this target on "
                f"{describe(self.device)}, or other work keeps the CPU busy: a lower --fps holds it, or free a "
                "core for LatentVJ")

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
            "frame": self.frames,
            "mode": self.walker.mode,
            "seed": self.walker.seed,
            "latent_dim": self.model.latent_dim,
            "speed": self.walker.speed,
            "frame_errors": self.frame_errors,
            "last_error": self.last_error,
        }
