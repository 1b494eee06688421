"""The UDP adapter on real sockets: echoes reach subscribers, hostile datagrams kill nothing, the allow
list drops and counts, scheduled bundles fire on the receive loop's own timer."""

import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from latentvj.bridge.control.state import ControlState
from latentvj.bridge.control.osc import AllowList, OscProtocol, OscServer, Subscribers, build_message

STATUS = {"model": "tiny", "device": "cpu", "width": 32, "height": 32, "frame": 1, "mode": "drift"}


@pytest.fixture
def client():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()


def start_server(*, subscribers=(), allow=None, live=tuple):
    state = ControlState()
    state.latent_dim, state.model_kind = 16, "gan"
    protocol = OscProtocol(state, status=lambda: dict(STATUS), subscribers=Subscribers(subscribers), live=live)
    server = OscServer(protocol, port=0, allow=allow)
    server.start()
    return state, server


def receive(sock, address):
    while True:
        message = OscMessage(sock.recvfrom(65535)[0])
        if message.address == address:
            return message


def test_changes_are_echoed_to_the_sender_and_subscribers_whoever_made_them(client):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(10)
        state, server = start_server(subscribers=[listener.getsockname()])
        try:
            client.sendto(build_message("/lvj/walk/speed", 0.5), server.address)
            assert receive(client, "/lvj/walk/speed").params == [0.5]
            assert receive(listener, "/lvj/walk/speed").params == [0.5]
            state.set("seed", 99)  # a change LatentVJ itself makes (randomise, preset recall) is echoed too
            assert receive(listener, "/lvj/seed").params == [99]
        finally:
            server.stop()


def test_a_burst_is_coalesced_to_the_latest_value(client):
    state, server = start_server()
    try:
        for i in range(500):
            client.sendto(build_message("/lvj/walk/speed", i / 100), server.address)
        client.sendto(build_message("/lvj/status"), server.address)
        receive(client, "/lvj/status")
        assert state.get("walk/speed") == pytest.approx(4.99)  # OSC floats are 32-bit
    finally:
        server.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(datagrams=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=20))
def test_hostile_datagrams_over_udp_kill_no_thread(client, datagrams):
    state, server = start_server()
    try:
        for data in datagrams:
            client.sendto(data, server.address)
        client.sendto(build_message("/lvj/status"), server.address)
        receive(client, "/lvj/status")
        assert server._thread.is_alive()
    finally:
        server.stop()


def test_senders_outside_the_allow_list_are_dropped_and_counted(client):
    _, server = start_server(allow=lambda host: False)
    try:
        for _ in range(3):
            client.sendto(build_message("/lvj/walk/speed", 0.5), server.address)
        deadline = time.monotonic() + 10
        while server.dropped < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        client.settimeout(0.3)
        with pytest.raises(socket.timeout):
            client.recvfrom(65535)  # no reply, no echo: they are not answered
    finally:
        server.stop()


def test_allow_list_rules():
    allow = AllowList(["192.168.1.0/24", "10.0.0.7"])
    assert allow("127.0.0.1") and allow("192.168.1.77") and allow("10.0.0.7")
    assert not allow("192.168.2.1") and not allow("10.0.0.8") and not allow("not-an-ip")
    assert AllowList(["any"])("8.8.8.8")


def test_a_future_bundle_fires_on_time_without_a_new_packet(client):
    state, server = start_server()
    try:
        bundle = OscBundleBuilder(time.time() + 0.3)
        msg = OscMessageBuilder("/lvj/walk/speed")
        msg.add_arg(3.0)
        bundle.add_content(msg.build())
        client.sendto(bundle.build().dgram, server.address)
        assert receive(client, "/lvj/walk/speed").params == [3.0], "applied (and echoed) when due"
        assert state.get("walk/speed") == 3.0
    finally:
        server.stop()


def test_subscribers_get_status_at_the_rate_asked_for():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(10)
        state, server = start_server(subscribers=[listener.getsockname()])
        try:
            state.set("status/rate", 20.0)
            first = receive(listener, "/lvj/status")
            second = receive(listener, "/lvj/status")
            assert first.params[0] == second.params[0] == "tiny"
        finally:
            server.stop()


def test_subscribers_get_the_live_values_with_each_status():
    """What moves too fast to echo (a route's drawn value, an audio meter) follows each periodic status, a
    message per value at its own address, as it is at that moment."""
    from latentvj.bridge.control.state import Live

    level = iter(range(1, 10**6))
    live = lambda: [Live("/lvj/audio/feature/level", next(level) / 1000, 0.0, 1.0, "a meter"),
                    Live("/lvj/mod/value/output/fade", 0.5, 0.0, 1.0, "drawn")]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(10)
        state, server = start_server(subscribers=[listener.getsockname()], live=live)
        try:
            state.set("status/rate", 20.0)
            receive(listener, "/lvj/status")
            first = receive(listener, "/lvj/audio/feature/level").params[0]
            assert receive(listener, "/lvj/mod/value/output/fade").params == [0.5]
            second = receive(listener, "/lvj/audio/feature/level").params[0]
            assert second > first, "each status carries the values of its moment"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:  # asks, never subscribed
                stranger.settimeout(10)
                stranger.sendto(build_message("/lvj/status"), server.address)
                stranger.sendto(build_message("/lvj/walk/speed", 2.0), server.address)
                replies = [OscMessage(stranger.recvfrom(65535)[0]).address for _ in range(2)]
            assert replies[0] == "/lvj/status" and replies[1].endswith("/walk/speed"), \
                f"a stranger's ask is not answered per meter: {replies}"
        finally:
            server.stop()
