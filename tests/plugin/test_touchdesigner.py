"""The TouchDesigner plugin with stand-ins for TouchDesigner's objects: the Script TOP callbacks against a
real shared-memory writer (orientation, no signal, re-attach), the COMP extension against the real OSCQuery
and OSC servers (parameters, OSC out, echoes in without feedback, status, server process), and oscwire
against python-osc."""

from __future__ import annotations

import importlib.util
import itertools
import os
import shlex
import socket
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing.osc_types import IMMEDIATELY

from latentvj.bridge.control.state import ControlState
from latentvj.bridge.control.osc import OscProtocol, OscServer, build_message
from latentvj.bridge.control.oscquery import OscQueryServer
from latentvj.bridge.control.params import OUTPUT_SIDES
from latentvj.bridge.outputs.shm import ShmFrameWriter
from latentvj.plugin import oscwire, shmring

PLUGIN = Path(shmring.__file__).parent
TD = PLUGIN / "touchdesigner"
_modules = itertools.count()

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def load(filename: str):
    """A fresh copy of one of the TouchDesigner files, loaded the way TouchDesigner loads a DAT: by path."""
    spec = importlib.util.spec_from_file_location(f"td_{Path(filename).stem}_{next(_modules)}", TD / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for(condition, *, timeout: float = 5.0, step=None, what: str = "condition"):
    """Call ``step`` (if any) and check ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if step is not None:
            step()
        result = condition()
        if isinstance(result, np.ndarray) or result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)  # a poll interval, not a wait for something to happen


# ---- stand-ins for TouchDesigner -------------------------------------------------------------------------

class FakePar:
    """A custom parameter: the attributes the plugin reads and sets. Setting ``val`` to a new value
    reports the change to the owner, as TouchDesigner runs a Parameter Execute DAT."""

    def __init__(self, owner, page, name: str, label: str, style: str):
        self.owner, self.page, self.name, self.label, self.style = owner, page, name, label, style
        self._val = "" if style in ("Str", "Menu") else False if style == "Toggle" else 0
        self.default = self._val
        self.min = self.max = self.normMin = self.normMax = None
        self.clampMin = self.clampMax = False
        self.menuNames: list = []
        self.menuLabels: list = []
        self.readOnly = False
        self.help = ""

    @property
    def val(self):
        return self._val

    @val.setter
    def val(self, value):
        changed = value != self._val
        self._val = value
        if changed:
            self.owner.changed(self)

    def eval(self):
        return self._val

    def destroy(self):
        self.page.pars.remove(self)
        delattr(self.owner.par, self.name)


class FakePage:
    def __init__(self, owner, name: str):
        self.owner, self.name, self.pars = owner, name, []

    def _append(self, style: str, name: str, label: str | None = None, size: int = 1):
        names = [name] if size == 1 else [f"{name}{i}" for i in range(1, size + 1)]
        group = []
        for n in names:
            par = FakePar(self.owner, self, n, label or n, style)
            setattr(self.owner.par, n, par)
            self.pars.append(par)
            group.append(par)
        return group

    def appendFloat(self, name, label=None, size=1):
        return self._append("Float", name, label, size)

    def appendInt(self, name, label=None, size=1):
        return self._append("Int", name, label, size)

    def appendToggle(self, name, label=None):
        return self._append("Toggle", name, label)

    def appendStr(self, name, label=None):
        return self._append("Str", name, label)

    def appendMenu(self, name, label=None):
        return self._append("Menu", name, label)

    def appendPulse(self, name, label=None):
        return self._append("Pulse", name, label)

    def destroy(self):
        for par in self.pars:
            delattr(self.owner.par, par.name)
        self.owner.customPages.remove(self)


class FakeOp:
    """A COMP or Script TOP: custom pages and parameters, storage, and the Script TOP's copyNumpyArray.

    ``on_change`` stands for the Parameter Execute DAT: called at once, or (``deferred``) only at
    ``flush()``, since the plugin must not depend on when TouchDesigner runs the callback."""

    _ids = itertools.count(1)

    def __init__(self, *, deferred: bool = False):
        self.id = next(self._ids)
        self.par = type("ParCollection", (), {})()
        self.customPages: list[FakePage] = []
        self.storage: dict = {}
        self.on_change = None
        self.deferred = deferred
        self.pending: list = []
        self.copied: list[np.ndarray] = []
        self.warnings: list[str] = []

    def appendCustomPage(self, name):
        page = FakePage(self, name)
        self.customPages.append(page)
        return page

    def changed(self, par):
        if self.on_change is None:
            return
        if self.deferred:
            self.pending.append(par)
        else:
            self.on_change(par)

    def flush(self):
        pending, self.pending = self.pending, []
        for par in pending:
            self.on_change(par)

    def copyNumpyArray(self, array):
        assert isinstance(array, np.ndarray) and array.flags.c_contiguous and array.ndim == 3
        self.copied.append(array.copy())  # TouchDesigner copies it into the texture at once

    def addWarning(self, text):
        self.warnings.append(text)


# ---- the Script TOP ----------------------------------------------------------------------------------------

@pytest.fixture
def top(monkeypatch):
    module = load("script_top_callbacks.py")
    monkeypatch.setattr(module, "RETRY_INTERVAL", 0.02)
    yield module
    for feed in list(module._feeds.values()):
        feed.close()


def script_op(top, stream: str) -> FakeOp:
    op = FakeOp()
    top.onSetupParameters(op)
    op.par.Streamname.val = stream
    return op


def three_band_frame(height: int, width: int) -> np.ndarray:
    """Top row red, bottom row blue, green in between (top row first, as LatentVJ writes)."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = GREEN
    frame[0] = RED
    frame[-1] = BLUE
    return frame


def cook(top, op) -> np.ndarray:
    top.onCook(op)
    return op.copied[-1]


def is_no_signal(top, array: np.ndarray) -> bool:
    return np.array_equal(array, top.no_signal_frame(*array.shape))


def test_setup_parameters_and_the_shmring_it_imports(top):
    op = FakeOp()
    top.onSetupParameters(op)
    assert op.par.Streamname.default == op.par.Streamname.eval() == "latentvj"
    assert op.par.Streamname.label == "Stream name"
    assert op.par.Reconnect.style == "Pulse"
    assert top.shmring is shmring  # the installed package's copy when LatentVJ is importable


def test_outside_latentvj_it_imports_shmring_from_the_plugin_folder(monkeypatch):
    """Inside TouchDesigner there is no latentvj package: shmring.py is found on the module path."""
    monkeypatch.setitem(sys.modules, "latentvj.plugin", None)  # `from latentvj.plugin import ...` fails
    for name in ("shmring", "oscwire"):
        monkeypatch.setitem(sys.modules, name, None)  # restored (removed) after the test
        del sys.modules[name]
    monkeypatch.syspath_prepend(str(PLUGIN))
    top = load("script_top_callbacks.py")
    ext = load("latentvj_ext.py")
    assert Path(top.shmring.__file__) == PLUGIN / "shmring.py" and top.shmring.__name__ == "shmring"
    assert ext.oscwire.__name__ == "oscwire"


@pytest.mark.integration
def test_no_server_shows_the_no_signal_frame(top, shm_name):
    op = script_op(top, shm_name)
    for _ in range(3):
        array = cook(top, op)
        assert array.dtype == np.uint8 and array.shape == top.NO_SIGNAL_SHAPE
        assert np.array_equal(array, top.no_signal_frame(*top.NO_SIGNAL_SHAPE))
    assert array[..., :3].mean() < 60  # dark
    assert len(np.unique(array[..., 0])) > 2  # with a visible pattern
    assert not top._feeds[op.id].live


def test_no_signal_frame_marks_the_top_for_a_bottom_up_host():
    top = load("script_top_callbacks.py")
    frame = top.no_signal_frame(64, 96, 3)
    assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous
    assert tuple(frame[-1, 0]) == (160, 24, 24)  # the red bar is in the last rows: the top in TouchDesigner
    assert frame[0, 48, 0] < 60 and frame[0, 0, 0] == 90  # dark, the cross meets the corners
    with pytest.raises(ValueError, match="3 or 4 channels"):
        top.no_signal_frame(8, 8, 2)


@pytest.mark.integration
def test_frames_arrive_bottom_row_first_and_come_back_after_a_restart(top, shm_name):
    op = script_op(top, shm_name)
    assert is_no_signal(top, cook(top, op))

    writer = ShmFrameWriter(shm_name, 8, 6)
    try:
        writer.write(three_band_frame(6, 8))
        array = wait_for(lambda: (a := cook(top, op)).shape == (6, 8, 3) and a, what="the first frame")
        assert array.dtype == np.uint8
        assert (array[0] == BLUE).all(), "row 0 handed to TouchDesigner must be the bottom row"
        assert (array[-1] == RED).all(), "the last row must be the top row"
        assert (array[1:-1] == GREEN).all()
        assert top._feeds[op.id].live
        # no new frame: the last one is shown again
        assert np.array_equal(cook(top, op), array)
    finally:
        writer.close()

    wait_for(lambda: is_no_signal(top, cook(top, op)), what="no signal after the writer closed")
    assert op.copied[-1].shape == (6, 8, 3)  # the last known size

    writer = ShmFrameWriter(shm_name, 5, 4)  # a restarted server, at another size
    try:
        wait_for(lambda: cook(top, op) is not None and top._feeds[op.id].reader.reader is not None,
                 what="the new writer, before its first frame")
        assert is_no_signal(top, op.copied[-1])  # not the old server's last picture
        writer.write(three_band_frame(4, 5))
        array = wait_for(lambda: (a := cook(top, op)).shape == (4, 5, 3) and not is_no_signal(top, a) and a,
                         what="frames from the new writer")
        assert (array[0] == BLUE).all() and (array[-1] == RED).all()
    finally:
        writer.close()


@pytest.mark.integration
def test_a_writer_that_stops_publishing_becomes_no_signal(top, shm_name, monkeypatch):
    monkeypatch.setattr(top, "STALE_AFTER", 0.1)
    op = script_op(top, shm_name)
    writer = ShmFrameWriter(shm_name, 4, 4)
    try:
        writer.write(three_band_frame(4, 4))
        wait_for(lambda: cook(top, op) is not None and top._feeds[op.id].live,
                 what="the first frame")
        wait_for(lambda: is_no_signal(top, cook(top, op)), what="no signal from a silent writer")
        writer.write(three_band_frame(4, 4))
        wait_for(lambda: not is_no_signal(top, cook(top, op)), what="the picture again")
    finally:
        writer.close()


@pytest.mark.integration
def test_stream_name_change_and_reconnect_pulse(top, shm_name):
    op = script_op(top, shm_name)
    cook(top, op)
    first = top._feeds[op.id]
    op.par.Streamname.val = shm_name + "b"
    cook(top, op)
    assert top._feeds[op.id] is not first and top._feeds[op.id].name == shm_name + "b"
    top.onPulse(op.par.Reconnect)
    assert op.id not in top._feeds
    op.par.Streamname.val = "not a valid name!"
    assert cook(top, op).shape == top.NO_SIGNAL_SHAPE
    assert "may only contain" in op.warnings[-1]


# ---- the COMP extension --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Clock:
    """Real monotonic time that a test can also move forward."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self):
        return time.monotonic() + self.offset


@pytest.fixture
def state() -> ControlState:
    state = ControlState()
    state.latent_dim, state.model_kind = 8, "gan"
    return state


@pytest.fixture
def listener():
    """Stands in for the OSC server: receives what the extension sends, sends it echoes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


@pytest.fixture
def oscquery(state, listener):
    server = OscQueryServer(state, port=0, osc_port=listener.getsockname()[1])
    server.start()
    yield server
    server.stop()


def make_ext(module, query_port: int, *, deferred: bool = False, clock=None):
    comp = FakeOp(deferred=deferred)
    ext = module.LatentVJExt(comp, **({"clock": clock} if clock else {}))
    comp.par.Queryport.val = query_port
    comp.on_change = ext.OnParValueChange
    return comp, ext


@pytest.fixture
def ext_module():
    return load("latentvj_ext.py")


@pytest.fixture
def connected(ext_module, oscquery, listener, state, request):
    """A COMP whose extension has connected to the real OSCQuery server; the listener has taken the
    subscription and the first status request."""
    deferred = getattr(request, "param", False)
    state.set("walk/speed", 0.5)
    state.set("output/size", (640, 360))
    state.set("walk/mode", "loop")
    comp, ext = make_ext(ext_module, oscquery.address[1], deferred=deferred)
    assert ext.Connect()
    comp.flush()
    assert next_message(listener) == ("/lvj/subscribe", [ext.sock.getsockname()[1]])
    assert next_message(listener) == ("/lvj/status", [])
    yield comp, ext
    ext.onDestroyTD()


def next_message(sock) -> tuple[str, list]:
    message = OscMessage(sock.recvfrom(65535)[0])
    return message.address, list(message.params)


def assert_nothing_else_sent(ext, listener):
    """Whatever the extension sends next is the probe: nothing was sent before it."""
    ext.OnParPulse(ext.ownerComp.par.Walkrandomise)
    assert next_message(listener) == ("/lvj/walk/randomise", [])


def test_the_connection_page_is_made_once(ext_module):
    comp = FakeOp()
    ext_module.LatentVJExt(comp)
    ext_module.LatentVJExt(comp)  # TouchDesigner re-creates extensions often
    assert [p.name for p in comp.customPages] == ["Connection"]
    assert comp.par.Host.eval() == "127.0.0.1" and comp.par.Queryport.eval() == 9002
    assert comp.par.Servercommand.eval() == "latentvj serve"
    assert comp.par.Serverstatus.readOnly and comp.par.Connect.style == "Pulse"


def test_names_and_labels_from_addresses(ext_module):
    assert ext_module.par_name("/lvj/walk/speed") == "Walkspeed"
    assert ext_module.par_name("/lvj/direction/3") == "Direction3"
    assert ext_module.par_name("/lvj/3d") == "P3d"
    assert ext_module.par_label("/lvj/output/fps") == "Output Fps"


@pytest.mark.integration
def test_connect_builds_parameters_from_the_oscquery_tree(connected, oscquery, listener, state):
    comp, ext = connected
    par = comp.par
    speed = par.Walkspeed
    assert speed.style == "Float" and speed.label == "Walk Speed"
    assert (speed.min, speed.max, speed.normMin, speed.normMax) == (-10.0, 10.0, -10.0, 10.0)
    assert speed.clampMin and speed.clampMax
    assert speed.help == state.registry["walk/speed"].description
    assert speed.eval() == 0.5 and speed.default == 0.5  # the server's current value
    assert (par.Direction1.min, par.Direction1.max) == (-3.0, 3.0)
    assert (par.Seed.style, par.Seed.min, par.Seed.max) == ("Int", 0, 2147483647)
    assert par.Walkmode.style == "Menu" and par.Walkmode.eval() == "loop"
    assert par.Walkmode.menuNames == ["drift", "loop", "noise", "keyframes", "hold"]
    assert par.Walkfreeze.style == "Toggle" and par.Walkfreeze.eval() is False
    assert par.Walkrandomise.style == "Pulse" and par.Status.style == "Pulse"
    assert (par.Outputsize1.eval(), par.Outputsize2.eval(), par.Outputsize1.max) == (640, 360, OUTPUT_SIDES[1])
    assert par.Modelname.style == "Str" and par.Modelname.readOnly
    assert par.Presetstore.style == "Int" and par.Presetstoresend.style == "Pulse"
    assert par.Modelload.style == "Str" and par.Modelloadsend.label == "Send Model Load"
    for absent in ("Z", "Z0", "Subscribe", "Unsubscribe", "Encode"):
        assert getattr(par, absent, None) is None, absent
    assert any(s.startswith("/lvj/encode") for s in ext.skipped)
    assert par.Oscport.eval() == listener.getsockname()[1]  # from HOST_INFO
    assert ext.addresses["Walkspeed"] == "/lvj/walk/speed" and ext.addresses["Outputsize2"] == "/lvj/output/size"
    assert [p.name for p in comp.customPages] == ["Connection", "LatentVJ", "Learn"]
    assert_nothing_else_sent(ext, listener)  # building set values without sending them
    # Page "Learn": a pulse for each parameter a MIDI control can play, none for what only LatentVJ sets.
    learn = {p.name for p in comp.customPages[2].pars}
    assert {"Learnwalkspeed", "Learndirection1", "Learnwalkfreeze", "Learnwalkrandomise"} <= learn
    assert not learn & {"Learnmodelname", "Learnpresetstore", "Learnpresetstoresend", "Learnwalkmode"}
    assert par.Learnwalkspeed.label == "Learn Walk Speed"
    ext.OnParPulse(par.Learndirection1)
    assert next_message(listener) == ("/lvj/midi/learn", ["direction/1"])

    speed = comp.par.Walkspeed
    comp.par.Oldthing = comp.customPages[1]._append("Float", "Oldthing")[0]  # gone from the server
    comp.par.Walkmode.destroy()
    comp.customPages[1]._append("Str", "Walkmode")  # of another type now
    ext.Connect()  # again: parameters are updated in place, not doubled, and their values are not sent
    comp.flush()
    assert [p.name for p in comp.customPages] == ["Connection", "LatentVJ", "Learn"]
    assert len(comp.customPages[2].pars) == len(learn)
    assert comp.par.Walkspeed is speed  # an expression or export on it survives a reconnect
    assert getattr(comp.par, "Oldthing", None) is None
    assert comp.par.Walkmode.style == "Menu"
    names = [p.name for p in comp.customPages[1].pars]
    assert len(names) == len(set(names))
    assert [next_message(listener)[0] for _ in range(2)] == ["/lvj/subscribe", "/lvj/status"]
    assert_nothing_else_sent(ext, listener)


@pytest.mark.integration
def test_a_recreated_extension_knows_its_parameters(connected, ext_module, listener):
    comp, ext = connected
    again = ext_module.LatentVJExt(comp)  # an edited extension DAT, or the project opened again
    assert again.addresses == ext.addresses and again.bindings == ext.bindings
    assert len(comp.customPages) == 3
    assert again._learnable() == ext._learnable() and "Learnwalkspeed" in again._learnable()
    again.OnParValueChange(comp.par.Walkspeed)  # no socket until Connect: nothing sent, and it says so
    assert "press Connect" in comp.par.Serverstatus.eval()


@pytest.mark.integration
def test_connect_without_a_server_says_so(ext_module):
    comp, ext = make_ext(ext_module, free_port())
    assert not ext.Connect()
    assert "no OSCQuery server" in comp.par.Serverstatus.eval()
    comp.par.Serverstatus.val = "x"
    ext.OnParPulse(comp.par.Connect)
    assert "no OSCQuery server" in comp.par.Serverstatus.eval()


@pytest.mark.integration
def test_parameter_changes_are_sent_as_osc(connected, listener):
    comp, ext = connected
    par = comp.par
    par.Walkspeed.val = 2.5
    comp.flush()
    data = listener.recvfrom(65535)[0]
    assert data == build_message("/lvj/walk/speed", 2.5)  # exact bytes: ",f" and a float32
    par.Seed.val = 42
    assert next_message(listener) == ("/lvj/seed", [42])
    par.Walkfreeze.val = True
    assert next_message(listener) == ("/lvj/walk/freeze", [True])
    par.Walkmode.val = "noise"
    assert next_message(listener) == ("/lvj/walk/mode", ["noise"])
    par.Outputsize1.val = 512
    assert next_message(listener) == ("/lvj/output/size", [512, 360])
    ext.OnParPulse(par.Walkrandomise)
    assert next_message(listener) == ("/lvj/walk/randomise", [])
    par.Presetstore.val = 3  # a command: only its Send pulse sends it
    par.Modelload.val = "tiny"
    ext.OnParPulse(par.Presetstoresend)
    assert next_message(listener) == ("/lvj/preset/store", [3])
    ext.OnParPulse(par.Modelloadsend)
    assert next_message(listener) == ("/lvj/model/load", ["tiny"])
    par.Tempobpm.val = 128.0  # the tempo and quantise controls, as the registry has them
    assert next_message(listener) == ("/lvj/tempo/bpm", [128.0])
    ext.OnParPulse(par.Tempotap)
    assert next_message(listener) == ("/lvj/tempo/tap", [])
    assert par.Quantise.menuNames == ["off", "beat", "bar", "2bars", "4bars"]
    par.Quantise.val = "bar"
    assert next_message(listener) == ("/lvj/quantise", ["bar"])
    par.Walkbeats.val = 16.0
    assert next_message(listener) == ("/lvj/walk/beats", [16.0])
    par.Midilearn.val = "walk/speed"  # MIDI learn: the address, then its Send pulse
    ext.OnParPulse(par.Midilearnsend)
    assert next_message(listener) == ("/lvj/midi/learn", ["walk/speed"])
    par.Host.val = "example.invalid"  # a setup parameter: nothing is sent
    assert_nothing_else_sent(ext, listener)


@pytest.mark.integration
@pytest.mark.parametrize("connected", [False, True], ids=["callback-at-once", "callback-deferred"],
                         indirect=True)
def test_echoes_set_parameters_without_sending_them_back(connected, listener):
    comp, ext = connected
    reply_to = ext.sock.getsockname()
    listener.sendto(build_message("/lvj/walk/speed", -1.5), reply_to)
    listener.sendto(build_message("/lvj/output/size", 320, 200), reply_to)
    listener.sendto(build_message("/lvj/walk/freeze", 1), reply_to)  # LatentVJ echoes booleans as 0/1
    listener.sendto(build_message("/lvj/walk/mode", "hold"), reply_to)
    listener.sendto(build_message("/lvj/model/name", "tiny"), reply_to)
    wait_for(lambda: comp.par.Modelname.eval() == "tiny", step=ext.Update, what="the echoes")
    comp.flush()
    assert comp.par.Walkspeed.eval() == -1.5
    assert (comp.par.Outputsize1.eval(), comp.par.Outputsize2.eval()) == (320, 200)
    assert comp.par.Walkfreeze.eval() is True and comp.par.Walkmode.eval() == "hold"
    assert_nothing_else_sent(ext, listener)
    # and the user's next change is sent as usual
    comp.par.Walkspeed.val = 1.0
    comp.flush()
    assert next_message(listener) == ("/lvj/walk/speed", [1.0])


@pytest.mark.integration
def test_status_line_and_a_server_that_goes_quiet(ext_module, oscquery, listener):
    clock = Clock()
    comp, ext = make_ext(ext_module, oscquery.address[1], clock=clock)
    assert ext.Connect()
    assert next_message(listener)[0] == "/lvj/subscribe"
    assert next_message(listener)[0] == "/lvj/status"
    reply_to = ext.sock.getsockname()
    status = build_message("/lvj/status", "tiny", "cpu", 32, 32, 30.0, 29.5, 100, "drift", 0, 0, 16, 9002)
    listener.sendto(status, reply_to)
    wait_for(lambda: "29.5/30 fps" in comp.par.Serverstatus.eval(), step=ext.Update, what="the status line")
    assert comp.par.Serverstatus.eval() == "tiny on cpu, 32x32, 29.5/30 fps"
    assert ext.status["latent_dim"] == 16
    recording = build_message("/lvj/status", "tiny", "cpu", 32, 32, 30.0, 29.5, 100, "drift", 0, 0, 16, 9002, "gan",
                              120.0, "internal", "/sets/friday.mov", 3725.4)
    listener.sendto(recording, reply_to)
    wait_for(lambda: "REC" in comp.par.Serverstatus.eval(), step=ext.Update, what="the recording")
    assert comp.par.Serverstatus.eval() == "tiny on cpu, 32x32, 29.5/30 fps, REC 1:02:05"
    listener.sendto(build_message("/lvj/error", "/lvj/seed: expected an int"), reply_to)
    wait_for(lambda: "error" in comp.par.Serverstatus.eval(), step=ext.Update, what="the error")
    assert ext.last_error == "/lvj/seed: expected an int"

    clock.offset += 1.5  # a status request is due
    ext.Update()
    assert next_message(listener) == ("/lvj/status", [])
    clock.offset += 5  # and nothing came back
    ext.Update()
    assert "no reply" in comp.par.Serverstatus.eval()
    assert next_message(listener) == ("/lvj/status", [])
    listener.sendto(status, reply_to)  # a (restarted) server answers: subscribe again
    wait_for(lambda: "fps" in comp.par.Serverstatus.eval(), step=ext.Update, what="the status after silence")
    assert next_message(listener) == ("/lvj/subscribe", [reply_to[1]])


@pytest.mark.integration
def test_meters_and_the_route_list_follow_the_server(ext_module, state, listener):
    """With live audio and routes, the tree has meters (/lvj/audio/feature/..., /lvj/mod/value/...): they
    become read-only parameters, status is asked ten times a second, and the values that come with each
    status reply move them; the route list is a read-only string that follows its echo."""
    from latentvj.bridge.control.state import Live

    state.set("mod/routes", "lfo:sine:4 deck/a/truncation amount=0.1")
    meters = [Live("/lvj/audio/feature/level", 0.25, 0.0, 1.0, "the live audio's level"),
              Live("/lvj/mod/value/deck/a/truncation", 1.05, 0.0, 2.0, "drawn")]
    oscquery = OscQueryServer(state, port=0, osc_port=listener.getsockname()[1], live=lambda: list(meters))
    oscquery.start()
    clock = Clock()
    comp, ext = make_ext(ext_module, oscquery.address[1], clock=clock)
    try:
        assert ext.Connect()
        comp.flush()
        assert [next_message(listener)[0] for _ in range(2)] == ["/lvj/subscribe", "/lvj/status"]
        level, drawn = comp.par.Audiofeaturelevel, comp.par.Modvaluedeckatruncation
        assert level.readOnly and level.style == "Float" and (level.min, level.max) == (0.0, 1.0)
        assert level.eval() == 0.25 and drawn.eval() == 1.05 and drawn.max == 2.0
        assert comp.par.Modroutes.readOnly and "lfo:sine:4" in comp.par.Modroutes.eval()
        reply_to = ext.sock.getsockname()
        listener.sendto(build_message("/lvj/audio/feature/level", 0.75), reply_to)
        listener.sendto(build_message("/lvj/mod/routes", ""), reply_to)
        wait_for(lambda: comp.par.Audiofeaturelevel.eval() == 0.75, step=ext.Update, what="the meter")
        wait_for(lambda: comp.par.Modroutes.eval() == "", step=ext.Update, what="the route list")
        clock.offset += 0.15  # a meter's status request is due (not a second later)
        ext.Update()
        assert next_message(listener) == ("/lvj/status", [])

        # A route made after Connect: its meter's first value makes its parameter, without a Connect.
        meters.append(Live("/lvj/mod/value/deck/a/walk/speed", 2.5, -10.0, 10.0, "drawn"))
        listener.sendto(build_message("/lvj/mod/value/deck/a/walk/speed", 3.0), reply_to)
        wait_for(lambda: getattr(comp.par, "Modvaluedeckawalkspeed", None) is not None
                 and comp.par.Modvaluedeckawalkspeed.eval() == 3.0, step=ext.Update, what="the new meter")
        assert comp.par.Modvaluedeckawalkspeed.readOnly
        assert_nothing_else_sent(ext, listener)  # the rebuild sent no value
        # The routes removed: once a frame has drawn without them, their meters go.
        del meters[1:]
        state.set("mod/routes", "")
        listener.sendto(build_message("/lvj/mod/routes", "lfo:saw:1 crossfade amount=1"), reply_to)
        wait_for(lambda: comp.par.Modroutes.eval().startswith("lfo:saw"), step=ext.Update, what="the routes")
        assert getattr(comp.par, "Modvaluedeckatruncation", None) is not None  # not before the frame
        clock.offset += 1.5  # past the settling time and the refetch interval
        ext.Update()
        assert getattr(comp.par, "Modvaluedeckatruncation", None) is None
        assert getattr(comp.par, "Modvaluedeckawalkspeed", None) is None
        assert comp.par.Audiofeaturelevel is level  # kept in place: an export from it survives
    finally:
        ext.onDestroyTD()
        oscquery.stop()


@pytest.mark.integration
def test_end_to_end_with_the_real_osc_server(ext_module, state):
    clock = Clock()
    status = {"model": "tiny", "device": "cpu", "width": 32, "height": 32, "fps": 30.0, "target_fps": 30.0}
    osc = OscServer(OscProtocol(state, status=lambda: dict(status)), port=0)
    osc.start()
    query = OscQueryServer(state, port=0, osc_port=osc.address[1])
    query.start()
    try:
        comp, ext = make_ext(ext_module, query.address[1], clock=clock)
        assert ext.Connect()
        wait_for(lambda: "tiny on cpu" in comp.par.Serverstatus.eval(), step=ext.Update, what="status")
        comp.par.Walkspeed.val = 3.0
        wait_for(lambda: state.get("walk/speed") == 3.0, what="the change at the server")
        clock.offset += 1.0  # past the echo hold-off
        state.set("walk/speed", -2.0, source=("10.0.0.9", 1))  # another controller moves it
        wait_for(lambda: comp.par.Walkspeed.eval() == -2.0, step=ext.Update, what="the echo")
        sent = ext.sent
        for _ in range(20):  # no feedback: the echo is not sent back, so nothing else changes
            ext.Update()
        assert state.get("walk/speed") == -2.0 and ext.sent - sent <= 1  # at most a status request
        ext.Disconnect()
        wait_for(lambda: len(osc.protocol.subscribers) == 0, what="the unsubscription")
    finally:
        query.stop()
        osc.stop()


@pytest.mark.integration
def test_start_and_stop_a_server_process(ext_module, tmp_path):
    comp, ext = make_ext(ext_module, free_port())
    ext.log_path = str(tmp_path / "serve.log")
    script = "import time; print('ready', flush=True); time.sleep(60)"
    comp.par.Servercommand.val = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"
    assert ext.StartServer()
    process = ext.process
    assert not ext.StartServer()  # one at a time
    wait_for(lambda: "ready" in Path(ext.log_path).read_text(), what="the child's output in the log")
    ext.Update()  # polls for the OSCQuery port (nothing there) and goes on
    ext.StopServer(wait=True)
    assert process.poll() is not None and ext.process is None
    assert "exited with code" in comp.par.Serverstatus.eval()

    comp.par.Servercommand.val = "/nonexistent/latentvj serve"
    assert not ext.StartServer()
    assert "cannot start" in comp.par.Serverstatus.eval()


@pytest.mark.integration
@pytest.mark.skipif(os.name != "posix", reason="a child that ignores SIGTERM")
def test_a_server_that_ignores_terminate_is_killed(ext_module, tmp_path):
    comp, ext = make_ext(ext_module, free_port())
    ext.log_path = str(tmp_path / "serve.log")
    script = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "print('ready', flush=True); time.sleep(60)")
    comp.par.Servercommand.val = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"
    assert ext.StartServer()
    process = ext.process
    wait_for(lambda: "ready" in Path(ext.log_path).read_text(), what="the child's signal handler")
    ext.StopServer(timeout=0.2)  # does not block
    assert process.poll() is None
    wait_for(lambda: ext.process is None, step=ext.Update, what="the kill")
    assert process.returncode == -9


