"""The CUDA paths, run where CUDA is (marked gpu; skipped, saying so, on a CPU-only machine): frames drawn on
the device and copied to the host on a side stream into two pinned buffers while the host goes on; the
engine keeping a frame in flight when behind; the compiled pass replayed as a CUDA graph."""

import threading

import numpy as np
import pytest
import torch

from latentvj.bridge.engine import Engine, EngineConfig
from latentvj.bridge.renderer import Renderer
from latentvj.models.checkpoint import load_model

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (none on this machine)")]


def z(seed, dim=16):
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def test_frames_from_cuda_are_the_cpus_and_two_can_be_on_their_way_at_once(tiny_gan_path):
    cpu = Renderer("cpu", "fp32")
    cuda = Renderer("cuda", "fp32")
    assert cuda.asynchronous
    on_cpu, on_cuda = cpu.prepare(load_model(tiny_gan_path)), cuda.prepare(load_model(tiny_gan_path))
    first = cuda.submit([(on_cuda, z(1), 1.0)], width=32, height=32, channels=3)
    second = cuda.submit([(on_cuda, z(2), 1.0)], width=32, height=32, channels=3)  # before the first is read
    for pending, seed in ((first, 1), (second, 2)):
        want = cpu.render([(on_cpu, z(seed), 1.0)], width=32, height=32, channels=3)
        got = pending.result()
        assert got.shape == (32, 32, 3) and np.abs(got.astype(int) - want.astype(int)).max() <= 2
    assert not np.array_equal(first.result(), second.result()), "each frame in a buffer of its own"
    # blended and resized on the device too
    mixed = cuda.render([(on_cuda, z(1), 0.5), (on_cuda, z(2), 0.5)], width=48, height=24, channels=4)
    assert mixed.shape == (24, 48, 4) and (mixed[..., 3] == 255).all()


def test_the_engine_on_cuda_publishes_every_frame_in_order_flat_out(tiny_model):
    engine = Engine(tiny_model, config=EngineConfig(device="cuda", precision="fp32", fps=0))
    stop, frames = threading.Event(), []

    class Sink:
        def write(self, pixels, *, timestamp=None):
            frames.append((timestamp, pixels.copy()))
            if len(frames) >= 30:
                stop.set()

    engine.sinks = [Sink()]
    engine.run(stop)
    assert engine.frames == len(frames) >= 30 and engine.frame_errors == 0
    assert all(a[0] <= b[0] for a, b in zip(frames, frames[1:]))
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(frames, frames[1:])), "the walk moves"


@pytest.mark.slow
def test_the_compiled_pass_replays_as_a_cuda_graph_and_draws_the_eager_frame(tiny_gan_path):
    renderer = Renderer("cuda", "fp32", compile=True)
    prepared = renderer.prepare(load_model(tiny_gan_path))
    eager = Renderer("cuda", "fp32").prepare(load_model(tiny_gan_path))
    assert prepared.fast.done.wait(600) and prepared.fast.state == "compiled", prepared.fast.state
    for seed, fade in ((1, 1.0), (2, 0.5), (3, 1.0)):
        got = renderer.render([(prepared, z(seed), 1.0)], width=32, height=32, channels=3, fade=fade)
        want = Renderer("cuda", "fp32").render([(eager, z(seed), 1.0)], width=32, height=32, channels=3, fade=fade)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.slow
