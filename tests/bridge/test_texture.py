"""Spout and Syphon outputs, driven through fakes that record the calls of SpoutGL's and syphon-python's
documented APIs (neither platform is here); the calls themselves are checked against the real wheels for
Windows and macOS (``make extras-wheels``, run by .ci/run)."""

from __future__ import annotations

import ast
import sys
import threading
import time
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from latentvj.bridge.outputs import OPTIONAL_OUTPUTS, OutputError
from latentvj.bridge.outputs.texture import (GL_RGBA, SPOUT_CALLS, SYPHON_CALLS, SpoutBackend, SyphonBackend,
                                             TextureSender, TextureUnavailable)

WAIT = 20.0
WHEELS = Path(__file__).resolve().parents[2] / "build" / "extras-wheels"


def wait_until(condition, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def frame(value: int, width=8, height=6, channels=3) -> np.ndarray:
    pixels = np.full((height, width, channels), value, np.uint8)
    pixels[0] = 250  # the top row, to see where it lands
    return pixels


# ---- Spout: a stand-in for the SpoutGL module -----------------------------------------------------------

class FakeSpoutSender:
    """SpoutGL.SpoutSender with exactly the methods this project may call (SPOUT_CALLS): each call is recorded
    with its arguments and the thread it came from."""

    def __init__(self, calls: list, accept: bool = True):
        self._calls, self._accept = calls, accept

    def _record(self, name, *args):
        self._calls.append((name, args, threading.get_ident()))

    def createOpenGL(self):
        self._record("createOpenGL")
        return True

    def setSenderName(self, name):
        self._record("setSenderName", name)

    def sendImage(self, buffer, width, height, gl_format, invert, host_fbo):
        pixels = np.array(memoryview(buffer), copy=True)  # what Spout reads: the buffer protocol's bytes
        self._record("sendImage", pixels, width, height, gl_format, invert, host_fbo)
        return self._accept

    def setFrameSync(self, name):
        self._record("setFrameSync", name)

    def releaseSender(self):
        self._record("releaseSender")

    def closeOpenGL(self):
        self._record("closeOpenGL")
        return True


def fake_spoutgl(calls: list, *, accept: bool = True) -> types.ModuleType:
    module = types.ModuleType("SpoutGL")
    module.SpoutSender = lambda: (calls.append(("SpoutSender", (), threading.get_ident())),
                                  FakeSpoutSender(calls, accept))[1]
    module.enums = types.SimpleNamespace(GL_RGBA=0x1908, GL_BGRA_EXT=0x80E1, GL_RGB=0x1907, GL_BGR_EXT=0x80E0)
    return module


def test_spout_is_driven_with_spoutgls_call_sequence_on_its_own_thread():
    calls = []
    sender = TextureSender("LatentVJ", SpoutBackend(fake_spoutgl(calls)))
    with sender:
        sender.write(frame(10))
        assert wait_until(lambda: sender.status()["sent"] == 1)
        sender.write(frame(20, width=12, height=4))  # a resize: Spout takes the new size on the next send
        assert wait_until(lambda: sender.status()["sent"] == 2)
    names = [name for name, _, _ in calls]
    assert names == ["SpoutSender", "createOpenGL", "setSenderName", "sendImage", "setFrameSync", "sendImage",
                     "setFrameSync", "releaseSender", "closeOpenGL"]
    assert set(names) - {"SpoutSender"} <= set(SPOUT_CALLS)
    assert {thread for _, _, thread in calls} == {calls[0][2]} != {threading.get_ident()}, \
        "every Spout call on the sender's one thread (its OpenGL context lives there)"
    sends = [args for name, args, _ in calls if name == "sendImage"]
    first, second = sends
    assert first[1:] == (8, 6, GL_RGBA, False, 0) and second[1:] == (12, 4, GL_RGBA, False, 0)
    assert ("setSenderName", ("LatentVJ",)) == calls[2][:2] and calls[4][:2] == ("setFrameSync", ("LatentVJ",))
    rgba = first[0].reshape(6, 8, 4)
    assert (rgba[0] == [250, 250, 250, 255]).all(), "top row first, alpha 255, not flipped"
    assert (rgba[1:] == [10, 10, 10, 255]).all()
    assert sender.status() | {"running": None} == {
        "name": "LatentVJ", "running": None, "width": 12, "height": 4, "sent": 2, "dropped": 0, "idle": 0,
        "clients": None, "errors": 0, "last_error": ""}


def test_a_frame_spout_refuses_is_counted_and_the_sender_goes_on():
    calls = []
    with TextureSender("LatentVJ", SpoutBackend(fake_spoutgl(calls, accept=False))) as sender:
        sender.write(frame(1))
        assert wait_until(lambda: sender.status()["errors"] == 1)
        sender.write(frame(2))
        assert wait_until(lambda: sender.status()["errors"] == 2)
    status = sender.status()
    assert status["sent"] == 0 and "Spout did not take the 8x6 frame" in status["last_error"]
    assert [name for name, _, _ in calls].count("createOpenGL") == 1, "opened once, not per frame"


def test_rgba_and_grey_frames_go_to_spout_as_rgba():
    calls = []
    with TextureSender("x", SpoutBackend(fake_spoutgl(calls))) as sender:
        rgba = frame(7, channels=4)
        rgba[..., 3] = 100
        sender.write(rgba)
        assert wait_until(lambda: sender.status()["sent"] == 1)
        sender.write(frame(9, channels=1))
        assert wait_until(lambda: sender.status()["sent"] == 2)
    sent = [args[0].reshape(6, 8, 4) for name, args, _ in calls if name == "sendImage"]
    assert (sent[0][1:] == [7, 7, 7, 100]).all(), "alpha kept"
    assert (sent[1][1:] == [9, 9, 9, 255]).all(), "grey spread to RGB, opaque"


# ---- Syphon: stand-ins for syphon-python and Foundation --------------------------------------------------

class FakeTexture:
    def __init__(self, device, width, height):
        self.device, self.size, self.image = device, (width, height), None


class FakeSyphon:
    """syphon, syphon.utils.raw, syphon.utils.numpy and Foundation as this project uses them (SYPHON_CALLS)."""

    def __init__(self):
        self.calls, self.clients, self.published, self.pumps = [], False, [], 0
        self.threads = set()
        fake = self
        device = object()

        class SyphonMetalServer:
            def __init__(self, name):
                fake._record("SyphonMetalServer", name)
                self.device = device

            @property
            def has_clients(self):
                return fake.clients

            def publish_frame_texture(self, texture, region=None, size=None, is_flipped=False,
                                      command_buffer=None, auto_commit=True):
                fake._record("publish_frame_texture", texture.size, is_flipped)
                fake.published.append(texture.image.copy())

            def stop(self):
                fake._record("stop")

        def create_mtl_texture(dev, width, height):
            assert dev is device, "the texture is made on the server's Metal device"
            fake._record("create_mtl_texture", width, height)
            return FakeTexture(dev, width, height)

        def copy_image_to_mtl_texture(image, texture):
            assert image.shape == (texture.size[1], texture.size[0], 4), "syphon-python's (m, n, 4) image"
            texture.image = image.copy()

        class RunLoop:
            def runMode_beforeDate_(self, mode, date):
                assert mode == "kCFRunLoopDefaultMode" and date <= 0.01
                fake.pumps += 1
                fake.threads.add(threading.get_ident())
                return True

        self.modules = {
            "syphon": types.SimpleNamespace(SyphonMetalServer=SyphonMetalServer),
            "raw": types.SimpleNamespace(create_mtl_texture=create_mtl_texture),
            "numpy": types.SimpleNamespace(copy_image_to_mtl_texture=copy_image_to_mtl_texture),
            "foundation": types.SimpleNamespace(
                NSRunLoop=types.SimpleNamespace(currentRunLoop=RunLoop),
                NSDate=types.SimpleNamespace(dateWithTimeIntervalSinceNow_=lambda seconds: seconds),
                NSDefaultRunLoopMode="kCFRunLoopDefaultMode"),
        }

    def _record(self, name, *args):
        self.calls.append((name, args))
        self.threads.add(threading.get_ident())


def test_syphon_publishes_metal_textures_only_while_a_client_receives():
    fake = FakeSyphon()
    fake.clients = True
    sender = TextureSender("LatentVJ", SyphonBackend(fake.modules))
    sender.poll = 0.02
    with sender:
        sender.write(frame(10))
        assert wait_until(lambda: sender.status()["sent"] == 1)
        fake.clients = False  # the last client quits
        sender.write(frame(11))  # sent (the sender learns only after it) ...
        assert wait_until(lambda: sender.status()["clients"] == 0)
        for value in range(12, 20):  # ... and then nothing is copied or published
            sender.write(frame(value))
        assert sender.status()["idle"] >= 8
        pumps = fake.pumps
        assert wait_until(lambda: fake.pumps > pumps + 3), "idle, the run loop still runs (discovery)"
        fake.clients = True  # a client comes back: the next poll says so
        assert wait_until(lambda: sender.status()["clients"] == 1)
        sender.write(frame(30, width=12, height=4))
        assert wait_until(lambda: sender.status()["sent"] == 3)
    names = [name for name, _ in fake.calls]
    assert names == ["SyphonMetalServer", "create_mtl_texture", "publish_frame_texture", "publish_frame_texture",
                     "create_mtl_texture", "publish_frame_texture", "stop"]
    assert fake.calls[0] == ("SyphonMetalServer", ("LatentVJ",))
    assert fake.calls[4] == ("create_mtl_texture", (12, 4)), "a new texture for a new size"
    assert all(args[1] is False for name, args in fake.calls if name == "publish_frame_texture"), "not flipped"
    assert len(fake.threads) == 1 and threading.get_ident() not in fake.threads
    first = fake.published[0]
    assert (first[0] == [250, 250, 250, 255]).all() and (first[1:] == [10, 10, 10, 255]).all()
    assert (fake.published[-1][1:] == [30, 30, 30, 255]).all()


# ---- which platform, which extra ------------------------------------------------------------------------

def test_each_output_says_where_it_exists_and_what_to_install(monkeypatch):
    with pytest.raises(TextureUnavailable, match=r"^Spout exists only on Windows; on Linux use --ndi NAME or "
                                                 r"shared memory"):
        SpoutBackend(platform="linux")
    with pytest.raises(TextureUnavailable, match=r"^Syphon exists only on macOS; on Windows use --spout NAME"):
        SyphonBackend(platform="win32")
    with pytest.raises(TextureUnavailable, match=r"^Spout exists only on Windows; on macOS use --syphon NAME"):
        SpoutBackend(platform="darwin")
    monkeypatch.setitem(sys.modules, "SpoutGL", None)  # what `import SpoutGL` sees when it is not installed
    with pytest.raises(TextureUnavailable, match=r"needs the optional SpoutGL package: pip install "
                                                 r"'latentvj\[spout\]'"):
        SpoutBackend(platform="win32")
    monkeypatch.setitem(sys.modules, "Foundation", None)
    with pytest.raises(TextureUnavailable, match=r"needs the optional syphon-python package: pip install "
                                                 r"'latentvj\[syphon\]'"):
        SyphonBackend(platform="darwin")


def test_serve_refuses_an_output_this_platform_lacks_in_one_line():
    rows = {kind.name: kind for kind in OPTIONAL_OUTPUTS}
    if sys.platform != "win32":
        with pytest.raises(OutputError, match=r"^Spout exists only on Windows"):
            rows["spout"].open("LatentVJ", 30.0)
    if sys.platform != "darwin":
        with pytest.raises(OutputError, match=r"^Syphon exists only on macOS"):
            rows["syphon"].open("LatentVJ", 30.0)
    assert (rows["spout"].option, rows["syphon"].option) == ("--spout", "--syphon")


def test_bad_frames_and_names_are_refused_with_what_came():
    with pytest.raises(ValueError, match="non-empty string"):
        TextureSender(" ", SpoutBackend(fake_spoutgl([])))
    sender = TextureSender("x", SpoutBackend(fake_spoutgl([])))
    with pytest.raises(ValueError, match=r"uint8 \(height, width, 1\|3\|4\) array, got float32"):
        sender.write(np.zeros((4, 4, 3), np.float32))


# ---- the real wheels ------------------------------------------------------------------------------------

def _wheels(folder: str, pattern: str) -> list[Path]:
    found = sorted((WHEELS / folder).glob(pattern))
    if not found:
        pytest.skip(f"no {pattern} in {WHEELS / folder}: run `make extras-wheels` (it downloads them)")
    return found


def test_the_spoutgl_wheel_for_windows_has_every_call_made_here_and_spouts_dll():
    for wheel in _wheels("win_amd64", "spoutgl-*-win_amd64.whl"):
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            assert "SpoutGL/Spout.dll" in names, f"{wheel.name} bundles Spout's DLL"
            binary = next(n for n in names if n.startswith("SpoutGL/_spoutgl") and n.endswith(".pyd"))
            exported = archive.read(binary)
            licence = next(n for n in names if n.endswith("METADATA"))
            assert b"License: BSD-3-Clause" in archive.read(licence)
        for name in (*SPOUT_CALLS, "SpoutSender", "GL_RGBA"):
            assert name.encode() + b"\0" in exported, f"{wheel.name}'s extension defines {name}"


def test_the_syphon_wheel_for_macos_has_every_call_made_here():
    for wheel in _wheels("macos_arm64", "syphon_python-*.whl") + _wheels("macos_x86_64", "syphon_python-*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            source = {name: archive.read(name).decode() for name in names
                      if name.startswith("syphon/") and name.endswith(".py")}
            metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
        assert "License: MIT" in metadata or "License-Expression: MIT" in metadata
        assert any(n.startswith("syphon/libs/Syphon.framework/") for n in names), "bundles Syphon's framework"
        defined = _definitions(source)
        for where, names in SYPHON_CALLS.items():
            for name in names:
                assert f"{where}.{name}" in defined, f"{wheel.name}: {where}.{name}"
        publish = defined["syphon.server.SyphonMetalServer.publish_frame_texture"]
        assert "is_flipped" in publish, "publish_frame_texture(texture, ..., is_flipped=...)"
        assert defined["syphon.utils.raw.create_mtl_texture"][:3] == ["device", "width", "height"]
        assert defined["syphon.utils.numpy.copy_image_to_mtl_texture"][:2] == ["image", "texture"]
        assert defined["syphon.server.SyphonMetalServer.__init__"][:2] == ["self", "name"]


def _definitions(source: dict[str, str]) -> dict[str, list[str]]:
    """Every function, class, method and self attribute the package's source defines (read, never run), a
    class's members including those it inherits from a class of its own module: dotted name -> parameters."""
    defined: dict[str, list[str]] = {}
    for path, text in source.items():
        module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        tree = ast.parse(text)
        classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

        def lineage(node):  # the class, then its bases of this module, nearest first
            yield node
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id in classes:
                    yield from lineage(classes[base.id])

        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                defined[f"{module}.{node.name}"] = [a.arg for a in node.args.args + node.args.kwonlyargs]
            elif isinstance(node, ast.ClassDef):
                defined[f"{module}.{node.name}"] = []
                for item in (item for cls in reversed(list(lineage(node))) for item in ast.walk(cls)):
                    if isinstance(item, ast.FunctionDef):
                        defined[f"{module}.{node.name}.{item.name}"] = [a.arg for a in item.args.args +
                                                                        item.args.kwonlyargs]
                    elif isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name) \
                            and item.value.id == "self" and isinstance(item.ctx, ast.Store):
                        defined.setdefault(f"{module}.{node.name}.{item.attr}", [])
            elif isinstance(node, (ast.ImportFrom,)) and module == "syphon":
                for alias in node.names:  # the package re-exports its classes
                    defined[f"syphon.{alias.asname or alias.name}"] = []
    return defined


