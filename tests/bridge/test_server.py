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
    server.control.set("encode", ("square.png", 7))  # as /lvj/encode square.png 7 does
    assert done.wait(60), "no preset stored"
    assert stored == [7]
    preset = server.engine.presets.get(7)
    assert preset.model == "tiny" and len(preset.latent) == 16 and preset.params == {"walk/mode": "hold"}


def test_encode_errors_are_reported_to_the_sender(server):
    reports = []
    server.report = lambda address, reason, source: reports.append((address, reason, source))
    server._encode("../secret.png", 2, ("127.0.0.1", 4000))
    server._encode("missing.png", 2, ("127.0.0.1", 4000))
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
