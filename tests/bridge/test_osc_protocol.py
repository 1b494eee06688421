"""The OSC protocol on datagram bytes: no sockets needed to check what a controller relies on."""

from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from latentvj.bridge.control import ControlState
from latentvj.bridge.osc import STATUS_FIELDS, OscProtocol, build_message

SENDER = ("127.0.0.1", 54321)
STATUS = {"model": "tiny", "device": "cpu", "width": 32, "height": 32, "target_fps": 30.0, "fps": 29.5,
          "frame": 120, "mode": "drift"}


def protocol():
    state = ControlState()
    return state, OscProtocol(state, status=lambda: dict(STATUS))


def replies(proto, dgram):
    out = proto.handle(dgram, SENDER)
    assert all(dest == SENDER for _, dest in out), "replies go back to the sender"
    return [OscMessage(data) for data, _ in out]


def test_a_valid_message_sets_the_parameter_silently():
    state, proto = protocol()
    assert replies(proto, build_message("/lvj/walk/speed", 2.5)) == []
    assert state.get("walk/speed") == 2.5


def test_int_for_float_and_no_leading_slash():
    state, proto = protocol()
    replies(proto, build_message("lvj/walk/speed", 3))
    replies(proto, build_message("/lvj/seed", 12.0))
    assert state.get("walk/speed") == 3.0 and state.get("seed") == 12


def test_resending_a_seed_counts_as_a_new_trigger():
    state, proto = protocol()
    replies(proto, build_message("/lvj/seed", 4))
    first = state.snapshot().serials["seed"]
    replies(proto, build_message("/lvj/seed", 4))
    assert state.snapshot().serials["seed"] == first + 1


def error_text(messages):
    assert len(messages) == 1 and messages[0].address == "/lvj/error", messages
    (text,) = messages[0].params
    return text


def test_wrong_type_out_of_range_nan_and_unknown_are_answered_and_change_nothing():
    state, proto = protocol()
    before = state.snapshot().values
    assert "expected a number" in error_text(replies(proto, build_message("/lvj/walk/speed", "fast")))
    assert "out of range" in error_text(replies(proto, build_message("/lvj/walk/speed", 99.0)))
    assert "finite" in error_text(replies(proto, build_message("/lvj/walk/speed", float("nan"))))
    assert error_text(replies(proto, build_message("/lvj/wobble", 1))).startswith("/lvj/wobble: unknown address")
    assert "expected one of" in error_text(replies(proto, build_message("/lvj/walk/mode", "spin")))
    assert state.snapshot().values == before
    assert proto.errors == 5
    # ...and the next good message is handled as usual.
    replies(proto, build_message("/lvj/walk/mode", "hold"))
    assert state.get("walk/mode") == "hold"


def test_malformed_packet_is_answered():
    _, proto = protocol()
    assert "malformed OSC packet" in error_text(replies(proto, b"/lvj/walk/speed\x00garbage"))


def test_status_reply_has_the_documented_fields_in_order():
    _, proto = protocol()
    (reply,) = replies(proto, build_message("/lvj/status"))
    assert reply.address == "/lvj/status"
    assert list(reply.params) == [STATUS[name] for name, _ in STATUS_FIELDS]


def test_bundles_apply_every_message_in_order():
    state, proto = protocol()
    bundle = OscBundleBuilder(IMMEDIATELY)
    for address, value in (("/lvj/walk/speed", 0.5), ("/lvj/walk/mode", "loop"), ("/lvj/walk/speed", 0.25)):
        msg = OscMessageBuilder(address)
        msg.add_arg(value)
        bundle.add_content(msg.build())
    assert replies(proto, bundle.build().dgram) == []
    assert state.get("walk/mode") == "loop" and state.get("walk/speed") == 0.25


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_random_datagrams_never_raise(data):
    state, proto = protocol()
    proto.handle(data, SENDER)  # any reply or none, but never an exception


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["/lvj/walk/speed", "/lvj/seed", "/lvj/walk/mode", "/lvj/status", "walk/period"]),
       st.lists(st.one_of(st.integers(-2**31, 2**31 - 1), st.floats(width=32), st.text(max_size=8),
                          st.booleans(), st.binary(min_size=1, max_size=8)), max_size=3))
def test_random_arguments_are_applied_or_answered(address, args):
    state, proto = protocol()
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    out = replies(proto, builder.build().dgram)
    assert len(out) <= 1
    for name, value in state.snapshot().values.items():
        state.registry[name].coerce([value])  # whatever was accepted is a valid value
