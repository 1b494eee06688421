"""A deck on its own: the control snapshot and a time in, a latent point out; no device, no threads, no I/O."""

import numpy as np
import pytest

from latentvj.bridge.control.state import ControlState
from latentvj.bridge.deck import Deck
from latentvj.bridge.renderer import Renderer
from latentvj.models.checkpoint import load_model


@pytest.fixture
def deck(tiny_gan_path):
    control = ControlState()
    return Deck(Renderer("cpu").prepare(load_model(tiny_gan_path)), control, rng=np.random.default_rng(0))


def frame(deck, t, dt=0.1):
    snap = deck.control.snapshot()
    deck.apply(snap, t, tau=snap["smoothing"])
    deck.advance(snap, t, dt, tau=snap["smoothing"])
    return deck.latent(t)


def test_the_walk_is_a_function_of_the_time_given(deck):
    deck.control.set("walk/mode", "loop")
    deck.control.set("walk/period", 4.0)
    deck.control.set("morph/time", 0.0)
    first = frame(deck, 10.0)
    assert np.allclose(frame(deck, 14.0), first, atol=1e-5), "a loop of 4 s comes back after 4 s"
    assert not np.allclose(frame(deck, 15.0), first)


def test_knobs_and_truncation_move_the_point(deck):
    for name, value in (("smoothing", 0.0), ("morph/time", 0.0), ("walk/mode", "hold")):
        deck.control.set(name, value)
    base = frame(deck, 1.0)
    deck.control.set("direction/1", 2.0)
    np.testing.assert_allclose(frame(deck, 1.0), base + 2.0 * deck.prepared.directions[0], atol=1e-5)
    deck.control.set("direction/1", 0.0)
    deck.control.set("truncation", 0.5)
    np.testing.assert_allclose(frame(deck, 1.0), base, atol=1e-5)  # the model applies its knob itself
    assert deck.truncation == 0.5


def test_what_the_deck_decides_is_written_back_and_echoed(deck):
    heard = []
    deck.control.listen(lambda change: heard.append((change.name, change.value)))
    deck.control.set("walk/randomise", True)
    frame(deck, 1.0)
    seeds = [value for name, value in heard if name == "seed"]
    assert len(seeds) == 1 and deck.walker.seed == seeds[0] and deck.control.get("seed") == seeds[0]
    deck.control.set("z", (0.25,) * 16)
    frame(deck, 2.0)
    assert ("walk/mode", "hold") in heard, "a latent point holds there, and says so"


def test_a_preset_of_the_deck_comes_back(deck, tmp_path):
    from latentvj.bridge.control.presets import PresetStore

    store = PresetStore(tmp_path / "presets.json")
    for name, value in (("smoothing", 0.0), ("morph/time", 0.0), ("walk/mode", "hold"), ("seed", 7)):
        deck.control.set(name, value)
    kept = frame(deck, 1.0)
    store.put(deck.preset(3, deck.control.snapshot(), 1.0, stored="now"))
    deck.control.set("seed", 99)
    assert not np.allclose(frame(deck, 2.0), kept)
    preset = store.get(3)
    deck.check(preset, store)
    deck.recall(preset, 3.0, seconds=0.0)
    assert np.allclose(frame(deck, 3.0), kept) and deck.control.get("seed") == 7


def test_every_write_between_frames_is_applied_however_quiet_the_frames_before(deck):
    """Frames with nothing new reuse one snapshot and skip looking for changes; the next write of any kind (a
    value, a trigger sent again, a latent point) is still applied on the next frame."""
    for name, value in (("smoothing", 0.0), ("morph/time", 0.0), ("walk/mode", "hold")):
        deck.control.set(name, value)
    base = frame(deck, 1.0)
    assert deck.control.snapshot() is deck.control.snapshot(), "nothing written: the same snapshot"
    for t in (1.1, 1.2, 1.3):
        np.testing.assert_array_equal(frame(deck, t), base)
    deck.control.set("direction/2", 1.5)
    np.testing.assert_allclose(frame(deck, 1.4), base + 1.5 * deck.prepared.directions[1], atol=1e-5)
    seed = deck.walker.seed
    deck.control.set("seed", seed + 1)
    frame(deck, 1.5)
    assert deck.walker.seed == seed + 1
    for t in (1.6, 1.7):  # a trigger sent again with the same value is applied again
        before = deck.walker.seed
        deck.control.set("walk/randomise", True)
        frame(deck, t)
        assert deck.walker.seed != before
    deck.control.set("direction/2", 0.0)
    deck.control.set("z", (0.25,) * 16)
    np.testing.assert_allclose(frame(deck, 1.8), 0.25, atol=1e-5)