def test_serve_spout_shares_every_rendered_frame_through_the_sender(tmp_path, tiny_gan_path, shm_name,
                                                                      monkeypatch):
    """`serve --spout NAME` end to end in one process: the row of OPTIONAL_OUTPUTS opens the sender, the
    engine's frames reach SpoutGL's sendImage, the status tells, and stopping releases the sender."""
    from latentvj.bridge.engine import EngineConfig
    from latentvj.bridge.outputs import texture
    from latentvj.bridge.server import ServeConfig, Server

    calls = []
    monkeypatch.setattr(texture, "SpoutBackend", lambda: SpoutBackend(fake_spoutgl(calls)))
    config = ServeConfig(model=tiny_gan_path, engine=EngineConfig(device="cpu", fps=30), osc_port=0, http_port=0,
                         oscquery_port=0, shm=shm_name, presets=None, routes=None, spout="LatentVJ",
                         recordings=tmp_path)
    server = Server(config)
    assert "Spout:    sender 'LatentVJ'" in server.describe()
    runner = threading.Thread(target=server.run)
    runner.start()
    try:
        assert wait_until(lambda: server.status()["spout"]["sent"] >= 5), server.status()["spout"]
    finally:
        server.stop()
        runner.join(60)
    sends = [args for name, args, _ in calls if name == "sendImage"]
    assert len(sends) >= 5 and {args[1:3] for args in sends} == {(server.engine.width, server.engine.height)}
    assert not np.array_equal(sends[0][0], sends[-1][0]), "the walk moves through the shared frames"
    assert [name for name, _, _ in calls][-2:] == ["releaseSender", "closeOpenGL"]


def test_a_stopped_sender_is_not_restarted():
    sender = TextureSender("x", SpoutBackend(fake_spoutgl([])))
    sender.start()
    sender.stop()
    sender.stop()
    with pytest.raises(RuntimeError, match="a TextureSender cannot be restarted after stop"):
        sender.start()
