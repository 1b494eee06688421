"""The render loop with a tiny model on CPU: what reaches the sinks, how control is applied, failure."""

import logging
import threading
import time

import numpy as np
import pytest

from latentvj.bridge.control.state import ControlState
from latentvj.bridge.engine import Engine, EngineConfig
from latentvj.models.walks import seed_latent


class Recorder:
    """A sink that keeps copies of what it is given (the engine's array is only valid during write)."""

    def __init__(self, stop_after=None, stop=None):
        self.frames, self.stop_after, self.stop = [], stop_after, stop

    def write(self, pixels, *, timestamp=None):
        self.frames.append(pixels.copy())
        if self.stop_after and len(self.frames) >= self.stop_after:
            self.stop.set()


def engine_for(model, **config):
    """An engine in float32, so frames can be compared with the model's own math on any CPU (auto takes
    bf16 on one with bf16 arithmetic)."""
    control = ControlState()
    return Engine(model, config=EngineConfig(device="cpu", precision="fp32", **config), control=control), control


def test_frames_are_uint8_hwc_at_the_model_resolution(tiny_model):
    engine, _ = engine_for(tiny_model)
    frame = engine.step(0.0)
    assert frame.dtype == np.uint8 and frame.shape == (32, 32, 3)
    assert frame.std() > 1.0, "a real image, not a flat field"


def test_output_size_is_scaled_to_cover_and_cropped(tiny_model):
    engine, _ = engine_for(tiny_model, size=(48, 20))
    assert engine.step(0.0).shape == (20, 48, 3)


def test_render_matches_the_model_on_the_same_latent(tiny_model):
    import torch
    engine, _ = engine_for(tiny_model)
    z = seed_latent(3, tiny_model.latent_dim)
    with torch.no_grad():
        expected = tiny_model.render(torch.from_numpy(z)[None])[0]
    expected = ((expected * 127.5 + 127.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0)).numpy()
    assert np.abs(engine.render(z).astype(int) - expected.astype(int)).max() <= 1


def test_hold_stops_the_image_and_a_seed_changes_it(tiny_model):
    engine, control = engine_for(tiny_model)
    control.set("morph/time", 0.5)
    control.set("walk/mode", "hold")
    engine.step(0.0)
    held = [engine.step(t) for t in (1.0, 1.5, 2.0)]  # the switch to hold blends; afterwards it is still
    assert np.array_equal(held[1], held[2])
    control.set("seed", 9)
    assert np.array_equal(engine.step(2.25), held[2]), "the morph starts where the image is"
    moving = engine.step(2.5)  # half-way through the morph
    assert not np.array_equal(moving, held[2])
    arrived = engine.step(2.75)
    assert np.array_equal(arrived, engine.render(seed_latent(9, tiny_model.latent_dim)))
    assert engine.status()["seed"] == 9 and engine.status()["mode"] == "hold"


def test_the_latest_write_wins_within_a_frame(tiny_model):
    engine, control = engine_for(tiny_model)
    control.set("smoothing", 0.0)
    for speed in (0.5, 3.0, 0.25):
        control.set("walk/speed", speed)
    engine.step(0.1)
    assert engine.walker.speed == 0.25


def make_flaky(model, fail_on):
    """Make chosen calls of the model's render fail, like a transient device error."""
    original, calls = model.render, [0]

    def render(z, **knobs):
        calls[0] += 1
        if calls[0] in fail_on:
            raise RuntimeError("simulated CUDA hiccup")
        return original(z, **knobs)

    model.render = render
    return model


def test_a_failed_frame_is_counted_and_the_loop_goes_on(tiny_model, caplog):
    engine, _ = engine_for(make_flaky(tiny_model, fail_on={3, 4}))  # call 1: the engine's check that it draws
    sink = Recorder()
    engine.sinks = [sink]
    results = [engine.step(t) for t in (0.0, 0.1, 0.2, 0.3)]
    assert [r is None for r in results] == [False, True, True, False]
    assert len(sink.frames) == 2
    status = engine.status()
    assert status["frame_errors"] == 2 and "simulated CUDA hiccup" in status["last_error"]
    assert sum("simulated CUDA hiccup" in r.message for r in caplog.records) == 1, "repeats are not re-logged"


