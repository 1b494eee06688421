"""The lookahead (``serve --max-latency-ms``): frames drawn ahead while only the walk moves, in batches where
batches are faster, each sent on its own tick; dropped by any change."""

import threading
import time

import numpy as np
import pytest
import torch

from latentvj.bridge.clock import SourceReading
from latentvj.bridge.control.state import ControlState
from latentvj.bridge.engine import BatchChooser, Engine, EngineConfig, lookahead
from latentvj.bridge.renderer import Renderer
from latentvj.models.checkpoint import load_model, save_model
from latentvj.models.kinds import Styling
from latentvj.models.stylegan2 import StyleGAN2, StyleGAN2Config
from latentvj.models.stylegan3 import StyleGAN3, StyleGAN3Config


def latents(seed, frames, dim=16):
    return np.random.default_rng(seed).standard_normal((frames, dim)).astype(np.float32)


@pytest.mark.parametrize("size", [(32, 32), (48, 24)])
def test_a_batch_draws_the_frames_that_one_frame_at_a_time_draws(tiny_gan_path, tiny_vae_path, size):
    """Two decks blended, scaled to another size: each frame of a batch as it is drawn alone."""
    renderer = Renderer("cpu", "fp32")
    gan, vae = renderer.prepare(load_model(tiny_gan_path)), renderer.prepare(load_model(tiny_vae_path))
    a, b = latents(1, 3), latents(2, 3)
    width, height = size
    batch = renderer.render([(gan, a, 0.3, 0.8), (vae, b, 0.7)], width=width, height=height, channels=3, fade=0.9)
    assert batch.shape == (3, height, width, 3) and batch.dtype == np.uint8
    for k in range(3):
        alone = renderer.render([(gan, a[k], 0.3, 0.8), (vae, b[k], 0.7)], width=width, height=height,
                                channels=3, fade=0.9)
        assert np.abs(batch[k].astype(int) - alone).max() <= 1
    assert not np.array_equal(batch[0], batch[1]), "each frame its own latents"


def test_a_batch_of_latents_of_the_wrong_shape_or_of_a_stylegan_with_animated_noise_is_refused(tiny_gan_path,
                                                                                                 tmp_path):
    renderer = Renderer("cpu", "fp32")
    gan = renderer.prepare(load_model(tiny_gan_path))
    with pytest.raises(ValueError, match=r"\(3, 16\)"):  # a batch of 3 and one of 2
        renderer.render([(gan, latents(1, 3), 0.5), (gan, latents(1, 2), 0.5)], width=32, height=32, channels=3)
    sg = renderer.prepare(load_model(stylegan(tmp_path, StyleGAN2, c_dim=0)))
    with pytest.raises(ValueError, match="animated noise"):
        renderer.render([(sg, latents(1, 2, dim=8), 1.0, 1.0, Styling(noise=0.5, noise_time=1.0))],
                        width=16, height=16, channels=3)


def stylegan(tmp_path, kind, **config):
    torch.manual_seed(0)
    if kind is StyleGAN2:
        network = StyleGAN2(StyleGAN2Config(resolution=16, latent_dim=8, w_dim=8, mapping_layers=2, channel_base=128,
                                            channel_max=16, **config))
    else:
        network = StyleGAN3(StyleGAN3Config(resolution=16, latent_dim=8, w_dim=8, channel_base=256, channel_max=16,
                                            num_layers=4, margin_size=4, **config))
    with torch.no_grad():
        for key, value in network.state_dict().items():
            if key.endswith("noise_strength"):
                value.fill_(0.5)  # the stored noise shows
    return save_model(tmp_path / f"{kind.__name__}.safetensors", network.eval(), metadata={"name": kind.__name__})


