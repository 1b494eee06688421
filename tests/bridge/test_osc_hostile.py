"""Hostile OSC, from raw bytes: every packet is answered or dropped in bounded time, the log and the replies
stay bounded under a flood, future bundles cannot take the memory or lock other senders out."""

from __future__ import annotations

import logging
import socket
import struct
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_message import OscMessage

from latentvj.bridge.control.state import ControlState
from latentvj.bridge.control.osc import (
    SCHEDULE_HORIZON_S,
    SCHEDULED_BYTES_PER_SENDER,
    OscProtocol,
    OscServer,
    Schedule,
    build_message,
)
from latentvj.bridge.control.problems import ANSWERED_PER_WINDOW, LOGGED_PER_WINDOW, ProblemLog
from latentvj.plugin import oscwire

SENDER = ("127.0.0.1", 54321)
WATCHDOG_S = 5.0
"""Longest any one packet may take (they take microseconds; a hang is what this catches)."""


def bundle(*elements: bytes, timetag: int = 1) -> bytes:
    return b"#bundle\0" + struct.pack(">Q", timetag) + b"".join(struct.pack(">i", len(e)) + e for e in elements)


def padded(text: bytes) -> bytes:
    return text + b"\0" * (4 - len(text) % 4)


def nested_bundles(depth: int) -> bytes:
    data = build_message("/lvj/walk/speed", 0.5)
    for _ in range(depth):
        data = bundle(data)
    return data


def ntp(unix_time: float) -> int:
    seconds = unix_time + oscwire.NTP_UNIX_OFFSET
    return (int(seconds) << 32) | int((seconds % 1) * 2**32)


CORPUS = {
    "bundle element of -4 bytes (hung python-osc's parser forever)": bundle() + struct.pack(">i", -4),
    "bundle element of 0 bytes": bundle() + struct.pack(">i", 0),
    "bundle element of 5 bytes": bundle() + struct.pack(">i", 5) + b"/a\0\0\0",
    "bundle element larger than the packet": bundle() + struct.pack(">i", 1 << 30) + b"/a\0\0",
    "bundles nested 3,000 deep": nested_bundles(3000),
    "an array nested 2,000 deep": padded(b"/lvj/z") + padded(b",f" + b"[" * 2000 + b"]" * 2000) + b"\0" * 4,
    "an unclosed array": padded(b"/lvj/z") + padded(b",[f") + b"\0" * 4,
    "64 KB of unknown type tags": padded(b"/lvj/seed") + padded(b"," + b"q" * 63_988),
    "a superscript latent index": build_message("/lvj/z/\u00b2", 1.0),
    "a latent index of 30 digits": build_message("/lvj/z/" + "9" * 30, 1.0),
    "an address of 60 KB": build_message("/lvj/" + "a" * 60_000, 1.0),
    "a mode of 60 KB": build_message("/lvj/walk/mode", "x" * 60_000),
    "a blob that claims 4 GB": padded(b"/lvj/seed") + padded(b",b") + struct.pack(">I", 0xFFFFFFFF),
    "8,000 floats to the latent": build_message("/lvj/z", *[0.5] * 8000),
    "no NUL anywhere": b"/lvj" * 100,
    "a lone #bundle": b"#bundle\0",
    "invalid UTF-8": b"/lvj/\xff\xfe\0\0,f\0\0" + struct.pack(">f", 1.0),
    "a char tag beyond Unicode": padded(b"/lvj/walk/mode") + padded(b",c") + struct.pack(">I", 0x7FFFFFFF),
}


def protocol(**options) -> tuple[ControlState, OscProtocol]:
    state = ControlState()
    state.latent_dim, state.model_kind = 16, "gan"
    return state, OscProtocol(state, status=lambda: {"model": "tiny"}, **options)


def handle_with_watchdog(proto: OscProtocol, data: bytes, sender=SENDER):
    """proto.handle(data) on a thread that must finish within WATCHDOG_S; its replies."""
    result: list = []
    failure: list = []

    def run():
        try:
            result.extend(proto.handle(data, sender))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(WATCHDOG_S)
    assert not worker.is_alive(), f"a {len(data)}-byte packet took more than {WATCHDOG_S} s"
    assert not failure, f"an exception escaped: {failure[0]!r}"
    return result


