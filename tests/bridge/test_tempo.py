"""Walks and changes in beats, on a fake clock through the engine: loops in bars that stay on the downbeat at
any tempo and through tempo changes, quantised changes that start exactly on their boundary, times in beats,
beat pulses, and render nodes that agree on the walk because it is a function of the shared beat."""

from __future__ import annotations

import numpy as np
import pytest

from latentvj.bridge.clock import SourceReading, TempoClock
from latentvj.bridge.control.commands import Commands
from latentvj.bridge.control.state import ControlState
from latentvj.bridge.engine import Engine, EngineConfig
from latentvj.models.checkpoint import load_model
from latentvj.models.walks import Walker

SENDER = ("127.0.0.1", 4321)


class Fake:
    def __init__(self):
        self.t = 50.0

    def __call__(self):
        return self.t


def make(path, *, bpm=120.0, **values):
    now = Fake()
    control = ControlState()
    for name, value in {"smoothing": 0.0, **values}.items():
        control.set(name, value)
    music = TempoClock(now, bpm=bpm)
    engine = Engine(load_model(path), config=EngineConfig(device="cpu"), control=control, music=music)
    commands = Commands(control, status=engine.status)
    return engine, commands, now


def send(commands, address, *args):
    replies = commands.call(address, list(args), SENDER)
    assert not replies, replies


def at_position(engine, now, position):
    """Run frames (30 a second) until the timeline reaches ``position``, the last one exactly on it."""
    while True:
        m = engine.music.moment()
        left = (position - m.position) * 60.0 / m.bpm
        if left <= 1e-9:
            return engine.latent(engine._prev)
        now.t += min(left, 1 / 30)
        engine.step()


def test_a_loop_in_bars_comes_back_on_the_downbeat_at_any_tempo(tiny_gan_path):
    for bpm in (90.0, 128.0, 174.0):
        engine, commands, now = make(tiny_gan_path, bpm=bpm, **{"walk/mode": "loop"})
        send(commands, "/lvj/walk/period", 16, "beats")  # 4 bars
        assert engine.control.get("walk/beats") == 16.0
        start = at_position(engine, now, 16.0)  # a downbeat, once the switch to beats has blended in
        middle = at_position(engine, now, 24.0)
        again = at_position(engine, now, 32.0)
        np.testing.assert_allclose(again, start, atol=1e-5, err_msg=f"the loop at {bpm} BPM")
        assert not np.allclose(middle, start, atol=1e-3)
        assert engine.status()["walk_in"] == "beats"


def test_a_tempo_change_mid_loop_keeps_the_phase(tiny_gan_path):
    engine, commands, now = make(tiny_gan_path, **{"walk/mode": "loop"})
    send(commands, "/lvj/walk/beats", 8)
    start = at_position(engine, now, 8.0)
    before = at_position(engine, now, 11.0)
    send(commands, "/lvj/tempo/bpm", 97.5)
    engine.step()  # the frame that takes the new tempo, at the same moment: no jump
    np.testing.assert_allclose(engine.latent(engine._prev), before, atol=1e-5)
    assert engine.music.bpm == 97.5
    np.testing.assert_allclose(at_position(engine, now, 16.0), start, atol=1e-5)


def test_seconds_again_put_the_walk_back_on_seconds(tiny_gan_path):
    engine, commands, now = make(tiny_gan_path)
    send(commands, "/lvj/walk/period", 4, "beats")
    send(commands, "/lvj/walk/period", 6.0)
    assert engine.control.get("walk/beats") == 0.0 and engine.control.get("walk/period") == 6.0
    send(commands, "/lvj/deck/b/morph/time", 2, "beats")
    assert engine.control.get("deck/b/morph/beats") == 2.0
    replies = commands.call("/lvj/walk/period", [4, "bars"], SENDER)
    assert replies and b"seconds or beats" in replies[0][0]


@pytest.mark.parametrize("quantise,grid", [("beat", 1.0), ("bar", 4.0), ("2bars", 8.0)])
def test_a_quantised_seed_change_starts_exactly_on_the_boundary(tiny_gan_path, quantise, grid):
    engine, commands, now = make(tiny_gan_path, **{"walk/mode": "hold", "morph/time": 1.0})
    send(commands, "/lvj/quantise", quantise)
    held = at_position(engine, now, grid + 0.3)
    send(commands, "/lvj/seed", 7)
    # Up to the boundary the image holds; the frame after it is part way into the morph, which began on it.
    np.testing.assert_allclose(at_position(engine, now, 2 * grid - 0.01), held, atol=1e-6)
    now.t += 1 / 30
    engine.step()
    m = engine._prev
    reference = Walker(16, seed=0, mode="hold", morph_time=2.0, t0=0.0)  # 1 s = 2 beats at 120 BPM
    reference.set_seed(7, 2 * grid)
    np.testing.assert_allclose(engine.latent(m), reference.at(m.beat), atol=1e-5)
    assert engine.walker.seed == 7