@pytest.mark.parametrize("kind", [StyleGAN2, StyleGAN3])
def test_a_stylegan_batch_with_one_styling_draws_the_frames_one_at_a_time_draws(tmp_path, kind):
    """A StyleGAN at rest (no animated noise): its style mix, class, StyleGAN3's transform, the same for every
    frame of the batch, as each frame alone draws them."""
    renderer = Renderer("cpu", "fp32")
    sg = renderer.prepare(load_model(stylegan(tmp_path, kind, c_dim=3)))
    moved = kind is StyleGAN3
    style = Styling(mix=torch.from_numpy(latents(9, 1, dim=8)[0]), mix_layers="fine", mix_amount=0.7,
                    translate=(0.1, 0.0) if moved else (0.0, 0.0), rotate=20.0 if moved else 0.0,
                    c=torch.tensor([0.0, 1.0, 0.0]))
    z = latents(4, 3, dim=8)
    batch = renderer.render([(sg, z, 1.0, 0.7, style)], width=16, height=16, channels=3)
    for k in range(3):
        alone = renderer.render([(sg, z[k], 1.0, 0.7, style)], width=16, height=16, channels=3)
        assert np.abs(batch[k].astype(int) - alone).max() <= 1
    assert not np.array_equal(batch[0], batch[2])


@pytest.mark.slow
def test_the_compiled_pass_is_made_for_the_lookahead_batch_and_draws_it_as_the_eager_one(tiny_gan_path):
    renderer = Renderer("cpu", "fp32", compile=True, batches=(1, 3), thread_counts=(1,))
    prepared = renderer.prepare(load_model(tiny_gan_path))
    assert prepared.fast.done.wait(300) and prepared.fast.state == "compiled", prepared.fast.state
    assert prepared.fast.batches == {1, 3}
    eager = Renderer("cpu", "fp32").prepare(load_model(tiny_gan_path))
    a = latents(3, 3)
    torch.set_num_threads(1)
    drawn = renderer.render([(prepared, a, 1.0)], width=32, height=32, channels=3)
    want = renderer.render([(eager, a, 1.0)], width=32, height=32, channels=3)
    assert np.abs(drawn.astype(int) - want).max() <= 1


def test_how_many_frames_the_lookahead_draws_ahead():
    assert lookahead(30, 0.0, 4) == 0, "off by default: each frame drawn on its tick"
    assert lookahead(30, 0.1, 4) == 3, "the frames due within 100 ms at 30 fps"
    assert lookahead(30, 0.02, 4) == 0, "less than a frame period: nothing ahead"
    assert lookahead(60, 1.0, 4) == 4, "never more than the batch"
    assert lookahead(0, 0.05, 4) == 4, "flat out: as many as a batch"
    for bad in (-1, float("nan"), 2.0):
        with pytest.raises(ValueError, match="latency"):
            EngineConfig(max_latency=bad)


def test_batches_are_chosen_only_while_measured_faster_per_frame():
    chooser = BatchChooser()
    assert chooser.batches, "batches are tried first"
    for _ in range(BatchChooser.PASSES):
        chooser.record(4, 4 * 0.0029)
    assert not chooser.batches, "then single frames, to compare"
    for _ in range(BatchChooser.PASSES):
        chooser.record(1, 0.0040)
    assert chooser.batches, "0.0029 s a frame against 0.0040: batches"
    slower = BatchChooser()
    for frames, seconds in [(4, 4 * 0.0041)] * BatchChooser.PASSES + [(1, 0.0040)] * BatchChooser.PASSES:
        slower.record(frames, seconds)
    assert not slower.batches, "batches no faster per frame: single frames"
    for _ in range(BatchChooser.RETRY):  # the machine's load changes: batches are measured again
        slower.record(1, 0.0040)
    assert slower.batches
    slower.forget()
    assert slower.batches and not slower._times[False]