def test_callback_dats_hand_over_to_the_extension():
    calls = []

    class Ext:
        def OnParValueChange(self, par):
            calls.append(("value", par))

        def OnParPulse(self, par):
            calls.append(("pulse", par))

        def Update(self):
            calls.append(("update",))

        def StopServer(self, wait=False):
            calls.append(("stop", wait))

    comp = type("Comp", (), {"ext": type("Ext", (), {"LatentVJExt": Ext()})()})()
    parexec, execute = load("parexec_callbacks.py"), load("execute_callbacks.py")
    parexec.parent = execute.parent = lambda: comp  # TouchDesigner's global
    parexec.onValueChange("p", 0)
    parexec.onPulse("q")
    execute.onFrameStart(1)
    execute.onExit()
    assert calls == [("value", "p"), ("pulse", "q"), ("update",), ("stop", True)]


# ---- oscwire ---------------------------------------------------------------------------------------------

def test_oscwire_encodes_the_bytes_python_osc_does():
    for address, args in [
        ("/lvj/walk/speed", [0.5]),
        ("/lvj/seed", [123456]),
        ("/lvj/walk/mode", ["keyframes"]),
        ("/lvj/walk/freeze", [True]),
        ("/lvj/walk/freeze", [False]),
        ("/lvj/output/size", [640, 360]),
        ("/lvj/status", []),
        ("/a", [-1, -2.25, "", "héllo", b"\x00\x01\x02", True, 7]),
    ]:
        builder = OscMessageBuilder(address)
        for arg in args:
            builder.add_arg(arg)
        assert oscwire.encode_message(address, *args) == builder.build().dgram, (address, args)


