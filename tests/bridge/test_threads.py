"""The render threads: OpenMP's workers sleep instead of spinning, and ``auto`` finds the thread count that
renders fastest now, one step at a time, giving a core back when the frame's budget allows (fake render times:
what a thread count costs is the test's choice)."""

from __future__ import annotations

import pytest

from latentvj.bridge.threads import QUIET_OPENMP, WINDOW, ThreadTuner, parse_threads, quiet_openmp, short_switches


def run(tuner, cost, period, windows):
    """Feed ``windows`` windows of frames whose render time is ``cost(threads)``; the counts it went through."""
    seen = [tuner.threads]
    for _ in range(windows * WINDOW):
        if tuner.record(cost(tuner.threads), period) is not None:
            seen.append(tuner.threads)
    return seen


def test_openmp_threads_sleep_unless_the_user_chose():
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    chosen = quiet_openmp(environ)
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE", "the user's choice stands"
    assert chosen == {k: v for k, v in QUIET_OPENMP.items() if k != "OMP_WAIT_POLICY"}
    assert environ["GOMP_SPINCOUNT"] == "0"


def test_auto_starts_one_below_the_cores_and_a_fixed_count_never_moves():
    applied = []
    assert ThreadTuner(cores=4, apply=applied.append).threads == 3
    assert ThreadTuner(cores=1, apply=applied.append).threads == 1
    fixed = ThreadTuner(2, cores=8, apply=applied.append)
    assert run(fixed, lambda n: 1.0, 1 / 30, 5) == [2] and fixed.mode == "fixed"
    assert applied == [3, 1, 2]


def test_the_counts_a_compiled_pass_is_made_for_are_the_tuners_likeliest_first():
    assert ThreadTuner(cores=2, apply=lambda n: None).likely() == (1, 2)
    assert ThreadTuner(cores=8, apply=lambda n: None).likely() == (7, 6, 8, 5)
    assert ThreadTuner(cores=1, apply=lambda n: None).likely() == (1,)
    assert ThreadTuner(3, cores=8, apply=lambda n: None).likely() == (3,), "a fixed count is the only one"
    tuner = ThreadTuner(cores=4, apply=lambda n: None)
    run(tuner, lambda n: {1: 0.030, 2: 0.010, 3: 0.020, 4: 0.040}[n], 0.0, 6)  # unpaced: settles on 2
    assert tuner.threads == 2 and tuner.likely() == (2, 1, 3, 4), "asked again, from the count it plays at now"


def test_a_busy_core_elsewhere_makes_it_drop_to_the_count_that_holds_the_target():
    """Two cores, one taken by another program: two threads render at 8 fps, one at 30 (as measured here)."""
    busy = {1: 0.030, 2: 0.125}
    tuner = ThreadTuner(cores=2, apply=lambda n: None)
    tuner.threads = 2  # as if it had been idle until now and gone up
    seen = run(tuner, busy.get, 1 / 30, 10)
    assert seen == [2, 1], "one window at 2, then 1 and it stays"


def test_behind_on_an_idle_machine_it_takes_the_faster_count_and_stays():
    idle = {1: 0.045, 2: 0.026, 3: 0.030}
    tuner = ThreadTuner(cores=3, apply=lambda n: None)
    assert tuner.threads == 2
    seen = run(tuner, idle.get, 1 / 30, 12)
    assert seen[-1] == 2 and seen.count(3) <= 1, seen


def test_room_to_spare_gives_a_core_back():
    light = {1: 0.008, 2: 0.006, 3: 0.005}
    tuner = ThreadTuner(cores=4, apply=lambda n: None)
    assert run(tuner, light.get, 1 / 30, 6) == [3, 2, 1]


def test_unpaced_it_settles_on_the_fastest_count():
    cost = {1: 0.050, 2: 0.030, 3: 0.034, 4: 0.040}
    tuner = ThreadTuner(cores=4, apply=lambda n: None)
    seen = run(tuner, cost.get, 0.0, 10)
    assert seen[-1] == 2, seen


@pytest.mark.parametrize("text, expected", [("auto", None), ("1", 1), ("12", 12)])
def test_threads_option(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text", ["0", "-2", "many", "1000"])
def test_bad_threads_option(text):
    with pytest.raises(ValueError, match="--threads"):
        parse_threads(text)


def test_compiles_shorten_the_interpreter_switches_until_the_last_one_ends():
    """While a model compiles beside the render, the lock is handed over every 0.1 ms instead of Python's
    5 ms; two compiles overlapping (two decks loading) keep it short until both have ended."""
    import sys
    import threading

    before = sys.getswitchinterval()
    first_in, second_out = threading.Event(), threading.Event()
    seen = []

    def second():
        first_in.wait()
        with short_switches():
            seen.append(sys.getswitchinterval())
        second_out.set()

    helper = threading.Thread(target=second)
    helper.start()
    with short_switches():
        first_in.set()
        assert second_out.wait(10)
        seen.append(sys.getswitchinterval())  # the other compile has ended: still short
    helper.join()
    assert seen == pytest.approx([1e-4, 1e-4]) and sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), short_switches():
        raise RuntimeError("a compile that failed")
    assert sys.getswitchinterval() == before
