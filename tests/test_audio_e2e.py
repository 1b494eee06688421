"""Live audio, end to end through JACK's dummy driver: jack_metro clicks at 120 BPM into `latentvj serve
--audio`'s input (sounddevice over PortAudio's JACK host API); the server hears onsets half a second apart,
and a route from audio:onset to the fade makes the frames in shared memory dip on every click."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

from latentvj.bridge.control.commands import build_message
from latentvj.plugin.shmring import ShmFrameReader
from processes import ChildProcess, ServeProcess, free_port_args, wait_until

pytestmark = pytest.mark.integration


def test_clicks_through_jack_are_onsets_and_a_pulse_in_the_frames(tiny_gan_path, jack, shm_name):
    # Only looked for, not imported: PortAudio, once started in this process, would abort it at exit when its
    # JACK server is gone (pa_jack.c asserts), failing the whole run.
    if importlib.util.find_spec("sounddevice") is None:
        pytest.skip("the audio extra is not installed: pip install 'latentvj[audio]'")
    if shutil.which("jack_metro") is None or shutil.which("jack_connect") is None:
        pytest.skip("jack_metro and jack_connect come with the Debian package jackd2")
    serve = ServeProcess("--model", tiny_gan_path, "--shm", shm_name, *free_port_args(), "--no-presets",
                         "--no-routes", "--audio", "system", env=dict(os.environ))
    metro = None
    try:
        serve.ready()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(build_message("/lvj/mod/route", "audio:onset", "output/fade", "amount=-1"),
                        ("127.0.0.1", serve.osc_port))
        metro = ChildProcess(["jack_metro", "-b", "120", "-f", "1000", "-D", "20", "-n", "clicks"])
        ports = lambda: subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split()
        wait_until(lambda: "clicks:120_bpm" in ports(), "jack_metro's port")
        ours = [p for p in ports() if p.startswith("PortAudio") or p.startswith("latentvj")]
        for port in [p for p in subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True).stdout.split()
                     if p.endswith(":in_0")][:1] or ours[:1]:
            run = subprocess.run(["jack_connect", "clicks:120_bpm", port], capture_output=True, text=True)
            assert run.returncode == 0, run.stdout + run.stderr
        def heard():
            audio = serve.status()["audio"]
            return audio if audio["onsets"] >= 6 else None

        audio = wait_until(heard, "six clicks to be heard")
        gaps = np.diff(audio["last_onsets"])
        assert np.all(np.abs(gaps - 0.5) < 0.03), audio["last_onsets"]  # 120 BPM: a click every half second
        with ShmFrameReader(shm_name) as reader:  # the fade dips on each click: dark frames among bright ones
            means, deadline = [], time.monotonic() + 10
            while time.monotonic() < deadline and len(means) < 60:
                frame = reader.read()
                if frame is not None:
                    means.append(float(frame.pixels.mean()))
                time.sleep(1 / 60)  # reading a live stream at twice its rate
        assert min(means) < 0.3 * max(means), means
        serve.assert_stops_cleanly()
    finally:
        if metro is not None:
            metro.stop()
        serve.stop()
