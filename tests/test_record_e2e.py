"""Recording a live set on a real `latentvj serve`: --record and /lvj/record/start|stop over real UDP, the
takes read back by an independent decoder; killing the server, or the server and its encoder, mid-take
leaves a file that plays."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from decoder import decode, needs_decoder, probe
from processes import ServeProcess, free_port_args, wait_until
from pythonosc.osc_message import OscMessage

from latentvj.bridge.control.osc import build_message

pytestmark = [pytest.mark.integration, needs_decoder]


def serve(shm_name: str, folder: Path, *extra: str) -> ServeProcess:
    server = ServeProcess(*free_port_args(), "--shm", shm_name, "--fps", "30", "--no-presets", "--no-routes",
                          "--recordings", str(folder), *extra)
    try:
        return server.ready()
    except BaseException:
        server.proc.kill()
        raise


def recorded(server: ServeProcess, frames: int) -> dict:
    """The recorder's status once the take has ``frames`` frames in its file."""
    return wait_until(lambda: (lambda r: r if r.get("frames", 0) >= frames else None)(server.status()["record"]),
                      f"{frames} frames recorded")


def assert_walk_recorded(path: Path, at_least: int) -> np.ndarray:
    """The take plays: 64x64 frames, as many as asked at least, and the drift walk moving through them."""
    info = probe(path)
    assert (info["width"], info["height"], info["rate"]) == (64, 64, "30/1") and info["frames"] >= at_least, info
    frames = decode(path).astype(np.int16)
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert np.median(steps) > 0.2, f"the walk moves from frame to frame (median step {np.median(steps):.3f})"
    return frames


def test_a_set_is_recorded_from_the_start_and_by_osc(shm_name, tmp_path):
    first = tmp_path / "from-the-start.mp4"
    server = serve(shm_name, tmp_path, "--record", str(first))
    osc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    osc.bind(("127.0.0.1", 0))
    osc.settimeout(60)

    def ask(address, *args):
        osc.sendto(build_message(address, *args), ("127.0.0.1", server.osc_port))
        while True:
            message = OscMessage(osc.recvfrom(65535)[0])
            if message.address in ("/lvj/record/file", "/lvj/error"):
                return message.address, message.params

    try:
        assert f"record:   recording to {first}" in "".join(server.output)
        recorded(server, 45)
        assert ask("/lvj/record/start", "../elsewhere.mov")[1][0].startswith(
            "/lvj/record/start: '../elsewhere.mov': give a file name only")
        assert ask("/lvj/record/start", "second take.mov") == ("/lvj/record/file", [str(tmp_path / "second take.mov")])
        recorded(server, 45)
        full = server.status()
        status = full["record"]
        assert status["file"] == str(tmp_path / "second take.mov") and status["state"] == "recording"
        assert full["recording"] == status["file"] and full["recorded_s"] >= 1.5, "the /lvj/status fields"
        assert ask("/lvj/record/stop") == ("/lvj/record/file", [str(tmp_path / "second take.mov")])
        done = wait_until(lambda: (lambda r: r if r["state"] == "done" else None)(server.status()["record"]),
                          "the second take to be finished")
        assert ask("/lvj/record/stop")[1][0] == "/lvj/record/stop: nothing is being recorded"
        assert ask("/lvj/record/start", 1)[0] == "/lvj/record/file"  # a pulse: a take named by the time
        recorded(server, 10)
    finally:
        osc.close()
        server.assert_stops_cleanly()
    assert_walk_recorded(first, 45)
    second = assert_walk_recorded(tmp_path / "second take.mov", 45)
    assert probe(tmp_path / "second take.mov")["codec"] == "hap" and probe(first)["codec"] == "h264"
    assert len(second) >= done["frames"]
    timed = [p for p in tmp_path.iterdir() if p.name.startswith("latentvj-")]
    assert len(timed) == 1 and timed[0].suffix == ".mp4", "the pulse's take, closed when the server stopped"
    assert_walk_recorded(timed[0], 10)


def _ffmpeg_of(pid: int, path: Path) -> int:
    """The server's ffmpeg child that writes ``path``."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    found = [int(c) for c in children
             if str(path).encode() in Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")]
    assert len(found) == 1, f"one encoder writing {path} under the server, found {found} among {children}"
    return found[0]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")  # exited, not yet reaped


@pytest.mark.parametrize("encoder_too", [False, True], ids=["server-killed", "server-and-encoder-killed"])
def test_killing_the_server_mid_take_leaves_a_file_that_plays(shm_name, tmp_path, encoder_too):
    path = tmp_path / "crash.mp4"
    server = serve(shm_name, tmp_path, "--record", str(path))
    encoder = None
    try:
        recorded(server, 60)
        wait_until(lambda: probe(path)["frames"] >= 30, "a fragment on disk")
        encoder = _ffmpeg_of(server.proc.pid, path)
    finally:
        if encoder_too and encoder is not None:
            os.kill(encoder, signal.SIGKILL)
        server.proc.kill()
        server.proc.wait()
    # Killed alone, the server's end closes the encoder's input: ffmpeg finishes the file itself.
    assert encoder is not None
    wait_until(lambda: _gone(encoder), "the encoder to end")
    assert_walk_recorded(path, 30)
