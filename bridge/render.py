"""`latentvj render`: a walk rendered offline to a clip (MP4, HAP .mov, GIF or a folder of PNGs).

The clip is drawn by the same engine that serves live (same walk, truncation, output size and colour), on
a clock of exact frame times instead of the wall clock: frame ``i`` is the walk at ``i / fps`` seconds.
With ``--bpm`` and ``--bars`` the clip is that many bars at that tempo: the frame count follows, and the
frame rate is the exact fraction at which those frames last exactly those bars. For the looping walks
(loop, noise, keyframes) the walk's period is set so that ``loops`` whole periods fill the clip exactly; frame ``n`` would then equal frame 0, so the clip stops one frame before it and a
player that repeats it shows no seam. Drift never repeats, and hold is a still: both render, neither loops.

Videos are written by the clip writers (outputs/video.py): the ffmpeg that ``imageio-ffmpeg`` ships,
fed raw RGB frames through a pipe, one frame at a time, so memory does not grow with the clip's length.
Nothing is overwritten unless asked, and a failed render leaves no half-written file behind.
"""

from __future__ import annotations

import math
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from latentvj.models.kinds import KINDS
from latentvj.models.registry import DEFAULT_MODEL
from latentvj.models.walks import MODES

from .outputs.video import WriterError, open_writer, output_format

RenderError = WriterError
"""Something the user can fix (a bad option, an existing file, an encoder that failed); the message says
what. (The clip writers' error: a render's and a writer's problems are the user's alike.)"""

LOOPING_WALKS = ("loop", "noise", "keyframes")
MAX_FRAMES = 100_000


@dataclass
class RenderConfig:
    out: Path
    """Where the clip goes: .mp4, .mov, .gif, or a folder (a path ending in '/' or without a suffix)."""
    model: str = DEFAULT_MODEL
    """A bundled model's name, a name in the model folder, or a path to a .safetensors file."""
    seconds: float = 8.0
    """Clip length (ignored with ``bpm`` and ``bars``)."""
    fps: float = 30.0
    """Frames per second of the clip."""
    walk: str = "loop"
    """Walk mode (see docs/walks.md); loop, noise and keyframes give seamless loops."""
    loops: int = 1
    """Whole walk periods in the clip (looping walks only): more loops, faster motion."""
    seed: int = 0
    """The seed the walk moves around (keyframes: the first of its seeds)."""
    speed: float = 1.0
    """Walk speed for drift (walk seconds per clip second); looping walks take their speed from loops."""
    truncation: float = 1.0
    """GAN truncation (VAE: temperature): lower is tamer and closer to the average image."""
    size: tuple[int, int] | None = None
    """(width, height); None keeps the model's resolution."""
    device: str = "auto"
    precision: str = "auto"
    overwrite: bool = False
    """Replace an existing file or a folder of frames (otherwise refuse)."""
    bpm: float | None = None
    """With ``bars``: the clip is exactly that many bars at this tempo (its frame rate adjusted by a hair
    so the whole number of frames lasts exactly that long: Resolume and Ableton pitch clips to tempo)."""
    bars: float | None = None
    beats_per_bar: int = 4

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if (self.bpm is None) != (self.bars is None):
            raise RenderError("--bpm and --bars go together: the clip is BARS bars at BPM")
        if self.bpm is not None:
            if not (math.isfinite(self.bpm) and 20 <= self.bpm <= 999):
                raise RenderError(f"--bpm must be 20 .. 999, got {self.bpm:g}")
            if not (math.isfinite(self.bars) and self.bars > 0):
                raise RenderError(f"--bars must be a positive number, got {self.bars:g}")
            self.seconds = self.beats * 60.0 / self.bpm
        if self.walk not in MODES:
            raise RenderError(f"--walk {self.walk!r}: choose one of {', '.join(MODES)}")
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise RenderError(f"--seconds must be a positive number, got {self.seconds}")
        if not (math.isfinite(self.fps) and 1 <= self.fps <= 240):
            raise RenderError(f"--fps must be between 1 and 240, got {self.fps}")
        if self.frames < 2:
            raise RenderError(f"{self.seconds} s at {self.fps:g} fps is {self.frames} frame(s); a clip needs 2")
        if self.frames > MAX_FRAMES:
            raise RenderError(f"{self.seconds} s at {self.fps:g} fps is {self.frames} frames; the most is "
                              f"{MAX_FRAMES}")
        if self.loops < 1:
            raise RenderError(f"--loops must be at least 1, got {self.loops}")
        if self.walk in LOOPING_WALKS and not 0.5 <= self.period <= 600:
            raise RenderError(f"{self.loops} loop(s) in {self.duration:g} s make a walk period of "
                              f"{self.period:g} s; it must be 0.5 .. 600 s")
        if not (math.isfinite(self.speed) and math.isfinite(self.truncation) and 0 <= self.truncation <= 2):
            raise RenderError("--speed must be a number and --truncation between 0 and 2")
        output_format(self.out)  # an unknown suffix is refused before the model loads

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)

    @property
    def beats(self) -> float:
        return self.bars * self.beats_per_bar if self.bars is not None else 0.0

    @property
    def clip_fps(self) -> Fraction | float:
        """The clip's frame rate: ``fps``, or for a clip in bars the exact rate at which its whole number
        of frames lasts exactly those bars (a fraction, e.g. 465 frames of 8 bars at 124 BPM: 961/32)."""
        if self.bpm is None:
            return self.fps
        return Fraction(self.frames) * Fraction(self.bpm) / (Fraction(self.beats) * 60)

    @property
    def duration(self) -> float:
        """The clip's exact length: a whole number of frames."""
        return float(self.frames / self.clip_fps)

    @property
    def period(self) -> float:
        """Walk seconds per loop: ``loops`` whole periods fill the clip exactly."""
        return self.duration / self.loops

    @property
    def seamless(self) -> bool:
        return self.walk in LOOPING_WALKS


@dataclass
class RenderResult:
    out: Path
    frames: int
    width: int
    height: int
    fps: float
    seamless: bool
    model: str


def render(config: RenderConfig, *, progress: Callable[[int, int], None] | None = None) -> RenderResult:
    """Render the clip; ``progress(done, total)`` is called after each frame."""
    from latentvj.models.registry import load

    from .control.state import ControlState
    from .engine import Engine, EngineConfig
    from .folders import default_config_dir

    model = load(config.model, [default_config_dir() / "models"])
    control = ControlState()
    control.set("walk/mode", config.walk)
    control.set("seed", config.seed)
    control.set("walk/period", config.period if config.seamless else 8.0)
    control.set("walk/speed", 1.0 if config.seamless else config.speed)
    control.set(KINDS[model.kind].knob, config.truncation)
    engine = Engine(model, config=EngineConfig(device=config.device, precision=config.precision, fps=0,
                                               size=config.size), control=control)
    writer = open_writer(config.out, engine.width, engine.height, config.clip_fps, overwrite=config.overwrite)
    try:
        for i in range(config.frames):
            pixels = engine.step(float(i / config.clip_fps))
            if pixels is None:
                raise RenderError(f"frame {i} failed: {engine.last_error}")
            writer.write(pixels)
            if progress:
                progress(i + 1, config.frames)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return RenderResult(out=config.out, frames=config.frames, width=engine.width, height=engine.height,
                        fps=float(config.clip_fps), seamless=config.seamless, model=model.name)