def test_quantised_crossfade_go_and_preset_recall_wait_for_the_bar(tiny_gan_path, tmp_path):
    from latentvj.bridge.control.presets import PresetStore

    now = Fake()
    control = ControlState()
    control.set("smoothing", 0.0)
    engine = Engine(load_model(tiny_gan_path), config=EngineConfig(device="cpu"), control=control,
                    music=TempoClock(now), presets=PresetStore(tmp_path / "presets.json"))
    commands = Commands(control, status=engine.status)
    send(commands, "/lvj/quantise", "bar")
    send(commands, "/lvj/crossfade/time", 2, "beats")
    at_position(engine, now, 1.0)
    send(commands, "/lvj/crossfade/go")
    at_position(engine, now, 3.9)
    assert engine.status()["crossfade"] == 0.0, "waiting for the bar"
    at_position(engine, now, 5.0)  # the bar at 4, then 1 of the 2 beats
    assert engine.status()["crossfade"] == pytest.approx(0.5, abs=0.02)
    send(commands, "/lvj/quantise", "off")
    send(commands, "/lvj/preset/store", 3)
    at_position(engine, now, 5.5)
    send(commands, "/lvj/quantise", "bar")
    send(commands, "/lvj/preset/recall", 3)
    at_position(engine, now, 7.9)
    assert control.get("preset/current") == 3  # stored; the recall itself waits
    assert engine._waits, "the recall waits for the bar"
    at_position(engine, now, 8.1)
    assert not engine._waits
    engine.close()


def test_the_beat_pulse_is_sent_on_every_beat_or_bar(tiny_gan_path):
    engine, commands, now = make(tiny_gan_path)
    pulses = []
    engine.on_pulse = lambda kind, number: pulses.append((kind, number))
    send(commands, "/lvj/tempo/pulse", "beat")
    at_position(engine, now, 3.5)
    send(commands, "/lvj/tempo/pulse", "bar")
    at_position(engine, now, 12.5)
    assert pulses == [("beat", 1), ("beat", 2), ("beat", 3), ("bar", 1), ("bar", 2), ("bar", 3)]


def test_nodes_on_one_timeline_draw_the_same_walk_and_an_offset_shifts_it(tiny_gan_path):
    """Two engines started at different moments, following the same timeline (as Link gives it), draw the
    same latent at the same moment; one with walk/offset 2 draws what the other draws 2 beats later."""

    class Session:  # one shared timeline: position = (t - 50) * 2 beats
        def reading(self, t):
            return SourceReading(bpm=120.0, position=(t - 50.0) * 2.0, peers=1)

    def node(start, offset=0.0):
        engine, commands, now = make(tiny_gan_path, **{"walk/mode": "drift", "walk/offset": offset})
        now.t = start
        engine.music._start = start  # this node's clock starts when it does
        engine.music.set_source("link", Session())
        send(commands, "/lvj/walk/beats", 16)
        return engine, now

    first, now_a = node(50.0)
    second, now_b = node(57.3)
    shifted, now_c = node(51.0, offset=2.0)
    drawn = {"first": {}, "second": {}, "shifted": {}}
    for frame in range(60 * 30, 70 * 30):
        for name, engine, now in (("first", first, now_a), ("second", second, now_b), ("shifted", shifted, now_c)):
            now.t = frame / 30
            engine.step()
            drawn[name][frame] = engine.latent(engine._prev)
    assert second._prev.position == pytest.approx(first._prev.position, abs=1e-6)
    assert second.control.get("tempo/peers") == 1 and second.status()["tempo"]["peers"] == 1
    for frame in range(62 * 30, 69 * 30, 7):
        np.testing.assert_allclose(drawn["second"][frame], drawn["first"][frame], atol=1e-4)
        # two beats ahead: what the first node draws a second later (120 BPM)
        np.testing.assert_allclose(drawn["shifted"][frame], drawn["first"][frame + 30], atol=1e-4)


def test_latency_draws_ahead_of_the_beat(tiny_gan_path):
    engine, commands, now = make(tiny_gan_path)
    now.t += 1.0
    engine.step()
    assert engine._prev.position == pytest.approx(2.0)
    send(commands, "/lvj/tempo/latency", 100.0)
    engine.step()  # the frame that takes it (its own moment was taken before)
    now.t += 0.5
    engine.step()
    assert engine._prev.position == pytest.approx(3.0 + 0.2), "100 ms at 120 BPM: a fifth of a beat ahead"
    assert engine.status()["tempo"]["latency_ms"] == 100.0


def test_model_blend_loads_at_once_and_crosses_on_the_bar(tiny_gan_path, tiny_vae_path):
    engine, commands, now = make(tiny_gan_path)
    send(commands, "/lvj/quantise", "bar")
    send(commands, "/lvj/crossfade/time", 0.0)
    at_position(engine, now, 1.0)
    engine.swap_model(engine.prepare(load_model(tiny_vae_path)), deck="b", cross=True)
    at_position(engine, now, 2.0)
    assert engine.decks["b"].model.kind == "vae", "loaded at once"
    assert engine.status()["crossfade"] == 0.0, "the cross waits"
    at_position(engine, now, 4.05)
    assert engine.status()["crossfade"] == 1.0


def test_a_source_that_cannot_be_had_is_refused_and_the_clock_stays(tiny_gan_path):
    engine, commands, now = make(tiny_gan_path)
    reports = []
    engine.report = lambda address, reason, source, **k: reports.append((address, reason))
    send(commands, "/lvj/tempo/source", "midi")
    now.t += 0.1
    engine.step()
    assert reports and reports[0][0] == "/lvj/tempo/source" and "--midi-clock" in reports[0][1]
    assert engine.music.source == "internal" and engine.control.get("tempo/source") == "internal"
