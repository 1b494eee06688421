"""The server's own work besides the engine: encoding an image over OSC into a preset, confined paths."""

import threading

import numpy as np
import pytest
from PIL import Image

from latentvj.bridge.engine import EngineConfig
from latentvj.bridge.server import ServeConfig, Server, confined_file


@pytest.fixture
def server(tmp_path, tiny_gan_path, shm_name):
    images = tmp_path / "images"
    images.mkdir()
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[8:24, 8:24] = (250, 200, 0)
    Image.fromarray(pixels).save(images / "square.png")
    config = ServeConfig(model=tiny_gan_path, engine=EngineConfig(device="cpu"), osc_port=0, http_port=0,
                         oscquery_port=0, shm=shm_name, image_dirs=[images], presets=tmp_path / "presets.json")
    server = Server(config)
    yield server
    server.close()


def test_encode_over_osc_stores_a_preset(server):
    stored, done = [], threading.Event()

    def heard(change):
        if change.name == "preset/current":
            stored.append(change.value)
            done.set()

    server.control.listen(heard)
    from latentvj.bridge.control.osc import build_message

    assert server.protocol.handle(build_message("/lvj/encode", "square.png", 7), ("127.0.0.1", 4000)) == []
    assert done.wait(60), "no preset stored"
    assert stored == [7]
    preset = server.engine.presets.get(7)
    assert preset.model == "tiny" and len(preset.latent) == 16 and preset.params == {"walk/mode": "hold"}


def test_encode_errors_are_reported_to_the_sender(server):
    reports = []
    server.report = lambda address, reason, source: reports.append((address, reason, source))
    server._encode("../secret.png", 2, "a", ("127.0.0.1", 4000))
    server._encode("missing.png", 2, "a", ("127.0.0.1", 4000))
    assert all(address == "/lvj/encode" and source == ("127.0.0.1", 4000) for address, _, source in reports)
    assert "'..'" in reports[0][1] and "no such file" in reports[1][1]


def test_confined_file_refuses_escapes(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"x")
    (tmp_path / "out.png").write_bytes(b"x")
    (tmp_path / "in" / "link.png").symlink_to(tmp_path / "out.png")
    assert confined_file("a.png", [tmp_path / "in"]) == (tmp_path / "in" / "a.png").resolve()
    for bad in (str(tmp_path / "out.png"), "../out.png", "link.png"):
        with pytest.raises(ValueError):
            confined_file(bad, [tmp_path / "in"])


# ---- faults a hostile or careless controller causes -----------------------------------------------------

import struct  # noqa: E402
import threading as _threading  # noqa: E402

import torch  # noqa: E402

from latentvj.bridge.control.osc import build_message  # noqa: E402
from latentvj.bridge.server import ServeError  # noqa: E402
from latentvj.models.checkpoint import save_model  # noqa: E402
from latentvj.models.gan import GANConfig, Generator  # noqa: E402
from latentvj.models.registry import model_names  # noqa: E402
from latentvj.plugin.shmring import ShmFrameReader  # noqa: E402

SENDER = ("127.0.0.1", 4321)


def gan_file(folder, name, **config):
    torch.manual_seed(0)
    generator = Generator(GANConfig(resolution=32, ngf=4, ndf=4, **{"latent_dim": 16, **config})).eval()
    return save_model(folder / f"{name}.safetensors", generator, metadata={"name": name})


@pytest.fixture
def served(tmp_path, tiny_gan_path, shm_name):
    """A server (not running its render loop: the test steps the engine) with a model folder."""
    models = tmp_path / "models"
    models.mkdir()
    config = ServeConfig(model=tiny_gan_path, engine=EngineConfig(device="cpu"), osc_port=0, http_port=0,
                         oscquery_port=0, shm=shm_name, model_dirs=[models], presets=tmp_path / "presets.json",
                         image_dirs=[tmp_path])
    server = Server(config)
    reports = []
    server.report = lambda address, reason, source, **_: reports.append((address, reason, source))
    yield server, models, reports
    server.close()