class Shown:
    """A sink that keeps each frame with the moment the engine drew it for."""

    def __init__(self, engine, stop_after, stop, at=None):
        self.engine, self.stop_after, self.stop, self.at = engine, stop_after, stop, at
        self.frames, self.moments = [], []

    def write(self, pixels, *, timestamp=None):
        self.frames.append(pixels.copy())
        self.moments.append(self.engine._shown[0])
        if self.at is not None:
            self.at(len(self.frames))
        if len(self.frames) >= self.stop_after:
            self.stop.set()


def ahead_engine(model, control=None, **config):
    control = control or ControlState()
    control.set("seed", 7)
    config = {"fps": 30.0, "max_latency": 0.1, **config}
    engine = Engine(model, config=EngineConfig(device="cpu", precision="fp32", **config), control=control)
    passes = []
    submit = engine.renderer.submit

    def counted(layers, **kwargs):
        passes.append(len(layers[0][1]) if np.ndim(layers[0][1]) == 2 else 1)
        return submit(layers, **kwargs)
    engine.renderer.submit = counted
    return engine, control, passes


def test_frames_drawn_ahead_are_the_frames_their_ticks_would_draw(tiny_model, tiny_gan_path):
    engine, _, passes = ahead_engine(tiny_model)
    stop = threading.Event()
    sink = Shown(engine, 24, stop)
    engine.sinks = [sink]
    engine.run(stop)
    assert passes[0] == 1 and 3 in passes, "the first frame on its tick, then three at a time ahead"
    assert sum(passes) <= len(sink.frames) + 3, "nothing drawn that is not shown, but the last ones ahead"
    seconds = [m.seconds for m in sink.moments]
    assert all(b > a for a, b in zip(seconds, seconds[1:])), "frames in time order, each its own moment"
    assert np.allclose(np.diff(seconds)[1:], 1 / 30, atol=0.01), "a frame period apart"
    # the same walk drawn one frame at a time, at the same moments
    control = ControlState()
    control.set("seed", 7)
    alone = Engine(load_model(tiny_gan_path), config=EngineConfig(device="cpu", precision="fp32"), control=control)
    for moment, frame in zip(sink.moments, sink.frames):
        assert np.abs(alone.step(moment).astype(int) - frame).max() <= 1
    assert not np.array_equal(sink.frames[1], sink.frames[-1]), "the walk moves"


def test_a_control_change_drops_the_frames_drawn_ahead(tiny_model):
    """A fade to black (smoothing 0) sent while frames are drawn ahead shows on the very next frame."""
    control = ControlState()
    control.set("smoothing", 0.0)
    engine, control, passes = ahead_engine(tiny_model, control)
    stop = threading.Event()
    changed = []

    def change(shown):
        if shown == 6:
            changed.append((len(passes), len(engine._ahead)))
            control.set("output/fade", 0.0)
    sink = Shown(engine, 10, stop, at=change)
    engine.sinks = [sink]
    engine.run(stop)
    assert changed[0][1] > 0, "frames drawn ahead waited for their ticks when the fade came"
    assert sink.frames[5].any() and not sink.frames[6].any(), "the next frame is black"
    assert passes[changed[0][0]] == 1, "drawn on its tick, after the change"


class Following:
    """A tempo source that is read every frame (as MIDI clock and Link are)."""

    def reading(self, now):
        return SourceReading(bpm=120.0, position=None)


def test_nothing_is_drawn_ahead_while_something_but_the_walk_moves(tiny_model):
    engine, control, _ = ahead_engine(tiny_model)
    engine.step()
    assert engine._ahead_count() == 3, "at rest: the frames due within 100 ms"
    control.set("smoothing", 1.0)
    control.set("walk/speed", 3.0)
    engine.step()
    assert engine._ahead_count() == 0, "the speed knob glides"
    control.set("smoothing", 0.0)
    control.set("walk/speed", 3.0000001)
    engine.step()
    assert engine._ahead_count() == 3
    control.set("direction/1", 1.0)
    engine.step()
    assert engine._ahead_count() == 3, "a knob that has arrived holds"
    engine.modulation.replace([object()])
    assert engine._ahead_count() == 0, "a route bends the knobs each frame"
    engine.modulation.replace([])
    engine.swap_model(engine.prepared)
    assert engine._ahead_count() == 0, "a model waits to be swapped in"
    engine.step()
    assert engine._ahead_count() == 3
    engine.music.set_source("midi", Following())
    assert engine._ahead_count() == 0, "a tempo read from outside each frame"
    engine.music.set_source("internal")
    engine.music.tap()
    engine.music.tap()
    assert engine._ahead_count() == 0, "the beat moves to the taps"