def test_oscwire_forced_tags_and_bad_input():
    assert OscMessage(oscwire.encode_message("/x", oscwire.Arg("f", 2))).params == [2.0]
    assert oscwire.encode_message("/x", oscwire.Arg("i", True)) == build_message("/x", 1)
    assert oscwire.encode_message("/x", np.float32(0.25), np.int64(3)) == build_message("/x", 0.25, 3)
    with pytest.raises(ValueError, match="int32"):
        oscwire.encode_message("/x", 2**31)
    with pytest.raises(TypeError, match="cannot send"):
        oscwire.encode_message("/x", object())
    with pytest.raises(ValueError, match="address"):
        oscwire.encode_message("")


def test_oscwire_decodes_what_python_osc_encodes():
    builder = OscMessageBuilder("/lvj/status")
    for value, kind in [("tiny", "s"), (32, "i"), (29.5, "f"), (True, "T"), (False, "F"), (b"ab", "b"),
                        (2**40, "h"), (0.1, "d"), (None, "N")]:
        builder.add_arg(value, kind)
    message = oscwire.decode_message(builder.build().dgram)
    assert message.address == "/lvj/status" and message.tags == "sifTFbhdN"
    assert message.args == ["tiny", 32, 29.5, True, False, b"ab", 2**40, 0.1, None]
    assert oscwire.decode(b"/old\0\0\0\0") == [oscwire.Message("/old", [], "")]  # no type tags (OSC 1.0)


