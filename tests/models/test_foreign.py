"""NVIDIA network pickles read as data: the generator's architecture and state dict come out of files laid out
as StyleGAN2-ADA's and StyleGAN3's training code writes them, and a file that would run anything is refused
with nothing run.

The files are built here: tiny modules of our own, pickled the way NVIDIA's persistence module pickles its
networks (each object as a call to torch_utils.persistence._reconstruct_persistent_obj with its class name,
its module's source and its __dict__), under stand-in modules that exist only while a test writes."""

from __future__ import annotations

import io
import os
import pickle
import sys

import numpy as np
import pytest
import torch
from torch import nn

from latentvj.models.checkpoint import CheckpointError
from latentvj.models.foreign import read_network_pickle
from nvidia_pickles import Persisted, persistent, stand_ins
from nvidia_pickles import snapshot as write_snapshot


@pytest.fixture
def writer(monkeypatch):
    return stand_ins(monkeypatch)


class FullyConnectedLayer(Persisted):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))


class Block(Persisted):
    pass


def generator(writer, *, stylegan3: bool = False, source: str = "# networks.py\n") -> nn.Module:
    """A tiny generator with StyleGAN's outline: mapping (layers, w_avg) and synthesis (a const input or a
    Fourier input with its transform, a non-persistent filter buffer, numpy sizes as StyleGAN3 keeps)."""
    ed = writer.EasyDict
    mapping = persistent(Block(), ed(z_dim=4, w_dim=4, num_ws=2), source=source)
    mapping.fc0 = persistent(FullyConnectedLayer(4, 4), ed(n_in=4, n_out=4), source=source)
    mapping.register_buffer("w_avg", torch.randn(4))
    synthesis = persistent(Block(), ed(w_dim=4, img_resolution=8, img_channels=3), source=source)
    first = persistent(Block(), ed(), source=source)
    if stylegan3:
        first.weight = nn.Parameter(torch.randn(4, 4))
        first.register_buffer("transform", torch.eye(3))
        first.size = np.broadcast_to(np.asarray([36]), [2])
        first.sampling_rate = np.float64(16.0)
        synthesis.input = first
    else:
        first.const = nn.Parameter(torch.randn(4, 4, 4))
        synthesis.b4 = first
    first.register_buffer("resample_filter", torch.ones(4, 4), persistent=False)
    kwargs = ed(z_dim=4, c_dim=0, w_dim=4, img_resolution=8, img_channels=3, mapping_kwargs=ed(num_layers=1))
    g = persistent(Block(), kwargs, source=source)
    g.mapping, g.synthesis = mapping, synthesis
    return g


def snapshot(writer, tmp_path, **entries) -> str:
    return write_snapshot(tmp_path / "network-snapshot-000000.pkl", **entries)


def test_the_generator_comes_out_with_its_architecture_and_state(writer, tmp_path):
    g, g_ema = generator(writer), generator(writer)
    expected = g_ema.state_dict()
    path = snapshot(writer, tmp_path, G=g, D=generator(writer), G_ema=g_ema, augment_pipe=None,
                    training_set_kwargs=writer.EasyDict(path="~/data.zip", resolution=8))
    read = read_network_pickle(path)
    assert read.network == "G_ema" and read.family == "stylegan2"
    assert read.init_kwargs == dict(z_dim=4, c_dim=0, w_dim=4, img_resolution=8, img_channels=3,
                                    mapping_kwargs={"num_layers": 1})
    assert type(read.init_kwargs["mapping_kwargs"]) is dict  # EasyDict read as a plain dict
    assert sorted(read.state) == sorted(expected)  # the non-persistent filter is not in it, as in state_dict()
    assert "synthesis.b4.resample_filter" not in read.state and "mapping.w_avg" in read.state
    for key, value in expected.items():
        assert torch.equal(read.state[key], value), key
    assert read.others == ["D", "G", "augment_pipe", "training_set_kwargs"]


def test_a_stylegan3_generator_and_a_pickle_with_only_g(writer, tmp_path):
    g = generator(writer, stylegan3=True)
    read = read_network_pickle(snapshot(writer, tmp_path, G=g))
    assert read.network == "G" and read.family == "stylegan3"
    assert torch.equal(read.state["synthesis.input.transform"], torch.eye(3))
    assert torch.equal(read.state["synthesis.input.weight"], g.synthesis.input.weight)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_reads(writer, tmp_path, protocol):
    path = tmp_path / "g.pkl"
    g = generator(writer, stylegan3=True)
    path.write_bytes(pickle.dumps({"G_ema": g}, protocol=protocol))
    assert torch.equal(read_network_pickle(path).state["mapping.fc0.weight"], g.mapping.fc0.weight)