def test_a_compiled_model_let_go_on_cuda_gives_its_device_memory_back(tiny_gan_path):
    """A show loads model after model while another stays resident: each one let go must give its device
    memory back (its frozen weights, its CUDA graphs), as it does on the CPU (test_renderer). Written
    without a GPU to run it: torch's CUDA graph trees keep every function they were given while any other
    lives (``CUDAGraphTreeManager.ids_to_funcs``), so this may well fail; docs/performance.md says more."""
    import gc

    renderer = Renderer("cuda", "fp32", compile=True)
    resident = renderer.prepare(load_model(tiny_gan_path))
    assert resident.fast.done.wait(600) and resident.fast.state == "compiled", resident.fast.state
    want = renderer.render([(resident, z(1), 1.0)], width=32, height=32, channels=3).copy()
    used = []
    for _ in range(4):
        prepared = renderer.prepare(load_model(tiny_gan_path))
        assert prepared.fast.done.wait(600) and prepared.fast.state == "compiled", prepared.fast.state
        renderer.render([(prepared, z(2), 1.0)], width=32, height=32, channels=3)
        del prepared
        gc.collect()
        torch.cuda.synchronize()
        used.append(torch.cuda.memory_allocated())
    assert used[1:] == used[:1] * 3, f"device memory after each model was let go: {used}"
    assert np.array_equal(renderer.render([(resident, z(1), 1.0)], width=32, height=32, channels=3), want)


@pytest.mark.slow
def test_a_batch_replays_as_a_cuda_graph_of_its_own_beside_single_frames(tiny_gan_path):
    """The lookahead's batches on CUDA: the compiled pass made for batches of 3 too, single frames and
    batches interleaved and two on their way at once, each frame the eager CPU frame of its latent."""
    renderer = Renderer("cuda", "fp32", compile=True, batches=(1, 3))
    prepared = renderer.prepare(load_model(tiny_gan_path))
    assert prepared.fast.done.wait(600) and prepared.fast.state == "compiled", prepared.fast.state
    assert prepared.fast.batches == {1, 3}
    cpu = Renderer("cpu", "fp32")
    on_cpu = cpu.prepare(load_model(tiny_gan_path))
    for round_ in range(3):
        latents = np.stack([z(10 * round_ + k) for k in range(3)])
        batch = renderer.submit([(prepared, latents, 1.0)], width=32, height=32, channels=3)
        single = renderer.submit([(prepared, z(99), 1.0)], width=32, height=32, channels=3)  # before it is read
        got = batch.result()
        assert got.shape == (3, 32, 32, 3)
        for k in range(3):
            want = cpu.render([(on_cpu, latents[k], 1.0)], width=32, height=32, channels=3)
            assert np.abs(got[k].astype(int) - want.astype(int)).max() <= 2
        want = cpu.render([(on_cpu, z(99), 1.0)], width=32, height=32, channels=3)
        assert np.abs(single.result().astype(int) - want.astype(int)).max() <= 2


@pytest.mark.slow
def test_the_engine_on_cuda_draws_ahead_and_every_frame_is_the_one_its_moment_draws(tiny_model, tiny_gan_path):
    """Flat out with the lookahead (frames in flight, batches ahead, a change that drops them): every frame
    published is the CPU's frame for its moment, none overwritten in its pinned buffer by a later pass."""
    from latentvj.bridge.control.state import ControlState

    control = ControlState()
    control.set("seed", 7)
    control.set("smoothing", 0.0)
    engine = Engine(tiny_model, config=EngineConfig(device="cuda", precision="fp32", fps=0, max_latency=0.1,
                                                    batch=3, compile=True), control=control)
    assert engine.prepared.fast.done.wait(600) and 3 in engine.prepared.fast.batches
    engine.batching.forced = True
    stop, frames = threading.Event(), []

    class Sink:
        def write(self, pixels, *, timestamp=None):
            frames.append((engine._shown[0], pixels.copy()))
            if len(frames) == 20:
                control.set("walk/speed", 2.0)  # drops the frames drawn ahead
            if len(frames) >= 40:
                stop.set()

    engine.sinks = [Sink()]
    engine.run(stop)
    assert engine.frame_errors == 0 and engine.drawn_together in (1, 3)
    replay = ControlState()
    replay.set("seed", 7)
    replay.set("smoothing", 0.0)
    cpu = Engine(load_model(tiny_gan_path), config=EngineConfig(device="cpu", precision="fp32"), control=replay)
    for n, (moment, pixels) in enumerate(frames):
        if n == 20:
            replay.set("walk/speed", 2.0)
        assert np.abs(cpu.step(moment).astype(int) - pixels.astype(int)).max() <= 2, f"frame {n}"
