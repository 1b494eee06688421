"""The renderer: the one owner of the device; models prepared, kept resident, blended in one frame."""

import threading

import numpy as np
import pytest
import torch

from latentvj.bridge.renderer import TRACE_GATE, Renderer, TraceGate
from latentvj.models.checkpoint import load_model, save_model
from latentvj.models.gan import GANConfig, Generator


@pytest.fixture
def renderer():
    return Renderer("cpu", "fp32")  # frames compared with the model's own float32 math


def z(seed, dim=16):
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def test_one_layer_is_the_model_image_as_uint8(renderer, tiny_gan_path):
    prepared = renderer.prepare(load_model(tiny_gan_path))
    frame = renderer.render([(prepared, z(1), 1.0)], width=32, height=32, channels=3)
    with torch.no_grad():
        image = prepared.model.render(torch.from_numpy(z(1))[None])[0]
    expected = ((image + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert frame.dtype == np.uint8 and frame.shape == (32, 32, 3)
    assert np.abs(frame.astype(int) - expected.astype(int)).max() <= 1


def test_two_layers_blend_on_the_device_before_the_one_conversion(renderer, tiny_gan_path, tiny_vae_path):
    gan, vae = renderer.prepare(load_model(tiny_gan_path)), renderer.prepare(load_model(tiny_vae_path))
    a = renderer.render([(gan, z(1), 1.0)], width=40, height=24, channels=3).astype(float)
    b = renderer.render([(vae, z(2), 1.0)], width=40, height=24, channels=3).astype(float)
    for weight in (0.0, 0.25, 0.5, 1.0):
        mixed = renderer.render([(gan, z(1), 1 - weight), (vae, z(2), weight)], width=40, height=24, channels=3)
        assert np.abs(mixed - ((1 - weight) * a + weight * b)).max() <= 1.5, weight


def test_each_frame_draws_its_own_latent_and_two_decks_of_one_model_their_own(renderer, tiny_gan_path):
    """A frame shows its own latent: never the frame before's, nor the other layer's when both decks play
    the same model (what any tensor the renderer keeps between frames must not break)."""
    gan = renderer.prepare(load_model(tiny_gan_path))
    fresh = Renderer("cpu", "fp32")
    twin = fresh.prepare(load_model(tiny_gan_path))

    def alone(seed):
        return fresh.render([(twin, z(seed), 1.0)], width=32, height=32, channels=3).astype(float)

    for seed in (1, 2, 1):
        assert np.array_equal(renderer.render([(gan, z(seed), 1.0)], width=32, height=32, channels=3),
                              alone(seed).astype(np.uint8)), seed
    mixed = renderer.render([(gan, z(1), 0.5), (gan, z(2), 0.5)], width=32, height=32, channels=3)
    assert np.abs(mixed - (alone(1) + alone(2)) / 2).max() <= 1.5
    assert not np.array_equal(alone(1), alone(2))
    with pytest.raises(ValueError, match=r"expected a latent of shape \(16,\)"):
        renderer.render([(gan, np.zeros(15, np.float32), 1.0)], width=32, height=32, channels=3)


def test_grey_and_rgba_layers_blend_into_the_outputs_channels(renderer, tmp_path, tiny_gan_path):
    torch.manual_seed(0)
    grey = save_model(tmp_path / "grey.safetensors",
                      Generator(GANConfig(resolution=32, latent_dim=16, ngf=4, ndf=4, channels=1)).eval())
    rgb = renderer.prepare(load_model(tiny_gan_path))
    mono = renderer.prepare(load_model(grey))
    assert mono.channels == 3, "grey is sent as RGB"
    frame = renderer.render([(rgb, z(1), 0.5), (mono, z(1), 0.5)], width=32, height=32, channels=4)
    assert frame.shape == (32, 32, 4) and (frame[..., 3] == 255).all()
    alone = renderer.render([(mono, z(1), 1.0)], width=32, height=32, channels=3)
    assert (alone[..., 0] == alone[..., 1]).all() and (alone[..., 1] == alone[..., 2]).all()


def test_loaded_models_stay_resident_and_the_oldest_goes(renderer, tmp_path):
    paths = []
    for n in range(3):
        torch.manual_seed(n)
        paths.append(save_model(tmp_path / f"m{n}.safetensors",
                                Generator(GANConfig(resolution=32, latent_dim=16, ngf=4, ndf=4)).eval()))
    first, fresh = renderer.load(paths[0])
    again, fresh_again = renderer.load(paths[0])
    assert fresh and not fresh_again and again is first, "switching back is instant: the same prepared model"
    renderer.load(paths[1])
    renderer.load(paths[2])  # two are kept: m0 goes
    assert renderer.load(paths[0])[1], "loaded again"
    assert not renderer.load(paths[2])[1]


def test_a_rewritten_file_is_loaded_again(renderer, tmp_path):
    torch.manual_seed(0)
    path = save_model(tmp_path / "m.safetensors", Generator(GANConfig(resolution=32, latent_dim=16, ngf=4, ndf=4)))
    first, _ = renderer.load(path)
    torch.manual_seed(1)
    save_model(path, Generator(GANConfig(resolution=32, latent_dim=16, ngf=4, ndf=4)).eval(),
               metadata={"description": "retrained"})
    second, fresh = renderer.load(path)
    assert fresh and second.id != first.id


def test_a_latent_of_the_wrong_size_is_refused_saying_so(renderer, tiny_gan_path):
    prepared = renderer.prepare(load_model(tiny_gan_path))
    with pytest.raises(ValueError, match=r"expected a latent of shape \(16,\), got \(8,\)"):
        renderer.render([(prepared, z(1, 8), 1.0)], width=32, height=32, channels=3)


@pytest.mark.slow
def test_a_model_compiles_in_the_background_and_its_compiled_pass_takes_over(tiny_gan_path, monkeypatch):
    """The eager pass plays at once; the compiled one (torch.compile, about ten seconds for a tiny model
    here) takes over when it is ready and draws the same frame."""
    from torch._dynamo.utils import counters
    from torch._inductor.loop_body import InterpreterShim

    # torch.fx's plain tracer reroutes every thread's module calls while it runs: an eager frame drawn
    # meanwhile was lost ("module is not installed as a submodule"). Each such trace of the compile (the first
    # of the process: the cache emptied) must run with the eager passes held off.
    InterpreterShim._dummy_gm.cache_clear()
    gate_shut = []
    plain_trace = torch.fx.Tracer.trace

    def trace(tracer, root, *args, **kwargs):
        if type(tracer) is torch.fx.Tracer:
            gate_shut.append(TRACE_GATE._tracing)
        return plain_trace(tracer, root, *args, **kwargs)

    monkeypatch.setattr(torch.fx.Tracer, "trace", trace)
    playing = torch.get_num_threads()
    renderer = Renderer("cpu", compile=True, thread_counts=(1, 2))
    prepared = renderer.prepare(load_model(tiny_gan_path))
    eager_twin = Renderer("cpu").prepare(load_model(tiny_gan_path))
    z = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    eager = renderer.render([(prepared, z, 1.0)], width=32, height=32, channels=3)
    assert prepared.fast.state in ("compiling", "compiled")
    assert prepared.fast.done.wait(300), "compiling never ended"
    assert prepared.fast.state == "compiled", prepared.fast.state
    assert gate_shut and all(gate_shut), "a plain fx trace ran while eager frames could be drawn"
    assert prepared.fast.threads == {1, 2}, "made for each count before it plays, on its own thread"
    assert torch.get_num_threads() == playing, "the compile thread's counts are its own"
    try:
        # A thread count change (the tuner's) never compiles on the render thread: at a count it was made for
        # the compiled pass plays as it is; at another the eager one does.
        for count in (2, 1, 3):
            torch.set_num_threads(count)
            graphs = counters["stats"]["unique_graphs"]
            compiled = renderer.render([(prepared, z, 1.0)], width=32, height=32, channels=3)
            assert counters["stats"]["unique_graphs"] == graphs, f"compiled again at {count} threads"
            assert np.abs(compiled.astype(int) - eager.astype(int)).max() <= 1
        # The compiled pass makes the frame's pixels itself (the conversion and the fade in its graph): a fade
        # is an input of it, never a reason to compile again, and a blend or another size still plays it.
        graphs = counters["stats"]["unique_graphs"]
        for fade in (0.5, 0.25, 0.0):
            faded = renderer.render([(prepared, z, 1.0)], width=32, height=32, channels=3, fade=fade)
            want = Renderer("cpu").render([(eager_twin, z, 1.0)], width=32, height=32, channels=3, fade=fade)
            assert np.abs(faded.astype(int) - want.astype(int)).max() <= 1, fade
        wider = renderer.render([(prepared, z, 1.0)], width=48, height=24, channels=4)
        assert wider.shape == (24, 48, 4) and (wider[..., 3] == 255).all()
        assert counters["stats"]["unique_graphs"] == graphs, "a fade or a size compiled the pass again"
    finally:
        torch.set_num_threads(playing)
    # a compiled pass that fails while playing: that frame and the next are drawn eager
    def broken(*args, **kwargs):
        raise RuntimeError("a kernel that fails")
    prepared.fast.function = broken
    again = renderer.render([(prepared, z, 1.0)], width=32, height=32, channels=3)
    assert np.array_equal(again, eager) and prepared.fast.function is None
    assert prepared.fast.state.startswith("failed: RuntimeError")


def live_tensors() -> int:
    import gc

    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) in (torch.Tensor, torch.nn.Parameter))


