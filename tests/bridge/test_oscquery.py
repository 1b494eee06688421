"""OSCQuery on real sockets (port 0): the namespace a browsing client sees, attribute queries, HOST_INFO,
an independent client (python-oscquery), WebSocket LISTEN streaming (websocket-client), OSC sent into the
WebSocket (and who may send it), and mDNS."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest
from pythonosc.osc_message import OscMessage

from latentvj.bridge.control.state import ControlState
from latentvj.bridge.control.osc import OscProtocol, build_message
from latentvj.bridge.control.oscquery import OscQueryServer, accept_key, origin_allowed, websocket_osc
from latentvj.bridge.control.params import PARAMS

pytestmark = pytest.mark.integration

LATENT = 16
OSC_PORT = 9123


@pytest.fixture
def state() -> ControlState:
    state = ControlState()
    state.latent_dim = LATENT
    return state


@pytest.fixture
def server(state):
    server = OscQueryServer(state, port=0, osc_port=OSC_PORT)
    server.start()
    yield server
    server.stop()


def get(server, path: str):
    """(status, parsed JSON or None) of one GET."""
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=5) as reply:
            body = reply.read()
            return reply.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, None


def node_at(tree: dict, path: str) -> dict:
    node = tree
    for segment in path.strip("/").split("/"):
        node = node["CONTENTS"][segment]
    return node


# ---- the namespace -------------------------------------------------------------------------------------

def test_binds_localhost_and_reports_a_port_in_use(server, state):
    assert server.address[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.address[1]}/"
    with pytest.raises(OSError):
        OscQueryServer(state, port=server.address[1])


def test_every_parameter_is_served_as_the_registry_declares_it(server):
    status, tree = get(server, "/")
    assert status == 200 and tree["FULL_PATH"] == "/"
    access = {"rw": 3, "w": 2, "r": 1}
    for param in PARAMS:
        if param.name.endswith("/N"):
            continue
        if param.name.endswith("/NAME"):  # the sender names its own OSC sources: nothing to list
            assert "source" not in node_at(tree, "/lvj/mod").get("CONTENTS", {})
            continue
        node = node_at(tree, param.address)
        tags = "f" * LATENT if param.type == "f*" else param.type
        assert node["FULL_PATH"] == param.address
        assert node["TYPE"] == tags
        assert node["DESCRIPTION"] == param.description
        assert node["ACCESS"] == (2 if param.type == "f*" else access[param.access]), param.name
        if param.choices:
            assert node["RANGE"] == [{"VALS": list(param.choices)}]
        elif param.range:
            expected = [{} if tag == "s" else {"MIN": param.range[0], "MAX": param.range[1]} for tag in tags]
            assert node["RANGE"] == expected, param.name  # a string argument has no numeric range
        else:
            assert "RANGE" not in node, param.name
        assert ("UNIT" in node) == bool(param.unit), param.name
        if param.access == "w" or param.name == "z":
            assert "VALUE" not in node, param.name
        # each node is also served on its own path, the same as in the whole tree
        assert get(server, param.address) == (200, node)


def test_values_follow_the_state(server, state):
    state.set("walk/speed", 0.5)
    state.set("walk/mode", "loop")
    state.set("walk/freeze", True)
    state.set("output/size", (640, 360))
    state.set("model/name", "tiny")
    _, tree = get(server, "/")
    assert node_at(tree, "/lvj/walk/speed")["VALUE"] == [0.5]
    assert node_at(tree, "/lvj/walk/mode")["VALUE"] == ["loop"]
    assert node_at(tree, "/lvj/walk/freeze")["VALUE"] == [True]
    assert node_at(tree, "/lvj/output/size")["VALUE"] == [640, 360]
    model_name = node_at(tree, "/lvj/model/name")
    assert (model_name["ACCESS"], model_name["VALUE"]) == (1, ["tiny"])  # read-only: set by LatentVJ
    assert get(server, "/lvj/walk/speed?VALUE") == (200, {"VALUE": [0.5]})
    state.set("walk/speed", -2.0)
    assert get(server, "/lvj/walk/speed?VALUE") == (200, {"VALUE": [-2.0]})


def test_latent_dimensions_are_children_of_the_latent_vector(server, state):
    _, z = get(server, "/lvj/z")
    assert z["TYPE"] == "f" * LATENT and len(z["RANGE"]) == LATENT
    assert sorted(z["CONTENTS"], key=int) == [str(i) for i in range(LATENT)]
    assert get(server, f"/lvj/z/{LATENT - 1}")[1]["TYPE"] == "f"
    assert get(server, f"/lvj/z/{LATENT}")[0] == 404
    state.latent_dim = 4  # another model: the namespace follows
    assert get(server, "/lvj/z?TYPE") == (200, {"TYPE": "ffff"})
    assert get(server, "/lvj/z/4")[0] == 404


def test_host_info_says_where_to_send_osc(server):
    status, info = get(server, "/?HOST_INFO")
    assert status == 200
    assert info["NAME"] == "LatentVJ"
    assert (info["OSC_IP"], info["OSC_PORT"], info["OSC_TRANSPORT"]) == ("127.0.0.1", OSC_PORT, "UDP")
    ext = info["EXTENSIONS"]
    assert all(ext[k] for k in ("ACCESS", "VALUE", "RANGE", "DESCRIPTION", "UNIT", "LISTEN"))
    assert not ext["CLIPMODE"] and not ext["TAGS"]


def test_attribute_queries_and_errors(server):
    assert get(server, "/lvj/walk/period?TYPE") == (200, {"TYPE": "f"})
    assert get(server, "/lvj/walk/period?RANGE") == (200, {"RANGE": [{"MIN": 0.5, "MAX": 600.0}]})
    assert get(server, "/lvj/walk/period?UNIT") == (200, {"UNIT": ["time.second"]})
    assert get(server, "/lvj/walk/period?ACCESS") == (200, {"ACCESS": 3})
    assert get(server, "/lvj/seed?RANGE") == (200, {"RANGE": [{"MIN": 0, "MAX": 2**31 - 1}]})
    assert get(server, "/lvj/walk/mode?DESCRIPTION")[1]["DESCRIPTION"] == PARAMS["walk/mode"].description
    assert get(server, "/lvj/walk/randomise?VALUE") == (204, None)  # write-only: nothing to read
    assert get(server, "/lvj/walk?VALUE") == (204, None)  # a container
    assert get(server, "/lvj/walk/period?BOGUS")[0] == 400
    assert get(server, "/lvj/no/such")[0] == 404
    assert get(server, "/lvj/no/such?VALUE")[0] == 404


def test_an_independent_oscquery_client_reads_the_namespace(server, state):
    oscquery = pytest.importorskip("pythonoscquery.osc_query_client", reason="python-oscquery (dev extra)")
    from zeroconf import ServiceInfo  # python-oscquery depends on zeroconf

    # The client takes an mDNS ServiceInfo; we build the one discovery would have found, without mDNS.
    info = ServiceInfo("_oscjson._tcp.local.", "LatentVJ._oscjson._tcp.local.", port=server.address[1],
                       addresses=[socket.inet_aton("127.0.0.1")])
    client = oscquery.OSCQueryClient(info)
    state.set("walk/speed", 0.5)
    host = client.get_host_info()
    assert (host.name, host.osc_ip, host.osc_port, host.osc_transport) == ("LatentVJ", "127.0.0.1", OSC_PORT, "UDP")
    speed = client.query_node("/lvj/walk/speed")
    assert speed.full_path == "/lvj/walk/speed" and speed.value == [0.5] and int(speed.access) == 3
    assert speed.description == PARAMS["walk/speed"].description
    # python-oscquery's node model insists that a node with ACCESS 1-3 carries a VALUE, which the proposal
    # leaves out for write-only nodes (/lvj/walk/randomise): so it reads nodes and containers without one.
    morph = client.query_node("/lvj/morph")
    assert morph.find_subnode("/lvj/morph/time").value == [2.0]
    assert client.query_node("/lvj/no/such") is None


# ---- WebSocket streaming -------------------------------------------------------------------------------

@pytest.fixture
def ws_lib():
    return pytest.importorskip("websocket", reason="websocket-client (dev extra)")


def connect(ws_lib, server, **options):
    return ws_lib.create_connection(server.url.replace("http://", "ws://"), timeout=5, **options)


def command(ws, verb: str, path: str) -> None:
    ws.send(json.dumps({"COMMAND": verb, "DATA": path}))


def sync(ws_lib, ws) -> None:
    """Ping and wait for the pong: the server has handled every command sent before (one reader, in
    order), and nothing else was sent to us meanwhile."""
    token = os.urandom(4).hex().encode()
    ws.ping(token)
    opcode, frame = ws.recv_data_frame(control_frame=True)
    assert (opcode, frame.data) == (ws_lib.ABNF.OPCODE_PONG, token), f"unexpected frame {opcode} {frame.data!r}"


def next_osc(ws_lib, ws) -> OscMessage:
    opcode, frame = ws.recv_data_frame(control_frame=True)
    assert opcode == ws_lib.ABNF.OPCODE_BINARY, f"expected a binary frame, got opcode {opcode}: {frame.data!r}"
    return OscMessage(frame.data)


def test_listen_streams_changes_of_that_path_as_osc(server, state, ws_lib):
    ws = connect(ws_lib, server)
    command(ws, "LISTEN", "/lvj/walk/speed")
    sync(ws_lib, ws)
    state.set("walk/period", 3.0)  # not listened to: not sent
    state.set("walk/speed", 0.5)
    message = next_osc(ws_lib, ws)
    assert (message.address, message.params) == ("/lvj/walk/speed", [0.5])

    command(ws, "IGNORE", "/lvj/walk/speed")
    command(ws, "LISTEN", "walk/period")  # the prefix is optional, as in OSC
    sync(ws_lib, ws)
    state.set("walk/speed", 0.25)
    state.set("walk/period", 4.0)
    message = next_osc(ws_lib, ws)
    assert (message.address, message.params) == ("/lvj/walk/period", [4.0])
    ws.close()


def test_listen_sends_each_type_as_its_osc_message(server, state, ws_lib):
    ws = connect(ws_lib, server)
    for path in ("/lvj/walk/freeze", "/lvj/output/size", "/lvj/z/3", "/lvj/walk/randomise", "/lvj/walk/mode",
                 "/lvj/seed", "/lvj/z"):
        command(ws, "LISTEN", path)
    sync(ws_lib, ws)
    state.set("walk/freeze", True)
    state.set("output/size", (640, 360))
    state.set_item("z/N", 3, 0.75)
    state.set("walk/randomise", True)
    state.set("walk/mode", "loop")
    state.set("seed", 42)
    state.set("z", (0.5,) * LATENT)
    got = [next_osc(ws_lib, ws) for _ in range(7)]
    assert [(m.address, m.params) for m in got] == [
        ("/lvj/walk/freeze", [1]), ("/lvj/output/size", [640, 360]), ("/lvj/z/3", [0.75]),
        ("/lvj/walk/randomise", []), ("/lvj/walk/mode", ["loop"]), ("/lvj/seed", [42]), ("/lvj/z", [0.5] * LATENT)]
    ws.close()


def test_a_client_that_vanishes_does_not_disturb_the_state_or_other_clients(server, state, ws_lib):
    gone = connect(ws_lib, server)
    command(gone, "LISTEN", "/lvj/walk/speed")
    sync(ws_lib, gone)
    gone.sock.close()  # no close frame: the process died
    for i in range(200):
        state.set("walk/speed", i / 100)
    deadline = time.monotonic() + 5
    while server.websocket_clients and time.monotonic() < deadline:
        state.set("walk/speed", 1.0)
        time.sleep(0.01)
    assert server.websocket_clients == 0
    ws = connect(ws_lib, server)
    command(ws, "LISTEN", "/lvj/walk/speed")
    sync(ws_lib, ws)
    state.set("walk/speed", 0.5)
    assert next_osc(ws_lib, ws).params == [0.5]
    ws.close()


def test_a_client_that_stops_reading_is_dropped_and_never_blocks_a_change(state, ws_lib):
    server = OscQueryServer(state, port=0, send_timeout=2.0)
    server.start()
    try:
        state.latent_dim = 4096  # big messages fill the socket buffers quickly
        stuck = connect(ws_lib, server, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
        command(stuck, "LISTEN", "/lvj/z")
        sync(ws_lib, stuck)
        z = (0.5,) * 4096
        slowest = 0.0
        deadline = time.monotonic() + 15
        while server.websocket_clients and time.monotonic() < deadline:  # the client never reads again
            start = time.monotonic()
            state.set("z", z)
            slowest = max(slowest, time.monotonic() - start)
        assert server.websocket_clients == 0, "a client that stopped reading was not dropped"
        # Waiting on the client would hold one change for the whole send timeout (2 s).
        assert slowest < 1.0, f"a change waited {slowest:.3f} s on a stuck client"
        stuck.sock.close()
    finally:
        server.stop()


def test_path_changed_is_sent_when_the_latent_size_changes(server, state, ws_lib):
    ws = connect(ws_lib, server)
    sync(ws_lib, ws)
    state.latent_dim = 32  # what the engine does when another model is in place, then it announces it
    state.set("model/name", "bigger")
    opcode, frame = ws.recv_data_frame(control_frame=True)
    assert opcode == ws_lib.ABNF.OPCODE_TEXT
    assert json.loads(frame.data) == {"COMMAND": "PATH_CHANGED", "DATA": "/lvj/z"}
    assert get(server, "/lvj/z?TYPE") == (200, {"TYPE": "f" * 32})
    ws.close()


def test_stop_closes_websockets(state, ws_lib):
    server = OscQueryServer(state, port=0)
    server.start()
    ws = connect(ws_lib, server)
    sync(ws_lib, ws)
    idle = socket.create_connection(server.address, timeout=5)  # a browser's preconnect: no request yet
    idle.sendall(b"GET / HT")
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 2
    opcode, frame = ws.recv_data_frame(control_frame=True)
    assert opcode == ws_lib.ABNF.OPCODE_CLOSE and struct.unpack("!H", frame.data[:2])[0] == 1001
    try:
        assert idle.recv(1) == b""  # let go, not left to its request timeout
    except ConnectionResetError:
        pass  # also let go: the server closed with our half request unread
    idle.close()


# ---- the WebSocket protocol itself, on a raw socket ----------------------------------------------------

def test_accept_key_is_rfc6455s():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455, 1.3


def raw_handshake(server) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /lvj HTTP/1.1\r\nHost: 127.0.0.1:{server.address[1]}\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    response = b""
    while not response.endswith(b"\r\n\r\n"):
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101 "), response
    assert f"Sec-WebSocket-Accept: {accept_key(key)}".encode() in response
    return sock


def client_frame(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_server_frame(sock) -> tuple[int, bytes]:
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "connection closed"
            data += chunk
        return data

    b0, b1 = exact(2)
    assert not b1 & 0x80, "server frames are not masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", exact(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", exact(8))
    return b0 & 0x0F, exact(n)


def test_fragmented_commands_and_pings_are_understood(server, state):
    sock = raw_handshake(server)
    text = json.dumps({"COMMAND": "LISTEN", "DATA": "/lvj/seed"}).encode()
    sock.sendall(client_frame(0x1, text[:10], fin=False) + client_frame(0x9, b"mid")  # a ping in between
                 + client_frame(0x0, text[10:]) + client_frame(0x9, b"after"))
    assert read_server_frame(sock) == (0xA, b"mid")
    assert read_server_frame(sock) == (0xA, b"after")  # so the reader has handled the whole command
    state.set("seed", 7)
    opcode, payload = read_server_frame(sock)
    assert opcode == 0x2 and OscMessage(payload).params == [7]
    sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
    assert read_server_frame(sock) == (0x8, struct.pack("!H", 1000))
    sock.close()


@pytest.mark.parametrize("frame, code", [
    (client_frame(0x1, b'{"COMMAND": "LISTEN"}', masked=False), 1002),  # clients must mask
    (client_frame(0x2, bytes(64 * 1024 + 1)), 1009),  # larger than 64 KiB
    (client_frame(0x1, b"\xff\xfe"), 1007),  # text that is not UTF-8
], ids=["unmasked", "too-big", "not-utf8"])
def test_protocol_violations_close_the_connection_with_the_rfc_code(server, frame, code):
    sock = raw_handshake(server)
    sock.sendall(frame)
    opcode, payload = read_server_frame(sock)
    assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == code
    assert sock.recv(1) == b""  # and the connection is closed
    sock.close()


def test_nonsense_commands_are_answered_and_the_connection_goes_on(server, state, ws_lib, caplog):
    ws = connect(ws_lib, server)
    with caplog.at_level(logging.WARNING):
        for text, expected in [("not json", "expected {"), ("[" * 50_000, "expected {"),
                               (json.dumps({"COMMAND": "LISTEN", "DATA": "/lvj/no/such"}), "no such parameter"),
                               (json.dumps({"COMMAND": "LISTEN", "DATA": "/lvj/z/\u00b2"}), "no such parameter"),
                               (json.dumps({"COMMAND": "FROBNICATE", "DATA": "/lvj/seed"}), "not supported")]:
            ws.send(text)
            reply = next_osc(ws_lib, ws)
            assert reply.address == "/lvj/error" and expected in reply.params[0], (text[:40], reply.params)
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    ws.send_binary(b"/lvj/seed\x00\x00\x00,i\x00\x00\x00\x00\x00\x01")  # OSC, but no on_osc: ignored
    command(ws, "LISTEN", "/lvj/seed")
    sync(ws_lib, ws)
    state.set("seed", 3)
    assert next_osc(ws_lib, ws).params == [3]
    ws.close()


def fetch(server, path: str, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(server.url.rstrip("/") + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, dict(reply.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_json_answers_may_be_read_by_this_machines_pages_only(server):
    for path in ("/", "/lvj/walk/speed", "/lvj/walk/speed?VALUE", "/?HOST_INFO"):
        status, headers = fetch(server, path, {"Origin": "http://localhost:8000"})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "http://localhost:8000", path
        for origin in ("http://evil.example", "null"):  # null: a sandboxed frame of any page, or a file
            status, headers = fetch(server, path, {"Origin": origin})
            assert status == 200 and "Access-Control-Allow-Origin" not in headers, (path, origin)
        assert "Access-Control-Allow-Origin" not in fetch(server, path, {})[1]


def test_pages_opened_from_files_are_let_in_when_asked_for(state):
    server = OscQueryServer(state, port=0, allow_file_pages=True)
    server.start()
    try:
        assert fetch(server, "/", {"Origin": "null"})[1]["Access-Control-Allow-Origin"] == "null"
    finally:
        server.stop()


def test_a_host_header_that_is_not_this_machine_is_refused(server):
    """DNS rebinding: a page on evil.example resolves its name to 127.0.0.1 and sends Host: evil.example."""
    port = server.address[1]
    assert fetch(server, "/", {"Host": f"evil.example:{port}"})[0] == 421
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.1"):
        assert fetch(server, "/", {"Host": host})[0] == 200, host


# ---- OSC sent into the WebSocket -----------------------------------------------------------------------

class Udp:
    """Stands in for the UDP server's send: what went to subscribers."""

    def __init__(self):
        self.sent: list[tuple[OscMessage, tuple]] = []

    def __call__(self, data: bytes, target: tuple) -> None:
        self.sent.append((OscMessage(data), target))


