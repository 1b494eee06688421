"""The tempo clock on a fake clock: seconds and beats that only move forward, tempo from BPM, taps, OSC beats
and MIDI clock bytes, phase nudges, and free-running when a source goes quiet."""

import pytest

from latentvj.bridge.clock import (
    CONTINUE, SONG_POSITION, START, STOP, TICK, MidiClock, SourceReading, TempoClock, next_boundary,
    quantum_beats,
)


class Fake:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


class Said:
    def __init__(self, said):
        self.said = said

    def reading(self, t):
        return self.said["reading"]


@pytest.fixture
def now():
    return Fake()


def test_beats_follow_the_tempo_and_never_go_back(now):
    clock = TempoClock(now, bpm=120)
    now.t += 2.0
    m = clock.moment()
    assert m.seconds == pytest.approx(2.0) and m.beat == pytest.approx(4.0) and m.bar == pytest.approx(1.0)
    clock.set_bpm(60)  # a tempo change keeps the beat where it is
    assert clock.moment().beat == pytest.approx(4.0)
    now.t += 1.0
    assert clock.moment().beat == pytest.approx(5.0)
    now.t -= 0.5  # a clock that stepped back: the time stands still, never runs back
    assert clock.moment().beat == pytest.approx(5.0) and clock.time() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="BPM"):
        clock.set_bpm(0)


def test_tap_tempo_averages_the_last_taps_and_a_pause_starts_over(now):
    clock = TempoClock(now, bpm=120)
    assert clock.tap() is None
    for _ in range(4):
        now.t += 0.5
        clock.tap()
    assert clock.bpm == pytest.approx(120.0)
    now.t += 5.0  # a pause: the next taps are a new tempo, not averaged with the old ones
    clock.tap()
    for _ in range(3):
        now.t += 0.6
        bpm = clock.tap()
    assert bpm == pytest.approx(100.0) and clock.bpm == pytest.approx(100.0)


def test_a_nudge_moves_the_phase_without_running_the_beat_backwards(now):
    clock = TempoClock(now, bpm=120)
    now.t += 2.1  # beat 4.2: "a beat is now" means the clock is 0.2 beats ahead
    clock.beat_now()
    beats = []
    for _ in range(40):
        now.t += 0.05
        beats.append(clock.moment().beat)
    assert all(b2 > b1 for b1, b2 in zip(beats, beats[1:])), "slowed down, never back"
    # 2 s after the nudge: 4 beats on from the nudged beat 4.0 (it has absorbed the 0.2)
    assert beats[-1] == pytest.approx(8.0)
    clock.bar_now()  # at beat 8: already on a downbeat, nothing to correct
    now.t += 0.5
    assert clock.moment().phase() == pytest.approx(0.0, abs=1e-9)


def test_osc_beats_set_the_tempo_and_free_run_when_they_stop(now):
    clock = TempoClock(now, source="osc")
    assert not clock.following and "waiting" in clock.note
    for _ in range(5):
        now.t += 0.4
        clock.beat_now()
    assert clock.bpm == pytest.approx(150.0) and clock.following
    now.t += 10.0
    m = clock.moment()
    assert not clock.following and "free-running at 150.00 BPM" in clock.note
    assert m.beat > 0


def test_a_followed_source_sets_tempo_and_phase_and_a_quiet_one_free_runs(now):
    said = {"reading": None}
    clock = TempoClock(now, bpm=120)
    clock.set_source("link", Said(said))
    now.t += 1.0
    clock.moment()
    assert "quiet" in clock.note  # nothing from the source yet: the clock goes on
    said["reading"] = SourceReading(bpm=90.0, position=2.25, peers=1)  # the session: 0.25 beats ahead
    now.t += 0.001
    clock.moment()
    assert clock.bpm == 90.0 and clock.following and clock.peers == 1
    for _ in range(30):
        now.t += 0.05
        position = 2.25 + (now.t - 101.001) * 1.5
        said["reading"] = SourceReading(bpm=90.0, position=position, peers=1)
        m = clock.moment()
    assert m.position == pytest.approx(position, abs=1e-3), "it caught up with the session's phase"
    said["reading"] = SourceReading(bpm=90.0, position=position + 1000.0, peers=1)  # another timeline
    before = clock.moment().beat
    assert clock.resyncs == 1 and clock.moment().beat >= before, "the position moved, the beat did not"
    now.t += 0.05
    position += 1000.0 + 0.075
    said["reading"] = SourceReading(bpm=90.0, position=position + 1.5, peers=1, timeline=1)  # joined: near
    m = clock.moment()
    assert clock.resyncs == 2 and m.position == pytest.approx(position + 1.5, abs=1e-6), \
        "a session joined is taken at once, even when its beat is close (slewing there would take beats)"
    said["reading"] = SourceReading(bpm=90.0, position=None, peers=0)
    clock.moment()
    assert "alone on Link" in clock.note and not clock.following