@pytest.mark.parametrize("name", list(CORPUS))
def test_each_hostile_packet_is_answered_once_quickly_and_control_goes_on(name, caplog):
    state, proto = protocol()
    before = state.snapshot().values
    with caplog.at_level(logging.WARNING):
        out = handle_with_watchdog(proto, CORPUS[name])
    errors = [OscMessage(data) for data, _ in out]
    assert len(errors) == 1 and errors[0].address == "/lvj/error", [m.address for m in errors]
    assert len(out[0][0]) < 2048, "the reply quotes the input, shortened"
    assert len(caplog.records) == 1 and not caplog.records[0].exc_info, "one log line, no traceback"
    assert len(caplog.records[0].getMessage()) < 2048
    assert state.snapshot().values == before
    handle_with_watchdog(proto, build_message("/lvj/walk/speed", 2.0))
    assert state.get("walk/speed") == 2.0, "the next good message is applied"


def test_arrays_are_read_and_a_latent_may_come_as_one():
    state, proto = protocol()
    data = padded(b"/lvj/z") + padded(b",[" + b"f" * 16 + b"]") + struct.pack(">16f", *[0.25] * 16)
    assert proto.handle(data, SENDER) == []
    assert state.get("z") == (0.25,) * 16


element_sizes = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([-4, -1, 0, 1, 3, 4, 8, 16, 20]))
leaf = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda tags, tail: padded(b"/lvj/z") + padded(b"," + tags) + tail,
              st.binary(max_size=12).map(lambda b: b.replace(b"\0", b"[")), st.binary(max_size=24)),
)


def _assemble(parts) -> bytes:
    head, elements = parts
    return b"#bundle\0" + head + b"".join(struct.pack(">i", size) + body for size, body in elements)


packets = st.recursive(
    leaf,
    lambda inner: st.tuples(st.binary(min_size=8, max_size=8),
                            st.lists(st.tuples(element_sizes, inner), max_size=4)).map(_assemble),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets)
def test_fuzzed_bundles_never_hang_or_raise(data):
    _, proto = protocol()
    out = handle_with_watchdog(proto, data)
    assert all(OscMessage(reply).address.startswith("/lvj/") for reply, _ in out)


@settings(max_examples=200, deadline=None)
@given(packets)
def test_the_decoder_raises_only_its_own_error(data):
    try:
        oscwire.decode(data)
    except oscwire.OscDecodeError:
        pass


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_flood_of_errors_is_logged_and_answered_a_bounded_number_of_times_then_summarised(caplog):
    clock = Clock()
    _, proto = protocol(problems=ProblemLog(logging.getLogger("latentvj.osc"), clock=clock))
    bad = CORPUS["64 KB of unknown type tags"]
    answered = 0
    with caplog.at_level(logging.WARNING):
        for _ in range(1000):
            answered += len(proto.handle(bad, SENDER))
        other = proto.handle(build_message("/lvj/nope"), ("127.0.0.1", 6000))
    assert proto.errors == 1001
    assert answered == ANSWERED_PER_WINDOW, "the reply path is bounded per sender"
    assert len(other) == 1, "another sender's error is still answered"
    assert len(caplog.records) == LOGGED_PER_WINDOW + 1
    caplog.clear()
    clock.now += 11
    with caplog.at_level(logging.WARNING):
        (summary, target), = proto.summaries()
    assert target == SENDER
    assert f"{1000 - ANSWERED_PER_WINDOW:,} more errors" in OscMessage(summary).params[0]
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("1,000 problems from 127.0.0.1:54321 in the last 11 s")
    assert len(proto.handle(bad, SENDER)) == 1, "a new window answers again"


def future_bundle(clock_now: float, seconds: float, message: bytes) -> bytes:
    return bundle(message, timetag=ntp(clock_now + seconds))


