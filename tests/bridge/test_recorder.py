"""The live recorder: takes into MP4 and HAP, read back by an independent decoder; the file keeps the show's
time; a slow encoder drops recorded frames, never the output's; whatever ends a take leaves a playable file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from decoder import decode, needs_decoder, probe

from latentvj.bridge.outputs import recorder as recorder_module
from latentvj.bridge.outputs.recorder import Recorder, RecordError, Take, checked_path, recording_path
from latentvj.bridge.outputs.video import WriterError

FPS = 30.0


def frame(level: int, shape=(48, 64, 3)) -> np.ndarray:
    """A frame whose brightness says which it is (to 8 levels apart, so H.264's loss cannot confuse two)."""
    return np.full(shape, level, np.uint8)


def levels(frames: np.ndarray) -> list[int]:
    """The brightness of each decoded frame, rounded to the nearest level given out by ``frame``."""
    return [int(round(f.mean() / 8) * 8) for f in frames]


@pytest.fixture
def roomy_queue(monkeypatch):
    """A queue that holds a whole test's frames: what the file holds is then down to the slots alone."""
    monkeypatch.setattr(recorder_module, "QUEUE_SECONDS", 1000.0)


@needs_decoder
@pytest.mark.parametrize("suffix, codec", [(".mp4", "h264"), (".mov", "hap")])
def test_a_take_is_read_back_frame_for_frame_with_the_shows_time(tmp_path, roomy_queue, suffix, codec):
    take = Take(tmp_path / f"take{suffix}", FPS, report=pytest.fail)
    # 20 frames on time, then the show stalls for 3 frame periods, then 10 more on time; one frame comes
    # twice in a slot's time (a catch-up burst) and is left out.
    times = [i / FPS for i in range(20)] + [(i + 23) / FPS for i in range(10)]
    times.insert(25, times[24] + 0.2 / FPS)
    for i, t in enumerate(times):
        take.write(frame(8 * (i % 30)), 1000.0 + t)
    take.stop()
    assert take.join(30) and take.state == "done", take.status()
    info = probe(take.path)
    assert (info["codec"], info["width"], info["height"], info["rate"]) == (codec, 64, 48, "30/1")
    assert info["frames"] == 33 == take.frames, "33 slots: 20 + 3 held + 10"
    expected = [8 * i for i in range(20)] + [8 * 19] * 3 + [8 * (i % 30) for i in (20, 21, 22, 23, 24, 26, 27, 28,
                                                                                     29, 30)]
    assert levels(decode(take.path)) == expected
    assert (take.held, take.dropped) == (3, 0)


def test_a_slow_encoder_drops_recorded_frames_and_never_waits(tmp_path, monkeypatch):
    release, entered = threading.Event(), threading.Event()
    written = []

    class StuckWriter:  # an encoder (or a disk) that stops taking frames until released
        def write(self, pixels):
            entered.set()
            release.wait(30)
            written.append(int(pixels[0, 0, 0]))

        def close(self):
            pass

    monkeypatch.setattr(recorder_module, "open_writer", lambda *args, **kwargs: StuckWriter())
    warned = []
    take = Take(tmp_path / "slow.mp4", FPS, report=pytest.fail, warn=warned.append)
    take.write(frame(0), 1000.0)
    assert entered.wait(30), "the take's thread took the first frame"
    started = time.perf_counter()
    for i in range(1, 200):
        take.write(frame(i % 256), 1000.0 + i / FPS)
    spent = time.perf_counter() - started
    queued = int(recorder_module.QUEUE_SECONDS * FPS)
    assert take.dropped == 200 - queued - 1, "the queue holds 2 s of frames (and one is being written)"
    assert spent < 5.0, f"writing 200 frames into a stuck recorder took {spent:.1f} s: it must never wait"
    assert len(warned) == 2 and "139 frame(s) left out" not in warned[0] and warned[1].endswith(
        "100 frame(s) left out of the recording so far (the output is not affected)"), warned
    release.set()
    take.stop()
    assert take.join(30) and take.state == "done"
    assert written[:queued + 1] == list(range(queued + 1)), "the frames kept are written in order"


@needs_decoder
def test_a_failing_encoder_ends_the_take_with_a_reason_and_keeps_what_it_wrote(tmp_path, roomy_queue):
    said = []
    take = Take(tmp_path / "killed.mp4", FPS, report=said.append)
    i, deadline = 0, time.monotonic() + 60
    while True:  # the show plays on until a fragment is on disk
        for _ in range(10):
            take.write(frame(8 * (i % 30)), 1000.0 + i / FPS)
            i += 1
        time.sleep(10 / FPS)
        if take.path.exists() and probe(take.path)["frames"] >= 30:
            break
        assert time.monotonic() < deadline, take.status()
    writer_pid = _ffmpeg_child(take.path)
    os.kill(writer_pid, 9)  # the encoder dies mid-take
    for i in range(i, i + 300):
        take.write(frame(8 * (i % 30)), 1000.0 + i / FPS)
        if take.state == "failed":
            break
        time.sleep(1 / FPS)
    assert take.join(30) and take.state == "failed", take.status()
    assert said and "ended after" in said[0] and "ffmpeg" in said[0]
    assert probe(take.path)["frames"] >= 30, "the fragments written before the kill play"


def _ffmpeg_child(path: Path) -> int:
    """The pid of this process's ffmpeg child that writes ``path`` (the take's encoder)."""
    children = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        children += (task / "children").read_text().split()
    for pid in children:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if any(b"ffmpeg" in word for word in command[:1]) and str(path).encode() in command:
            return int(pid)
    raise AssertionError(f"no ffmpeg writing {path} among {children}")


@needs_decoder
def test_a_nearly_full_disk_stops_the_take_cleanly(tmp_path, roomy_queue):
    free = [1 << 30]
    said = []
    take = Take(tmp_path / "full.mov", FPS, report=said.append, free_bytes=lambda folder: free[0])
    for i in range(10):
        take.write(frame(8 * i), 1000.0 + i / FPS)
    deadline = time.monotonic() + 30
    while take.frames < 10:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    free[0] = 10 << 20
    recorder_module_check = recorder_module.DISK_CHECK_S
    for i in range(10, 200):
        take.write(frame(8 * (i % 30)), 1000.0 + i / FPS)
        if take.state != "recording":
            break
        time.sleep(recorder_module_check / 10)
    assert take.join(30) and take.state == "failed"
    assert "10 MB left" in take.error and said == [f"recording full.mov ended after {take.seconds:.1f} s: "
                                                    f"{take.error}"]
    assert probe(take.path)["frames"] == take.frames, "closed properly: every frame written is there"


@needs_decoder
def test_a_resize_mid_take_goes_on_in_a_second_file(tmp_path, roomy_queue):
    files = []
    recorder = Recorder(tmp_path, FPS, report=pytest.fail, on_file=files.append)
    take = recorder.start(tmp_path / "set.mp4")
    for i in range(10):
        recorder.write(frame(8 * i), timestamp=1000.0 + i / FPS)
    for i in range(10, 25):
        recorder.write(frame(8 * i, shape=(64, 96, 3)), timestamp=1000.0 + i / FPS)
    recorder.close()
    assert take.state == "done" and take.files == [tmp_path / "set.mp4", tmp_path / "set-2.mp4"]
    assert files == [tmp_path / "set.mp4", tmp_path / "set-2.mp4", None]
    first, second = probe(take.files[0]), probe(take.files[1])
    assert (first["width"], first["height"], first["frames"]) == (64, 48, 10)
    assert (second["width"], second["height"], second["frames"]) == (96, 64, 15)


def test_the_recorder_takes_nothing_while_off_and_one_take_at_a_time(tmp_path, roomy_queue):
    recorder = Recorder(tmp_path, 0, report=pytest.fail)  # an unpaced show records at 30 fps
    assert recorder.fps == 30.0 and recorder.status() == {"folder": str(tmp_path), "state": "off"}
    recorder.write(frame(0))
    assert recorder.stop() is None
    first = recorder.start(tmp_path / "one.mov")
    recorder.write(frame(8), timestamp=1.0)
    second = recorder.start(tmp_path / "two.mov")  # the first is finished first
    recorder.write(frame(16), timestamp=2.0)
    assert first.join(30) and first.state == "done" and first.frames == 1
    assert recorder.status()["file"] == str(tmp_path / "two.mov")
    assert recorder.stop() is second
    recorder.close()
    assert second.state == "done" and second.frames == 1 and recorder.status()["state"] == "done"


def test_a_controller_names_a_file_only_in_the_recordings_folder(tmp_path):
    named = recording_path("gig 1.mov", tmp_path)
    assert named == tmp_path / "gig 1.mov"
    auto = recording_path(None, tmp_path)
    assert auto.parent == tmp_path and auto.name.startswith("latentvj-") and auto.suffix == ".mp4"
    auto.touch()
    assert recording_path("", tmp_path) != auto, "a second take in the same second gets its own name"
    for bad, why in [("../escape.mp4", "file name only"), ("/etc/x.mp4", "file name only"),
                     ("set.avi", ".mp4 (H.264) or a .mov"), ("set", ".mp4 (H.264) or a .mov"),
                     (".hidden.mp4", "file name only"), ("a" * 200 + ".mp4", "file name only")]:
        with pytest.raises(RecordError, match=why.replace("(", r"\(").replace(")", r"\)")):
            recording_path(bad, tmp_path)
    (tmp_path / "exists.mp4").touch()
    with pytest.raises(RecordError, match="never overwrites"):
        recording_path("exists.mp4", tmp_path)
    with pytest.raises(RecordError, match="does not exist"):
        checked_path(tmp_path / "nowhere" / "a.mp4")


FULL_DISK_CHILD = r"""
import json, sys, time
import numpy as np
from pathlib import Path
from latentvj.bridge.outputs import recorder
from latentvj.bridge.outputs.recorder import Take
recorder.MIN_FREE_BYTES = 0  # no early stop: the disk really fills under ffmpeg
sys.path.insert(0, sys.argv[2])
from decoder import probe
said = []
take = Take(Path(sys.argv[1]) / "full.mov", 30.0, report=said.append)
rng = np.random.default_rng(0)
for i in range(3000):  # noise compresses badly: the 6 MB disk fills within a few hundred frames
    take.write(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), 1000.0 + i / 30)
    if take.state != "recording":
        break
    time.sleep(0.002)
take.join(60)
print(json.dumps({"state": take.state, "error": take.error, "said": said, "frames": take.frames,
                  "probe": probe(take.path)}))
"""


@needs_decoder
def test_a_really_full_disk_ends_the_take_with_a_playable_file(tmp_path):
    """On a 6 MB tmpfs in a mount namespace of its own (root only): the disk fills mid-take."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to make a small disk in a mount namespace")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = tmp_path / "child.py"
    script.write_text(FULL_DISK_CHILD)
    tests = str(Path(__file__).resolve().parents[1])
    shell = (f"mount -t tmpfs -o size=6m tmpfs {disk} && "
             f"{sys.executable} {script} {disk} {tests}")
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", shell],
                         capture_output=True, text=True, timeout=180)
    if out.returncode != 0 and "mount" in out.stderr and "permission" in out.stderr.lower():
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["state"] == "failed", result
    assert "No space left" in result["error"], result
    assert result["said"] and result["said"][0].startswith("recording full.mov ended after")
    assert result["probe"]["codec"] == "hap" and result["probe"]["frames"] > 0, result
