"""The clip writers: frames into an H.264 MP4, a HAP .mov (Resolume's clip codec), a GIF with a palette made
for the whole clip, or a folder of PNG frames. Videos are encoded by the ffmpeg that ``imageio-ffmpeg``
ships (no system ffmpeg needed), fed raw RGB frames through a pipe one at a time, so memory does not grow
with the clip's length. ``latentvj render`` writes its clips with them, and so does the live recorder
(outputs/recorder.py) with ``live=True``. Nothing is overwritten unless asked; an aborted offline clip
leaves no half-written file behind.

A live recording must survive its writer's end, however it ends, so it is written as a fragmented file
(MP4 and HAP .mov alike): the index comes first and every second of frames is a self-contained fragment,
flushed as it is made. A killed ffmpeg, a killed server or a full disk leaves every fragment written before
it playable. ffmpeg runs in its own session, so a Ctrl-C in the terminal reaches only the server, which
then closes the file properly.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

FORMATS = {
    ".mp4": "H.264 video (yuv420p, plays everywhere)",
    ".mov": "HAP video (Resolume's and TouchDesigner's GPU-decoded clip codec)",
    ".gif": "animated GIF (a palette made for the clip, loops forever)",
    "/": "a folder of PNG frames, frame_00000.png ... (lossless, for editing)",
}

class WriterError(RuntimeError):
    """Something the user can fix (a bad option, an existing file, an encoder that failed); the message
    says what."""


def output_format(out: Path) -> str:
    """The key of FORMATS that ``out`` is written as."""
    text = str(out)
    suffix = Path(text).suffix.lower()
    if text.endswith(("/", "\\")) or out.is_dir() or not suffix:
        return "/"
    if suffix in FORMATS:
        return suffix
    known = ", ".join(k for k in FORMATS if k != "/")
    raise WriterError(f"--out {out}: cannot write {suffix!r} files; give {known}, or a folder for PNG frames")


def ffmpeg_exe() -> str:
    """The ffmpeg shipped by imageio-ffmpeg."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise WriterError("video and GIF output need imageio-ffmpeg: pip install imageio-ffmpeg "
                          "(or write PNG frames to a folder)") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


class FfmpegWriter:
    """Raw RGB frames piped into ffmpeg, which encodes them as ``args`` say."""

    def __init__(self, path: Path, width: int, height: int, fps: float, args: list[str], *,
                 audio: tuple[Path, str] | None = None, session: bool = False):
        """audio: (a sound file, the codec to write it with), muxed in from its start; the clip ends with
        the shorter of the two. session: run ffmpeg in a session of its own (signals to the terminal's
        process group do not reach it; it ends when its input does)."""
        self.path = path
        sound = ["-an"] if audio is None else ["-i", str(audio[0]), "-map", "0:v:0", "-map", "1:a:0",
                                               "-c:a", audio[1], "-shortest"]
        command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", _rate(fps),
                   "-i", "pipe:0", *sound, *args, str(path)]
        # stderr goes to a file, not a pipe: a chatty encoder can never fill a pipe and stall the render. Not
        # beside the clip: a disk that fills must still hold ffmpeg's word for it.
        self._log = tempfile.TemporaryFile(prefix="latentvj-ffmpeg-")
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._log, start_new_session=session)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def write(self, pixels: np.ndarray) -> None:
        try:
            self._proc.stdin.write(np.ascontiguousarray(pixels[..., :3]).tobytes())
        except BrokenPipeError:
            self._proc.wait()
            raise WriterError(f"ffmpeg stopped while encoding {self.path}: {self._error()}") from None

    def close(self) -> None:
        try:
            self._proc.stdin.close()
        except BrokenPipeError:  # ffmpeg had already stopped; its exit code says why
            pass
        code = self._proc.wait()
        error = self._error()
        self._discard_log()
        if code != 0:
            raise WriterError(f"ffmpeg could not encode {self.path} (exit {code}): {error}")

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


def _rate(fps: float | Fraction) -> str:
    """A frame rate as ffmpeg takes it exactly: a fraction (a clip in bars at a tempo has one like 961/32)."""
    rate = Fraction(fps).limit_denominator(1_000_000)
    return f"{rate.numerator}/{rate.denominator}"


def _pad_to(multiple: int) -> str:
    return f"pad=ceil(iw/{multiple})*{multiple}:ceil(ih/{multiple})*{multiple}"


SOUND_CODECS = {".mp4": "aac", ".mov": "pcm_s16le"}
"""The codec a clip's sound is written with: AAC in an MP4, uncompressed PCM beside HAP (as Resolume wants)."""


LIVE_FORMATS = (".mp4", ".mov")
"""What a live recording can be written as: the formats that can be fragmented."""
FRAGMENT_S = 1.0
"""A live recording's fragments: each this many seconds of frames, and an H.264 keyframe at each start."""


def open_writer(out: Path, width: int, height: int, fps: float, *, overwrite: bool = False,
                audio: Path | None = None, live: bool = False):
    """A writer for ``out`` (its suffix says which); ``audio``: a sound file muxed into an MP4 or a .mov.
    ``live``: a recording made as it plays (MP4 or .mov only): fast encoding, fragmented and flushed as it
    goes (see the module docstring)."""
    kind = output_format(out)
    if live and kind not in LIVE_FORMATS:
        raise WriterError(f"{out}: a live recording is written as an MP4 (H.264) or a .mov (HAP); "
                          f"got {out.suffix or 'a folder'!r}")
    if audio is not None and kind not in SOUND_CODECS:
        raise WriterError(f"--out {out}: only an MP4 or a .mov holds sound")
    if kind == "/":
        existing = sorted(out.glob("frame_*.png")) if out.is_dir() else []
        if existing and not overwrite:
            raise WriterError(f"{out} already holds {len(existing)} frame_*.png files; pass --overwrite "
                              "to replace them, or choose another folder")
        for path in existing:
            path.unlink()
        return PngFolderWriter(out)
    if out.exists() and not overwrite:
        raise WriterError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise WriterError(f"--out {out}: the folder {out.parent} does not exist")
    fragmented = ["-movflags", "+empty_moov+default_base_moof", "-frag_duration", str(int(FRAGMENT_S * 1e6)),
                  "-flush_packets", "1"]
    if kind == ".mp4" and live:  # keyframes a fragment apart; a preset that keeps up with the show
        args = ["-vf", _pad_to(2), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-preset", "veryfast",
                "-g", str(max(1, round(fps * FRAGMENT_S))), *fragmented]
    elif kind == ".mp4":  # yuv420p needs even sides: pad odd ones by a pixel
        args = ["-vf", _pad_to(2), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "16", "-preset", "medium",
                "-movflags", "+faststart"]
    elif kind == ".mov":  # HAP compresses 4x4 blocks
        args = ["-vf", _pad_to(4), "-c:v", "hap", "-format", "hap", *(fragmented if live else [])]
    else:  # .gif: one palette made from the whole clip, then dithered into it; loops forever
        args = ["-filter_complex", "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a",
                "-loop", "0"]
    return FfmpegWriter(out, width, height, fps, args,
                        audio=None if audio is None else (Path(audio), SOUND_CODECS[kind]), session=live)