@pytest.fixture
def udp():
    return Udp()


@pytest.fixture
def protocol(state):
    return OscProtocol(state, status=lambda: {"model": "tiny", "fps": 29.5, "latent_dim": LATENT})


@pytest.fixture
def osc_server(state, protocol, udp):
    """An OSCQuery server that takes OSC over its WebSocket, through a real OscProtocol."""
    server = OscQueryServer(state, port=0, osc_port=OSC_PORT, on_osc=websocket_osc(protocol, send=udp))
    server.start()
    yield server
    server.stop()


def test_osc_over_the_websocket_is_applied_and_answered(osc_server, state, ws_lib):
    ws = connect(ws_lib, osc_server)
    command(ws, "LISTEN", "/lvj/walk/speed")
    ws.send_binary(build_message("/lvj/walk/speed", 0.5))
    echo = next_osc(ws_lib, ws)  # the change, to everyone listening: this client too
    assert (echo.address, echo.params) == ("/lvj/walk/speed", [0.5])
    assert state.get("walk/speed") == 0.5
    assert state.snapshot().sources["walk/speed"] == ("127.0.0.1", 0)  # a WebSocket client: (its IP, 0)
    ws.send_binary(build_message("/lvj/status"))
    status = next_osc(ws_lib, ws)
    assert status.address == "/lvj/status" and status.params[:1] == ["tiny"]
    ws.close()


