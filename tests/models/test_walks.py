"""Latent walks: continuous, frame-rate independent, deterministic, and staying where latents live."""

import math
import timeit

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from latentvj.models.walks import MODES, SWITCH_TIME, Walker, ease, seed_latent, slerp

DIM = 128
FPS = 60

# A performance's worth of changes: (clock time, setter, value).
SCHEDULE = [
    (5.0, "set_speed", 1.5),
    (9.0, "set_mode", "loop"),
    (14.0, "set_seed", 7),
    (17.0, "set_period", 5.0),
    (20.0, "set_mode", "noise"),
    (24.0, "set_speed", 1.0),
    (25.0, "set_mode", "keyframes"),
    (34.0, "set_mode", "hold"),
    (36.0, "set_seed", 9),
    (39.0, "set_mode", "drift"),
    (44.0, "set_seed", 2),
    (45.0, "set_seed", 3),  # a morph during a morph
    (45.5, "set_mode", "loop"),  # and a mode switch during both
    (50.0, "set_mode", "drift"),
]


def play(walker: Walker, times: np.ndarray, schedule=SCHEDULE) -> np.ndarray:
    """Sample ``walker`` at ``times``, applying each event at its own clock time."""
    events = sorted(schedule)
    out, k = [], 0
    for t in times:
        while k < len(events) and events[k][0] <= t:
            when, setter, value = events[k]
            getattr(walker, setter)(value, when)
            k += 1
        out.append(walker.at(t))
    return np.stack(out)


def steps(z: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(z, axis=0), axis=1)


def jump_ratio(z: np.ndarray) -> float:
    s = steps(z)
    return float(s.max() / np.median(s))


# ---- continuity --------------------------------------------------------------------------------------

def test_no_jumps_through_speed_mode_seed_and_period_changes():
    times = np.arange(0, 60, 1 / FPS)
    z = play(Walker(DIM, seed=1, morph_time=2.0), times)
    assert jump_ratio(z) < 4.0


def test_the_jump_test_catches_cuts():
    times = np.arange(0, 60, 1 / FPS)
    z = play(Walker(DIM, seed=1, morph_time=0.0), times)  # morph time 0 cuts, on purpose
    assert jump_ratio(z) > 20.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(
    st.floats(0.0, 3.0),
    st.sampled_from(["set_speed", "set_mode", "set_seed", "set_period", "set_morph_time", "set_keyframes"]),
    st.integers(0, 10_000),
), max_size=12))
@example(events=[(0.0, "set_period", 0), (1.375, "set_mode", 152), (1.0, "set_speed", 0)])  # a fast walk
def test_an_event_never_moves_the_point_at_its_own_time(events):
    walker = Walker(8, seed=3, morph_time=1.0)
    t = 0.0
    for gap, setter, n in events:
        t += gap
        value = {
            "set_speed": (n % 7) - 3.0,
            "set_mode": MODES[n % len(MODES)],
            "set_seed": n,
            "set_period": 0.5 + n % 20,
            "set_morph_time": 0.1 + (n % 30) / 10,
            "set_keyframes": [n, n + 5] if n % 3 else None,
        }[setter]
        before = walker.at(t)
        getattr(walker, setter)(value, t)
        np.testing.assert_array_equal(walker.at(t), before)
        # and it goes on smoothly: its first millisecond after the event is no bigger a step than the next
        # few (a walk may be fast: a period of half a second at speed 3 travels a loop in 0.17 s; a cut
        # would be one step far bigger than those after it)
        points = [walker.at(t + k * 1e-3) for k in range(12)]
        first, *later = (float(np.linalg.norm(b - a)) for a, b in zip(points, points[1:]))
        assert first <= 3.0 * max(later) + 1e-3, (first, later)