def test_a_failing_sink_does_not_starve_the_others(tiny_model):
    class Broken:
        def write(self, pixels, *, timestamp=None):
            raise OSError("consumer went away")

    engine, _ = engine_for(tiny_model)
    good = Recorder()
    engine.sinks = [Broken(), good]
    engine.step(0.0)
    assert len(good.frames) == 1 and engine.frame_errors == 1


def test_run_renders_until_stopped_and_every_sink_sees_every_frame(tiny_model):
    engine, _ = engine_for(tiny_model, fps=0)
    stop = threading.Event()
    first, second = Recorder(stop_after=20, stop=stop), Recorder()
    engine.sinks = [first, second]
    engine.run(stop)
    assert len(first.frames) == len(second.frames) == engine.frames >= 20
    assert all(np.array_equal(a, b) for a, b in zip(first.frames, second.frames))
    assert any(not np.array_equal(a, b) for a, b in zip(first.frames, first.frames[1:])), "the walk moves"


class Ordered:
    """The renderer's submits and the results waited for, in order (the renderer itself draws each frame)."""

    def __init__(self, renderer, asynchronous):
        self.events, self._submit = [], renderer.submit
        renderer.submit, renderer.asynchronous = self.submit, asynchronous

    def submit(self, *args, **kwargs):
        number = sum(1 for kind, _ in self.events if kind == "submit")
        self.events.append(("submit", number))
        pending, events = self._submit(*args, **kwargs), self.events

        class Waited:
            def result(self):
                events.append(("result", number))
                return pending.result()
        return Waited()


@pytest.mark.parametrize("fps", [0.0, 30.0])
def test_a_renderer_that_draws_on_while_the_host_goes_on_keeps_one_frame_in_flight_only_when_behind(tiny_model,
                                                                                                    fps):
    """On CUDA the device draws a frame while the host prepares the next: behind the target (here flat
    out) the next frame is submitted before the one in flight is waited for and published, so the device
    never waits for the host; with time to spare every frame is published as soon as it is drawn. Either
    way every frame is published, in order, the last one too when the loop stops."""
    # at 30 fps a clock that moves a millisecond a reading: always time to spare, however loaded the machine
    engine = Engine(tiny_model, config=EngineConfig(device="cpu", precision="fp32", fps=fps),
                    clock=FakeClock(0.001) if fps else time.monotonic)
    order = Ordered(engine.renderer, asynchronous=True)
    stop = threading.Event()
    sink = Recorder(stop_after=12, stop=stop)
    engine.sinks = [sink]
    engine.run(stop)
    submitted = [n for kind, n in order.events if kind == "submit"]
    waited = [n for kind, n in order.events if kind == "result"]
    assert waited == submitted == list(range(len(submitted))), "each frame waited for once, in order"
    assert len(sink.frames) == engine.frames == len(submitted) >= 12
    if fps == 0:  # behind: frame n+1 is on its way before frame n goes out
        for n in range(1, len(submitted)):
            assert order.events.index(("submit", n)) < order.events.index(("result", n - 1))
    else:  # time to spare: nothing held back
        assert order.events == [(kind, n) for n in submitted for kind in ("submit", "result")]
    # a renderer that is done when submit returns (the CPU's) never holds a frame back
    engine, _ = engine_for(tiny_model, fps=0)
    order = Ordered(engine.renderer, asynchronous=False)
    stop = threading.Event()
    engine.sinks = [Recorder(stop_after=5, stop=stop)]
    engine.run(stop)
    assert order.events == [(kind, n) for n in range(engine.frames) for kind in ("submit", "result")]


def test_cuda_asked_for_on_a_cpu_machine_is_a_clear_error(tiny_model):
    import torch
    from latentvj.bridge.device import DeviceError
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match="CUDA"):
        Engine(tiny_model, config=EngineConfig(device="cuda"))


