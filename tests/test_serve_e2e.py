"""`latentvj serve` as a real process: OSC over real UDP, frames from real shared memory and over HTTP."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image
from pythonosc.osc_message import OscMessage

from latentvj.bridge.osc import STATUS_FIELDS, build_message
from latentvj.plugin.shmring import ShmFrameReader, StreamNotFoundError

pytestmark = pytest.mark.integration

TIMEOUT = 60.0


def latentvj_command() -> list[str]:
    script = shutil.which("latentvj", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "latentvj.bridge.cli"]


class ServeProcess:
    def __init__(self, *args: str):
        self.proc = subprocess.Popen(latentvj_command() + ["serve", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put("")  # end of output

    def wait_for_line(self, pattern: str) -> re.Match:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line == "":
                raise AssertionError(f"serve exited ({self.proc.wait()}):\n{''.join(self.output)}")
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} within {TIMEOUT}s:\n{''.join(self.output)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=TIMEOUT)


def wait_until(condition, what: str):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        result = condition()
        if result is not None and result is not False:
            return result
        time.sleep(0.01)  # polling shared memory: there is no event to wait on across processes
    raise AssertionError(f"timed out waiting for {what}")


class Frames:
    """Newest frames from the ring, each newer than the last one seen."""

    def __init__(self, reader: ShmFrameReader):
        self.reader, self.last = reader, 0

    def next(self) -> np.ndarray:
        frame = wait_until(lambda: self.reader.read(newer_than=self.last), "a new frame")
        self.last = frame.number
        return frame.pixels

    def settled(self) -> np.ndarray:
        """Wait until two successive new frames are identical (the image stopped) and return it."""
        previous = self.next()
        def same():
            nonlocal previous
            current = self.next()
            if np.array_equal(current, previous):
                return current
            previous = current
        return wait_until(same, "the image to stand still")


@pytest.fixture
def osc_client():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(TIMEOUT)
    yield sock
    sock.close()


def test_serve_streams_and_obeys_osc(shm_name, osc_client):
    server = ServeProcess("--osc-port", "0", "--http-port", "0", "--shm", shm_name, "--fps", "30")
    try:
        osc_port = int(server.wait_for_line(r"OSC:\s+udp 127\.0\.0\.1:(\d+)")[1])
        # The banner lists the preview before OSC; it has been printed by now.
        preview = re.search(r"preview: (http://127\.0\.0\.1:\d+/)", "".join(server.output))[1]
        osc = ("127.0.0.1", osc_port)

        def send(address, *args):
            osc_client.sendto(build_message(address, *args), osc)

        def reply():
            return OscMessage(osc_client.recvfrom(65535)[0])

        reader = ShmFrameReader(shm_name)
        assert (reader.width, reader.height, reader.channels) == (64, 64, 3)  # the bundled default
        frames = Frames(reader)
        first, second = frames.next(), frames.next()
        assert not np.array_equal(first, second), "the default walk (drift) moves"

        # hold: the image stops.
        send("/lvj/morph/time", 0.3)
        send("/lvj/walk/mode", "hold")
        held = frames.settled()

        # a seed: the image changes, then holds at the seed's point.
        send("/lvj/seed", 4242)
        wait_until(lambda: not np.array_equal(frames.next(), held), "the image to change after /lvj/seed")
        at_seed = frames.settled()
        assert not np.array_equal(at_seed, held)

        # bad input is answered, and rendering and control carry on.
        send("/lvj/walk/speed", "fast")
        assert reply().params[0].startswith("/lvj/walk/speed: expected a number")
        osc_client.sendto(b"\x00garbage", osc)
        assert "malformed" in reply().params[0]
        send("/lvj/nope", 1.0)
        assert "unknown address" in reply().params[0]
        send("/lvj/status")
        status = dict(zip((name for name, _ in STATUS_FIELDS), reply().params))
        assert status["mode"] == "hold" and status["width"] == 64 and status["frame"] > 0
        frames.next()

        # the HTTP side.
        with urllib.request.urlopen(preview + "status", timeout=TIMEOUT) as r:
            http_status = json.load(r)
        assert http_status["mode"] == "hold" and http_status["seed"] == 4242
        assert http_status["shm"] == shm_name and http_status["random_init"] is True
        with urllib.request.urlopen(preview + "frame.jpg", timeout=TIMEOUT) as r:
            jpeg = Image.open(io.BytesIO(r.read()))
        assert jpeg.size == (64, 64)
        # The preview shows what the ring carries (JPEG-lossy, so compared loosely).
        assert np.abs(np.asarray(jpeg, dtype=float) - at_seed.astype(float)).mean() < 12

        reader.close()
        # Shut down cleanly on SIGTERM: exit 0 and the shared memory is gone.
        assert server.stop() == 0, "".join(server.output)
        with pytest.raises(StreamNotFoundError):
            ShmFrameReader(shm_name)
    finally:
        server.stop()


def test_ctrl_c_exits_cleanly_and_frees_shared_memory(shm_name, tiny_gan_path, tmp_path):
    server = ServeProcess("--model", tiny_gan_path, "--size", "48x32", "--osc-port", "0", "--http-port", "0",
                          "--shm", shm_name)
    try:
        server.wait_for_line(r"Ctrl-C to stop")
        with ShmFrameReader(shm_name) as reader:
            assert reader.shape == (32, 48, 3)
            assert Frames(reader).next().shape == (32, 48, 3)
        # The example script reads from the same stream, as a user's own script would.
        sheet = tmp_path / "sheet.png"
        example = os.path.join(os.path.dirname(__file__), "..", "examples", "read_frames.py")
        run = subprocess.run([sys.executable, example, "--shm", shm_name, "--frames", "3", "--out", str(sheet)],
                             capture_output=True, text=True, timeout=TIMEOUT)
        assert run.returncode == 0, run.stderr
        assert Image.open(sheet).size == (3 * 48, 32)
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(timeout=TIMEOUT) == 0, "".join(server.output)
        assert "Traceback" not in "".join(server.output)
        with pytest.raises(StreamNotFoundError):
            ShmFrameReader(shm_name)
    finally:
        server.stop()
