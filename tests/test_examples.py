"""Every example in examples/ runs as its docstring says, against a real `latentvj serve`.

(examples/read_frames.py is run in test_serve_e2e.py, examples/faders.html in test_faders_page.py.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from processes import TIMEOUT, ChildProcess, ServeProcess, free_port_args

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BIN = os.path.dirname(sys.executable)


@pytest.fixture
def server(tiny_gan_path, shm_name, tmp_path):
    serve = ServeProcess("--model", tiny_gan_path, "--shm", shm_name, *free_port_args(),
                         "--presets", str(tmp_path / "presets.json"))
    try:
        yield serve.ready()
        serve.assert_stops_cleanly()
    finally:
        serve.stop()


def oscquery_value(server, address: str):
    with urllib.request.urlopen(f"{server.oscquery.rstrip('/')}{address}?VALUE", timeout=TIMEOUT) as response:
        return json.load(response)["VALUE"][0]


def test_controller_sweeps_stores_and_recalls_a_preset(server):
    run = subprocess.run([sys.executable, str(EXAMPLES / "controller.py"), "--port", str(server.osc_port),
                          "--seconds", "0.5"], capture_output=True, text=True, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"connected: 'tiny' on cpu, 32x32", run.stdout)
    assert "stored preset 1" in run.stdout
    assert re.search(r"recalled preset 1: walk loop around seed 0", run.stdout), run.stdout
    assert oscquery_value(server, "/lvj/truncation") == pytest.approx(1.0, abs=1e-6)  # the sweep ends at 1


def test_controller_says_when_no_server_answers(tmp_path):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # a port where nobody answers
        silent.bind(("127.0.0.1", 0))
        run = subprocess.run([sys.executable, str(EXAMPLES / "controller.py"), "--port",
                              str(silent.getsockname()[1])], capture_output=True, text=True, timeout=TIMEOUT)
    assert run.returncode == 1 and "is `latentvj serve` running?" in run.stderr


@pytest.mark.skipif(shutil.which("pd") is None, reason="`pd` is not on PATH: install the Debian package "
                    "puredata-core (apt-get install puredata-core; .ci/run does)")
def test_pd_sweep_patch_loops_sweeps_and_prints_status(server, tmp_path):
    patch = tmp_path / "sweep.pd"  # the example as shipped, pointed at this test's server port
    patch.write_text((EXAMPLES / "sweep.pd").read_text().replace("latentvj 9000", f"latentvj {server.osc_port}"))
    pd = ChildProcess(["pd", "-nogui", "-noaudio", "-nomidi", "-stderr", "-path", str(ROOT / "plugin" / "pd"),
                  str(patch)])
    try:
        pd.wait_for_line(r"^status: .*tiny cpu 32 32")
        deadline = time.monotonic() + TIMEOUT
        while oscquery_value(server, "/lvj/truncation") > 0.9 or oscquery_value(server, "/lvj/walk/mode") != "loop":
            assert time.monotonic() < deadline, "the sweep did not reach the server"
            time.sleep(0.05)  # polling another process's state: there is no event to wait on
    finally:
        pd.stop()
    problems = [line for line in pd.output if "error" in line or "couldn't create" in line]
    assert not problems, "".join(pd.output)


def test_render_loop_script_makes_its_three_clips(tiny_gan_path, tmp_path):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run(["sh", str(EXAMPLES / "render_loop.sh"), str(tmp_path / "clips"), tiny_gan_path],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    import imageio_ffmpeg

    for name, frames in (("loop.mp4", 240), ("loop.mov", 240)):
        reader = imageio_ffmpeg.read_frames(str(tmp_path / "clips" / name))
        assert next(reader)["size"] == (256, 256)
        assert sum(1 for _ in reader) == frames
    with Image.open(tmp_path / "clips" / "noise.gif") as gif:
        assert gif.n_frames == 60 and gif.size == (128, 128)
