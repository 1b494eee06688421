"""`latentvj render`: a walk rendered offline to a clip (MP4, HAP .mov, GIF or a folder of PNGs).

The clip is drawn by the same engine that serves live (same walk, truncation, output size and colour), on
a clock of exact frame times instead of the wall clock: frame ``i`` is the walk at ``i / fps`` seconds.
For the looping walks (loop, noise, keyframes) the walk's period is set so that ``loops`` whole periods
fill the clip exactly; frame ``n`` would then equal frame 0, so the clip stops one frame before it and a
player that repeats it shows no seam. Drift never repeats, and hold is a still: both render, neither loops.

Videos are encoded by the ffmpeg that the ``imageio-ffmpeg`` package ships (no system ffmpeg needed),
fed raw RGB frames through a pipe, one frame at a time, so memory does not grow with the clip's length.
Nothing is overwritten unless asked, and a failed render leaves no half-written file behind.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from latentvj.models.kinds import KINDS
from latentvj.models.registry import DEFAULT_MODEL
from latentvj.models.walks import MODES

LOOPING_WALKS = ("loop", "noise", "keyframes")
FORMATS = {
    ".mp4": "H.264 video (yuv420p, plays everywhere)",
    ".mov": "HAP video (Resolume's and TouchDesigner's GPU-decoded clip codec)",
    ".gif": "animated GIF (a palette made for the clip, loops forever)",
    "/": "a folder of PNG frames, frame_00000.png ... (lossless, for editing)",
}
MAX_FRAMES = 100_000


class RenderError(RuntimeError):
    """Something the user can fix (a bad option, an existing file, an encoder that failed); the message
    says what."""


@dataclass
class RenderConfig:
    out: Path
    """Where the clip goes: .mp4, .mov, .gif, or a folder (a path ending in '/' or without a suffix)."""
    model: str = DEFAULT_MODEL
    """A bundled model's name, a name in the model folder, or a path to a .safetensors file."""
    seconds: float = 8.0
    """Clip length."""
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

    def __post_init__(self) -> None:
        self.out = Path(self.out)
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
    def duration(self) -> float:
        """The clip's exact length: a whole number of frames."""
        return self.frames / self.fps

    @property
    def period(self) -> float:
        """Walk seconds per loop: ``loops`` whole periods fill the clip exactly."""
        return self.duration / self.loops

    @property
    def seamless(self) -> bool:
        return self.walk in LOOPING_WALKS


def output_format(out: Path) -> str:
    """The key of FORMATS that ``out`` is written as."""
    text = str(out)
    suffix = Path(text).suffix.lower()
    if text.endswith(("/", "\\")) or out.is_dir() or not suffix:
        return "/"
    if suffix in FORMATS:
        return suffix
    known = ", ".join(k for k in FORMATS if k != "/")
    raise RenderError(f"--out {out}: cannot write {suffix!r} files; give {known}, or a folder for PNG frames")


def ffmpeg_exe() -> str:
    """The ffmpeg shipped by imageio-ffmpeg."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise RenderError("video and GIF output need imageio-ffmpeg: pip install imageio-ffmpeg "
                          "(or write PNG frames to a folder)") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


class FfmpegWriter:
    """Raw RGB frames piped into ffmpeg, which encodes them as ``args`` say."""

    def __init__(self, path: Path, width: int, height: int, fps: float, args: list[str]):
        self.path = path
        command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", f"{fps:g}",
                   "-i", "pipe:0", "-an", *args, str(path)]
        # stderr goes to a file, not a pipe: a chatty encoder can never fill a pipe and stall the render.
        self._log = open(path.with_name(path.name + ".ffmpeg.log"), "w+b")
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._log)

    def write(self, pixels: np.ndarray) -> None:
        try:
            self._proc.stdin.write(np.ascontiguousarray(pixels[..., :3]).tobytes())
        except BrokenPipeError:
            self._proc.wait()
            raise RenderError(f"ffmpeg stopped while encoding {self.path}: {self._error()}") from None

    def close(self) -> None:
        self._proc.stdin.close()
        code = self._proc.wait()
        error = self._error()
        self._discard_log()
        if code != 0:
            raise RenderError(f"ffmpeg could not encode {self.path} (exit {code}): {error}")

    def abort(self) -> None:
        self._proc.kill()
        self._proc.wait()
        self._discard_log()
        self.path.unlink(missing_ok=True)

    def _error(self) -> str:
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return " / ".join(lines[-3:]) or "no message"

    def _discard_log(self) -> None:
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


class PngFolderWriter:
    """frame_00000.png, frame_00001.png, ... in a folder (created; a half-made folder is removed on abort)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def write(self, pixels: np.ndarray) -> None:
        from PIL import Image

        Image.fromarray(np.ascontiguousarray(pixels)).save(self.folder / f"frame_{self.count:05d}.png")
        self.count += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        for i in range(self.count):
            (self.folder / f"frame_{i:05d}.png").unlink(missing_ok=True)
        if self._created:
            shutil.rmtree(self.folder, ignore_errors=True)


def _pad_to(multiple: int) -> str:
    return f"pad=ceil(iw/{multiple})*{multiple}:ceil(ih/{multiple})*{multiple}"


def open_writer(out: Path, width: int, height: int, fps: float, *, overwrite: bool = False):
    kind = output_format(out)
    if kind == "/":
        existing = sorted(out.glob("frame_*.png")) if out.is_dir() else []
        if existing and not overwrite:
            raise RenderError(f"{out} already holds {len(existing)} frame_*.png files; pass --overwrite "
                              "to replace them, or choose another folder")
        for path in existing:
            path.unlink()
        return PngFolderWriter(out)
    if out.exists() and not overwrite:
        raise RenderError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise RenderError(f"--out {out}: the folder {out.parent} does not exist")
    if kind == ".mp4":  # yuv420p needs even sides: pad odd ones by a pixel
        args = ["-vf", _pad_to(2), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "16", "-preset", "medium",
                "-movflags", "+faststart"]
    elif kind == ".mov":  # HAP compresses 4x4 blocks
        args = ["-vf", _pad_to(4), "-c:v", "hap", "-format", "hap"]
    else:  # .gif: one palette made from the whole clip, then dithered into it; loops forever
        args = ["-filter_complex", "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a",
                "-loop", "0"]
    return FfmpegWriter(out, width, height, fps, args)


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
    writer = open_writer(config.out, engine.width, engine.height, config.fps, overwrite=config.overwrite)
    try:
        for i in range(config.frames):
            pixels = engine.step(i / config.fps)
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
                        fps=config.fps, seamless=config.seamless, model=model.name)