@pytest.mark.slow
def test_every_model_a_show_loads_plays_its_compiled_pass_and_leaves_nothing_behind(tiny_gan_path):
    """torch.compile keeps a function's graphs on its code, and past eight of them (recompile_limit) it runs
    the function uncompiled, counting the graphs of models long gone. While every model's pass shared one
    code, a show that went through five models, compiled at two thread counts each, played the fifth and
    every later one uncompiled, its status saying "compiled". And torch kept each compiled pass (graphs,
    frozen weights) after its model was let go: memory that grew with every model loaded anew."""
    from torch._dynamo.utils import counters

    renderer = Renderer("cpu", compile=True, thread_counts=(1, 2))
    kept = []
    for _ in range(5):
        graphs = counters["stats"]["unique_graphs"]
        prepared = renderer.prepare(load_model(tiny_gan_path))
        assert prepared.fast.done.wait(300), "compiling never ended"
        assert prepared.fast.state == "compiled", prepared.fast.state
        assert counters["stats"]["unique_graphs"] == graphs + 2, "the model's pass was not compiled"
        frame = renderer.render([(prepared, z(1), 1.0)], width=32, height=32, channels=3)
        assert counters["stats"]["unique_graphs"] == graphs + 2 and frame.shape == (32, 32, 3)
        del prepared  # the show moves on to another model
        kept.append(live_tensors())
    assert kept[1:] == kept[:1] * 4, f"tensors alive after each model was let go: {kept}"


