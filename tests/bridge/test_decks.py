"""Two decks and a crossfader: two models resident, a crossfade over time, a model change that never cuts,
the crossfader at 0 or 1 drawing one deck only, and every deck parameter on its own address."""

from __future__ import annotations

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage

from latentvj.bridge.control.osc import OscProtocol, build_message
from latentvj.bridge.control.state import ControlState
from latentvj.bridge.engine import Engine, EngineConfig
from latentvj.models.checkpoint import load_model

SENDER = ("127.0.0.1", 4321)


@pytest.fixture
def engine(tiny_gan_path, tiny_vae_path):
    control = ControlState()
    engine = Engine(load_model(tiny_gan_path), config=EngineConfig(device="cpu"), control=control)
    engine.swap_model(engine.prepare(load_model(tiny_vae_path)), deck="b")
    for name, value in (("smoothing", 0.0), ("morph/time", 0.0), ("walk/mode", "hold"),
                        ("deck/b/morph/time", 0.0), ("deck/b/walk/mode", "hold")):
        control.set(name, value)
    engine.step(0.0)
    return engine


def drawn(engine, monkeypatch) -> list:
    """The layers the renderer is asked for, frame by frame."""
    calls = []
    real = engine.renderer.submit
    monkeypatch.setattr(engine.renderer, "submit",
                        lambda layers, **k: (calls.append([(p.model.kind, round(w, 3)) for p, _, w, *_ in layers]),
                                             real(layers, **k))[1])
    return calls


def test_two_models_are_resident_one_per_deck(engine):
    assert engine.decks["a"].model.kind == "gan" and engine.decks["b"].model.kind == "vae"
    assert engine.control.get("deck/b/model/name") == "tinyvae" and engine.control.get("model/name") == "tiny"
    status = engine.status()
    assert status["decks"]["b"]["kind"] == "vae" and status["crossfade"] == 0


def test_the_crossfader_at_either_end_draws_one_deck_only_and_blends_in_between(engine, monkeypatch):
    calls = drawn(engine, monkeypatch)
    alone_a = engine.step(1.0).astype(float)
    engine.control.set("crossfade", 1.0)
    alone_b = engine.step(1.1).astype(float)
    engine.control.set("crossfade", 0.25)
    mixed = engine.step(1.2).astype(float)
    assert calls == [[("gan", 1.0)], [("vae", 1.0)], [("gan", 0.75), ("vae", 0.25)]]
    assert np.abs(mixed - (0.75 * alone_a + 0.25 * alone_b)).max() <= 1.5, "blended on the device"


def test_crossfade_go_crosses_over_its_time_and_is_echoed(engine):
    heard = []
    engine.control.listen(lambda change: heard.append(change.value) if change.name == "crossfade" else None)
    engine.control.set("crossfade/time", 2.0)
    engine.control.set("crossfade/go", True)
    engine.step(10.0)
    assert heard[-1] == 1.0, "the target is echoed at once"
    engine.step(11.0)
    assert 0.3 < engine.status()["crossfade"] < 0.7, "half-way after half the time"
    engine.step(12.0)
    assert engine.status()["crossfade"] == 1.0
    engine.control.set("crossfade/go", True)  # and back
    engine.step(12.5)
    engine.step(14.5)
    assert engine.status()["crossfade"] == 0.0


def test_every_deck_parameter_has_its_own_address_and_the_plain_one_is_the_selected_decks(engine):
    state = engine.control
    proto = OscProtocol(state, status=engine.status)
    echoes = []
    state.listen(lambda change: echoes.append((change.address, change.value)))
    assert proto.handle(build_message("/lvj/deck/b/walk/speed", 2.5), SENDER) == []
    engine.step(20.0)
    assert engine.decks["b"].smoothers["walk/speed"].value == 2.5 and state.get("walk/speed") == 1.0
    assert ("/lvj/deck/b/walk/speed", 2.5) in echoes and ("/lvj/walk/speed", 2.5) not in echoes
    proto.handle(build_message("/lvj/deck", "b"), SENDER)
    assert ("/lvj/walk/speed", 2.5) in echoes, "selecting a deck echoes its values on the plain addresses"
    proto.handle(build_message("/lvj/seed", 77), SENDER)  # now deck B's
    engine.step(20.1)
    assert engine.decks["b"].walker.seed == 77 and engine.decks["a"].walker.seed == 0
    assert engine.status()["seed"] == 77 and engine.status()["deck"] == "b"


def test_each_deck_takes_its_own_models_latent_size(engine):
    state = engine.control
    state.latent_dims["b"] = 8  # as a model with a smaller latent would
    proto = OscProtocol(state, status=engine.status)
    assert proto.handle(build_message("/lvj/deck/b/z", *[0.5] * 8), SENDER) == []
    (reply, _), *_ = proto.handle(build_message("/lvj/deck/b/z", *[0.5] * 16), SENDER)
    assert "expected 8 numbers" in OscMessage(reply).params[0]
    assert proto.handle(build_message("/lvj/z", *[0.5] * 16), SENDER) == [], "deck A's still takes 16"
    (reply, _), *_ = proto.handle(build_message("/lvj/deck/b/truncation", 0.5), SENDER)
    assert "use /lvj/temperature" in OscMessage(reply).params[0], "deck B plays a VAE"


