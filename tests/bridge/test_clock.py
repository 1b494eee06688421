"""The walks' clock: free-running seconds since start that never go backwards."""

from latentvj.bridge.clock import FreeClock


def test_seconds_since_start_and_never_backwards():
    now = [100.0]
    clock = FreeClock(lambda: now[0])
    assert clock.time() == 0.0
    now[0] = 102.5
    assert clock.time() == 2.5
    now[0] = 101.0  # a clock that stepped back (it should not, but walks must never jump back)
    assert clock.time() == 2.5
