"""The presets file: slots survive a restart, a crash mid-write loses nothing, a broken file never stops
the show, and a preset made with another model is refused."""

import json
import logging
import os
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from latentvj.bridge.control import presets as presets_module
from latentvj.bridge.control.presets import (
    PRESET_PARAMS,
    Preset,
    PresetError,
    PresetStore,
    PresetWriter,
)


def make_preset(slot=3, *, model="tiny", model_id="abc123", latent=None, **params):
    if latent is None:
        latent = tuple(float(v) for v in np.random.default_rng(slot).standard_normal(8).astype(np.float32))
    params = params or {"walk/mode": "hold", "direction/2": 1.5, "walk/freeze": True, "walk/period": 4.0,
                        "seed": 7}
    return Preset(slot=slot, model=model, model_id=model_id, latent=latent,
                  params={k.replace("__", "/"): v for k, v in params.items()}, stored="2025-01-01T12:00:00+00:00")


def write_file(path: Path, presets: dict, version=1) -> None:
    path.write_text(json.dumps({"version": version, "presets": presets}), encoding="utf-8")


def entry(**overrides):
    base = {"model": "tiny", "model_id": "abc123", "stored": "2025-01-01T12:00:00", "params": {"seed": 7},
            "latent": [0.5, -0.25]}
    base.update(overrides)
    return base


# ---- round trip ------------------------------------------------------------------------------------

def test_a_stored_preset_comes_back_exactly_after_a_restart(tmp_path):
    path = tmp_path / "sub" / "presets.json"  # the folder does not exist yet
    store = PresetStore(path)
    assert store.slots() == [] and not path.exists()
    preset = make_preset(3)
    store.store(preset)
    store.store(make_preset(12))

    again = PresetStore(path)  # a restart reads the file back
    assert again.slots() == [3, 12]
    loaded = again.get(3)
    assert loaded == preset
    assert loaded.params["walk/period"] == 4.0 and loaded.params["walk/freeze"] is True
    # float32 latents survive the text format bit for bit
    assert np.array_equal(np.asarray(loaded.latent, dtype=np.float32), np.asarray(preset.latent, dtype=np.float32))
    assert again.path == path


def test_storing_a_slot_again_replaces_it(tmp_path):
    store = PresetStore(tmp_path / "presets.json")
    store.store(make_preset(3, seed=1))
    store.store(make_preset(3, seed=2))
    assert PresetStore(store.path).get(3).params == {"seed": 2}


def test_the_file_is_readable_json_with_a_stable_order(tmp_path):
    path = tmp_path / "presets.json"
    store = PresetStore(path)
    for slot in (10, 2, 3):
        store.store(make_preset(slot))
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["version"] == 1
    assert list(document["presets"]) == ["2", "3", "10"]  # numeric order, not string order
    assert list(document["presets"]["3"]) == ["model", "model_id", "stored", "params", "latent"]
    assert list(document["presets"]["3"]["params"]) == [n for n in PRESET_PARAMS if n in make_preset().params]
    assert '\n      "params": {\n' in text  # indented for people
    assert text.count("\n") < 60  # each latent on one line

    # Storing the same content again writes the same bytes (friendly to diffs and version control).
    other = tmp_path / "other.json"
    store2 = PresetStore(other)
    for slot in (3, 10, 2):
        store2.store(make_preset(slot))
    assert other.read_text(encoding="utf-8") == text


def test_a_hand_written_file_loads(tmp_path):
    path = tmp_path / "presets.json"
    write_file(path, {"5": entry(params={"walk/mode": "LOOP", "walk/speed": 2, "walk/period": 16})})
    preset = PresetStore(path).get(5)
    # values come back as the registry coerces them: choices lower-cased, ints as floats, lists as tuples
    assert preset.params == {"walk/mode": "loop", "walk/speed": 2.0, "walk/period": 16.0}
    assert preset.latent == (0.5, -0.25)


# ---- slots ------------------------------------------------------------------------------------------

def test_an_empty_slot_and_a_slot_out_of_range_are_refused_clearly(tmp_path):
    store = PresetStore(tmp_path / "presets.json")
    with pytest.raises(PresetError, match="preset 3 is empty"):
        store.get(3)
    for slot in (0, 1000, -1, True, 2.0):
        with pytest.raises(PresetError, match="1 to 999"):
            store.get(slot)
        with pytest.raises(PresetError, match="1 to 999"):
            store.store(replace(make_preset(3), slot=slot))
    assert not store.path.exists()