def test_an_error_goes_back_to_the_client_that_sent_it_and_to_subscribers(osc_server, state, protocol, udp,
                                                                           ws_lib):
    protocol.subscribers.add(("127.0.0.1", 9999))
    sender, other = connect(ws_lib, osc_server), connect(ws_lib, osc_server)
    command(other, "LISTEN", "/lvj/seed")
    sync(ws_lib, other)
    sender.send_binary(build_message("/lvj/walk/speed", 99.0))
    error = next_osc(ws_lib, sender)
    assert error.address == "/lvj/error" and error.params[0].startswith("/lvj/walk/speed: ")
    assert state.get("walk/speed") == 1.0  # not applied
    assert [(m.address, t) for m, t in udp.sent] == [("/lvj/error", ("127.0.0.1", 9999))]
    state.set("seed", 5)  # queued behind anything sent to the other client before: no error came there
    assert next_osc(ws_lib, other).params == [5]
    sender.send_binary(b"\x00garbage")
    assert next_osc(ws_lib, sender).params[0].startswith("(packet): malformed OSC packet")
    sender.close()
    other.close()


def test_the_packet_that_hung_the_parser_is_answered_over_the_websocket_too(osc_server, state, ws_lib):
    ws = connect(ws_lib, osc_server)
    ws.send_binary(b"#bundle\0" + struct.pack(">Qi", 1, -4))
    reply = next_osc(ws_lib, ws)
    assert reply.address == "/lvj/error" and "malformed OSC packet of 20 bytes" in reply.params[0]
    ws.send_binary(build_message("/lvj/walk/period", 3.0))
    sync(ws_lib, ws)
    assert state.get("walk/period") == 3.0, "the same connection goes on"
    ws.close()