def test_a_start_jumps_forward_onto_the_downbeat(now):
    said = {"reading": None}
    clock = TempoClock(now, bpm=120)
    clock.set_source("midi", Said(said))
    now.t += 1.5  # beat 3
    said["reading"] = SourceReading(bpm=120.0, position=0.0, jump=True)
    m = clock.moment()
    assert m.beat == pytest.approx(4.0) and m.phase(4) == pytest.approx(0.0)


def midi_clock(bpm, beats, *, t=0.0, start=True):
    midi = MidiClock()
    if start:
        midi.feed(bytes([START]), t)
    interval = 60.0 / bpm / 24
    for i in range(int(beats * 24)):
        t += interval
        midi.feed(bytes([TICK]), t)
    return midi, t


def test_midi_clock_bytes_give_tempo_and_position():
    midi, t = midi_clock(128.0, 2)
    reading = midi.reading(t)
    assert reading.bpm == pytest.approx(128.0) and reading.playing and reading.jump
    assert reading.position == pytest.approx(2.0 - 1 / 24)  # the first pulse after start is beat 0
    assert not midi.reading(t).jump, "the jump to the start is taken once"
    midi.feed(bytes([STOP]), t)
    assert midi.reading(t).position is None and not midi.reading(t).playing
    midi.feed(bytes([SONG_POSITION, 0x10, 0x00]), t)  # sixteenth 16: beat 4
    midi.feed(bytes([CONTINUE]), t)
    midi.feed(bytes([TICK]), t + 0.02)
    assert midi.reading(t + 0.02).position == pytest.approx(4.0)
    assert midi.reading(t + 5.0) is None, "no pulses for half a second: quiet"


def test_the_quantise_grid():
    assert quantum_beats("off", 4) == 0 and quantum_beats("bar", 4) == 4 and quantum_beats("4bars", 3) == 12
    assert next_boundary(3.2, 4.0) == 4.0 and next_boundary(4.0, 4.0) == 8.0 and next_boundary(-0.5, 1.0) == 0.0


def test_a_timeline_joined_while_slewing_is_taken_exactly(now):
    """The failure the Link nodes test found: a node still slewing towards its own session (its clock
    started before Link did) when it joined another lagged the session by what it had left to slew."""
    said = {"reading": None}
    clock = TempoClock(now, bpm=120)
    clock.set_source("link", Said(said))
    now.t += 0.5
    said["reading"] = SourceReading(bpm=120.0, position=-0.5, peers=0)  # a beat behind the clock's 1.0
    clock.moment()
    now.t += 0.01
    said["reading"] = SourceReading(bpm=120.0, position=7.0, peers=1, timeline=1)  # joined, mid-slew
    m = clock.moment()
    assert m.position == pytest.approx(7.0, abs=1e-9) and clock.resyncs == 1
    for _ in range(40):  # and it stays on the session from then on
        now.t += 0.05
        said["reading"] = SourceReading(bpm=120.0, position=7.0 + (now.t - 100.51) * 2.0, peers=1, timeline=1)
        m = clock.moment()
        assert m.position == pytest.approx(said["reading"].position, abs=1e-6)


def test_link_tells_a_joined_session_from_a_tempo_change():
    from latentvj.bridge.link import moved

    assert not moved((10.0, 8.0, 120.0), (10.01, 8.02, 120.0)), "the beat went on at the tempo"
    assert not moved((10.0, 8.0, 120.0), (10.3, 8.0 + 0.3 * 137 / 60, 137.0)), "a tempo change keeps the beat"
    assert not moved((10.0, 8.0, 120.0), (10.3, 8.0 + 0.15 * 2 + 0.15 * 137 / 60, 137.0)), "changed half way"
    assert moved((10.0, 8.0, 120.0), (10.01, 9.52, 120.0)), "another session's timeline, a beat and a half on"
    assert moved((10.0, 8.0, 120.0), (10.01, 5.0, 120.0)), "or behind"