def test_future_bundles_beyond_the_horizon_and_to_unknown_addresses_are_refused_at_once():
    clock = Clock()
    clock.now = 1_790_000_000.0  # 2026
    _, proto = protocol(clock=clock)
    (far,) = proto.handle(future_bundle(clock.now, 300 * 86400, build_message("/lvj/seed", 1)), SENDER)
    assert f"at most {SCHEDULE_HORIZON_S:g} s ahead" in OscMessage(far[0]).params[0]
    (unknown,) = proto.handle(future_bundle(clock.now, 5, build_message("/lvj/nope", 1)), SENDER)
    assert "unknown address" in OscMessage(unknown[0]).params[0]
    assert len(proto.schedule) == 0
    assert proto.handle(future_bundle(clock.now, 5, build_message("/lvj/seed", 1)), SENDER) == []
    assert len(proto.schedule) == 1


def test_scheduled_memory_is_bounded_per_sender_and_one_sender_never_locks_out_another():
    clock = Clock()
    clock.now = 1_790_000_000.0  # 2026
    _, proto = protocol(clock=clock)
    heavy = future_bundle(clock.now, 30, build_message("/lvj/z", *[0.5] * 13_000))  # ~52 KB on the wire
    refusals = 0
    for _ in range(200):
        refusals += len(proto.handle(heavy, SENDER))
    assert refusals > 150 and proto.schedule.bytes <= SCHEDULED_BYTES_PER_SENDER
    assert proto.handle(future_bundle(clock.now, 1, build_message("/lvj/seed", 7)), ("127.0.0.1", 6000)) == []
    clock.now += 1.5
    proto.run_due()
    assert proto.state.get("seed") == 7, "the other sender's bundle was kept and applied on time"


def test_the_schedule_has_an_overall_bound_too():
    schedule = Schedule(per_sender=10, total=25)
    message = oscwire.decode_message(build_message("/lvj/seed", 1))
    refused = [schedule.add(5.0, 0.0, message, ("127.0.0.1", port)) for port in range(1, 5) for _ in range(10)]
    assert len(schedule) == 25 and sum(r is not None for r in refused) == 15
    assert "the schedule is full" in refused[-1]


# ---- over a real socket ---------------------------------------------------------------------------------

@pytest.fixture
def udp_server():
    state = ControlState()
    state.latent_dim, state.model_kind = 16, "gan"
    server = OscServer(OscProtocol(state, status=lambda: {"model": "tiny"}), port=0)
    server.start()
    yield server
    server.stop()


def test_the_20_byte_packet_that_hung_control_is_answered_and_control_answers_right_after(udp_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.settimeout(10)
        packet = CORPUS["bundle element of -4 bytes (hung python-osc's parser forever)"]
        assert len(packet) == 20
        client.sendto(packet, udp_server.address)
        client.sendto(build_message("/lvj/status"), udp_server.address)
        first, second = (OscMessage(client.recvfrom(65535)[0]) for _ in range(2))
        assert first.address == "/lvj/error" and "malformed OSC packet of 20 bytes" in first.params[0]
        assert second.address == "/lvj/status"


def test_the_inbox_serves_senders_in_turn_and_bounds_each():
    from latentvj.bridge.control.osc import Inbox

    inbox = Inbox(per_sender=100, coalesce_above=10_000)
    flood, other = ("127.0.0.1", 1), ("127.0.0.1", 2)
    for n in range(500):
        inbox.put(build_message(f"/lvj/flood/{n}"), flood)
    inbox.put(build_message("/lvj/seed", 3), other)
    assert inbox.overflowed == 400 and len(inbox) == 101, "the flood's oldest went, latest wins"
    first, second = inbox.take(), inbox.take()
    assert first[1] == flood and second == (build_message("/lvj/seed", 3), other), "the other sender is next"


def test_a_flooding_sender_has_older_messages_to_an_address_replaced():
    from latentvj.bridge.control.osc import Inbox

    inbox = Inbox(coalesce_above=4)
    sender = ("127.0.0.1", 1)
    for n in range(100):
        inbox.put(build_message("/lvj/walk/speed", n / 10), sender)
    inbox.put(bundle(build_message("/lvj/seed", 1)), sender)
    assert len(inbox) == 2 and inbox.coalesced == 99
    (data, _), (kept, _) = inbox.take(), inbox.take()
    assert OscMessage(data).params == [pytest.approx(9.9)] and kept.startswith(b"#bundle")