@pytest.mark.slow
def test_a_model_let_go_leaves_the_other_resident_compiled_pass_playing(tiny_gan_path):
    """Two resident copies of a model, compiled alike (the second from inductor's cache, sharing what it
    can): letting one go leaves the other's compiled pass playing, unchanged and not compiled again."""
    from torch._dynamo.utils import counters

    renderer = Renderer("cpu", "fp32", compile=True, thread_counts=(1,))
    first, second = (renderer.prepare(load_model(tiny_gan_path)) for _ in range(2))
    assert first.fast.done.wait(300) and second.fast.done.wait(300)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the count the passes are made for: the compiled pass plays
    try:
        want = renderer.render([(second, z(3), 1.0)], width=32, height=32, channels=3).copy()
        del first
        live_tensors()
        graphs = counters["stats"]["unique_graphs"]
        assert np.array_equal(renderer.render([(second, z(3), 1.0)], width=32, height=32, channels=3), want)
    finally:
        torch.set_num_threads(threads)
    assert counters["stats"]["unique_graphs"] == graphs and second.fast.state == "compiled"


def test_eager_passes_run_side_by_side_and_the_trace_takes_its_turn_between_them():
    """The gate never holds one eager pass up behind another (the loader's long check and the render
    thread's frames), and a trace starts once the passes under way have ended."""
    gate = TraceGate()
    inside, release, traced = threading.Event(), threading.Event(), threading.Event()

    def long_pass():
        with gate.eager():
            inside.set()
            release.wait()

    loader = threading.Thread(target=long_pass)
    loader.start()
    assert inside.wait(10)
    with gate.eager():  # the render thread's frame, while the loader's pass runs
        pass

    def tracing():
        with gate.alone():
            traced.set()

    tracer = threading.Thread(target=tracing)
    tracer.start()
    release.set()
    loader.join(10)
    assert traced.wait(10)
    tracer.join(10)
    with gate.eager():  # and the gate is open again after the trace
        pass