def test_the_serving_process_freezes_its_heap_once_the_first_model_has_compiled(served):
    """Full collections then skip the half a million objects torch leaves (a 300 ms frozen output each
    time one ran while a show loaded a model): it waits for the compile, never for a frame."""
    import gc

    server, _, _ = served
    fast = server.engine.prepared.fast
    fast.state, fast.done = "compiling", threading.Event()  # as a model still compiling in the background
    frozen = gc.get_freeze_count()
    try:
        server.freeze_heap()
        assert not server.heap_frozen.is_set()
        fast.state = "compiled"
        fast.done.set()
        assert server.heap_frozen.wait(30)
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()  # the rest of the tests' process as it was


def bundle(*messages: bytes) -> bytes:
    return b"#bundle\0" + struct.pack(">Q", 1) + b"".join(struct.pack(">i", len(m)) + m for m in messages)


def test_a_bundle_of_a_hundred_model_loads_runs_one_at_a_time_and_answers_every_one(served):
    server, models, reports = served
    for n in range(3):
        gan_file(models, f"m{n}")
    names = [f"m{n % 3}" for n in range(100)]
    assert server.protocol.handle(bundle(*(build_message("/lvj/model/load", n) for n in names)), SENDER) == []
    loaders = [t for t in _threading.enumerate() if t.name == "model-load-a"]
    assert len(loaders) == 1, "one owned worker, however many loads were asked for"
    assert server.loads["a"].wait_idle(60)
    superseded = [r for r in reports if "a later request" in r[1]]
    assert server.loads["a"].done + len(superseded) == 100, "each request ran or was answered"
    assert all(source == SENDER for _, _, source in superseded)
    server.engine.step(0.0)
    assert server.engine.model.name == "m0", "the newest request won (the hundredth: m0)"


@pytest.mark.parametrize("channels", [1, 4])
def test_a_grey_or_rgba_model_loaded_while_rgb_plays_keeps_every_output_working(served, channels):
    server, models, reports = served
    gan_file(models, "other", channels=channels)
    server.loads["a"].submit(("other", "a", False, SENDER))
    assert server.loads["a"].wait_idle(60) and reports == []
    server.engine.step(0.0)
    pixels = server.engine.step(0.1)
    expected = 4 if channels == 4 else 3  # grey is sent as RGB
    assert pixels.shape == (32, 32, expected) and server.engine.frame_errors == 0
    with ShmFrameReader(server.config.shm) as reader:
        assert reader.channels == expected and reader.read() is not None
    assert server.encoder.errors == 0


def test_a_model_that_cannot_play_is_refused_with_a_reply_and_the_old_one_plays_on(served):
    server, models, reports = served
    torch.manual_seed(0)
    generator = Generator(GANConfig(resolution=32, latent_dim=16, ngf=4, ndf=4)).eval()
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.mul_(1e30)  # finite weights whose images overflow
    save_model(models / "huge.safetensors", generator, metadata={"name": "huge"})
    gan_file(models, "five", channels=5)
    for name in ("huge", "five"):
        server.loads["a"].submit((name, "a", False, SENDER))
        assert server.loads["a"].wait_idle(60)
    assert [r[0] for r in reports] == ["/lvj/model/load"] * 2
    assert "NaN or infinite" in reports[0][1] and "cannot be played" in reports[0][1]
    assert "draws 5 channels" in reports[1][1]
    server.engine.step(0.0)
    assert server.engine.model.name == "tiny" and server.engine.frame_errors == 0


def test_a_model_with_fewer_latent_dimensions_than_knobs_plays(served):
    server, models, reports = served
    gan_file(models, "small", latent_dim=4)
    server.loads["a"].submit(("small", "a", False, SENDER))
    assert server.loads["a"].wait_idle(60) and reports == []
    server.engine.step(0.0)
    assert server.engine.model.latent_dim == 4
    for name, value in (("smoothing", 0.0), ("morph/time", 0.0), ("walk/mode", "hold")):
        server.control.set(name, value)
    server.engine.step(0.1)
    server.engine.step(5.0)  # any blend into hold is over
    still = server.engine.latent(5.0)
    server.control.set("direction/8", 3.0)  # beyond the latent's 4 dimensions: does nothing
    assert server.engine.step(5.1) is not None and np.array_equal(server.engine.latent(5.1), still)
    server.control.set("direction/1", 3.0)
    assert server.engine.step(5.2) is not None and not np.allclose(server.engine.latent(5.2), still)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims width x height pixels (a decompression bomb)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(100_000, 100_000), (9000, 9000)])
