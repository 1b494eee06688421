"""The tempo clock driven from outside, end to end: taps and beat pulses with liblo's oscsend and oscdump, MIDI
clock from a JACK MIDI port (JACK's dummy driver: no sound card, no MIDI hardware), and Ableton Link between
two `latentvj serve` processes inside a network namespace this test makes (Link multicasts on every
interface: never on the machine's real ones).

Debian packages: liblo-tools, jackd2 (which .ci/run installs); Python: the midi and link extras (make test
installs them). Each test skips, saying what is missing, without them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from processes import ChildProcess, ServeProcess, free_port_args, free_udp_port, oscdump, wait_until

pytestmark = pytest.mark.integration


def _needs(tool: str, package: str):
    return pytest.mark.skipif(shutil.which(tool) is None,
                              reason=f"`{tool}` is not on PATH: install the Debian package {package} "
                                     f"(apt-get install {package}; .ci/run does)")


def oscsend(port: int, address: str, types: str = "", *values: str) -> None:
    run = subprocess.run(["oscsend", "127.0.0.1", str(port), address, types, *values],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, f"oscsend {address}: {run.stdout}{run.stderr}"


def Serve(model: str, shm: str, *args: str, env=None) -> ServeProcess:
    return ServeProcess("--model", model, "--shm", shm, *free_port_args(), "--no-presets", *args, env=env)


def tempo(serve: ServeProcess) -> dict:
    return serve.status()["tempo"]


def when(value, condition):
    """``value`` if ``condition(value)``, else None (for wait_until)."""
    return value if condition(value) else None


@_needs("oscsend", "liblo-tools")
@_needs("oscdump", "liblo-tools")
def test_taps_set_the_tempo_and_subscribers_get_a_pulse_on_every_beat(tiny_gan_path):
    reply_port = free_udp_port()
    dump = oscdump(reply_port)
    serve = Serve(tiny_gan_path, f"lvjtp{os.getpid()}", "--reply", f"127.0.0.1:{reply_port}", "--bpm", "100")
    try:
        serve.ready()
        assert tempo(serve)["bpm"] == 100.0 and tempo(serve)["source"] == "internal"
        for _ in range(4):  # a performer tapping at 150 BPM (oscsend's start-up adds a few ms of jitter)
            started = time.monotonic()
            oscsend(serve.osc_port, "/lvj/tempo/tap")
            time.sleep(max(0.0, 0.4 - (time.monotonic() - started)))
        dump.wait_for_line(r"(^|\s)/lvj/tempo/bpm f 1[45]\d\.\d+$")  # echoed like every other change
        bpm = wait_until(lambda: tempo(serve)["bpm"] if tempo(serve)["bpm"] != 100.0 else None, "the tap tempo")
        assert 140 <= bpm <= 160, bpm
        oscsend(serve.osc_port, "/lvj/tempo/pulse", "s", "beat")
        first = int(dump.wait_for_line(r"(^|\s)/lvj/tempo/beat i (\d+)$")[2])
        second = int(dump.wait_for_line(r"(^|\s)/lvj/tempo/beat i (\d+)$")[2])
        assert second == first + 1
        oscsend(serve.osc_port, "/lvj/tempo/bpm", "f", "95.5")
        wait_until(lambda: tempo(serve)["bpm"] == 95.5, "the tempo sent")
        serve.assert_stops_cleanly()
    finally:
        dump.stop()
        serve.stop()


class ClockOut:
    """A MIDI clock sender on a JACK MIDI port (python-rtmidi's virtual port), as a drum machine or a DAW
    sends it: start, then 24 pulses a beat, from its own thread."""

    def __init__(self, port: str):
        import rtmidi

        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="test clock")
        self.out.open_virtual_port(port)
        self.bpm = 0.0
        self.sent: list[float] = []  # when each pulse went out
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def play(self, bpm: float) -> None:
        self.bpm = bpm
        self.out.send_message([0xFA])  # start
        self._thread = threading.Thread(target=self._pulses, daemon=True)
        self._thread.start()

    def _pulses(self) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            self.out.send_message([0xF8])
            self.sent.append(time.monotonic())
            next_tick += 60.0 / self.bpm / 24
            self._stop.wait(max(0.0, next_tick - time.monotonic()))  # the clock's own pace, not a wait for a result

    def last_tempo(self, pulses: int = 48) -> float:
        """The tempo the last ``pulses`` pulses were sent at (a straight line fitted to their times): a
        Python thread on a busy machine sends late at times, so this is what a listener can hear."""
        import numpy as np

        times = np.asarray(self.sent[-pulses:])
        interval = np.polyfit(np.arange(len(times)), times, 1)[0]
        return 60.0 / (interval * 24)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.out.send_message([0xFC])

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.out.close_port()
        self.out.delete()


def test_midi_clock_through_jack_drives_the_tempo_and_a_stall_free_runs(tiny_gan_path, jack):
    clock = ClockOut("clock out")
    serve = Serve(tiny_gan_path, f"lvjmc{os.getpid()}", "--tempo", "midi", "--midi-clock", "test clock",
                  "--midi-api", "jack", env=dict(os.environ))
    try:
        serve.ready()
        assert "MIDI clock" in tempo(serve)["note"] or tempo(serve)["note"].startswith("waiting")
        clock.play(140.0)
        shown = wait_until(lambda: when(tempo(serve), lambda t: t["following"] and abs(t["bpm"] - 140.0) < 1.5),
                           "the server to follow the MIDI clock at 140 BPM")
        assert shown["source"] == "midi" and shown["playing"]
        clock.stop()
        quiet = wait_until(lambda: when(tempo(serve), lambda t: not t["following"]), "the stall to be noticed")
        assert "free-running" in quiet["note"]
        beat = quiet["beat"]
        wait_until(lambda: tempo(serve)["beat"] > beat + 1, "the beat to go on, free-running")
        # At the last tempo: the last two beats' pulses as this Python sender's thread spaced them (under load
        # it sends some late; 133 BPM was seen) and as JACK's dummy driver, not running in realtime on a
        # shared machine, handed them over a period (5.3 ms, sometimes later) at a time, over the 0.86 s the
        # fit spans: up to 3 BPM apart was seen in full-suite runs, so within 5 (3.6 %), which still tells
        # the last tempo from the starting 120 BPM (14 % away).
        sent, held = clock.last_tempo(), tempo(serve)["bpm"]
        assert abs(held - sent) < 5.0, f"held {held} BPM, the last pulses were sent at {sent:.2f}"
        assert abs(held - 140.0) < abs(held - 120.0), "back at the starting tempo"
        serve.assert_stops_cleanly()
    finally:
        serve.stop()
        clock.close()


def netns_command(command: list[str]) -> list[str]:
    """``command`` inside a new network namespace with only a loopback that carries multicast."""
    setup = ("ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && "
             'exec "$@"')
    return ["unshare", "-n", "sh", "-c", setup, "netns", *command]


def netns_unavailable() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is not on PATH (util-linux, iproute2)"
    run = subprocess.run(netns_command(["true"]), capture_output=True, text=True)
    if run.returncode != 0:
        return f"cannot make a network namespace here (needs root): {run.stderr.strip()}"
    return None


def test_two_nodes_on_one_link_session_agree_on_the_beat(tiny_gan_path, tmp_path):
    pytest.importorskip("aalink", reason="the link extra is not installed: pip install 'latentvj[link]' (GPL-3.0)")
    why = netns_unavailable()
    if why:
        pytest.skip(f"Ableton Link runs only in a network namespace of the test's own: {why}")
    out = tmp_path / "nodes.json"
    command = netns_command([sys.executable, "-m", "latentvj.bridge.cli", "bench", "--link-nodes", "12",
                             "--model", tiny_gan_path, "--json", str(out)])
    run = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    frame_ms = 1000.0 / 30
    assert figures["peers_seen"] >= 1 and figures["samples"] >= 20, figures
    for part in (figures, figures["after_tempo_change"]):
        assert part["clock"]["max_ms"] < frame_ms, figures  # the same position at the same moment
        assert part["shown"]["max_ms"] < frame_ms, figures  # the frames shown: within a frame period
    assert figures["after_tempo_change"]["samples"] >= 10, figures
    assert figures["after_tempo_change"]["bpm"] == pytest.approx(figures["tempo_changed_to"]), figures