def test_auto_precision_on_a_cpu_is_bf16_where_it_computes_bf16_and_fp32_elsewhere(monkeypatch):
    """bf16 where the CPU has bf16 arithmetic (about twice as fast as fp32 there); elsewhere it would be
    emulated, several times slower: auto takes fp32 and an explicit bf16 is refused, saying why."""
    import torch
    from latentvj.bridge import device
    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "_cpu_has_bf16", lambda: False)
    assert device.pick_dtype(cpu, "auto") is torch.float32
    with pytest.raises(device.DeviceError, match="no bf16 arithmetic .* use --precision fp32"):
        device.pick_dtype(cpu, "bf16")
    monkeypatch.setattr(device, "_cpu_has_bf16", lambda: True)
    assert device.pick_dtype(cpu, "auto") is torch.bfloat16
    assert device.pick_dtype(cpu, "bf16") is torch.bfloat16 and device.pick_dtype(cpu, "fp32") is torch.float32


@pytest.mark.parametrize("fps", [-1.0, float("nan"), 5000.0])
def test_bad_engine_config_is_refused(fps):
    with pytest.raises(ValueError, match="fps"):
        EngineConfig(fps=fps)


class FakeClock:
    """Clock time that advances a fixed step per reading: a model 'slower than the target' without waiting."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_a_model_slower_than_the_target_runs_flat_out_and_says_so(tiny_model, caplog):
    clock = FakeClock(0.02)  # a few readings per frame: ~0.1 s per frame against a 30 fps target
    control = ControlState()
    engine = Engine(tiny_model, config=EngineConfig(device="cpu", fps=30), control=control, clock=clock)
    stop = threading.Event()
    engine.sinks = [Recorder(stop_after=60, stop=stop)]
    engine.run(stop)
    status = engine.status()
    assert status["behind"] is True and 0 < status["fps"] < 30
    assert any("below the target 30.0 fps" in r.message for r in caplog.records)



# ---- the control surface, applied by the engine ---------------------------------------------------

def settle(engine, t0, seconds=3.0, step=0.1):
    """Render frames from t0 for `seconds` of walk time; the last frame."""
    t, frame = t0, None
    while t < t0 + seconds:
        frame = engine.step(t)
        t += step
    return frame, t


def test_fade_to_black_cuts_with_smoothing_zero(tiny_model):
    engine, control = engine_for(tiny_model)
    control.set("smoothing", 0.0)
    control.set("output/fade", 0.0)
    assert engine.step(0.0).max() == 0
    control.set("output/fade", 1.0)
    assert engine.step(0.1).max() > 0


def test_smoothing_glides_and_zero_applies_at_once(tiny_model):
    engine, control = engine_for(tiny_model)
    control.set("smoothing", 0.5)
    engine.step(0.0)
    control.set("walk/speed", 5.0)
    engine.step(0.1)
    assert 1.0 < engine.walker.speed < 5.0, "a 7-bit MIDI step must not jump the speed"
    engine.step(0.2)
    first = engine.walker.speed
    engine.step(0.3)
    assert first < engine.walker.speed < 5.0
    control.set("smoothing", 0.0)
    control.set("walk/speed", 2.0)
    engine.step(0.4)
    assert engine.walker.speed == 2.0


def test_smoothing_is_frame_rate_independent():
    from latentvj.bridge.engine import Smoother
    a, b = Smoother(0.0), Smoother(0.0)
    a.set(1.0, t=0.0)
    b.set(1.0, t=0.0)
    for i in range(1, 11):
        a.step(i * 0.03, 0.03, 0.2)
    for i in range(1, 31):
        b.step(i * 0.01, 0.01, 0.2)
    assert a.value == pytest.approx(b.value, abs=1e-9)


def test_freeze_stops_at_once_and_releases(tiny_model):
    engine, control = engine_for(tiny_model)
    control.set("smoothing", 0.0)
    engine.step(0.0)
    control.set("walk/freeze", True)
    frozen = engine.step(0.5)
    assert np.array_equal(engine.step(1.0), frozen) and engine.walker.mode == "drift"
    control.set("walk/freeze", False)
    engine.step(1.5)
    assert not np.array_equal(engine.step(2.0), frozen)


def test_randomise_picks_a_new_seed_and_tells_the_controllers(tiny_model):
    engine, control = engine_for(tiny_model)
    heard = []
    control.listen(lambda change: heard.append(change))
    engine.step(0.0)
    control.set("walk/randomise", True)
    engine.step(0.1)
    assert engine.walker.seed != 0
    assert control.get("seed") == engine.walker.seed
    assert any(c.name == "seed" and c.value == engine.walker.seed and c.source is None for c in heard)


def test_a_whole_latent_vector_is_reached_and_held(tiny_model):
    engine, control = engine_for(tiny_model)
    control.set("morph/time", 0.5)
    engine.step(0.0)
    z = np.linspace(-1.5, 1.5, tiny_model.latent_dim).astype(np.float32)
    control.set("z", tuple(float(v) for v in z))
    frame, t = settle(engine, 0.1, seconds=1.0)
    assert control.get("walk/mode") == "hold"
    np.testing.assert_allclose(engine.walker.at(t), z, atol=1e-5)
    assert np.array_equal(engine.step(t + 1), engine.render(z))


def test_one_latent_dimension_moves_only_that_dimension(tiny_model):
    engine, control = engine_for(tiny_model)
    control.set("smoothing", 0.0)
    control.set("walk/mode", "hold")
    _, t = settle(engine, 0.0, seconds=2.0)
    before = engine.walker.at(t)
    control.set_item("z/N", 3, 2.5)
    engine.step(t)
    after = engine.walker.at(t + 0.1)
    assert after[3] == pytest.approx(2.5, abs=1e-5)
    np.testing.assert_allclose(np.delete(after, 3), np.delete(before, 3), atol=1e-5)


def test_direction_knobs_move_the_image_along_the_principal_directions(tiny_model):
    engine, control = engine_for(tiny_model)
    control.set("smoothing", 0.0)
    control.set("walk/mode", "hold")
    _, t = settle(engine, 0.0, seconds=2.0)
    base = engine.latent(t)
    control.set("direction/1", 2.0)
    engine.step(t)
    np.testing.assert_allclose(engine.latent(t), base + 2.0 * engine.directions[0], atol=1e-5)


def test_truncation_pulls_the_latent_towards_the_centre(tiny_model):
    engine, control = engine_for(tiny_model)
    control.set("smoothing", 0.0)
    control.set("truncation", 0.0)
    frame = engine.step(0.0)
    assert np.array_equal(frame, engine.render(np.zeros(tiny_model.latent_dim, np.float32)))


def test_output_size_and_fps_change_live(tiny_model):
    engine, control = engine_for(tiny_model)
    resized = []
    engine.on_resize = lambda w, h, c: resized.append((w, h, c))
    assert control.get("output/size") == (32, 32)
    control.set("output/size", (64, 40))
    control.set("output/fps", 12.0)
    assert engine.step(0.0).shape == (40, 64, 3)
    assert resized == [(64, 40, 3)] and engine.config.fps == 12.0


def test_a_resize_whose_outputs_cannot_be_made_keeps_the_old_size(tiny_model):
    engine, control = engine_for(tiny_model)
    reports = []
    engine.report = lambda address, reason, source, **_: reports.append((address, reason, source))

    def no_file_descriptors(width, height, channels):
        raise OSError(24, "Too many open files")

    engine.on_resize = no_file_descriptors
    control.set("output/size", (64, 40), source=("127.0.0.1", 5000))
    assert engine.step(0.0).shape == (32, 32, 3), "the old size plays on"
    (address, reason, source), = reports
    assert address == "/lvj/output/size" and "Too many open files" in reason and "still 32x32" in reason
    assert source == ("127.0.0.1", 5000)
    assert control.get("output/size") == (32, 32), "and is echoed back, so faders show the truth"


def test_presets_store_and_recall_across_a_new_store(tiny_model, tmp_path):
    from latentvj.bridge.control.presets import PresetStore
    path = tmp_path / "presets.json"
    control = ControlState()
    engine = Engine(tiny_model, config=EngineConfig(device="cpu", precision="fp32"), control=control,
                    presets=PresetStore(path))
    control.set("smoothing", 0.0)
    control.set("walk/mode", "hold")
    control.set("direction/2", 1.5)
    stored_frame, t = settle(engine, 0.0, seconds=2.0)
    control.set("preset/store", 4)
    engine.step(t)
    wait_for(lambda: path.exists() and "4" in path.read_text())
    assert control.get("preset/current") == 4

    # A restart: a new engine and store read the file back.
    control2 = ControlState()
    engine2 = Engine(tiny_model, config=EngineConfig(device="cpu", precision="fp32"), control=control2,
                     presets=PresetStore(path))
    control2.set("preset/time", 0.5)
    engine2.step(0.0)
    control2.set("preset/recall", 4)
    frame, _ = settle(engine2, 0.1, seconds=1.0)
    assert control2.get("direction/2") == 1.5 and control2.get("walk/mode") == "hold"
    assert np.array_equal(frame, stored_frame)
    assert control2.get("preset/current") == 4


def test_recalling_an_empty_slot_or_another_models_preset_is_reported(tiny_model, tiny_vae_path, tmp_path):
    from latentvj.bridge.control.presets import PresetStore
    from latentvj.models.checkpoint import load_model
    store = PresetStore(tmp_path / "presets.json")
    control = ControlState()
    engine = Engine(tiny_model, config=EngineConfig(device="cpu"), control=control, presets=store)
    reports = []
    engine.report = lambda address, reason, source: reports.append((address, reason, source))
    control.set("preset/recall", 9, source=("127.0.0.1", 5000))
    engine.step(0.0)
    assert reports[-1][0] == "/lvj/preset/recall" and "9" in reports[-1][1] and reports[-1][2] == ("127.0.0.1", 5000)
    control.set("preset/store", 2)
    engine.step(0.1)
    wait_for(lambda: store.slots() == [2])
    other = Engine(load_model(tiny_vae_path), config=EngineConfig(device="cpu"), control=ControlState(), presets=store)
    other.report = lambda address, reason, source: reports.append((address, reason, source))
    other.control.set("preset/recall", 2)
    other.step(0.0)
    assert "tiny" in reports[-1][1], reports[-1]


def test_a_new_model_is_swapped_in_at_a_frame_boundary(tiny_model, tiny_vae_path):
    from latentvj.models.checkpoint import load_model
    engine, control = engine_for(tiny_model)
    engine.step(0.0)
    engine.swap_model(engine.prepare(load_model(tiny_vae_path)))
    assert engine.model.kind == "gan", "nothing changes until the next frame"
    engine.step(0.1)
    assert engine.model.kind == "vae" and control.model_kind == "vae"
    assert control.get("model/name") == "tinyvae"
    assert engine.step(0.2).shape == (32, 32, 3)


def wait_for(condition, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        threading.Event().wait(0.01)


def test_a_size_too_large_for_the_target_frame_rate_is_answered_with_a_warning(tiny_model):
    now = [100.0]
    engine = Engine(tiny_model, config=EngineConfig(device="cpu"), control=ControlState(), clock=lambda: now[0])
    reports = []
    engine.report = lambda address, reason, source, warning=False: reports.append((address, reason, source,
                                                                                   warning))
    engine.on_resize = lambda w, h, c: None
    engine.control.set("output/size", (512, 512), source=("127.0.0.1", 5000))
    for _ in range(40):  # frames that take 0.2 s each: 5 fps against the target 30
        engine.step(now[0] - 100.0)
        now[0] += 0.2
        engine._check_pace(now[0])
    (address, reason, source, warning), = reports
    assert address == "/lvj/output/size" and source == ("127.0.0.1", 5000) and warning
    assert "512x512 renders at 5.0 fps on cpu, below the target 30 fps" in reason
    assert engine.status()["behind"]


def test_the_echo_of_a_recalled_seed_comes_after_the_walk_has_it(tiny_model, tmp_path):
    """Issue 9, bug 5: a controller that asks for the status on the seed's echo after a recall was sometimes
    told the previous seed: the values were echoed before the walk was changed."""
    from latentvj.bridge.control.presets import PresetStore

    control = ControlState()
    engine = Engine(tiny_model, config=EngineConfig(device="cpu"), control=control,
                    presets=PresetStore(tmp_path / "presets.json"))
    control.set("seed", 5)
    engine.step(0.0)
    control.set("preset/store", 1)
    engine.step(0.1)
    control.set("seed", 1234)
    engine.step(0.2)
    seen = []
    control.listen(lambda change: seen.append(engine.status()["seed"]) if change.name == "seed" else None)
    control.set("preset/recall", 1)
    engine.step(0.3)
    assert seen == [5], "at the echo the status already shows the preset's seed"


def test_the_behind_flag_follows_the_real_rate_within_seconds_with_advice_that_fits(tiny_model, caplog):
    """Issue 9, bug 10: the flag lagged the real rate, and advised a smaller --size to a model already at its
    own size on a shared CPU."""
    now = [100.0]
    engine = Engine(tiny_model, config=EngineConfig(device="cpu", fps=60), control=ControlState(),
                    clock=lambda: now[0])

    def frames(count, period):
        for _ in range(count):
            engine.step(now[0] - 100.0)
            now[0] += period
            engine._check_pace(now[0])

    frames(300, 1 / 60)  # five seconds on target
    assert not engine.behind and engine.fps == pytest.approx(60, rel=0.05)
    with caplog.at_level(logging.WARNING, logger="latentvj.engine"):
        frames(12, 1 / 3.9)  # the machine gets busy: 3.9 fps for about three seconds
    assert engine.fps == pytest.approx(3.9, rel=0.05)
    assert engine.behind, "behind within three seconds of the drop"
    (line,) = [r.getMessage() for r in caplog.records]
    # each frame rendered in a few ms of the 256 between them: the loop was kept from running
    assert "--size" not in line and "other work keeps the CPU busy and LatentVJ's loop waits for it" in line
    # the advice follows what the renders took: the whole period at full CPU share is a model too slow; the
    # whole period with a third of the threads' time is a shared CPU
    engine._renders.extend([(0.25, 0.97)] * 30)
    assert "takes 250 ms a frame on cpu, too slow for this target" in engine._behind_advice()
    engine._renders.extend([(0.25, 0.33)] * 30)
    assert "LatentVJ had 33% of its render threads' time while rendering" in engine._behind_advice()
    now[0] += 5.0  # and if frames stop coming at all, the rate says so at once
    assert engine.fps < 0.25


def test_the_thread_tuner_waits_while_a_playing_model_compiles_and_starts_afresh_after(tiny_model, monkeypatch):
    """Frames drawn while a model compiles beside them measure the compile, not the machine's load: the
    tuner (--threads auto) is not fed them, and forgets what it measured of the uncompiled pass."""
    engine, _ = engine_for(tiny_model)
    tuner, fed = engine.threads, []
    monkeypatch.setattr(tuner, "record", lambda wall, period: fed.append(wall))
    tuner._measured[1] = (0.01, 0)
    engine.prepared.fast.state = "compiling"
    for i in range(40):
        engine.step(i / 30)
    assert fed == [] and tuner._measured == {}
    tuner._measured[1] = (0.01, 0)
    engine.prepared.fast.state = "compiled"
    for i in range(40, 45):
        engine.step(i / 30)
    assert len(fed) == 5 and tuner._measured == {}, "fed again, from a clean slate"