# ---- loops -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["loop", "noise", "keyframes"])
def test_loops_close_seamlessly(mode):
    period = 5.0
    walker = Walker(DIM, seed=4, mode=mode, period=period)
    for t0 in (0.0, 1.3, 7.77):
        np.testing.assert_allclose(walker.at(t0 + period), walker.at(t0), atol=1e-5)
    # The step across the seam looks like any other step.
    one_loop = np.stack([walker.at(t) for t in np.arange(0, period, 1 / FPS)])
    across_seam = np.stack([walker.at(period + (k + 0.5) / FPS) for k in range(-3, 3)])
    assert steps(across_seam).max() < 2.0 * np.median(steps(one_loop))


def test_keyframes_pass_through_their_seeds_in_order():
    walker = Walker(DIM, mode="keyframes", keyframes=[5, 9, 11], period=6.0)
    for t, seed in [(0.0, 5), (2.0, 9), (4.0, 11), (6.0, 5)]:
        np.testing.assert_allclose(walker.at(t), seed_latent(seed, DIM), atol=1e-5)


def test_a_new_period_takes_over_after_the_switch():
    walker = Walker(DIM, mode="loop", period=8.0, morph_time=3.0)
    walker.set_period(2.0, 1.0)
    t = 1.0 + SWITCH_TIME
    np.testing.assert_allclose(walker.at(t + 2.0), walker.at(t), atol=1e-5)
    assert walker.period == 2.0


# ---- determinism and frame rate ----------------------------------------------------------------------

def test_same_seed_and_events_give_the_same_walk_and_other_seeds_differ():
    times = np.arange(0, 30, 1 / 30)
    a = play(Walker(DIM, seed=11), times)
    b = play(Walker(DIM, seed=11), times)
    c = play(Walker(DIM, seed=12), times)
    np.testing.assert_array_equal(a, b)
    before_seeds_are_set = times < 14.0  # the schedule then sends both to the same seeds
    assert np.linalg.norm(a - c, axis=1)[before_seeds_are_set].min() > 1.0


def test_seed_latents_are_pinned():
    # The same seed must give the same image on every run, machine and version.
    np.testing.assert_allclose(seed_latent(0, 4), [0.12573022, -0.13210486, 0.64042265, 0.10490012], atol=1e-7)
    assert seed_latent(0, 4).dtype == np.float32


def test_reading_the_walk_changes_nothing():
    times = np.arange(0, 30, 1 / 24)
    busy = Walker(DIM, seed=2)
    for t in np.arange(0, 10, 1 / 500):  # read it often before the events
        busy.at(t)
    np.testing.assert_array_equal(play(busy, times[times >= 10]), play(Walker(DIM, seed=2), times)[times >= 10])


def test_frame_rate_does_not_change_the_walk():
    t144 = np.arange(0, 60 * 144) / 144
    slow = play(Walker(DIM, seed=5), t144[::6])  # 24 fps, at times shared with 144 fps
    fast = play(Walker(DIM, seed=5), t144)
    np.testing.assert_array_equal(slow, fast[::6])
    ten_seconds = t144 < 10
    travelled_slow = steps(slow[ten_seconds[::6]]).sum()
    travelled_fast = steps(fast[ten_seconds]).sum()
    assert travelled_slow == pytest.approx(travelled_fast, rel=0.03)


# ---- speed -------------------------------------------------------------------------------------------

def test_speed_two_loops_in_half_the_time():
    walker = Walker(DIM, mode="loop", period=4.0, speed=2.0)
    np.testing.assert_allclose(walker.at(2.0 + 0.3), walker.at(0.3), atol=1e-5)
    assert np.linalg.norm(walker.at(1.3) - walker.at(0.3)) > 5.0  # half-way round, far away


def test_speed_zero_stands_still_and_negative_runs_back():
    walker = Walker(DIM, seed=6)
    walker.set_speed(0.0, 3.0)
    np.testing.assert_array_equal(walker.at(3.0), walker.at(20.0))
    forward = Walker(DIM, seed=6)
    walker.set_speed(-1.0, 20.0)
    for s in (0.5, 1.0, 2.5):  # from 20 s on it retraces the path it took up to 3 s
        np.testing.assert_allclose(walker.at(20.0 + s), forward.at(3.0 - s), atol=1e-5)