def test_a_decompression_bomb_to_encode_is_answered(served, tmp_path, size):
    server, _, reports = served
    (tmp_path / "bomb.png").write_bytes(png_claiming(*size))
    server.encodes.submit(("bomb.png", 3, "a", SENDER))
    assert server.encodes.wait_idle(60)
    (address, reason, source), = reports
    assert address == "/lvj/encode" and source == SENDER and "bomb.png" in reason
    assert "too large" in reason or "decompression bomb" in reason


def test_every_listener_reachable_from_the_network_needs_allow(tmp_path, tiny_gan_path, shm_name):
    for option in ({"http_host": "0.0.0.0"}, {"osc_host": "0.0.0.0"}):
        config = ServeConfig(model=tiny_gan_path, engine=EngineConfig(device="cpu"), shm=shm_name, **option)
        with pytest.raises(ServeError, match="--allow"):
            Server(config)


def test_the_status_reply_gives_the_latent_size(served):
    """Issue 9, bug 2: /lvj/status always said latent size 0."""
    from pythonosc.osc_message import OscMessage

    from latentvj.bridge.control.osc import STATUS_FIELDS

    server, _, _ = served
    fields = dict(zip([name for name, _ in STATUS_FIELDS], OscMessage(server.protocol.status_message()).params))
    assert fields["latent_dim"] == 16 and fields["model"] == "tiny"


def test_a_reply_subscriber_is_sent_every_current_value_at_start(tmp_path, tiny_gan_path, shm_name):
    """Issue 9, bug 3: --reply HOST:PORT got 3 messages at start, /lvj/subscribe every value."""
    import socket

    from pythonosc.osc_message import OscMessage

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(30)
        config = ServeConfig(model=tiny_gan_path, engine=EngineConfig(device="cpu"), osc_port=0, http_port=0,
                             oscquery_port=0, shm=shm_name, presets=None, reply=[listener.getsockname()])
        server = Server(config)
        runner = _threading.Thread(target=server.run)
        runner.start()
        try:
            addresses = set()
            while "/lvj/status" not in addresses:  # the dump ends with the status
                addresses.add(OscMessage(listener.recvfrom(65535)[0]).address)
        finally:
            server.stop()
            runner.join(30)
    dumped = {OscMessage(data).address for data in server.protocol.dump()}
    assert dumped <= addresses and {"/lvj/walk/speed", "/lvj/walk/mode", "/lvj/seed"} <= addresses


def test_encode_never_runs_on_the_network_that_plays(served, tmp_path, monkeypatch):
    """Issue 9: /lvj/encode ran a latent optimisation with autograd on the playing network, from another
    thread; the render loop then waited for it."""
    import latentvj.bridge.server as server_module

    server, _, reports = served
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[8:24, 8:24] = (250, 200, 0)
    Image.fromarray(pixels).save(tmp_path / "square.png")
    playing = server.engine.model.network
    used = []
    real = server_module.encode_image
    monkeypatch.setattr(server_module, "encode_image",
                        lambda model, image, **k: (used.append(model.network), real(model, image, steps=5))[1])
    server.encodes.submit(("square.png", 5, "a", SENDER))
    assert server.encodes.wait_idle(60) and reports == []
    assert used and used[0] is not playing
    assert next(used[0].parameters()).device.type == "cpu"
    assert server.engine.presets.get(5).model_id == server.engine.model_id


def test_a_stylegan_network_pickle_in_a_model_folder_loads_over_osc_and_plays(served, monkeypatch):
    from nvidia_pickles import reference_pickle, stand_ins

    server, models, reports = served
    reference_pickle(stand_ins(monkeypatch), models / "faces.pkl", "sg3t")
    assert "faces.pkl" in model_names([models])
    server.loads["a"].submit(("faces.pkl", "a", False, SENDER))
    assert server.loads["a"].wait_idle(60) and reports == []
    server.engine.step(0.0)
    pixels = server.engine.step(0.1)
    assert server.engine.model.kind == "stylegan3" and server.engine.model.name == "faces"
    assert pixels.shape == (32, 32, 3) and server.engine.frame_errors == 0  # scaled up to the output size
    assert pixels.std() > 1, "an image, not a flat colour"
