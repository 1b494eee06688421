"""MIDI in from raw bytes: channel messages, 14-bit CC pairs, notes as velocity and gate, pitch bend, and
MIDI learn with every kind of mapping (continuous, toggle, trigger, both relative encoders)."""

from __future__ import annotations

import pytest

from latentvj.bridge.control.midi import ARRIVAL_LAG_S, ArrivalTimes, Control, MidiMap, channel_message
from latentvj.bridge.control.params import PARAMS


def cc(channel, number, value):
    return bytes([0xB0 | (channel - 1), number, value])


def note(channel, number, velocity):
    return bytes([0x90 | (channel - 1), number, velocity])


def test_channel_messages_from_bytes():
    assert channel_message(cc(3, 74, 100)) == (0xB0, 3, 74, 100)
    assert channel_message(note(1, 36, 0))[0] == 0x80, "note on at velocity 0 is a note off"
    assert channel_message(bytes([0xF8])) is None and channel_message(b"") is None


def test_inputs_for_modulation():
    midi = MidiMap(PARAMS)
    midi.feed(cc(1, 74, 127))
    midi.feed(note(10, 36, 64))
    midi.feed(bytes([0xE0, 0x7F, 0x7F]))  # pitch bend, all the way up
    assert midi.inputs["midi:cc:1:74"] == 1.0
    assert midi.inputs["midi:note:10:36"] == pytest.approx(64 / 127) and midi.inputs["midi:gate:10:36"] == 1.0
    assert midi.inputs["midi:bend:1"] == 1.0
    midi.feed(bytes([0x89, 36, 0]))  # note off
    assert midi.inputs["midi:gate:10:36"] == 0.0 and midi.inputs["midi:note:10:36"] == 0.0
    midi.feed(cc(2, 7, 64))  # 14 bits: MSB on CC 7, LSB on CC 39
    midi.feed(cc(2, 39, 127))
    assert midi.inputs["midi:cc:2:7"] == pytest.approx((64 * 128 + 127) / 16383)


def test_learn_a_continuous_parameter_then_move_it():
    changed = []
    midi = MidiMap(PARAMS, selected=lambda: "b")
    midi.on_change = changed.append
    assert midi.learn(["/lvj/walk/speed"]) == "/lvj/deck/b/walk/speed"
    assert midi.feed(cc(1, 21, 127)) == [("/lvj/deck/b/walk/speed", [10.0])], "the learning move itself sets it"
    assert len(changed) == 1 and changed[0][0].control == Control("cc", 1, 21)
    assert midi.feed(cc(1, 21, 0)) == [("/lvj/deck/b/walk/speed", [-10.0])]
    assert midi.feed(cc(1, 22, 5)) == [], "another knob is mapped to nothing"
    assert midi.forget("/lvj/deck/b/walk/speed") == 1 and midi.feed(cc(1, 21, 64)) == []


def test_a_note_fires_a_preset_and_a_switch_toggles():
    midi = MidiMap(PARAMS)
    midi.learn(["preset/recall", "3"])
    assert midi.feed(note(10, 36, 100)) == [("/lvj/deck/a/preset/recall", [3])]
    assert midi.feed(bytes([0x99, 36, 0])) == [], "the release fires nothing"
    assert midi.feed(note(10, 36, 90)) == [("/lvj/deck/a/preset/recall", [3])]
    midi.learn(["walk/freeze"])
    assert midi.feed(note(1, 40, 100)) == [("/lvj/deck/a/walk/freeze", [1])]
    assert midi.feed(note(1, 40, 100)) == [("/lvj/deck/a/walk/freeze", [0])]
    midi.learn(["tempo/tap"])
    assert midi.feed(note(1, 41, 100)) == [("/lvj/tempo/tap", [])]


@pytest.mark.parametrize("kind,up,down", [("relative", 1, 127), ("relative-offset", 65, 63)])
def test_relative_encoders_step_from_the_current_value(kind, up, down):
    values = {"/lvj/deck/a/direction/1": 0.0}
    midi = MidiMap(PARAMS, current=values.get)
    midi.learn(["direction/1", kind])
    ((address, (first,)),) = midi.feed(cc(1, 16, up))
    assert address == "/lvj/deck/a/direction/1" and first == pytest.approx(6.0 / 128)
    values[address] = first
    ((_, (second,)),) = midi.feed(cc(1, 16, down))
    assert second == pytest.approx(0.0)


def test_what_cannot_be_learned_is_refused():
    midi = MidiMap(PARAMS)
    for address in ("/lvj/nothing", "/lvj/model/name", "/lvj/z"):
        with pytest.raises(ValueError, match="a MIDI control can drive"):
            midi.learn([address])


def test_feedback_shows_values_changed_elsewhere_on_the_mapped_controls():
    midi = MidiMap(PARAMS)
    midi.learn(["walk/speed"])
    midi.feed(cc(2, 21, 10))
    assert midi.feedback("/lvj/deck/a/walk/speed", 0.0) == [bytes([0xB1, 21, 64])]  # the middle of -10..10
    assert midi.feedback("/lvj/deck/a/walk/speed", 0.0) == [], "a value the control shows is not resent"
    assert midi.feedback("/lvj/deck/a/walk/speed", 10.0) == [bytes([0xB1, 21, 127])]
    assert midi.feedback("/lvj/deck/b/walk/speed", 0.0) == [], "not mapped"
    midi.learn(["walk/freeze"])
    midi.feed(note(1, 40, 100))
    assert midi.feedback("/lvj/deck/a/walk/freeze", True) == [bytes([0x90, 40, 127])]  # the pad lights
    assert midi.feedback("/lvj/deck/a/walk/freeze", False) == [bytes([0x80, 40, 0])]


def test_arrival_times_come_from_the_deltas_when_reading_falls_behind():
    """A MIDI clock at 140 BPM (a pulse every 17.86 ms) read by a thread that the GIL holds back and then
    hands five pulses at once: the stamps are the pulses' own times, so the tempo fitted to them is 140,
    where the reading times would put five pulses at one moment."""
    interval = 60.0 / (140.0 * 24)
    arrived = [1.0 + i * interval for i in range(48)]
    read_at = [arrived[(i // 5) * 5 + 4] if (i // 5) * 5 + 4 < 48 else arrived[-1] for i in range(48)]
    times = ArrivalTimes()
    stamps = [times.stamp(arrived[i] - arrived[i - 1] if i else 0.0, read_at[i]) for i in range(48)]
    assert stamps[4:] == pytest.approx(arrived[4:], abs=1e-9)  # from the first, anchored at its reading
    assert all(s <= r for s, r in zip(stamps, read_at))  # never ahead of the clock
    slope = (stamps[-1] - stamps[4]) / 43
    assert 60.0 / (slope * 24) == pytest.approx(140.0, abs=1e-6)


def test_arrival_times_anchor_again_after_a_pause_or_a_long_lag():
    times = ArrivalTimes()
    assert times.stamp(0.0, 10.0) == 10.0
    assert times.stamp(0.01, 10.02) == pytest.approx(10.01)
    assert times.stamp(5.0, 15.5) == 15.5  # after a pause the delta spans it: the clock says when
    assert times.stamp(0.01, 15.5 + ARRIVAL_LAG_S + 0.1) == 15.5 + ARRIVAL_LAG_S + 0.1  # the reading fell far behind
    assert times.stamp(0.5, 20.0) == 20.0