def test_a_preset_that_would_not_load_back_is_not_stored(tmp_path):
    store = PresetStore(tmp_path / "presets.json")
    with pytest.raises(PresetError, match="preset 3: the latent should hold finite numbers"):
        store.store(make_preset(3, latent=(0.1, float("nan"))))
    with pytest.raises(PresetError, match="preset 3: 'walk/sped': not a parameter"):
        store.store(make_preset(3, walk__sped=1.0))
    with pytest.raises(PresetError, match="preset 3: 'walk/speed': 99 is out of range"):
        store.store(make_preset(3, walk__speed=99.0))
    with pytest.raises(PresetError, match="'preset/store': not a parameter a preset holds"):
        store.store(make_preset(3, preset__store=4))
    with pytest.raises(PresetError, match="'z': not a parameter a preset holds"):
        store.store(make_preset(3, z=[0.0, 1.0]))
    assert store.slots() == [] and not store.path.exists()


def test_a_returned_preset_cannot_change_the_store(tmp_path):
    store = PresetStore(tmp_path / "presets.json")
    store.store(make_preset(3))
    store.get(3).params["seed"] = 99
    assert store.get(3).params["seed"] == 7


# ---- the model check ------------------------------------------------------------------------------

def test_a_preset_made_with_another_model_is_refused(tmp_path):
    store = PresetStore(tmp_path / "presets.json")
    store.store(make_preset(3, model="faces", model_id="f00d"))
    preset = store.get(3)
    store.check_model(preset, "faces", "f00d")  # the same model: fine
    store.check_model(preset, "faces-renamed", "f00d")  # a renamed copy of the same file: fine
    with pytest.raises(PresetError) as refused:
        store.check_model(preset, "flowers", "beef")
    assert str(refused.value) == "preset 3 was made with model 'faces' (latent 8); the current model is 'flowers'"
    # Two different files with the same name are told apart by their fingerprint.
    with pytest.raises(PresetError, match="same name .*f00d.*beef"):
        store.check_model(preset, "faces", "beef")
    with pytest.raises(PresetError, match="latent of 8 numbers; the current model 'faces' takes 16"):
        store.check_model(preset, "faces", "f00d", latent_dim=16)


# ---- crash safety -----------------------------------------------------------------------------------