def test_oscwire_reads_nested_bundles_in_order():
    inner = OscBundleBuilder(time.time() + 60)  # a system time, which python-osc turns into NTP
    inner.add_content(OscMessageBuilder("/b").build())
    outer = OscBundleBuilder(IMMEDIATELY)
    message = OscMessageBuilder("/a")
    message.add_arg(1.5)
    outer.add_content(message.build())
    outer.add_content(inner.build())
    outer.add_content(OscMessageBuilder("/c").build())
    data = outer.build().dgram
    assert [(m.address, m.args) for m in oscwire.decode(data)] == [("/a", [1.5]), ("/b", []), ("/c", [])]
    packet = oscwire.decode_packet(data)
    assert packet.timetag == 1 and (packet.contents[1].timetag >> 32) > 3_900_000_000  # seconds since 1900

    ours = oscwire.encode_bundle([oscwire.encode_message("/x", 1), oscwire.encode_message("/y", "z")])
    theirs = OscBundle(ours)
    assert [(m.address, m.params) for m in theirs] == [("/x", [1]), ("/y", ["z"])]


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"/abc", "no NUL"),
    (b"/a\0\0,i\0\0\0\0", "runs past"),
    (b"/a\0\0,q\0\0", "unsupported"),
    (b"/a\0\0i\0\0\0", "must start with ','"),
    (b"#bundle\0" + struct.pack(">Qi", 1, 64) + b"/a\0\0", "runs past"),
])
def test_oscwire_rejects_malformed_packets(data, reason):
    with pytest.raises(oscwire.OscDecodeError, match=reason):
        oscwire.decode(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.binary(max_size=48).map(lambda b: b"#bundle\0" + b))
def test_oscwire_raises_only_its_own_error_on_hostile_bytes(data):
    try:
        oscwire.decode(data)
    except oscwire.OscDecodeError:
        pass


@given(st.lists(st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.floats(width=32, allow_nan=False),
    st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=12),
    st.booleans(),
), max_size=6))
def test_oscwire_round_trips(args):
    message = oscwire.decode_message(oscwire.encode_message("/lvj/x", *args))
    assert message.args == args
    assert list(OscMessage(oscwire.encode_message("/lvj/x", *args)).params) == args