def test_a_websocket_client_cannot_subscribe_itself_over_udp(osc_server, protocol, ws_lib):
    ws = connect(ws_lib, osc_server)
    ws.send_binary(build_message("/lvj/subscribe"))
    replies = []
    while not replies or replies[-1].address != "/lvj/error":
        replies.append(next_osc(ws_lib, ws))  # the current values first, as for any subscriber
    assert "LISTEN" in replies[-1].params[0]
    assert list(protocol.subscribers) == []
    ws.send_binary(build_message("/lvj/subscribe", 9005))  # a UDP port on this client's host: fine
    sync(ws_lib, ws)
    assert list(protocol.subscribers) == [("127.0.0.1", 9005)]
    ws.close()


@pytest.mark.parametrize("origin", [None, "http://localhost:8000", "http://127.0.0.1", "https://[::1]:8443",
                                    "http://127.0.0.2:5500"])
def test_osc_is_taken_from_tools_and_this_machines_pages(osc_server, state, ws_lib, origin):
    options = {"suppress_origin": True} if origin is None else {"origin": origin}
    ws = connect(ws_lib, osc_server, **options)
    ws.send_binary(build_message("/lvj/walk/period", 3.0))
    sync(ws_lib, ws)
    assert state.get("walk/period") == 3.0
    ws.close()


