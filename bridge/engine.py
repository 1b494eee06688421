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
import torch.nn.functional as F

from latentvj.models.checkpoint import LoadedModel
from latentvj.models.walks import Walker

from .control import ControlState, Snapshot
from .device import describe, pick_device, pick_dtype

log = logging.getLogger("latentvj.engine")


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
        if not (math.isfinite(self.fps) and 0 <= self.fps <= 1000):
            raise ValueError(f"fps must be between 0 and 1000, got {self.fps}")
        if self.size is not None:
            w, h = self.size
            if not (16 <= w <= 8192 and 16 <= h <= 8192):
                raise ValueError(f"output size must be 16..8192 pixels per side, got {w}x{h}")


# Walker setters, in the order a snapshot's changes are applied (morph time first: a seed sent in the same
# frame morphs with the new time). "seed" is a trigger: sending the same seed again morphs back to it.
_WALK_SETTERS = (
    ("morph/time", "set_morph_time"),
    ("walk/speed", "set_speed"),
    ("walk/period", "set_period"),
    ("walk/mode", "set_mode"),
    ("seed", "set_seed"),
)
_TRIGGERS = {"seed"}


class Engine:
    def __init__(
        self,
        model: LoadedModel,
        *,
        config: EngineConfig | None = None,
        control: ControlState | None = None,
        sinks: Sequence[FrameSink] = (),
        clock: Callable[[], float] = time.monotonic,
    ):
        self.model = model
        self.config = config or EngineConfig()
        self.control = control or ControlState()
        self.sinks = list(sinks)
        self.clock = clock
        self.device = pick_device(self.config.device)
        self.dtype = pick_dtype(self.device, self.config.precision)
        self.network = model.network.to(device=self.device, dtype=self.dtype).eval()
        self.width, self.height = self.config.size or (model.resolution, model.resolution)
        self.channels = int(getattr(model.config, "channels", 3))

        snap = self.control.snapshot()
        self.walker = Walker(
            model.latent_dim, seed=snap["seed"], mode=snap["walk/mode"], speed=snap["walk/speed"],
            period=snap["walk/period"], morph_time=snap["morph/time"], t0=0.0,
        )
        self._applied = dict(snap.serials)
        self._host: torch.Tensor | None = None  # pinned staging buffer for CUDA -> host copies
        self._t_start = self.clock()  # walk time 0; walk time only moves forward, across runs too
        self._frame_times: collections.deque[float] = collections.deque(maxlen=90)
        self.frames = 0
        self.frame_errors = 0
        self.last_error = ""
        self.behind = False
        self._behind_since: float | None = None
        self._warned_behind = False

    # ---- one frame -------------------------------------------------------------------------------

    @torch.inference_mode()
    def render(self, z: np.ndarray) -> np.ndarray:
        """The image for one latent point: uint8 (height, width, channels), top row first."""
        if z.shape != (self.model.latent_dim,):
            raise ValueError(f"expected a latent of shape ({self.model.latent_dim},), got {z.shape}")
        latent = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))[None]
        image = self.model.render(latent.to(self.device, self.dtype))[0]
        image = self._fit(image)
        # To uint8 once, on the device, in as few operations as possible (each costs a dispatch on CPU).
        pixels = image.float().add(1.0).mul_(127.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
        if self.device.type == "cuda":
            if self._host is None or self._host.shape != pixels.shape:
                self._host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True)
            self._host.copy_(pixels, non_blocking=True)
            torch.cuda.current_stream(self.device).synchronize()
            return self._host.numpy()
        return pixels.cpu().numpy()

    def _fit(self, image: torch.Tensor) -> torch.Tensor:
        """Scale the model's square image to cover the output size, then centre-crop."""
        _, h, w = image.shape
        if (w, h) == (self.width, self.height):
            return image
        scale = max(self.width / w, self.height / h)
        size = (max(self.height, round(h * scale)), max(self.width, round(w * scale)))
        image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False,
                              antialias=scale < 1 and self.device.type != "mps")[0]
        top, left = (size[0] - self.height) // 2, (size[1] - self.width) // 2
        return image[:, top:top + self.height, left:left + self.width]

    def step(self, t: float | None = None) -> np.ndarray | None:
        """Render and publish the frame for walk time ``t`` (seconds since start; now by default).
        Returns the frame, or None when it failed (the failure is logged and counted)."""
        if t is None:
            t = self.clock() - self._t_start
        try:
            self._apply(self.control.snapshot(), t)
            pixels = self.render(self.walker.at(t))
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

    def _apply(self, snap: Snapshot, t: float) -> None:
        for name, setter in _WALK_SETTERS:
            serial = snap.serials[name]
            if serial == self._applied[name]:
                continue
            self._applied[name] = serial
            value = snap[name]
            if name in _TRIGGERS or value != getattr(self.walker, setter[4:]):
                getattr(self.walker, setter)(value, t)

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
        period = 1.0 / self.config.fps if self.config.fps > 0 else 0.0
        next_tick = self.clock()
        while not stop.is_set():
            wait = next_tick - self.clock()
            if wait > 0 and stop.wait(wait):
                break
            self.step()
            next_tick += period
            now = self.clock()
            if now - next_tick > period:
                next_tick = now  # late by more than a frame: carry on from now, never burst to catch up
            self._check_pace(now)

    def _check_pace(self, now: float) -> None:
        if self.config.fps <= 0 or len(self._frame_times) < 10:
            return
        slow = self.fps < 0.9 * self.config.fps
        if slow and self._behind_since is None:
            self._behind_since = now
        elif not slow:
            self._behind_since = None
        # Say so once the shortfall has lasted two seconds (a single hiccup is not news).
        self.behind = self._behind_since is not None and now - self._behind_since >= 2.0
        if self.behind and not self._warned_behind:
            log.warning("output at %.1f fps, below the target %.1f fps: rendering as fast as it can (the model "
                        "or the machine is too slow for this size; try a smaller --size or --fps)",
                        self.fps, self.config.fps)
            self._warned_behind = True
        elif not self.behind and self._warned_behind and self._behind_since is None:
            log.info("back on the target %.1f fps", self.config.fps)
            self._warned_behind = False

    @property
    def fps(self) -> float:
        """Frames per second over the last ~90 frames."""
        times = self._frame_times
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

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
            "speed": self.walker.speed,
            "frame_errors": self.frame_errors,
            "last_error": self.last_error,
        }