@pytest.mark.parametrize("asynchronous", [False, True])
def test_flat_out_every_frame_is_the_one_its_moment_draws_and_time_never_runs_back(tiny_model, tiny_gan_path,
                                                                                   asynchronous):
    """As fast as it renders (``fps 0``: the frames drawn ahead go out at once, before their moments), with
    frames kept in flight (CUDA's way, played on the CPU) and a change that drops the frames ahead: the
    moments never run back, the change shows from the next frame drawn after it (the one after next when a
    frame was in flight), and every frame is the one a single-frame engine draws at its moment."""
    control = ControlState()
    control.set("smoothing", 0.0)
    engine, control, passes = ahead_engine(tiny_model, control, fps=0.0, batch=3)
    engine.renderer.asynchronous = asynchronous

    def change(shown):
        if shown == 20:
            control.set("output/fade", 0.25)  # drops the frames drawn ahead
    stop = threading.Event()
    sink = Shown(engine, 40, stop, at=change)
    engine.sinks = [sink]
    engine.run(stop)
    assert engine.frame_errors == 0 and passes.count(3) >= 5
    seconds = [m.seconds for m in sink.moments]
    assert seconds == sorted(seconds), "the walk's time never runs back"
    dim = [int(frame.max()) < 100 for frame in sink.frames]
    first = dim.index(True)
    assert first in ((20, 21) if asynchronous else (20,)) and all(dim[first:]) and not any(dim[:first])
    replay = ControlState()
    replay.set("seed", 7)
    replay.set("smoothing", 0.0)
    alone = Engine(load_model(tiny_gan_path), config=EngineConfig(device="cpu", precision="fp32"), control=replay)
    for n, (moment, frame) in enumerate(zip(sink.moments, sink.frames)):
        if n == first:
            replay.set("output/fade", 0.25)
        drawn = alone.step(moment)
        assert drawn is not None, alone.last_error
        assert np.abs(drawn.astype(int) - frame).max() <= 1, f"frame {n}"


def test_a_pass_drawn_ahead_that_fails_loses_no_frame_and_is_not_tried_every_frame(tiny_model, caplog):
    engine, _, passes = ahead_engine(tiny_model)
    submit, failed = engine.renderer.submit, []

    def failing(layers, **kwargs):
        if np.ndim(layers[0][1]) == 2:
            failed.append(len(layers[0][1]))
            raise RuntimeError("out of memory for a batch")
        return submit(layers, **kwargs)
    engine.renderer.submit = failing
    stop = threading.Event()
    sink = Shown(engine, 15, stop)
    engine.sinks = [sink]
    with caplog.at_level("WARNING"):
        engine.run(stop)
    assert len(sink.frames) == engine.frames >= 15 and engine.frame_errors == 0, "every tick drew its own frame"
    assert failed == [3] and passes == [1] * len(passes), "tried once, then each frame on its tick for a while"
    assert "drawing 3 frames ahead failed (RuntimeError: out of memory for a batch)" in caplog.text


