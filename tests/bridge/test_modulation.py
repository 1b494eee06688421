"""The modulation matrix: beat LFOs and OSC sources bending continuous parameters on top of the values the
performer set, in phase with the tempo clock; routes made, listed and removed over OSC, kept in their own
file and back after a restart."""

from __future__ import annotations

import json
import math
import os
import socket
import urllib.request

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage

from latentvj.bridge.clock import Moment, TempoClock
from latentvj.bridge.control.commands import Commands, build_message
from latentvj.bridge.control.midi import Control, Mapping
from latentvj.bridge.control.params import PARAMS, ParamError
from latentvj.bridge.control.state import ControlState
from latentvj.bridge.engine import Engine, EngineConfig
from latentvj.bridge.modulation import Modulation, Route, RouteFile, SETS, lfo, parse_route
from latentvj.models.checkpoint import load_model

SENDER = ("127.0.0.1", 4321)


@pytest.mark.parametrize("shape,values", [
    ("sine", [0.0, 0.5, 1.0, 0.5]), ("triangle", [0.0, 0.5, 1.0, 0.5]), ("saw", [0.0, 0.25, 0.5, 0.75]),
    ("square", [1.0, 1.0, 0.0, 0.0]), ("hit", [1.0, math.exp(-1.5), math.exp(-3.0), math.exp(-4.5)]),
])
def test_lfo_shapes_over_one_cycle(shape, values):
    assert [lfo(shape, p) for p in (0.0, 0.25, 0.5, 0.75)] == pytest.approx(values, abs=1e-9)


def test_routes_are_parsed_checked_and_said_back():
    route = parse_route(["lfo:sine:4", "direction/2", "amount=0.5", "curve=s"], selected="b")
    assert route.target == "deck/b/direction/2" and route.amount == 0.5 and route.curve == "s"
    assert parse_route(route.describe().split()) == route
    assert parse_route(["osc:knee motion range=0,1023 smooth=0.1"]).target == "deck/a/walk/speed"
    assert parse_route(["lfo:hit:1", "pulse/3"]).target == "deck/a/direction/3"
    assert parse_route(["lfo:saw:16:0.25", "crossfade"]).target == "crossfade"
    for words, said in ((["lfo:wobble:4", "truncation"], "SHAPE"), (["lfo:sine:4", "seed"], "cannot be modulated"),
                        (["lfo:sine:4", "nothing"], "unknown target"), (["lfo:sine:4"], "SOURCE TARGET"),
                        (["lfo:sine:4", "truncation", "amount=lots"], "number"),
                        (["osc:bad/name", "truncation"], "unknown source")):
        with pytest.raises(ParamError, match=said):
            parse_route(words)
    for lines in SETS.values():  # the shipped sets are valid routes
        for line in lines:
            parse_route(line.split())
    assert set(PARAMS["mod/load"].choices) == set(SETS), "/lvj/mod/load takes every shipped set"
    knobs = [parse_route(line.split()) for line in SETS["controller-8-knobs"]]
    assert [(r.source, r.target) for r in knobs] == [(f"midi:cc:1:{20 + n}", f"deck/a/direction/{n}")
                                                     for n in range(1, 9)]


def moment(position, bpm=120.0):
    return Moment(seconds=position * 60 / bpm, beat=position, position=position, bpm=bpm)


def test_a_route_adds_to_the_base_and_is_clamped():
    mod = Modulation()
    mod.add(parse_route(["lfo:sine:4", "truncation", "amount=0.25"]))
    base = {"deck/a/truncation": 0.8}.__getitem__
    assert mod.apply(moment(0.0), 0.03, base) == {"deck/a/truncation": pytest.approx(0.8)}
    # half way through the bar the sine is at 1: + 0.25 of the range (0..2) = + 0.5
    assert mod.apply(moment(2.0), 0.03, base)["deck/a/truncation"] == pytest.approx(1.3)
    mod.add(parse_route(["lfo:sine:4", "truncation", "amount=2"]))  # the same source and target: changed
    assert len(mod.routes) == 1 and mod.apply(moment(2.0), 0.03, base)["deck/a/truncation"] == 2.0  # clamped
    mod.add(parse_route(["osc:knee", "crossfade", "range=0,1024"]))
    assert "crossfade" not in mod.apply(moment(2.0), 0.03, {"deck/a/truncation": 0.8, "crossfade": 0.0}.get)
    mod.set_input("knee", 512)
    assert mod.apply(moment(2.0), 0.03, {"deck/a/truncation": 0.8, "crossfade": 0.0}.get)["crossfade"] == 0.5
    assert mod.remove("crossfade") == 1 and mod.remove("all") == 1 and not mod.routes


