"""The OSC protocol on datagram bytes: no sockets needed to check what a controller relies on."""

from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from latentvj.bridge.control.state import ControlState
from latentvj.bridge.control.osc import STATUS_FIELDS, OscProtocol, build_message

SENDER = ("127.0.0.1", 54321)
STATUS = {"model": "tiny", "device": "cpu", "width": 32, "height": 32, "target_fps": 30.0, "fps": 29.5,
          "frame": 120, "mode": "drift", "seed": 3, "preset": 2, "latent_dim": 16, "oscquery_port": 9002,
          "kind": "gan", "bpm": 126.5, "tempo_source": "link", "recording": "/sets/friday.mov", "recorded_s": 61.5}


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def protocol(clock=None):
    state = ControlState()
    state.latent_dim, state.model_kind = 16, "gan"
    proto = OscProtocol(state, status=lambda: dict(STATUS), models=lambda: ["default", "mine"],
                        clock=clock or Clock())
    return state, proto


def replies(proto, dgram, sender=SENDER):
    out = proto.handle(dgram, sender)
    assert all(dest == sender for _, dest in out), "replies go back to the sender"
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
    assert [name for name, _ in STATUS_FIELDS][:8] == ["model", "device", "width", "height", "target_fps", "fps",
                                                       "frame", "mode"], "documented order; new fields go last"
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
       st.lists(st.one_of(st.integers(-2**31, 2**31 - 1), st.floats(width=32),
                          st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                                  max_size=8),  # OSC strings end at NUL; UTF-8 has no lone surrogates
                          st.booleans(), st.binary(min_size=1, max_size=8)), max_size=3))
def test_random_arguments_are_applied_or_answered(address, args):
    state, proto = protocol()
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    out = replies(proto, builder.build().dgram)
    assert len(out) <= 1
    for name, value in state.snapshot().values.items():  # whatever was accepted is a valid value
        param = state.registry[name]
        if value is None or param.access != "rw" or param.name == "z/N":
            continue
        param.coerce(list(value) if isinstance(value, tuple) else [value], size=16)


def test_pulses_trigger_and_button_releases_do_not():
    state, proto = protocol()
    for args in ((), (1,), (1.0,), (True,)):
        before = state.snapshot().serials["walk/randomise"]
        assert replies(proto, build_message("/lvj/walk/randomise", *args)) == []
        assert state.snapshot().serials["walk/randomise"] == before + 1
    before = state.snapshot().serials["walk/randomise"]
    replies(proto, build_message("/lvj/walk/randomise", 0))
    assert state.snapshot().serials["walk/randomise"] == before


def test_whole_latent_vector_takes_exactly_latent_dim_floats():
    state, proto = protocol()
    replies(proto, build_message("/lvj/z", *[0.5] * 16))
    assert state.get("z") == (0.5,) * 16
    assert "expected 16 numbers" in error_text(replies(proto, build_message("/lvj/z", *[0.5] * 15)))
    assert "out of range" in error_text(replies(proto, build_message("/lvj/z", *[0.5] * 15, 99.0)))


def test_one_latent_dimension_by_index():
    state, proto = protocol()
    replies(proto, build_message("/lvj/z/3", 1.5))
    replies(proto, build_message("lvj/z/15", -1))
    assert state.take_items("z/N") == {3: 1.5, 15: -1.0}
    assert state.take_items("z/N") == {}, "handed over once"
    assert "0..15" in error_text(replies(proto, build_message("/lvj/z/16", 1.0)))


def test_read_only_and_wrong_model_kind_are_refused():
    state, proto = protocol()
    assert "read-only" in error_text(replies(proto, build_message("/lvj/model/name", "x")))
    assert "use /lvj/truncation" in error_text(replies(proto, build_message("/lvj/temperature", 0.5)))
    state.model_kind = "vae"
    assert "use /lvj/temperature" in error_text(replies(proto, build_message("/lvj/truncation", 0.5)))


def test_model_list_replies_the_names():
    _, proto = protocol()
    (reply,) = replies(proto, build_message("/lvj/model/list"))
    assert reply.address == "/lvj/model/list" and list(reply.params) == ["default", "mine"]


def test_subscribe_sends_every_current_value_and_errors_reach_subscribers():
    state, proto = protocol()
    state.set("walk/speed", 0.75)
    out = proto.handle(build_message("/lvj/subscribe", 9999), SENDER)
    assert {dest for _, dest in out} == {("127.0.0.1", 9999)}
    dumped = {OscMessage(data).address: list(OscMessage(data).params) for data, _ in out}
    assert dumped["/lvj/walk/speed"] == [0.75] and dumped["/lvj/walk/mode"] == ["drift"]
    assert "/lvj/status" in dumped and "/lvj/walk/randomise" not in dumped
    errors = proto.handle(build_message("/lvj/walk/speed", "x"), ("127.0.0.1", 5555))
    assert {dest for _, dest in errors} == {("127.0.0.1", 9999), ("127.0.0.1", 5555)}
    proto.handle(build_message("/lvj/unsubscribe", 9999), SENDER)
    assert list(proto.subscribers) == []


def test_subscribe_another_host_and_bad_arguments():
    _, proto = protocol()
    proto.handle(build_message("/lvj/subscribe", 7000, "10.0.0.5"), SENDER)
    assert list(proto.subscribers) == [("10.0.0.5", 7000)]
    out = proto.handle(build_message("/lvj/subscribe", 70000), SENDER)
    assert {dest for _, dest in out} == {SENDER, ("10.0.0.5", 7000)}
    assert "expected a port" in OscMessage(out[0][0]).params[0]


def test_future_bundles_wait_for_their_time_without_blocking():
    clock = Clock()
    state, proto = protocol(clock)
    bundle = OscBundleBuilder(clock.now + 5.0)
    msg = OscMessageBuilder("/lvj/walk/speed")
    msg.add_arg(4.0)
    bundle.add_content(msg.build())
    assert replies(proto, bundle.build().dgram) == []
    assert state.get("walk/speed") == 1.0 and proto.next_due() is not None
    clock.now += 4.0
    proto.run_due()
    assert state.get("walk/speed") == 1.0
    clock.now += 1.5
    proto.run_due()
    assert state.get("walk/speed") == 4.0 and proto.next_due() is None
