"""`latentvj serve` as a real process: OSC over real UDP, frames from real shared memory and over HTTP."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image
from processes import ServeProcess, free_port_args, latentvj_command, wait_until
from pythonosc.osc_message import OscMessage

from latentvj.bridge.control.osc import STATUS_FIELDS, build_message
from latentvj.plugin.shmring import ShmFrameReader, StreamNotFoundError

pytestmark = pytest.mark.integration

TIMEOUT = 60.0


def serve_args(shm_name: str, *extra: str) -> list[str]:
    return [*free_port_args(), "--shm", shm_name, *extra]


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
    server = ServeProcess("--osc-port", "0", "--http-port", "0", "--oscquery-port", "0", "--shm", shm_name,
                          "--fps", "30")
    try:
        osc_port = int(server.wait_for_line(r"OSC:\s+udp 127\.0\.0\.1:(\d+)")[1])
        # The banner lists the preview before OSC; it has been printed by now.
        preview = re.search(r"preview:\s+(http://127\.0\.0\.1:\d+/)", "".join(server.output))[1]
        osc = ("127.0.0.1", osc_port)

        def send(address, *args):
            osc_client.sendto(build_message(address, *args), osc)

        def reply(address):
            """The next message to this client with that address (echoes of earlier changes come too)."""
            while True:
                message = OscMessage(osc_client.recvfrom(65535)[0])
                if message.address == address:
                    return message

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
        assert reply("/lvj/error").params[0].startswith("/lvj/walk/speed: expected a number")
        osc_client.sendto(b"\x00garbage", osc)
        assert "malformed" in reply("/lvj/error").params[0]
        send("/lvj/nope", 1.0)
        assert "unknown address" in reply("/lvj/error").params[0]
        # an accepted change is echoed to its sender.
        send("walk/speed", 2)
        assert reply("/lvj/walk/speed").params == [2.0]
        send("/lvj/status")
        status = dict(zip((name for name, _ in STATUS_FIELDS), reply("/lvj/status").params))
        assert status["mode"] == "hold" and status["width"] == 64 and status["frame"] > 0
        frames.next()

        # discovery: the OSCQuery server of the same process describes this OSC port and the live values.
        oscquery = re.search(r"OSCQuery:\s+(http://127\.0\.0\.1:\d+/)", "".join(server.output))[1]
        with urllib.request.urlopen(oscquery + "?HOST_INFO", timeout=TIMEOUT) as r:
            assert json.load(r)["OSC_PORT"] == osc_port
        with urllib.request.urlopen(oscquery + "lvj/walk/mode", timeout=TIMEOUT) as r:
            assert json.load(r)["VALUE"] == ["hold"]

        # the HTTP side.
        with urllib.request.urlopen(preview + "status", timeout=TIMEOUT) as r:
            http_status = json.load(r)
        assert http_status["mode"] == "hold" and http_status["seed"] == 4242
        assert http_status["shm"] == shm_name and http_status["model"] == "emoji-gan"
        assert http_status["random_init"] is False
        assert http_status["oscquery_port"] == int(oscquery.rsplit(":", 1)[1].strip("/"))
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
    server = ServeProcess("--model", tiny_gan_path, "--size", "48x32", "--osc-port", "0", "--http-port", "0", "--oscquery-port", "0",
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


def test_presets_survive_a_restart(shm_name, tiny_gan_path, osc_client, tmp_path):
    presets = tmp_path / "presets.json"
    args = serve_args(shm_name, "--model", tiny_gan_path, "--presets", str(presets))

    def started():
        server = ServeProcess(*args)
        port = int(server.wait_for_line(r"OSC:\s+udp 127\.0\.0\.1:(\d+)")[1])
        return server, lambda address, *a: osc_client.sendto(build_message(address, *a), ("127.0.0.1", port))

    server, send = started()
    try:
        send("/lvj/morph/time", 0.0)
        send("/lvj/walk/mode", "hold")
        send("/lvj/seed", 31337)
        with ShmFrameReader(shm_name) as reader:
            stored = Frames(reader).settled()
        send("/lvj/preset/store", 5)
        wait_until(lambda: presets.exists() and '"5"' in presets.read_text(), "the presets file")
    finally:
        assert server.stop() == 0

    server, send = started()
    try:
        send("/lvj/preset/time", 0.0)
        with ShmFrameReader(shm_name) as reader:
            frames = Frames(reader)
            assert not np.array_equal(frames.next(), stored), "a fresh start shows the default walk"
            send("/lvj/preset/recall", 5)
            wait_until(lambda: np.array_equal(frames.next(), stored), "the recalled image")
    finally:
        assert server.stop() == 0


def test_a_flood_of_messages_does_not_stop_rendering_or_control(shm_name, tiny_gan_path, osc_client):
    server = ServeProcess(*serve_args(shm_name, "--model", tiny_gan_path))
    try:
        port = int(server.wait_for_line(r"OSC:\s+udp 127\.0\.0\.1:(\d+)")[1])
        osc = ("127.0.0.1", port)
        with ShmFrameReader(shm_name) as reader:
            frames = Frames(reader)
            frames.next()
            before = frames.last
            flood = [build_message("/lvj/walk/speed", 0.5 + (i % 50) / 100) for i in range(50)]
            flood.append(b"\x00garbage")
            for i in range(20_000):
                osc_client.sendto(flood[i % len(flood)], osc)
            frames.next()
            assert frames.last > before, "frames kept coming"
        # UDP is lossy and the kernel drops what overflows the socket buffer during a flood: ask until
        # answered. Echoes and errors of the flood may come first.
        osc_client.settimeout(0.5)
        deadline = time.monotonic() + TIMEOUT
        answered = False
        while not answered and time.monotonic() < deadline:
            osc_client.sendto(build_message("/lvj/status"), osc)
            try:
                while not answered:
                    answered = OscMessage(osc_client.recvfrom(65535)[0]).address == "/lvj/status"
            except socket.timeout:
                continue
        assert answered, "control still answers after the flood"
        assert server.proc.poll() is None
    finally:
        assert server.stop() == 0


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        assert chunk, "the sender closed the connection mid-matrix"
        data += chunk
    return data


def test_serve_sends_frames_to_a_jitter_receiver(shm_name, tiny_gan_path):
    """`serve --jitter HOST:PORT` connects to a jit.net.recv stand-in and streams 4-plane char matrices of
    the output size; /status reports the connection. (The byte layout is checked in test_jitnet.py.)"""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]
        server = ServeProcess("--model", tiny_gan_path, "--size", "48x32", *serve_args(shm_name),
                              "--jitter", f"127.0.0.1:{port}")
        try:
            server.wait_for_line(rf"Jitter:\s+jit.net.send to 127\.0\.0\.1:{port}")
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                chunk = _recv_exactly(conn, 8)
                assert chunk[:4] == b"JMTX"
                header = _recv_exactly(conn, 288)
                planecount, kind, dimcount = struct.unpack(">3i", header[8:20])
                width, height = struct.unpack(">2i", header[20:28])
                datasize = struct.unpack(">i", header[276:280])[0]
                assert (planecount, kind, dimcount, width, height) == (4, 0, 2, 48, 32)
                argb = np.frombuffer(_recv_exactly(conn, datasize), np.uint8).reshape(32, 48, 4)
                assert (argb[..., 0] == 255).all()
                preview = re.search(r"preview:\s+(http://127\.0\.0\.1:\d+/)", "".join(server.output))[1]

                def jitter_status():
                    with urllib.request.urlopen(preview + "status", timeout=TIMEOUT) as response:
                        status = json.load(response)["jitter"]
                    return status if status["connected"] and status["sent_frames"] >= 1 else None

                assert wait_until(jitter_status, "/status to show the Jitter connection")["target"] == \
                    f"127.0.0.1:{port}"
            assert server.stop() == 0, "".join(server.output)
        finally:
            server.stop()


def test_serve_publishes_an_ndi_source(shm_name, tiny_gan_path):
    """`serve --ndi NAME` hands every frame to the NDI sender (which sends them once a receiver connects;
    the round trip through a real NDI receiver is in test_ndi.py)."""
    pytest.importorskip("cyndilib", reason="NDI output needs the [ndi] extra: pip install 'latentvj[ndi]'")
    name = f"lvj-e2e-{os.getpid()}"
    server = ServeProcess("--model", tiny_gan_path, *serve_args(shm_name), "--ndi", name)
    try:
        server.wait_for_line(rf"NDI:\s+source '{name}'")
        preview = re.search(r"preview:\s+(http://127\.0\.0\.1:\d+/)", "".join(server.output))[1]

        def ndi_status():
            with urllib.request.urlopen(preview + "status", timeout=TIMEOUT) as response:
                status = json.load(response)["ndi"]
            return status if status["running"] and status["sent"] + status["idle"] >= 3 else None

        status = wait_until(ndi_status, "/status to show frames going to NDI")
        assert status["name"] == name and status["errors"] == 0
        assert (status["width"], status["height"]) == (32, 32)
        assert server.stop() == 0, "".join(server.output)
    finally:
        server.stop()


def test_serve_without_the_ndi_extra_says_what_to_install(shm_name, tiny_gan_path, tmp_path):
    """A missing extra is one clear line naming the pip install, before anything is opened."""
    blocker = tmp_path / "cyndilib.py"
    blocker.write_text("raise ModuleNotFoundError(\"No module named 'cyndilib'\", name='cyndilib')\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    run = subprocess.run(latentvj_command() + ["serve", "--model", tiny_gan_path, *serve_args(shm_name),
                                               "--ndi", "x"], capture_output=True, text=True, env=env,
                         timeout=TIMEOUT)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "needs the optional cyndilib package: pip install 'latentvj[ndi]'" in run.stderr
    assert "Traceback" not in run.stderr


def test_serve_plays_a_stylegan_network_pickle_and_takes_its_controls_over_udp(shm_name, tmp_path, monkeypatch):
    """`latentvj serve --model network-snapshot.pkl`: a real server converts the pickle in memory (nothing
    written next to it), streams its frames, and takes /lvj/sg3/translate from a real UDP socket."""
    from nvidia_pickles import reference_pickle, stand_ins

    path, _, _ = reference_pickle(stand_ins(monkeypatch), tmp_path / "network-snapshot-000400.pkl", "sg3t")
    server = ServeProcess(*serve_args(shm_name, "--model", str(path))).ready()
    try:
        assert re.search(r"serving 'network-snapshot-000400' \(stylegan3\)", "".join(server.output))
        with ShmFrameReader(shm_name) as reader:
            frames = Frames(reader)
            assert frames.next().shape == (16, 16, 3)
            osc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for message in (build_message("/lvj/walk/mode", "hold"), build_message("/lvj/smoothing", 0.0),
                            build_message("/lvj/morph/time", 0.0)):
                osc.sendto(message, ("127.0.0.1", server.osc_port))
            wait_until(lambda: server.status()["decks"]["a"]["mode"] == "hold", "the deck holds")
            still = frames.next()
            assert np.array_equal(frames.next(), still), "holding: the same image"
            osc.sendto(build_message("/lvj/sg3/translate", 0.25, 0.0), ("127.0.0.1", server.osc_port))
            wait_until(lambda: not np.array_equal(frames.next(), still), "the image moved")
            osc.close()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["network-snapshot-000400.pkl"]
    finally:
        server.stop()
    assert "Traceback" not in "".join(server.output)