def test_an_envelope_rises_and_falls_on_each_trigger_and_restarts_from_where_it_is():
    mod = Modulation()
    mod.add(parse_route(["env:0.1:0.5:osc:kick", "output/fade", "amount=-1"]))  # the image flashes dark
    mod.add(parse_route(["env:0.1:0.5:osc:kick", "crossfade"]))  # one envelope, two routes: stepped once
    assert str(mod.routes[0].source) == "env:0.1:0.5:osc:kick"
    base = {"deck/a/output/fade": 1.0, "output/fade": 1.0, "crossfade": 0.0}.get

    def at(seconds):
        return mod.apply(Moment(seconds=seconds, beat=2 * seconds, position=2 * seconds, bpm=120.0), 0.01,
                         base)["crossfade"]

    mod.set_input("kick", 0.0)
    assert at(0.0) == 0.0
    mod.set_input("kick", 1.0)  # rises through 0.5 at 1.0 s
    assert [at(t) for t in (1.0, 1.05, 1.1, 1.35, 1.6, 2.0)] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0, 0.0])
    assert at(2.1) == 0.0, "held high is one trigger, not many"
    mod.set_input("kick", 0.0)
    at(2.2)
    mod.set_input("kick", 0.9)
    at(3.0)
    assert at(3.35) == pytest.approx(0.5)
    mod.set_input("kick", 0.0)
    at(3.36)
    mod.set_input("kick", 1.0)  # again while at ~0.48: the attack starts there, no drop to 0
    assert at(3.4) == pytest.approx(0.48, abs=0.01) and at(3.45) == pytest.approx(0.74, abs=0.01)
    assert mod.last["output/fade"] == pytest.approx(1.0 - 0.74, abs=0.01)
    for words, said in ((["env:0.1:osc:kick", "crossfade"], "env:ATTACK:DECAY:TRIGGER"),
                        (["env:0.1:0.5:env:0:1:osc:kick", "crossfade"], "not an envelope"),
                        (["env:0.1:0:osc:kick", "crossfade"], "decay"),
                        (["env:0.1:0.5:osc:bad/name", "crossfade"], "unknown source")):
        with pytest.raises(ParamError, match=said):
            parse_route(words)


def test_smoothing_glides_a_route(tmp_path):
    mod = Modulation()
    mod.add(parse_route(["osc:x", "output/fade", "smooth=0.5"]))
    mod.set_input("x", 0.0)
    base = {"output/fade": 0.0}.get
    assert mod.apply(moment(0.0), 0.03, base)["output/fade"] == 0.0
    mod.set_input("x", 1.0)
    first = mod.apply(moment(0.1), 0.1, base)["output/fade"]
    assert first == pytest.approx(1 - math.exp(-0.2)), "a fifth of the time constant"


def test_a_beat_lfo_on_a_direction_knob_is_in_phase_with_the_clock(tiny_gan_path):
    class Fake:
        t = 10.0

        def __call__(self):
            return self.t

    now = Fake()
    control = ControlState()
    for name, value in (("smoothing", 0.0), ("walk/mode", "hold"), ("morph/time", 0.0)):
        control.set(name, value)
    engine = Engine(load_model(tiny_gan_path), config=EngineConfig(device="cpu"), control=control,
                    music=TempoClock(now, bpm=90.0))
    engine.step()
    still = engine.latent(engine._prev)
    engine.modulation.add(parse_route(["lfo:sine:4", "direction/1", "amount=0.5", "offset=-0.25"]))
    direction = engine.deck.prepared.directions[0]
    for beat in (1.0, 2.0, 3.0, 4.0, 6.0):  # 90 BPM: a beat every 2/3 s
        now.t = 10.0 + beat * 60 / 90
        engine.step()
        knob = (-0.25 + 0.5 * lfo("sine", beat / 4)) * 6.0  # fractions of the knob's range, -3..3
        assert engine.status()["modulated"]["deck/a/direction/1"] == pytest.approx(knob, abs=1e-4)
        np.testing.assert_allclose(engine.latent(engine._prev), still + knob * direction, atol=1e-4)
    assert control.get("direction/1") == 0.0, "the base (what echoes and presets hold) is untouched"


