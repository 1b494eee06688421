"""The render loop with a tiny model on CPU: what reaches the sinks, how control is applied, failure."""

import threading

import numpy as np
import pytest

from latentvj.bridge.control import ControlState
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
    control = ControlState()
    return Engine(model, config=EngineConfig(device="cpu", **config), control=control), control


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
    for speed in (0.5, 3.0, 0.25):
        control.set("walk/speed", speed)
    engine.step(0.1)
    assert engine.walker.speed == 0.25


class FlakyModel:
    """Wraps a model so that chosen calls of render fail."""

    def __init__(self, model, fail_on):
        self.model, self.fail_on, self.calls = model, set(fail_on), 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def render(self, z):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError("simulated CUDA hiccup")
        return self.model.render(z)


def test_a_failed_frame_is_counted_and_the_loop_goes_on(tiny_model, caplog):
    flaky = FlakyModel(tiny_model, fail_on={2, 3})
    engine, _ = engine_for(flaky)
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


def test_cuda_asked_for_on_a_cpu_machine_is_a_clear_error(tiny_model):
    import torch
    from latentvj.bridge.device import DeviceError
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match="CUDA"):
        Engine(tiny_model, config=EngineConfig(device="cuda"))


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

