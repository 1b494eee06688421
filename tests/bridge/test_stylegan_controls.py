"""The StyleGAN controls, from OSC to the frame: walks and knobs in W, truncation as psi, animated noise that
never flickers, style mixing, StyleGAN3's translate and rotate, class-conditional models' classes (and the
morph between them), and a clear refusal where the model playing has no such control."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentvj.bridge.control.commands import Commands
from latentvj.bridge.control.state import ControlState
from latentvj.bridge.engine import Engine, EngineConfig
from latentvj.models.checkpoint import load_model, save_model
from latentvj.models.kinds import Styling
from latentvj.models.stylegan2 import StyleGAN2, StyleGAN2Config
from latentvj.models.stylegan3 import StyleGAN3, StyleGAN3Config, image_transform

SENDER = ("127.0.0.1", 4321)


def tiny(tmp_path, network, name):
    torch.manual_seed(1)
    with torch.no_grad():
        for key, value in network.state_dict().items():
            if key.endswith("noise_strength"):
                value.fill_(0.5)  # noise that shows
            elif key.startswith("mapping.fc") and key.endswith("weight"):
                value.mul_(100)  # as trained: stored at 1 / lr
            elif "torgb" in key and key.endswith("weight") or key.endswith("input.weight"):
                value.mul_(0.1)  # images in range, not saturated
    return load_model(save_model(tmp_path / f"{name}.safetensors", network.eval(), metadata={"name": name}))


@pytest.fixture
def sg2(tmp_path):
    torch.manual_seed(0)
    return tiny(tmp_path, StyleGAN2(StyleGAN2Config(resolution=64, latent_dim=8, w_dim=8, mapping_layers=2,
                                                    channel_base=256, channel_max=16)), "sg2")


@pytest.fixture
def conditional(tmp_path):
    torch.manual_seed(0)
    return tiny(tmp_path, StyleGAN2(StyleGAN2Config(resolution=16, latent_dim=8, w_dim=8, c_dim=3, mapping_layers=2,
                                                    channel_base=128, channel_max=16)), "classes")


@pytest.fixture
def sg3(tmp_path):
    torch.manual_seed(0)
    return tiny(tmp_path, StyleGAN3(StyleGAN3Config(resolution=16, latent_dim=8, w_dim=8, channel_base=256,
                                                    channel_max=16, num_layers=4, margin_size=4)), "sg3")


def playing(model):
    control = ControlState()
    engine = Engine(model, config=EngineConfig(device="cpu"), control=control)
    commands = Commands(control, status=engine.status)
    for address, value in (("/lvj/smoothing", 0), ("/lvj/morph/time", 0), ("/lvj/walk/mode", "hold")):
        send(commands, address, value)
    engine.step(0.0)
    return engine, commands


def send(commands, address, *args):
    replies = commands.call(address, list(args), SENDER)
    assert not replies, replies


def refused(commands, address, *args) -> str:
    replies = commands.call(address, list(args), SENDER)
    assert replies, f"{address} was taken"
    return str(replies[0][0])


def frame(engine, t):
    return engine.step(t).astype(float)


def test_truncation_is_psi_in_w(sg2):
    engine, commands = playing(sg2)
    free = frame(engine, 1.0)
    send(commands, "/lvj/truncation", 0.0)
    average = frame(engine, 1.1)
    w_avg = sg2.network.mapping.w_avg
    ws = w_avg[None, None].expand(1, sg2.network.num_ws, -1)
    with torch.inference_mode():
        expected = sg2.network.synthesis(ws)[0]
    pixels = ((expected.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy()
    assert np.abs(average - pixels).max() <= 1.0, "psi 0 draws the average w's image"
    assert np.abs(free - average).max() > 10


def test_walking_in_w_moves_linearly_and_knob_k_is_ws_kth_principal_axis(sg2):
    engine, commands = playing(sg2)
    deck = engine.decks["a"]
    send(commands, "/lvj/walk/space", "w")
    engine.step(1.0)
    style = deck.styling(1.0)
    assert style.space == "w" and style.w_space is not None
    point = deck.latent(1.0)
    send(commands, "/lvj/direction/1", 2.0)
    engine.step(1.1)
    moved = deck.latent(1.1)
    assert np.allclose(moved - point, np.eye(8, dtype=np.float32)[0] * 2.0, atol=1e-5)
    # W's axes are its principal axes: sampled w projected onto them have variance 1 along each, strongest
    # first
    space = style.w_space
    z = torch.randn(2000, 8, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        w = sg2.network.mapping(z)
    coordinates = torch.linalg.lstsq(space.axes.T, (w - space.mean).T).solution.T
    spread = coordinates.std(dim=0)
    assert torch.allclose(spread, torch.ones(8), atol=0.1)
    norms = space.axes.norm(dim=1)
    assert bool((norms[:-1] >= norms[1:] - 1e-6).all())
    # the same image in z and in W for the W point of a z
    send(commands, "/lvj/walk/space", "z")
    engine.step(1.2)
    assert deck.styling(1.2).space == "z"


def test_noise_zero_is_the_stored_noise_and_animated_noise_moves_smoothly(sg2):
    engine, commands = playing(sg2)
    still = [frame(engine, t) for t in (1.0, 1.5)]
    assert np.array_equal(still[0], still[1]), "hold + stored noise: the same image"
    send(commands, "/lvj/noise", 1.0)
    times = np.arange(0, 4, 1 / 30)
    frames = [frame(engine, 2.0 + t) for t in times]
    steps = np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])
    assert steps.mean() > 0.05, "the noise moves"
    assert steps.max() < 6 * np.median(steps) + 0.5, "and never jumps from one frame to the next"
    # a function of the walk's time: the same moment draws the same noise
    again = frame(engine, 2.0 + times[10])
    assert np.array_equal(again, frames[10])


def test_style_mixing_takes_the_second_seeds_coarse_or_fine_layers_and_fades_in(sg2):
    engine, commands = playing(sg2)
    base = frame(engine, 1.0)
    send(commands, "/lvj/style/seed", 77)
    send(commands, "/lvj/style/layers", "fine")
    fine = frame(engine, 1.1)
    send(commands, "/lvj/style/layers", "coarse")
    coarse = frame(engine, 1.2)
    assert np.abs(fine - base).max() > 1 and np.abs(coarse - base).max() > 1 and np.abs(coarse - fine).max() > 1
    send(commands, "/lvj/style/mix", 0.0)
    assert np.array_equal(frame(engine, 1.3), base), "mix 0: the deck's own style"
    # what the coarse mix draws: the second seed's w in the first four layers
    style = engine.decks["a"].styling(1.3)
    assert style.mix_layers == "coarse" and style.mix is not None
    network = sg2.network
    z = torch.from_numpy(engine.decks["a"].latent(1.3))[None]
    with torch.inference_mode():
        ws = network.ws(z).clone()
        ws[:, :4] = network.ws(style.mix[None])[:, :4]
        expected = network.synthesis(ws)[0]
    pixels = ((expected.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy()
    assert np.abs(coarse - pixels).max() <= 1.0


def test_stylegan3_translates_and_rotates_through_its_input_transform(sg3):
    engine, commands = playing(sg3)
    base = frame(engine, 1.0)
    send(commands, "/lvj/sg3/translate", 0.25, 0.0)
    send(commands, "/lvj/sg3/rotate", 30.0)
    moved = frame(engine, 1.1)
    style = engine.decks["a"].styling(1.1)
    assert style.translate == (0.25, 0.0) and style.rotate == 30.0
    assert np.abs(moved - base).max() > 5
    # StyleGAN3-T is translation-equivariant: a quarter of the width to the right is 4 px at 16 px
    network = sg3.network
    ws = network.ws(torch.randn(1, 8, generator=torch.Generator().manual_seed(3)))
    with torch.inference_mode():
        still = network.synthesis(ws)[0]
        shifted = network.synthesis(ws, transform=image_transform((0.25, 0.0)))[0]
        # rotation turns the Fourier features (the grid is symmetric: a quarter turn maps it onto itself)
        w = ws[:, 0]
        features = network.synthesis.input(w)
        turned = network.synthesis.input(w, image_transform((0.0, 0.0), 90.0))
    # (within a percent: at 16 px the 4 px margins are close enough to the image to show)
    assert (shifted[:, :, 8:12] - still[:, :, 4:8]).abs().max().item() < 1e-2 * still.abs().max().item()
    assert (shifted - still).abs().max().item() > 0.1 * still.abs().max().item()
    assert torch.allclose(turned, torch.rot90(features, 1, dims=(2, 3)), atol=1e-4)
    assert "applies to StyleGAN2 models" in refused(commands, "/lvj/noise", 0.5)


def test_a_conditional_model_plays_a_class_and_morphs_to_the_next(conditional):
    engine, commands = playing(conditional)
    first = frame(engine, 1.0)
    send(commands, "/lvj/morph/time", 2.0)
    send(commands, "/lvj/class", 2)
    engine.step(2.0)
    halfway = engine.decks["a"].styling(3.0).c
    assert torch.allclose(halfway, torch.tensor([0.5, 0.0, 0.5]), atol=1e-5)
    second = frame(engine, 5.0)
    assert torch.equal(engine.decks["a"].styling(5.0).c, torch.tensor([0.0, 0.0, 1.0]))
    assert np.abs(second - first).max() > 5
    assert "this model has 3 classes (0..2), got 3" in refused(commands, "/lvj/class", 3)


def test_the_stylegan_controls_are_refused_for_a_model_without_them(tiny_gan_path):
    engine, commands = playing(load_model(tiny_gan_path))
    for address, args in (("/lvj/walk/space", ["w"]), ("/lvj/style/layers", ["coarse"]), ("/lvj/class", [1]),
                          ("/lvj/sg3/rotate", [10.0])):
        assert "applies to StyleGAN models; this model is a GAN" in refused(commands, address, *args)
    assert engine.decks["a"].styling(0.0) is None


def test_styling_is_ignored_by_kinds_without_a_mapping(tiny_gan_path):
    model = load_model(tiny_gan_path)
    z = torch.randn(1, model.latent_dim)
    with torch.inference_mode():
        assert torch.equal(model.render(z, styling=Styling(noise=1.0)), model.render(z))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sg2", "sg3"])
def test_a_stylegan_plays_its_compiled_synthesis_through_every_control_without_compiling_again(name, request):
    """The StyleGANs' synthesis compiles in the background as the other kinds do (models/kinds.py:
    compiled_draw). Whatever the controls do (noise off and on, a style mix, a walk in W, StyleGAN3's
    translate and rotate), the compiled pass draws what the eager one draws, and no control compiles it
    again on the render thread (seconds without a frame)."""
    from torch._dynamo.utils import counters
    from latentvj.bridge.renderer import Renderer

    model = request.getfixturevalue(name)
    eager_model = load_model(model.path)
    renderer, eager = Renderer("cpu", compile=True), Renderer("cpu")
    prepared, reference = renderer.prepare(model), eager.prepare(eager_model)
    assert prepared.fast.done.wait(300), "compiling never ended"
    assert prepared.fast.state == "compiled", prepared.fast.state
    mix = torch.from_numpy(np.random.default_rng(5).standard_normal(8).astype(np.float32))
    stylings = [Styling(), Styling(mix=mix, mix_layers="coarse", mix_amount=0.7)]
    if name == "sg2":
        stylings += [Styling(noise=0.6, noise_time=t) for t in (0.3, 2.9)]
        stylings += [Styling(space="w", w_space=prepared.w_space), Styling(noise=1.0, noise_time=1.0)]
    else:
        stylings += [Styling(translate=(0.25, -0.1)), Styling(rotate=30.0), Styling(translate=(0.1, 0.0), rotate=-5)]
    z = np.random.default_rng(1).standard_normal(8).astype(np.float32)
    graphs = None
    for styling in stylings + stylings[:1]:
        got = renderer.render([(prepared, z, 1.0, 0.8, styling)], width=32, height=32, channels=3)
        if graphs is None:
            graphs = counters["stats"]["unique_graphs"]  # after the first frame: the compile thread's graph
        as_eager = styling if styling.w_space is None else Styling(space="w", w_space=reference.w_space)
        want = eager.render([(reference, z, 1.0, 0.8, as_eager)], width=32, height=32, channels=3)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, styling
        assert counters["stats"]["unique_graphs"] == graphs, f"compiled again for {styling}"
    assert prepared.fast.function is not None, "the compiled pass played to the end"
