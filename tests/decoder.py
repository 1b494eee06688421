"""An independent decoder for the clips LatentVJ writes: the system's ffmpeg and ffprobe (Debian's build,
installed by .ci/run), not the ffmpeg inside imageio-ffmpeg that wrote them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

FFMPEG = shutil.which("ffmpeg", path="/usr/bin:/usr/local/bin")
FFPROBE = shutil.which("ffprobe", path="/usr/bin:/usr/local/bin")

needs_decoder = pytest.mark.skipif(FFMPEG is None or FFPROBE is None,
                                   reason="no system ffmpeg/ffprobe (apt-get install ffmpeg) to decode with")


def probe(path: Path) -> dict:
    """The video stream's codec, size and counted frames, as ffprobe reads them."""
    out = subprocess.run([FFPROBE, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,width,height,nb_read_frames,avg_frame_rate", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0 and path.exists() and path.stat().st_size < 4096:
        return {"codec": "", "width": 0, "height": 0, "frames": 0, "rate": ""}  # only its header so far
    assert out.returncode == 0, f"ffprobe cannot read {path}: {out.stderr.strip()}"
    streams = json.loads(out.stdout).get("streams", [])
    if not streams:  # a recording's first fragment is not written yet
        return {"codec": "", "width": 0, "height": 0, "frames": 0, "rate": ""}
    stream = streams[0]
    return {"codec": stream["codec_name"], "width": stream["width"], "height": stream["height"],
            "frames": int(stream.get("nb_read_frames", 0)), "rate": stream["avg_frame_rate"]}


def decode(path: Path) -> np.ndarray:
    """Every frame of the clip, [T, H, W, 3] uint8."""
    info = probe(path)
    out = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, f"ffmpeg cannot decode {path}: {out.stderr.decode(errors='replace').strip()}"
    frames = np.frombuffer(out.stdout, np.uint8)
    return frames.reshape(-1, info["height"], info["width"], 3)