def test_two_decks_blended_are_drawn_ahead_together(tiny_model, tiny_vae_path):
    """The crossfader resting half-way: both decks' frames in one pass each, blended, as one frame at a time
    blends them."""
    control = ControlState()
    control.set("smoothing", 0.0)
    control.set("deck/b/seed", 11)
    control.set("crossfade", 0.4)
    engine, control, passes = ahead_engine(tiny_model, control)
    vae = engine.prepare(load_model(tiny_vae_path))
    engine.swap_model(vae, deck="b")
    stop = threading.Event()
    sink = Shown(engine, 12, stop)
    engine.sinks = [sink]
    engine.run(stop)
    assert 3 in passes
    replay = ControlState()
    for name, value in (("seed", 7), ("smoothing", 0.0), ("deck/b/seed", 11), ("crossfade", 0.4)):
        replay.set(name, value)
    alone = Engine(tiny_model, config=EngineConfig(device="cpu", precision="fp32"), control=replay)
    alone.swap_model(alone.prepare(load_model(tiny_vae_path)), deck="b")
    for moment, frame in zip(sink.moments, sink.frames):
        assert np.abs(alone.step(moment).astype(int) - frame).max() <= 1


def test_a_pass_that_would_end_after_the_next_tick_is_not_drawn_ahead(tiny_model):
    """A batch measured slower than the time left before the next tick (here 15 ms a frame, 45 ms a pass of
    three, at 30 fps) would send the first of its frames late: single frames are drawn ahead instead (20 ms:
    they fit)."""
    engine, _, passes = ahead_engine(tiny_model)
    submit = engine.renderer.submit

    def slow(layers, **kwargs):  # a model this slow: batches faster per frame, but a pass longer than a tick
        frames = len(layers[0][1]) if np.ndim(layers[0][1]) == 2 else 1
        time.sleep(0.020 if frames == 1 else 0.015 * frames)
        return submit(layers, **kwargs)
    engine.renderer.submit = slow
    stop = threading.Event()
    sink = Shown(engine, 24, stop)
    engine.sinks = [sink]
    engine.run(stop)
    assert passes[1] == 3, "batches are tried first"
    assert passes[-10:] == [1] * 10, "then, measured too long for a tick, single frames ahead"


def test_a_crossfade_left_where_a_route_had_it_is_drawn_anew_before_frames_are_drawn_ahead(tiny_model):
    from latentvj.bridge.modulation import parse_route

    engine, control, _ = ahead_engine(tiny_model)
    engine.modulation.replace([parse_route(["lfo:sine:4:0.25", "crossfade", "amount=0.8"])])
    engine.step()
    assert engine._crossfade != engine._cross.value
    engine.modulation.replace([])  # no write to the state: what the server's route commands also write
    assert engine._ahead_count() == 0, "the crossfade drawn last is the route's"
    engine.step()
    assert engine._crossfade == engine._cross.value and engine._ahead_count() == 3


def test_a_stylegan_deck_is_drawn_ahead_until_its_noise_moves_or_its_class_morphs(tmp_path):
    path = stylegan(tmp_path, StyleGAN2, c_dim=3)
    control = ControlState()
    control.set("smoothing", 0.0)
    engine, control, passes = ahead_engine(load_model(path), control)
    stop = threading.Event()
    sink = Shown(engine, 12, stop)
    engine.sinks = [sink]
    engine.run(stop)
    assert 3 in passes, "at rest, the stored noise: drawn ahead, three at a time"
    replay = ControlState()
    replay.set("seed", 7)
    replay.set("smoothing", 0.0)
    alone = Engine(load_model(path), config=EngineConfig(device="cpu", precision="fp32"), control=replay)
    for moment, frame in zip(sink.moments, sink.frames):
        assert np.abs(alone.step(moment).astype(int) - frame).max() <= 1
    control.set("noise", 0.5)
    engine.step()
    assert engine._ahead_count() == 0, "animated noise moves with each frame's time"
    control.set("noise", 0.0)
    control.set("morph/time", 10.0)
    control.set("class", 2)
    engine.step()
    assert engine._ahead_count() == 0, "a class morph under way"
    control.set("morph/time", 0.0)
    control.set("class", 1)
    engine.step()
    engine.step()
    assert engine._ahead_count() == 3, "the class arrived"