def test_a_model_that_cannot_compile_plays_uncompiled(tiny_gan_path, monkeypatch):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    renderer = Renderer("cpu", compile=True)
    prepared = renderer.prepare(load_model(tiny_gan_path))
    assert prepared.fast.done.wait(60)
    assert prepared.fast.state == "failed: RuntimeError: no C++ compiler found" and prepared.fast.function is None
    z = np.zeros(16, np.float32)
    assert renderer.render([(prepared, z, 1.0)], width=32, height=32, channels=3).shape == (32, 32, 3)
    # and a renderer not asked to compile leaves models as they are
    assert Renderer("cpu").prepare(load_model(tiny_gan_path)).fast.state == "eager"


def test_gans_and_vaes_play_channels_last_and_draw_what_the_default_layout_draws(renderer, tiny_gan_path,
                                                                                  tiny_vae_path):
    """The layout measured faster on the CPU (ModelKind.channels_last): the same frames, to rounding."""
    for path in (tiny_gan_path, tiny_vae_path):
        plain = load_model(path)
        prepared = renderer.prepare(load_model(path))
        convs = [m.weight for m in prepared.model.network.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
        assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                             for w in convs if w.shape[2:] != (1, 1))
        plain.network.eval()
        with torch.inference_mode():
            latent = torch.from_numpy(z(3))[None]
            assert torch.allclose(prepared.model.render(latent), plain.render(latent), atol=1e-5)


def test_in_bf16_a_gan_draws_close_to_fp32_scaled_too_and_a_stylegan_exactly_as_in_fp32(tiny_gan_path, tmp_path):
    """What auto plays on a CPU with bf16 arithmetic: a GAN within bf16's rounding of its fp32 frame, also
    when the frame is scaled down (resampled in fp32: the CPU has no bf16 antialiased resize); a StyleGAN
    as in fp32 (its mapping and latents stay fp32)."""
    from latentvj.bridge.device import _cpu_has_bf16
    from latentvj.models.stylegan2 import StyleGAN2, StyleGAN2Config

    if not _cpu_has_bf16():
        pytest.skip("this CPU has no bf16 arithmetic (bf16 is refused here)")
    half, full = Renderer("cpu", "bf16"), Renderer("cpu", "fp32")
    latent = z(5, 16)
    for size in ((32, 32), (20, 12)):
        a = half.render([(half.prepare(load_model(tiny_gan_path)), latent, 1.0)], width=size[0], height=size[1],
                        channels=3).astype(int)
        b = full.render([(full.prepare(load_model(tiny_gan_path)), latent, 1.0)], width=size[0], height=size[1],
                        channels=3).astype(int)
        assert a.shape == b.shape == (size[1], size[0], 3) and np.abs(a - b).mean() < 1.5
    torch.manual_seed(0)
    path = save_model(tmp_path / "sg2.safetensors", StyleGAN2(StyleGAN2Config(
        resolution=16, latent_dim=8, w_dim=8, mapping_layers=2, channel_base=128, channel_max=16)).eval())
    style = z(6, 8)
    a, b = (r.render([(r.prepare(load_model(path)), style, 1.0)], width=16, height=16, channels=3)
            for r in (half, full))
    assert np.array_equal(a, b)