class System:
    """What an attacker puts in a pickle: unpickling calls os.system("...")."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_pickle_that_would_run_a_command_is_refused_and_nothing_runs(writer, tmp_path):
    marker = tmp_path / "ran"
    path = snapshot(writer, tmp_path, G_ema=generator(writer),
                    training_set_kwargs=writer.EasyDict(x=System(f"touch {marker}")))
    with pytest.raises(CheckpointError, match=r"names (posix|os|nt)\.system.*refused.*nothing of this file was run"):
        read_network_pickle(path)
    assert not marker.exists()


def test_module_src_is_never_run(writer, tmp_path):
    """NVIDIA's loader execs each object's module_src; here it is dropped unread."""
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('module_src ran')\n"
    read = read_network_pickle(snapshot(writer, tmp_path, G_ema=generator(writer, source=source)))
    assert not marker.exists()
    assert read.class_name == "Block" and "mapping.fc0.weight" in read.state


def test_a_storage_holding_a_payload_is_refused(writer, tmp_path):
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save(System(f"touch {marker}"), buffer)  # torch.save pickles it: the payload is inside

    class Storage:
        def __reduce__(self):
            return torch.storage._load_from_bytes, (buffer.getvalue(),)

    path = snapshot(writer, tmp_path, G_ema=generator(writer), evil=Storage())
    with pytest.raises(CheckpointError, match="storage holds more than tensor data"):
        read_network_pickle(path)
    assert not marker.exists()


def test_a_named_module_is_not_even_imported(tmp_path):
    """A refused global is refused by name: `this` (which prints on import) stays unimported."""
    path = tmp_path / "this.pkl"
    path.write_bytes(b"\x80\x04cthis\nd\n.")
    assert "this" not in sys.modules
    with pytest.raises(CheckpointError, match=r"this\.pkl: it names this\.d"):
        read_network_pickle(path)
    assert "this" not in sys.modules


@pytest.mark.parametrize("content, message", [
    (pickle.dumps([1, 2, 3]), "holds a list, not the dict of networks"),
    (pickle.dumps({"D": 1, "augment_pipe": None}), r"no generator \(G_ema or G\) among its entries \['D', 'augment_pipe'\]"),
    (b"\x80\x04\x95", "not a readable network pickle"),
    (b"\x80\x04X\x01\x00\x00\x00xQ.", "persistent id"),
    (b"not a pickle at all", "not a readable network pickle"),
])
def test_files_that_are_not_network_pickles_say_why(tmp_path, content, message):
    path = tmp_path / "x.pkl"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        read_network_pickle(path)


def test_a_persistent_object_of_another_kind_or_without_state_is_refused(writer, tmp_path):
    class Odd:
        def __init__(self, meta):
            self.meta = meta

        def __reduce__(self):
            return writer.reconstruct, (self.meta,)

    for meta, message in [(dict(type="function"), "unknown kind"), (dict(type="class", class_name=3, state={}),
                                                                    "without a class name")]:
        path = snapshot(writer, tmp_path, G_ema=Odd(meta))
        with pytest.raises(CheckpointError, match=message):
            read_network_pickle(path)


def test_a_module_that_contains_itself_is_refused(writer, tmp_path):
    """A pickle can make a module its own submodule (no network is): a clear refusal, not a recursion."""
    g = generator(writer)
    g.__dict__["_modules"]["again"] = g
    with pytest.raises(CheckpointError, match="contains itself"):
        read_network_pickle(snapshot(writer, tmp_path, G_ema=g))


class Allocates:
    """numpy.ndarray called as a function: an array of any size the file asks for."""

    def __reduce__(self):
        return np.ndarray, ((1 << 40,),)


class NegativeOffset:
    def __reduce__(self):
        storage = torch.ones(4).untyped_storage()
        typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.float32, _internal=True)
        return torch._utils._rebuild_tensor_v2, (typed, -2, (2,), (1,), False, None)


@pytest.mark.parametrize("payload, message", [(Allocates, "not a readable network pickle: TypeError"),
                                              (NegativeOffset, "malformed shape")])
def test_numpy_and_torch_are_only_called_as_their_pickles_call_them(writer, tmp_path, payload, message):
    with pytest.raises(CheckpointError, match=message):
        read_network_pickle(snapshot(writer, tmp_path, G_ema=generator(writer), extra=payload()))