def test_routes_over_the_command_path():
    control = ControlState()
    mod = Modulation()
    commands = Commands(control, status=lambda: {}, table={
        "mod/route": lambda args, sender: mod.add(parse_route(args, selected=control.selected)),
        "mod/list": lambda value, sender: [(build_message("/lvj/mod/route", r.describe()), sender)
                                           for r in mod.routes],
        "mod/source/NAME": lambda value, sender, name: mod.set_input(name, value),
    })
    assert commands.call("/lvj/mod/route", ["lfo:sine:4", "truncation", "amount=0.5"], SENDER) == []
    assert commands.call("/lvj/mod/source/knee", [3.5], SENDER) == []
    ((reply, to),) = commands.call("/lvj/mod/list", [], SENDER)
    assert to == SENDER and OscMessage(reply).params == ["lfo:sine:4 deck/a/truncation amount=0.5"]
    ((error, _),) = commands.call("/lvj/mod/route", ["lfo:sine:4", "seed"], SENDER)
    assert OscMessage(error).address == "/lvj/error" and "cannot be modulated" in OscMessage(error).params[0]
    ((error, _),) = commands.call("/lvj/mod/source/knee", ["high"], SENDER)
    assert "/lvj/mod/source/knee: expected a number" in OscMessage(error).params[0]


def test_the_routes_file_round_trips_and_a_bad_one_is_named(tmp_path):
    path = tmp_path / "routes.json"
    routes = [parse_route(line.split()) for line in SETS["beat-breathing"]]
    mappings = [Mapping(Control("cc", 1, 74), "/lvj/deck/a/walk/speed"),
                Mapping(Control("note", 10, 36), "/lvj/deck/a/preset/recall", "trigger", (3,))]
    RouteFile(path).write(routes, mappings)
    assert RouteFile(path).read() == (routes, mappings)
    assert not list(tmp_path.glob(".*.tmp")), "written atomically, nothing left behind"
    path.write_text('{"version": 1, "routes": [{"source": "lfo:sine:4", "target": "seed"}]}')
    with pytest.raises(ValueError, match="routes.json.*cannot be modulated"):
        RouteFile(path).read()


@pytest.mark.integration
def test_routes_survive_a_restart(tiny_gan_path, tmp_path):
    from processes import ServeProcess, free_port_args, wait_until

    routes = tmp_path / "routes.json"

    def serve():
        return ServeProcess("--model", tiny_gan_path, "--shm", f"lvjmod{os.getpid()}", *free_port_args(),
                            "--no-presets", "--routes", str(routes)).ready()

    first = serve()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(build_message("/lvj/mod/route", "lfo:square:4", "output/fade", "amount=-0.5"),
                        ("127.0.0.1", first.osc_port))
        wait_until(lambda: "output/fade" in first.status()["modulated"], "the route to play")
        wait_until(lambda: routes.exists() and "output/fade" in routes.read_text(), "the routes file")
        # OSCQuery holds what is drawn apart from what was set: the square wave takes the fade to 0.5 or 1.
        def drawn():
            with urllib.request.urlopen(first.oscquery + "lvj/mod/value/output/fade?VALUE", timeout=10) as reply:
                return json.load(reply)["VALUE"][0]
        wait_until(lambda: drawn() == pytest.approx(0.5), "the fade drawn half-way down")
        wait_until(lambda: drawn() == pytest.approx(1.0), "the fade drawn up again, half a bar later")
        with urllib.request.urlopen(first.oscquery + "lvj/output/fade?VALUE", timeout=10) as reply:
            assert json.load(reply)["VALUE"] == [1.0], "the value set is untouched by the route"
        first.assert_stops_cleanly()
    finally:
        first.stop()
    second = serve()
    try:
        assert "1 modulation route" in "".join(second.output)
        wait_until(lambda: "output/fade" in second.status()["modulated"], "the route after the restart")
        second.assert_stops_cleanly()
    finally:
        second.stop()