def test_a_page_from_elsewhere_may_read_and_listen_but_not_send_osc(osc_server, state, ws_lib, caplog):
    ws = connect(ws_lib, osc_server, origin="http://evil.example")
    command(ws, "LISTEN", "/lvj/walk/speed")
    with caplog.at_level(logging.WARNING, logger="latentvj.oscquery"):
        for _ in range(2):
            ws.send_binary(build_message("/lvj/walk/speed", 5.0))
            refusal = next_osc(ws_lib, ws)  # each packet is answered
            assert refusal.address == "/lvj/error" and "refused for pages from http://evil.example" in \
                refusal.params[0]
    assert state.get("walk/speed") == 1.0
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 1  # logged once
    state.set("walk/speed", 0.25)
    assert next_osc(ws_lib, ws).params == [0.25]  # LISTEN still served
    ws.close()


@pytest.mark.parametrize("origin", ["null", "file://"])
def test_file_pages_and_sandboxed_frames_send_osc_only_when_asked_for(state, protocol, udp, ws_lib, origin):
    refusing = OscQueryServer(state, port=0, on_osc=websocket_osc(protocol, send=udp))
    taking = OscQueryServer(state, port=0, on_osc=websocket_osc(protocol, send=udp), allow_file_pages=True)
    refusing.start()
    taking.start()
    try:
        ws = connect(ws_lib, refusing, origin=origin)
        ws.send_binary(build_message("/lvj/walk/period", 3.0))
        assert "--allow-file-pages" in next_osc(ws_lib, ws).params[0]
        assert state.get("walk/period") == 8.0
        ws.close()
        ws = connect(ws_lib, taking, origin=origin)
        ws.send_binary(build_message("/lvj/walk/period", 3.0))
        sync(ws_lib, ws)
        assert state.get("walk/period") == 3.0
        ws.close()
    finally:
        refusing.stop()
        taking.stop()


