"""`latentvj serve` driven by OSC clients nobody here wrote: liblo's oscsend/oscdump and vanilla Pure Data.

Our own tests build OSC with python-osc, the same library the server parses with, so a disagreement about
the wire format would go unnoticed there. These tests use the tools users have. They need the Debian
packages liblo-tools (oscsend, oscdump) and puredata-core (pd), which .ci/run installs; without them the
tests skip, naming the package.

Quirks of these clients that the tests rely on (and that users will meet):
- oscsend sends exactly the address it is given, with or without the leading slash, and the type tags
  given (`f 0.25`, `i 2`, `s loop`).
- oscdump prints one line per message: liblo 0.31 starts it with the timetag in hex, then the address,
  the type tags and the values (floats as %f, strings in double quotes). It binds every interface: a host
  in its URL is taken as a multicast group.
- Pd's [oscformat] always writes a leading slash (`lvj walk mode`, `lvj/walk/mode` and `/lvj/walk/mode` all
  give `/lvj/walk/mode`), so a Pd patch cannot send an address without one. Numbers go out as `f` unless
  a format says otherwise (`-f i`). [oscparse] prints what it gets as `list lvj walk speed 0.375`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from processes import ChildProcess, ServeProcess, free_port_args, free_udp_port, oscdump, wait_until

pytestmark = pytest.mark.integration

TIMEOUT = 30.0
FIXTURES = Path(__file__).parent / "fixtures"


def _needs(tool: str, package: str):
    return pytest.mark.skipif(shutil.which(tool) is None,
                              reason=f"`{tool}` is not on PATH: install the Debian package {package} "
                                     f"(apt-get install {package}; .ci/run does)")


needs_oscsend = _needs("oscsend", "liblo-tools")
needs_oscdump = _needs("oscdump", "liblo-tools")
needs_pd = _needs("pd", "puredata-core")


def Serve(model: str, shm: str, *args: str) -> ServeProcess:
    """`latentvj serve` on free ports, without a presets file."""
    return ServeProcess("--model", model, "--shm", shm, *free_port_args(), "--no-presets", *args)



def oscsend(port: int, address: str, types: str = "", *values: str) -> None:
    run = subprocess.run(["oscsend", "127.0.0.1", str(port), address, types, *values],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert run.returncode == 0, f"oscsend {address} {types} {values}: {run.stdout}{run.stderr}"


PD_PLUGIN = Path(__file__).parent.parent / "plugin" / "pd"


def pd(patch: str | Path, message: str) -> Process:
    """Pure Data without GUI, audio or MIDI, running a patch (a name in tests/fixtures, or a path) with
    plugin/pd on its search path; `message` is sent to it once the patch is loaded (`-send "receiver args"`)."""
    return ChildProcess(["pd", "-nogui", "-noaudio", "-nomidi", "-stderr", "-path", str(PD_PLUGIN), "-send",
                         message, str(FIXTURES / patch)], read="stderr")


@pytest.fixture(scope="module")
def server(tiny_gan_path):
    """One server for the tests that need no --reply: each sets values the others do not."""
    serve = Serve(tiny_gan_path, f"lvjrc{os.getpid()}")
    try:
        serve.ready()
        yield serve
        serve.assert_stops_cleanly()
    finally:
        serve.stop()


@needs_oscsend
def test_oscsend_sets_parameters(server):
    oscsend(server.osc_port, "/lvj/walk/speed", "f", "0.25")
    server.wait_for_status(speed=0.25)
    oscsend(server.osc_port, "lvj/walk/speed", "f", "0.75")  # no leading slash
    server.wait_for_status(speed=0.75)
    oscsend(server.osc_port, "/lvj/walk/speed", "i", "2")  # an int where a float is expected
    server.wait_for_status(speed=2.0)
    oscsend(server.osc_port, "/lvj/walk/mode", "s", "loop")
    server.wait_for_status(mode="loop")


@needs_oscsend
@needs_oscdump
def test_oscdump_on_reply_port_sees_echoes_and_errors(tiny_gan_path):
    reply_port = free_udp_port()
    # The server loads its model meanwhile.
    serve = Serve(tiny_gan_path, f"lvjrd{os.getpid()}", "--reply", f"127.0.0.1:{reply_port}")
    dump = oscdump(reply_port)
    try:
        serve.ready()

        oscsend(serve.osc_port, "/lvj/walk/speed", "f", "0.25")
        dump.wait_for_line(r"(^|\s)/lvj/walk/speed f 0\.250000$")
        oscsend(serve.osc_port, "lvj/walk/mode", "s", "hold")
        dump.wait_for_line(r'(^|\s)/lvj/walk/mode s "hold"$')

        # A wrong type is answered to the reply port too, and changes nothing.
        oscsend(serve.osc_port, "/lvj/walk/speed", "s", "fast")
        dump.wait_for_line(r'(^|\s)/lvj/error s "/lvj/walk/speed: expected a number')
        # Rendering goes on, and so does control.
        frame = serve.status()["frame"]
        oscsend(serve.osc_port, "/lvj/seed", "i", "5")
        dump.wait_for_line(r"(^|\s)/lvj/seed i 5$")
        serve.wait_for_status(seed=5, speed=0.25, mode="hold")
        deadline = time.monotonic() + TIMEOUT
        while serve.status()["frame"] <= frame:
            assert time.monotonic() < deadline, "no new frame after the bad message"
            time.sleep(0.02)
        serve.assert_stops_cleanly()
    finally:
        dump.stop()
        serve.stop()


@needs_pd
def test_pd_patch_sets_parameters(server):
    patch = pd("lvj_send.pd", f"lvj-port {server.osc_port}")
    try:
        server.wait_for_status(mode="hold", seed=77, speed=0.5)
    finally:
        patch.stop()
    assert not any("error" in line for line in patch.output), "".join(patch.output)


@needs_pd
def test_pd_patch_subscribes_and_hears_its_echo(server):
    reply_port = free_udp_port()
    patch = pd("lvj_subscribe.pd", f"lvj-ports {server.osc_port} {reply_port}")
    try:
        # On /lvj/subscribe the patch is sent every current value, then the echo of its own change.
        patch.wait_for_line(r"lvj-reply: (list )?lvj walk mode \w+$")
        patch.wait_for_line(r"lvj-reply: (list )?lvj walk speed 0\.375$")
        server.wait_for_status(speed=0.375)
    finally:
        patch.stop()


@needs_pd
def test_pd_parses_every_value_a_subscriber_is_sent(server):
    """Booleans (walk/freeze) go out as int 0/1: vanilla Pd's [oscparse] rejects OSC's T/F tags with
    "unknown tag" (pure-data/pure-data#2409), and so do some other hosts."""
    reply_port = free_udp_port()
    patch = pd("lvj_subscribe.pd", f"lvj-ports {server.osc_port} {reply_port}")
    try:
        # The current values come first and /lvj/status last, in order over loopback.
        patch.wait_for_line(r"lvj-reply: (list )?lvj status ")
    finally:
        patch.stop()
    errors = [line for line in patch.output if "error" in line]
    assert not errors, "".join(errors)


@needs_pd
def test_pd_abstraction_sends_from_its_inlets_and_outputs_replies(server):
    """plugin/pd/latentvj.pd as a user patches it: parameter inlets, the message inlet (connect, reply,
    any ADDRESS ARGS), and the outlet with every reply."""
    reply_port = free_udp_port()
    patch = pd("lvj_abstraction.pd", f"lvj-test {server.osc_port} {reply_port}")
    try:
        server.wait_for_status(mode="noise", seed=4242, speed=0.625, crossfade=0.4, bpm=133.0, quantise="bar")
        patch.wait_for_line(r"lvj-reply: (list )?lvj truncation 0\.75$")  # the message inlet, echoed back
        # Two status lines: one in the values a subscription starts with, one the reply to "status" (sent
        # back to [netsend]'s own port at once, before the coalesced echoes).
        statuses = [line for line in patch.output if re.search(r"lvj-reply: (list )?lvj status (?!rate )", line)]
        assert len(statuses) == 2, "".join(patch.output)
    finally:
        patch.stop()
    problems = [line for line in patch.output if "error" in line or "couldn't create" in line]
    assert not problems, "".join(patch.output)


@needs_pd
@pytest.mark.parametrize("patch", ["latentvj.pd", "latentvj-help.pd", "latentvj-panel.pd"])
def test_pd_plugin_patches_load_without_errors(patch):
    """Every object in the abstraction, its help patch and the panel exists in vanilla Pd (a typo would print
    "couldn't create" and leave a dead box in the user's patch)."""
    loaded = pd(PD_PLUGIN / patch, "pd quit")
    assert loaded.finish() == 0
    problems = [line for line in loaded.output if "error" in line or "couldn't create" in line]
    assert not problems, "".join(loaded.output)


def _panel_patch(folder: Path, osc_port: int) -> Path:
    """A user's patch holding [latentvj-panel OSCPORT], printing its outlet and what its meters, route list
    and drawn-value lines send (their send names carry the port)."""
    prints = ["level", "route1", "route2", "drawn-output-fade"]
    lines = ["#N canvas 40 40 900 600 12;", f"#X obj 20 20 latentvj-panel {osc_port};", "#X obj 20 600 print panel;"]
    for i, name in enumerate(prints):
        lines += [f"#X obj 400 {20 + 60 * i} r lvj-{osc_port}-{name};", f"#X obj 400 {50 + 60 * i} print {name};"]
    lines.append("#X connect 0 0 1 0;")
    lines += [f"#X connect {2 + 2 * i} 0 {3 + 2 * i} 0;" for i in range(len(prints))]
    path = folder / "panel.pd"
    path.write_text("\n".join(lines) + "\n")
    return path


def _clicks(path: Path) -> Path:
    """Two seconds of a click every half second (then the server loops it): level and onsets to meter."""
    import wave

    import numpy as np

    rate = 48000
    samples = np.zeros(2 * rate)
    for start in range(0, len(samples), rate // 2):
        samples[start:start + 480] = 0.8 * np.sin(2 * np.pi * 1000 * np.arange(480) / rate)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


@needs_pd
def test_pd_panel_learns_a_cc_meters_the_audio_and_lists_the_routes(tiny_gan_path, jack, tmp_path):
    """plugin/pd/latentvj-panel.pd as a performer uses it: its learn button maps the next CC (sent through
    JACK by a virtual controller) to walk/speed, its meters move with the audio, its route list and the line
    under a fader follow a route made by another controller (oscsend)."""
    from test_midi_e2e import Controller

    controller = Controller("knobs")
    routes = tmp_path / "routes.json"
    serve = Serve(tiny_gan_path, f"lvjpanel{os.getpid()}", "--routes", str(routes), "--midi", "test controller",
                  "--midi-api", "jack", "--audio-file", str(_clicks(tmp_path / "clicks.wav")))
    patch = None
    try:
        serve.ready()
        patch = pd(_panel_patch(tmp_path, serve.osc_port), f"lvj-{serve.osc_port}-learn-walk-speed bang")
        wait_until(lambda: "learn" in "".join(serve.output), "the server to listen for a control")
        wait_until(lambda: (controller.send(0xB0, 21, 127), routes.exists() and "cc:1:21" in routes.read_text())[1],
                   "the CC to be learned")
        controller.send(0xB0, 21, 0)
        serve.wait_for_status(speed=-10.0)
        patch.wait_for_line(r"panel: (list )?lvj walk speed -10$")  # the echo that sets its fader

        # The meters: the panel's polled /lvj/status brings the features after it.
        wait_until(lambda: any(float(m[1]) > 0.1 for line in patch.output
                               if (m := re.match(r"level: (\S+)$", line))), "the level meter to move")

        oscsend(serve.osc_port, "/lvj/mod/route", "s", "audio:onset output/fade amount=-1")
        oscsend(serve.osc_port, "/lvj/mod/route", "s", "osc:knee direction/2 range=0,1023")
        patch.wait_for_line(r"route1: (list )?audio:onset output/fade amount=-1$")
        patch.wait_for_line(r"route2: (list )?osc:knee deck/a/direction/2 amount=1 range=0\\?,1023$")
        patch.wait_for_line(r"drawn-output-fade: (0|0?\.\d+|1)$")
        serve.assert_stops_cleanly()
    finally:
        if patch is not None:
            patch.stop()
        serve.stop()
        controller.close()
    problems = [line for line in patch.output if "error" in line or "couldn't create" in line]
    assert not problems, "".join(problems)