def test_speed_changes_do_not_jump():
    times = np.arange(0, 12, 1 / FPS)
    schedule = [(3.0, "set_speed", 1.5), (6.0, "set_speed", 0.5), (9.0, "set_speed", 1.0)]
    assert jump_ratio(play(Walker(DIM, seed=8), times, schedule)) < 4.0


# ---- where latents live ------------------------------------------------------------------------------

def test_long_drift_stays_at_latent_norm():
    walker = Walker(DIM, seed=13)
    norms = np.linalg.norm(np.stack([walker.at(t) for t in np.arange(0, 600, 0.5)]), axis=1)
    assert 0.7 * math.sqrt(DIM) < norms.min() and norms.max() < 1.3 * math.sqrt(DIM)


@pytest.mark.parametrize("mode", ["drift", "loop", "noise", "keyframes"])
def test_walks_look_like_standard_normal_latents(mode):
    samples = np.stack([Walker(DIM, seed=seed, mode=mode).at(t)
                        for seed in range(0, 1500, 10) for t in np.linspace(0, 100, 20)])
    assert np.abs(samples.mean(axis=0)).max() < 0.3
    std = samples.std(axis=0)
    assert 0.8 < std.min() and std.max() < 1.2


# ---- morph and hold ----------------------------------------------------------------------------------

def test_morph_starts_at_the_old_point_and_ends_at_the_new_seed():
    walker = Walker(DIM, seed=1, mode="hold", morph_time=2.5)
    old = walker.at(4.0)
    walker.set_seed(42, 4.0)
    np.testing.assert_array_equal(walker.at(4.0), old)
    np.testing.assert_allclose(walker.at(4.0 + 2.5), seed_latent(42, DIM), atol=1e-6)
    np.testing.assert_allclose(walker.at(100.0), seed_latent(42, DIM), atol=1e-6)
    assert walker.seed == 42


def test_after_a_morph_the_walk_moves_around_the_new_seed():
    walker = Walker(DIM, seed=1, morph_time=2.0)
    walker.set_seed(42, 3.0)
    fresh = Walker(DIM, seed=42)
    for t in (5.0, 9.0):
        np.testing.assert_array_equal(walker.at(t), fresh.at(t))


def test_hold_eases_to_a_stop_where_it_was_asked():
    walker = Walker(DIM, seed=3, morph_time=2.0)
    here = walker.at(5.0)
    walker.set_mode("hold", 5.0)
    still = walker.at(5.0 + SWITCH_TIME)
    np.testing.assert_allclose(still, here, atol=1e-6)
    np.testing.assert_array_equal(walker.at(60.0), still)


def test_sending_the_seed_again_in_hold_returns_to_its_latent():
    walker = Walker(DIM, seed=3, morph_time=1.0)
    walker.set_mode("hold", 5.0)  # frozen somewhere near seed 3
    walker.set_seed(3, 7.0)
    np.testing.assert_allclose(walker.at(8.0), seed_latent(3, DIM), atol=1e-6)


def test_zero_morph_time_cuts():
    walker = Walker(DIM, seed=1, mode="hold", morph_time=0.0)
    walker.set_seed(2, 1.0)
    np.testing.assert_array_equal(walker.at(1.0), seed_latent(2, DIM))


def test_a_storm_of_changes_stays_smooth():
    walker = Walker(DIM, morph_time=5.0)
    times = np.arange(0, 10, 1 / FPS)
    storm = [(k / 20, "set_seed", k) for k in range(80)]  # a new seed every 50 ms for 4 s
    assert jump_ratio(play(walker, times, storm)) < 4.0


# ---- small functions and cost ------------------------------------------------------------------------