def test_clients_outside_the_allow_list_cannot_connect(state, protocol, udp, ws_lib):
    server = OscQueryServer(state, port=0, on_osc=websocket_osc(protocol, send=udp), allow=lambda host: False)
    server.start()
    try:
        with pytest.raises((ConnectionError, ws_lib.WebSocketException)):
            connect(ws_lib, server)
        with pytest.raises(OSError):
            urllib.request.urlopen(server.url, timeout=5)
        assert server.httpd.refused == 2 and state.get("walk/speed") == 1.0
    finally:
        server.stop()


def settle_to(server, active: int) -> None:
    """Wait until the server counts ``active`` connections (a handler thread frees its slot only after the
    client has read its last byte)."""
    deadline = time.monotonic() + 10
    while server.httpd.active > active:
        assert time.monotonic() < deadline, server.httpd.active
        time.sleep(0.01)


def test_clients_beyond_the_cap_are_turned_away_and_slow_headers_are_cut_off(state, ws_lib):
    server = OscQueryServer(state, port=0, max_clients=4, max_websockets=2)
    server.httpd.header_timeout = 1.0  # long enough for the 503 fetch below on a loaded machine
    server.start()
    stalled = []
    try:
        websockets = [connect(ws_lib, server), connect(ws_lib, server)]
        with pytest.raises(ws_lib.WebSocketBadStatusException) as refused:
            connect(ws_lib, server)
        assert refused.value.status_code == 503
        # the refused upgrade's handler thread frees its slot just after its answer is read
        settle_to(server, 2)
        for _ in range(2):  # slowloris: a request line that never ends
            sock = socket.create_connection(server.address, timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            stalled.append(sock)
        assert fetch(server, "/", {})[0] == 503, "four connections are the most served"
        for sock in stalled:
            assert sock.recv(100) == b"", "cut off when its header deadline passed"
        assert server.httpd.timed_out == 2
        settle_to(server, 2)  # their handler threads end right after the cut
        assert fetch(server, "/", {})[0] == 200, "served again once they are gone"
        for ws in websockets:
            ws.close()
    finally:
        for sock in stalled:
            sock.close()
        server.stop()


def test_origin_rules():
    here = {"192.168.1.20"}
    for origin in (None, "http://localhost:1234", "http://127.0.0.1:8000", "http://[::1]",
                   "https://192.168.1.20:8000"):
        assert origin_allowed(origin, here), origin
    for origin in ("null", "file://", "http://evil.example", "http://192.168.1.21:8000",
                   "http://localhost.evil.example", "ftp://127.0.0.1", "chrome-extension://abc", "http://[::1", ""):
        assert not origin_allowed(origin, here), origin
    assert origin_allowed("null", here, file_pages=True) and origin_allowed("file://", here, file_pages=True)


# ---- mDNS ----------------------------------------------------------------------------------------------

def _multicast_works(zeroconf) -> bool:
    """Whether this machine resolves an mDNS service it advertises itself (containers often cannot)."""
    name = f"lvj-probe-{uuid.uuid4().hex[:8]}._http._tcp.local."
    info = zeroconf.ServiceInfo("_http._tcp.local.", name, port=1, parsed_addresses=["127.0.0.1"],
                                server="lvj-probe.local.")
    with_a, with_b = zeroconf.Zeroconf(), zeroconf.Zeroconf()
    try:
        with_a.register_service(info)
        return with_b.get_service_info("_http._tcp.local.", name, timeout=2000) is not None
    finally:
        with_a.close()
        with_b.close()


def test_mdns_advertises_oscjson_and_osc(state):
    zeroconf = pytest.importorskip("zeroconf", reason="zeroconf (the mdns extra) is not installed")
    name = f"LatentVJ test {uuid.uuid4().hex[:8]}"
    server = OscQueryServer(state, port=0, osc_port=OSC_PORT, name=name, mdns=True)
    server.start()
    browser = zeroconf.Zeroconf()
    try:
        found = browser.get_service_info("_oscjson._tcp.local.", f"{name}._oscjson._tcp.local.", timeout=4000)
        if found is None and not _multicast_works(zeroconf):
            pytest.skip("multicast DNS does not work on this machine (no multicast route?)")
        assert found is not None and found.port == server.address[1]
        assert "127.0.0.1" in found.parsed_addresses()
        osc = browser.get_service_info("_osc._udp.local.", f"{name}._osc._udp.local.", timeout=4000)
        assert osc is not None and osc.port == OSC_PORT
        server.stop()
        # stop says goodbye: the record is gone from the browser's cache
        assert browser.get_service_info("_oscjson._tcp.local.", f"{name}._oscjson._tcp.local.",
                                        timeout=500) is None
    finally:
        server.stop()
        browser.close()


def test_mdns_without_zeroconf_says_which_extra_to_install(state, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "zeroconf", None)  # import zeroconf now raises ImportError
    server = OscQueryServer(state, port=0, mdns=True)
    with caplog.at_level(logging.WARNING, logger="latentvj.oscquery"):
        server.start()
        status, _ = get(server, "/?HOST_INFO")
        server.stop()
    assert status == 200  # serving goes on
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'pip install "latentvj[mdns]"' in warnings[0]