def test_a_preset_stored_from_one_deck_recalls_on_the_other_with_the_same_model(tiny_gan_path, tmp_path):
    from latentvj.bridge.control.presets import PresetStore

    engine = Engine(load_model(tiny_gan_path), config=EngineConfig(device="cpu"), control=ControlState(),
                    presets=PresetStore(tmp_path / "presets.json"))
    for name, value in (("smoothing", 0.0), ("morph/time", 0.0), ("walk/mode", "hold"), ("seed", 4242)):
        engine.control.set(name, value)
    engine.step(30.0)
    engine.control.set("deck/a/preset/store", 3)
    engine.step(30.1)
    engine.control.set("preset/time", 0.0)
    engine.control.set("deck/b/preset/recall", 3)
    engine.step(30.2)
    assert engine.decks["b"].walker.seed == 4242 and engine.control.get("deck/b/preset/current") == 3
    np.testing.assert_allclose(engine.decks["b"].latent(31.0), engine.decks["a"].latent(31.0), atol=1e-5)
    assert engine.frame_errors == 0
    engine.close()


def test_model_blend_loads_onto_the_hidden_deck_and_crosses_never_cutting(tmp_path, tiny_gan_path, tiny_vae_path,
                                                                       shm_name, monkeypatch):
    import shutil

    from latentvj.bridge.server import ServeConfig, Server

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_vae_path, models / "other.safetensors")
    server = Server(ServeConfig(model=tiny_gan_path, engine=EngineConfig(device="cpu"), osc_port=0, http_port=0,
                                oscquery_port=0, shm=shm_name, model_dirs=[models], presets=None))
    try:
        engine = server.engine
        engine.control.set("smoothing", 0.0)
        calls = drawn(engine, monkeypatch)
        assert server.protocol.handle(build_message("/lvj/crossfade/time", 1.0), SENDER) == []
        assert server.protocol.handle(build_message("/lvj/model/blend", "other"), SENDER) == []
        assert server.loads["b"].wait_idle(60), "loaded onto the hidden deck"
        for step in range(14):
            engine.step(5.0 + step * 0.1)
        weights = [dict(layers).get("vae", 0.0) for layers in calls]
        assert weights[0] == 0.0 and weights[-1] == 1.0
        assert all(b >= a for a, b in zip(weights, weights[1:])), "the crossfader only moves towards B"
        between = [w for w in weights if 0 < w < 1]
        assert len(between) >= 5, f"a blend over the crossfade time, never a cut: {weights}"
        assert all(len(layers) == 2 for layers in calls if 0 < dict(layers).get("vae", 0) < 1)
        assert engine.decks["a"].model.kind == "gan", "the model before stays on its deck"
        assert engine.control.get("crossfade") == 1.0 and calls[-1] == [("vae", 1.0)]
    finally:
        server.close()


def test_model_blend_crosses_once_the_new_model_has_compiled_the_deck_before_playing_on(tiny_gan_path,
                                                                                        tiny_vae_path):
    """Crossing while the new model compiles would draw it uncompiled beside its compile (frames 50-100 ms
    apart on a 2-core machine): the cross waits for its compiled pass (or its failure), deck A playing on."""
    engine = Engine(load_model(tiny_gan_path), config=EngineConfig(device="cpu"))
    for name, value in (("smoothing", 0.0), ("crossfade/time", 0.5)):
        engine.control.set(name, value)
    other = engine.prepare(load_model(tiny_vae_path))
    other.fast.state = "compiling"  # as a model compiling in the background
    engine.swap_model(other, deck="b", cross=True)
    for step in range(10):
        engine.step(1.0 + step * 0.1)
    assert engine.status()["crossfade"] == 0.0 and engine.decks["b"].model.kind == "vae", "B waits, loaded"
    other.fast.state = "failed: RuntimeError: no C++ compiler found"  # compiled or not: ready either way
    for step in range(10):
        engine.step(2.0 + step * 0.1)
    assert engine.status()["crossfade"] == 1.0, "crossed once the compile had ended"


def test_a_scene_holds_both_decks_and_the_crossfader(tiny_gan_path, tiny_vae_path, tmp_path):
    from latentvj.bridge.control.presets import PresetStore

    path = tmp_path / "presets.json"
    reports = []

    def make():
        engine = Engine(load_model(tiny_gan_path), config=EngineConfig(device="cpu"), control=ControlState(),
                        presets=PresetStore(path))
        engine.report = lambda address, reason, source, **_: reports.append((address, reason))
        engine.swap_model(engine.prepare(load_model(tiny_vae_path)), deck="b")
        for name, value in (("smoothing", 0.0), ("preset/time", 0.0)):
            engine.control.set(name, value)
        engine.step(0.0)
        return engine

    engine = make()
    for name, value in (("seed", 11), ("deck/b/seed", 22), ("crossfade", 0.3)):
        engine.control.set(name, value)
    engine.step(1.0)
    engine.control.set("scene/store", 7)
    engine.step(1.1)
    engine.close()  # written

    again = make()  # a restart: the scene comes back from the file
    again.control.set("scene/recall", 7)
    again.step(2.0)
    again.step(2.1)
    assert reports == []
    assert again.decks["a"].walker.seed == 11 and again.decks["b"].walker.seed == 22
    assert again.status()["crossfade"] == pytest.approx(0.3) and again.control.get("scene/current") == 7
    again.swap_model(again.prepare(load_model(tiny_gan_path)), deck="b")  # deck B plays another model now
    again.step(3.0)
    again.control.set("scene/recall", 7)
    again.step(3.1)
    (address, reason), = reports
    assert address == "/lvj/scene/recall" and "deck B" in reason and "/lvj/deck/b/model/load tinyvae" in reason
    again.close()
