"""A MIDI controller, end to end through JACK's dummy driver: a python-rtmidi virtual port plays the
controller, `latentvj serve --midi` hears it. MIDI learn maps a CC to a parameter and a note to a preset
recall; a CC is a modulation source; a value changed over OSC goes back to the controller's fader (its own
moves do not); the mappings are in the routes file after a restart."""

from __future__ import annotations

import os
import socket

import pytest

from latentvj.bridge.control.commands import build_message
from latentvj.plugin import oscwire
from processes import ServeProcess, free_port_args, wait_until

pytestmark = pytest.mark.integration


class Controller:
    """A controller with knobs (a virtual output port) and motorised faders (a virtual input port)."""

    def __init__(self, port: str):
        import rtmidi

        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="test controller")
        self.out.open_virtual_port(port)
        self._heard: list[list[int]] = []
        self.faders = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="test faders")
        self.faders.open_virtual_port("motors")  # read by polling: no callback on JACK's process thread

    @property
    def heard(self) -> list[list[int]]:
        """What the motorised faders were sent so far."""
        while (message := self.faders.get_message()) is not None:
            self._heard.append(message[0])
        return self._heard

    def send(self, *data: int) -> None:
        self.out.send_message(list(data))

    def close(self) -> None:
        for port in (self.out, self.faders):
            port.close_port()
            port.delete()


def osc(serve: ServeProcess, address: str, *args) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(build_message(address, *args), ("127.0.0.1", serve.osc_port))


def test_learn_a_cc_and_a_note_and_bend_with_a_cc(tiny_gan_path, jack, tmp_path):
    controller = Controller("knobs")
    routes = tmp_path / "routes.json"

    def serve():
        return ServeProcess("--model", tiny_gan_path, "--shm", f"lvjmidi{os.getpid()}", *free_port_args(),
                            "--presets", str(tmp_path / "presets.json"), "--routes", str(routes),
                            "--midi", "test controller", "--midi-out", "test faders", "--midi-api", "jack",
                            env=dict(os.environ)).ready()

    server = serve()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # the ports a performer can pick
            sock.settimeout(10)
            sock.sendto(build_message("/lvj/midi/ports"), ("127.0.0.1", server.osc_port))
            ports = oscwire.decode(sock.recv(65535))[0]
        assert ports.address == "/lvj/midi/ports" and any("knobs" in p for p in ports.args), ports
        osc(server, "/lvj/midi/learn", "walk/speed")
        wait_until(lambda: "learn" in "".join(server.output), "the server to listen for a control")
        # A performer's first moves reach the server only once JACK has connected the port: repeat the
        # move until the mapping exists (the learning move is the first that arrives).
        wait_until(lambda: (controller.send(0xB0, 21, 127), "cc:1:21" in routes.read_text() if routes.exists()
                            else False)[1], "the CC to be learned")
        controller.send(0xB0, 21, 0)
        server.wait_for_status(speed=-10.0)
        controller.send(0xB0, 21, 96)
        wait_until(lambda: abs(server.status()["speed"] - (-10 + 20 * 96 / 127)) < 1e-3, "the knob's value")
        assert [0xB0, 21, 96] not in controller.heard, "the controller's own moves are not sent back"
        osc(server, "/lvj/walk/speed", 5.0)  # changed elsewhere: the motorised fader follows
        wait_until(lambda: [0xB0, 21, 95] in controller.heard, "the fader to be sent 5.0 as CC 95")

        osc(server, "/lvj/preset/store", 1)
        server.wait_for_status(preset=1)  # a frame each: two stores in one frame, the latest wins
        osc(server, "/lvj/preset/store", 2)
        server.wait_for_status(preset=2)
        osc(server, "/lvj/midi/learn", "preset/recall", "1")
        wait_until(lambda: (controller.send(0x99, 36, 100), controller.send(0x89, 36, 0),
                            "note:10:36" in routes.read_text())[2], "the note to be learned")
        server.wait_for_status(preset=1)

        osc(server, "/lvj/mod/route", "midi:cc:1:30", "output/fade", "amount=-1")
        wait_until(lambda: (controller.send(0xB0, 30, 127),
                            server.status()["modulated"].get("output/fade") == 0.0)[1], "the CC to bend the fade")
        server.assert_stops_cleanly()
    finally:
        server.stop()
    again = serve()
    try:
        controller.send(0xB0, 21, 127)
        wait_until(lambda: (controller.send(0xB0, 21, 127), again.status()["speed"] == 10.0)[1],
                   "the learned CC to work after a restart")
        again.assert_stops_cleanly()
    finally:
        again.stop()
        controller.close()
