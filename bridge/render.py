"""`latentvj render`: a walk rendered offline to a clip (MP4, HAP .mov, GIF or a folder of PNGs).

The clip is drawn by the same engine that serves live (same walk, truncation, output size and colour), on
a clock of exact frame times instead of the wall clock: frame ``i`` is the walk at ``i / fps`` seconds.
With ``--bpm`` and ``--bars`` the clip is that many bars at that tempo: the frame count follows, and the
frame rate is the exact fraction at which those frames last exactly those bars. For the looping walks
(loop, noise, keyframes) the walk's period is set so that ``loops`` whole periods fill the clip exactly; frame ``n`` would then equal frame 0, so the clip stops one frame before it and a
player that repeats it shows no seam. Drift never repeats, and hold is a still: both render, neither loops.

With ``--audio song.wav`` the clip is audio-reactive: it lasts the song, the song's features (bridge/audio.py,
the same as live) are computed block by block up to each frame's moment and drive the modulation routes
(``--routes``: a shipped set or a routes.json, bass-pulse by default), and the song is muxed into the video,
so frame ``i`` shows what the music did up to ``i / fps`` seconds, as a live server with
``--audio-file`` would have shown it.

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
    audio: Path | None = None
    """A WAV: the clip lasts the song (``seconds`` given explicitly shortens it), its sound drives the routes
    and is muxed in (MP4: AAC; HAP .mov: PCM; a GIF or PNG frames hold no sound). ``bpm`` alone then sets
    the tempo of beat LFOs."""
    routes: str | None = None
    """The modulation routes: a shipped set's name (see modulation.SETS) or a routes.json; with ``audio``
    and none given, bass-pulse."""
    seconds_given: bool = False
    """Whether ``seconds`` was asked for (with ``audio``: a shorter clip than the song)."""

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.parsed_routes = []
        self.sound: tuple[np.ndarray, float] | None = None
        if self.bars is not None and self.bpm is None or (self.bpm is not None and self.bars is None
                                                           and self.audio is None and self.routes is None):
            raise RenderError("--bpm and --bars go together: the clip is BARS bars at BPM (--bpm alone sets "
                              "the tempo of the beat LFOs of --routes or --audio)")
        if self.audio is not None:
            self._take_audio()
        if self.routes is not None or self.audio is not None:
            self.parsed_routes = _read_routes(self.routes or "bass-pulse")
            if self.audio is None and any(r.source.startswith("audio:") for r in self.parsed_routes):
                raise RenderError(f"the routes {self.routes} listen to audio:...; give the sound with --audio FILE.wav")
        if self.bpm is not None and not (math.isfinite(self.bpm) and 20 <= self.bpm <= 999):
            raise RenderError(f"--bpm must be 20 .. 999, got {self.bpm:g}")
        if self.bars is not None:
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

    def _take_audio(self) -> None:
        from .audio import read_wav

        self.audio = Path(self.audio)
        if self.bars is not None:
            raise RenderError("--audio and --bars: the clip lasts the song; give --seconds to make it shorter")
        try:
            samples, rate = read_wav(self.audio)
        except ValueError as exc:
            raise RenderError(f"--audio {exc}") from None
        song = len(samples) / rate
        if song <= 0:
            raise RenderError(f"--audio {self.audio}: the file holds no sound")
        if not self.seconds_given:
            self.seconds = song
        elif math.isfinite(self.seconds) and self.seconds > song:
            raise RenderError(f"--seconds {self.seconds:g}: the song {self.audio.name} lasts {song:.2f} s")
        self.sound = (samples, rate)

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
        if self.bars is None:
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


def _read_routes(routes: str) -> list:
    """A shipped set by name, or the routes of a routes.json (its MIDI map is for live playing)."""
    from .control.params import ParamError
    from .modulation import SETS, RouteFile, parse_route

    if routes in SETS:
        return [parse_route(line.split()) for line in SETS[routes]]
    path = Path(routes)
    if not path.is_file():
        raise RenderError(f"--routes {routes}: neither a shipped set ({', '.join(SETS)}) nor a routes file")
    try:
        found, _midi = RouteFile(path).read()
    except (ValueError, ParamError) as exc:
        raise RenderError(f"--routes {exc}") from None
    if not found:
        raise RenderError(f"--routes {path}: the file holds no routes")
    return found


@dataclass
class RenderResult:
    out: Path
    frames: int
    width: int
    height: int
    fps: float
    seamless: bool
    model: str
    sound: str = ""
    """What became of the --audio: muxed in, or why not."""
    routes: int = 0


def render(config: RenderConfig, *, progress: Callable[[int, int], None] | None = None) -> RenderResult:
    """Render the clip; ``progress(done, total)`` is called after each frame."""
    from latentvj.models.registry import load

    from .clock import Moment
    from .control.state import ControlState
    from .engine import Engine, EngineConfig
    from .folders import default_config_dir
    from .modulation import Modulation
    from .threads import usable_cores

    model = load(config.model, [default_config_dir() / "models"])
    control = ControlState()
    control.set("walk/mode", config.walk)
    control.set("seed", config.seed)
    control.set("walk/period", config.period if config.seamless else 8.0)
    control.set("walk/speed", 1.0 if config.seamless else config.speed)
    control.set(KINDS[model.kind].knob, config.truncation)
    modulation = Modulation()
    modulation.replace(config.parsed_routes)
    engine = Engine(model, config=EngineConfig(device=config.device, precision=config.precision, fps=0,
                                               size=config.size, threads=usable_cores()),  # offline: every core
                    control=control, modulation=modulation)
    sound = Sound(*config.sound) if config.sound is not None else None
    muxed = sound is not None and output_format(config.out) in (".mp4", ".mov")
    writer = open_writer(config.out, engine.width, engine.height, config.clip_fps, overwrite=config.overwrite,
                         audio=config.audio if muxed else None)
    bpm = config.bpm or 120.0
    try:
        for i in range(config.frames):
            t = float(i / config.clip_fps)
            if sound is not None:
                modulation.set_audio(sound.features_until(t))
            pixels = engine.step(Moment(seconds=t, beat=t * bpm / 60.0, position=t * bpm / 60.0, bpm=bpm))
            if pixels is None:
                raise RenderError(f"frame {i} failed: {engine.last_error}")
            writer.write(pixels)
            if progress:
                progress(i + 1, config.frames)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    said = ""
    if sound is not None:
        said = (f"with the sound of {config.audio.name}" if muxed else
                f"moved by {config.audio.name} (a {'GIF' if output_format(config.out) == '.gif' else 'folder of PNG frames'} "
                "holds no sound)")
    return RenderResult(out=config.out, frames=config.frames, width=engine.width, height=engine.height,
                        fps=float(config.clip_fps), seamless=config.seamless, model=model.name, sound=said,
                        routes=len(config.parsed_routes))


class Sound:
    """A song's samples fed into the audio features block by block, up to a frame's moment: the features a
    live server playing it with --audio-file would have had then."""

    def __init__(self, samples: np.ndarray, samplerate: float):
        from .audio import AudioFeatures

        self.samples, self.samplerate = samples, samplerate
        self.features = AudioFeatures(samplerate)
        self._position = 0

    def features_until(self, t: float) -> dict[str, float]:
        from .audio import BLOCK

        end = min(len(self.samples), int(t * self.samplerate))
        while self._position + BLOCK <= end:
            self.features.feed(self.samples[self._position:self._position + BLOCK])
            self._position += BLOCK
        return self.features.values