def test_slerp_keeps_the_norm_of_equal_norm_latents():
    a, b = seed_latent(1, DIM), seed_latent(2, DIM)
    b = b * (np.linalg.norm(a) / np.linalg.norm(b))
    for t in (0.25, 0.5, 0.75):
        assert np.linalg.norm(slerp(a, b, t)) == pytest.approx(np.linalg.norm(a), rel=1e-5)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-6)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-6)
    np.testing.assert_allclose(slerp(a, 2 * a, 0.5), 1.5 * a, rtol=1e-6)  # parallel: a straight line


def test_ease_is_clamped_and_smooth():
    assert ease(-1.0) == 0.0 and ease(0.0) == 0.0 and ease(1.0) == 1.0 and ease(2.0) == 1.0
    assert ease(0.5) == pytest.approx(0.5)


def test_reading_a_frame_costs_well_under_a_tenth_of_a_millisecond():
    walker = Walker(DIM, seed=1)
    walker.set_seed(2, 0.0)  # mid-morph: two walks and a slerp
    best = min(timeit.repeat(lambda: walker.at(1.0), number=200, repeat=5)) / 200
    assert best < 1e-4


# ---- validation --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"dim": 0}, "dim must be an integer >= 1"),
    ({"dim": 2.5}, "dim must be an integer"),
    ({"mode": "spin"}, "expected one of drift, loop, noise, keyframes, hold"),
    ({"period": 0.0}, "period must be > 0"),
    ({"period": float("nan")}, "period must be finite"),
    ({"speed": float("inf")}, "speed must be finite"),
    ({"speed": "fast"}, "speed must be a number"),
    ({"morph_time": -1.0}, "morph_time must be >= 0"),
    ({"seed": -1}, "seed must be >= 0"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"seed": True}, "seed must be an integer"),
    ({"keyframes": []}, "keyframes must hold at least one seed"),
    ({"keyframes": [1, -2]}, r"keyframes\[1\] must be >= 0"),
    ({"t0": float("nan")}, "t0 must be finite"),
])
def test_bad_arguments_are_refused_with_a_clear_message(kwargs, message):
    kwargs = {"dim": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        Walker(kwargs.pop("dim"), **kwargs)


def test_bad_events_are_refused_and_change_nothing():
    walker = Walker(8, seed=1)
    walker.set_speed(2.0, 5.0)
    before = walker.at(6.0)
    with pytest.raises(ValueError, match="unknown walk mode 'spin'"):
        walker.set_mode("spin", 6.0)
    with pytest.raises(ValueError, match="period must be > 0"):
        walker.set_period(-3.0, 6.0)
    with pytest.raises(ValueError, match="before the latest event"):
        walker.set_seed(3, 4.0)
    with pytest.raises(ValueError, match="before the latest event"):
        walker.at(4.0)
    with pytest.raises(ValueError, match="t must be finite"):
        walker.at(float("nan"))
    np.testing.assert_array_equal(walker.at(6.0), before)
    assert (walker.mode, walker.seed, walker.speed, walker.period) == ("drift", 1, 2.0, 8.0)


def test_set_point_morphs_to_an_explicit_latent_and_holds_it():
    w = Walker(8, seed=1, mode="drift", morph_time=1.0)
    before = w.at(2.0)
    target = np.linspace(-1, 1, 8).astype(np.float32)
    w.set_point(target, 2.0)
    assert w.mode == "hold"
    np.testing.assert_allclose(w.at(2.0), before, atol=1e-6)  # no jump at the change
    assert not np.allclose(w.at(2.5), target) and not np.allclose(w.at(2.5), before)
    np.testing.assert_allclose(w.at(3.0), target, atol=1e-6)
    np.testing.assert_allclose(w.at(10.0), target, atol=1e-6)
    w.set_point(-target, 10.0, seconds=0.0)  # a cut
    np.testing.assert_allclose(w.at(10.0), -target, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        w.set_point(np.zeros(3), 11.0)
    with pytest.raises(ValueError, match="NaN"):
        w.set_point(np.full(8, np.nan), 11.0)