def test_a_crash_mid_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "presets.json"
    store = PresetStore(path)
    store.store(make_preset(1))
    before = path.read_bytes()

    # The process "dies" after half of the new file is written, before the rename.
    real_fdopen = os.fdopen

    class HalfWritten:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            self.f.write(text[: len(text) // 2])
            self.f.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(presets_module.os, "fdopen", lambda *a, **k: HalfWritten(real_fdopen(*a, **k)))
    with pytest.raises(OSError, match="No space"):
        store.store(make_preset(2))
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert PresetStore(path).slots() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["presets.json"]  # no temporary file left behind


def test_a_failed_rename_loses_nothing_and_the_next_store_catches_up(tmp_path, monkeypatch):
    path = tmp_path / "presets.json"
    store = PresetStore(path)
    store.store(make_preset(1))
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(presets_module.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.store(make_preset(2))
    monkeypatch.undo()
    assert path.read_bytes() == before and PresetStore(path).slots() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["presets.json"]
    assert store.get(2) == make_preset(2)  # still recallable until the server stops

    store.store(make_preset(3))
    assert PresetStore(path).slots() == [1, 2, 3]


def test_a_temporary_file_left_by_a_killed_process_is_harmless(tmp_path):
    path = tmp_path / "presets.json"
    PresetStore(path).store(make_preset(1))
    (tmp_path / ".presets.json.x1y2.tmp").write_text('{"version": 1, "pres', encoding="utf-8")
    store = PresetStore(path)
    assert store.slots() == [1]
    store.store(make_preset(2))
    assert PresetStore(path).slots() == [1, 2]


def test_stores_from_several_threads_while_others_read(tmp_path):
    store = PresetStore(tmp_path / "presets.json")
    errors = []

    def writer(first):
        for slot in range(first, first + 10):
            store.store(make_preset(slot))

    def reader():
        for _ in range(200):
            for slot in store.slots():
                try:
                    store.get(slot)
                except PresetError as exc:  # a listed slot must be gettable
                    errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in (1, 11, 21)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert PresetStore(store.path).slots() == list(range(1, 31))


def test_a_storm_of_stores_is_coalesced_into_a_few_writes_and_shutdown_waits_for_one(tmp_path, monkeypatch):
    store = PresetStore(tmp_path / "presets.json")
    written = []
    real_write = presets_module.write_atomically
    gate = threading.Event()

    def slow_write(path, text):
        gate.wait(10)  # a slow disk: the first write is still under way while the storm goes on
        written.append(len(json.loads(text)["presets"]))
        real_write(path, text)

    monkeypatch.setattr(presets_module, "write_atomically", slow_write)
    failures = []
    writer = PresetWriter(store, failed=lambda exc, source: failures.append((exc, source)))
    for n in range(1, 1001):
        store.put(make_preset(n % 999 + 1))
        writer.request(("127.0.0.1", 9000))
    assert store.slots() == list(range(1, 1000)), "every preset is recallable at once"
    gate.set()
    writer.close(timeout=10)
    assert len(written) <= 2 and written[-1] == 999, "latest state wins: one or two writes for 1000 stores"
    assert PresetStore(store.path).slots() == list(range(1, 1000)) and failures == []


def test_a_failed_background_write_is_reported_to_the_last_storer(tmp_path, monkeypatch):
    store = PresetStore(tmp_path / "presets.json")

    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(presets_module, "write_atomically", full_disk)
    failures = []
    writer = PresetWriter(store, failed=lambda exc, source: failures.append((str(exc), source)))
    store.put(make_preset(5))
    writer.request(("127.0.0.1", 9000))
    assert writer.wait_written(10)
    writer.close()
    assert failures == [("[Errno 28] No space left on device", ("127.0.0.1", 9000))]
    assert store.get(5).slot == 5 and store.unwritten, "kept in memory for the next write"


# ---- broken files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b'{"version": 1, "presets": {"1": {"mod', b"", b"\xff\xfe garbage",
                                     b"[1, 2]", b'{"presets": {}}', b'{"version": 1, "presets": []}',
                                     b"[" * 100_000])
def test_a_corrupt_file_is_moved_aside_and_the_show_starts_empty(tmp_path, caplog, content):
    path = tmp_path / "presets.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="latentvj.presets"):
        store = PresetStore(path)
    assert store.slots() == []
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("presets.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == content  # kept for a person to look at
    assert str(path) in caplog.text and aside[0].name in caplog.text
    store.store(make_preset(1))
    assert PresetStore(path).slots() == [1]
    assert aside[0].read_bytes() == content


def test_a_file_from_a_newer_version_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "presets.json"
    write_file(path, {"1": entry()}, version=2)
    with pytest.raises(PresetError, match=r"presets\.json was written by a newer LatentVJ \(format version 2"):
        PresetStore(path)
    assert json.loads(path.read_text())["version"] == 2


def test_a_file_that_cannot_be_read_is_refused_with_its_name(tmp_path):
    path = tmp_path / "presets.json"
    path.mkdir()  # a folder where the file should be
    with pytest.raises(PresetError, match="cannot read the presets file .*presets.json"):
        PresetStore(path)


def test_unknown_and_invalid_entries_are_dropped_with_a_warning_and_the_rest_loads(tmp_path, caplog):
    path = tmp_path / "presets.json"
    write_file(path, {
        "1": entry(params={"seed": 7, "walk/wobble": 3, "walk/speed": 99, "preset/store": 2, "walk/mode": "hold"}),
        "2": entry(latent=[0.1, float("nan")]),
        "0": entry(),
        "1000": entry(),
        "abc": entry(),
        "4": entry(latent="0.1 0.2"),
        "5": entry(model=None),
        "6": entry(params=[1, 2]),
    })
    original = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="latentvj.presets"):
        store = PresetStore(path)
    assert store.slots() == [1, 6]
    assert store.get(1).params == {"walk/mode": "hold", "seed": 7}  # the good values stay
    assert store.get(6).params == {}
    for expected in ("'walk/wobble': not a parameter of this LatentVJ version",
                     "'walk/speed': 99 is out of range",
                     "'preset/store': not a parameter a preset holds",
                     "dropped preset 2: its latent should hold finite numbers",
                     "dropped the preset under '0'", "dropped the preset under '1000'",
                     "dropped the preset under 'abc'", "dropped preset 4", "dropped preset 5",
                     "preset 6: dropped its params"):
        assert expected in caplog.text, expected
    assert path.read_bytes() == original  # nothing is rewritten until a store

    # The first store keeps a copy of the file it is about to rewrite without the dropped entries.
    store.store(make_preset(3))
    backups = [p for p in tmp_path.iterdir() if p.name.startswith("presets.json.backup-")]
    assert len(backups) == 1 and backups[0].read_bytes() == original
    store.store(make_preset(7))
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("presets.json.backup-")]) == 1
    assert PresetStore(path).slots() == [1, 3, 6, 7]
