"""plugin/max/latentvj.maxpat is a patcher Max can load, and it only speaks LatentVJ's real namespace."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from latentvj.bridge.outputs.jitnet import DEFAULT_PORT
from latentvj.bridge.control.osc import ERROR_ADDRESS, MODEL_LIST_ADDRESS, STATUS_ADDRESS
from latentvj.bridge.audio import FEATURES
from latentvj.bridge.control.params import DECKS, PARAMS, WALK_MODES
from latentvj.bridge.modulation import modulatable
from latentvj.bridge.server import ServeConfig

ROOT = Path(__file__).resolve().parents[2]
PATCH = ROOT / "plugin" / "max" / "latentvj.maxpat"


@pytest.fixture(scope="module")
def patcher() -> dict:
    with open(PATCH, encoding="utf-8") as f:
        return json.load(f)["patcher"]


@pytest.fixture(scope="module")
def boxes(patcher) -> dict[str, dict]:
    return {entry["box"]["id"]: entry["box"] for entry in patcher["boxes"]}


def texts(boxes, maxclass: str) -> list[str]:
    return [b.get("text", "") for b in boxes.values() if b["maxclass"] == maxclass]


def objects(boxes, name: str) -> list[list[str]]:
    """The words of every object box whose class is ``name`` (``udpsend 127.0.0.1 9000`` -> [...])."""
    return [b["text"].split() for b in boxes.values()
            if b["maxclass"] == "newobj" and b.get("text", "").split()[:1] == [name]]


def test_is_a_patcher(patcher):
    assert patcher["fileversion"] == 1
    assert {"major", "minor", "revision"} <= set(patcher["appversion"])
    assert len(patcher["rect"]) == 4
    assert isinstance(patcher["boxes"], list) and isinstance(patcher["lines"], list)


def test_boxes_are_well_formed_and_ids_unique(patcher, boxes):
    assert len(boxes) == len(patcher["boxes"]), "box ids must be unique"
    for box_id, box in boxes.items():
        assert re.fullmatch(r"obj-\d+", box_id)
        assert isinstance(box["maxclass"], str) and box["maxclass"]
        assert isinstance(box["numinlets"], int) and isinstance(box["numoutlets"], int)
        assert len(box["patching_rect"]) == 4
        if "outlettype" in box:
            assert len(box["outlettype"]) == box["numoutlets"], box_id
        if box["maxclass"] == "newobj":
            assert box.get("text", "").strip(), f"{box_id}: an object box without text"


def test_every_line_joins_existing_boxes_at_real_inlets_and_outlets(patcher, boxes):
    assert patcher["lines"]
    for entry in patcher["lines"]:
        (source, outlet), (destination, inlet) = entry["patchline"]["source"], entry["patchline"]["destination"]
        assert source in boxes and destination in boxes, entry
        assert 0 <= outlet < boxes[source]["numoutlets"], entry
        assert 0 <= inlet < boxes[destination]["numinlets"], entry


def test_every_osc_address_exists_in_the_registry(boxes):
    sent = {word for text in texts(boxes, "message") for word in text.split() if word.startswith("/lvj/")}
    routed = {word for text in texts(boxes, "newobj") for word in text.split() if word.startswith("/lvj/")}
    unknown = sorted(address for address in sent if PARAMS.find(address) is None)
    assert not unknown, f"sent, but not in bridge/control/params.py: {unknown}"
    replies = {STATUS_ADDRESS, ERROR_ADDRESS, MODEL_LIST_ADDRESS}  # what the server sends besides echoes
    live = live_addresses()
    unknown = sorted(a for a in routed if a not in replies | live
                     and (PARAMS.find(a) is None or PARAMS.find(a)[0].trigger))
    assert not unknown, f"routed, but LatentVJ never sends it: {unknown}"
    # Every value that comes ten times a second with meters on is routed before the print (no flooded
    # Max window), and the meters and the route list are fed.
    assert live <= routed, sorted(live - routed)
    assert "/lvj/mod/routes" in routed
    assert {"/lvj/walk/speed", "/lvj/walk/mode", "/lvj/truncation", "/lvj/output/fade", "/lvj/seed",
            "/lvj/preset/store", "/lvj/preset/recall", "/lvj/status", "/lvj/subscribe"} <= sent
    assert {STATUS_ADDRESS, ERROR_ADDRESS} <= routed


def live_addresses() -> set[str]:
    """What a subscriber is sent after each status besides it: the audio features and what routes draw."""
    addresses = {f"/lvj/audio/feature/{name}" for name in FEATURES}
    for param in PARAMS:
        if modulatable(param):
            decks = [f"deck/{d}/" for d in DECKS] if param.deck == "*" else [""]
            addresses |= {f"/lvj/mod/value/{deck}{param.name}" for deck in decks}
    return addresses


def atoms(words: list[str]) -> list:
    """A message box's words as Max sends them: numbers as ints or floats, the rest as strings."""
    return [int(w) if re.fullmatch(r"-?\d+", w) else float(w) if re.fullmatch(r"-?\d*\.\d+", w) else w
            for w in words]


def test_messages_send_values_of_the_right_kind(boxes):
    messages = [text.split() for text in texts(boxes, "message") if text.startswith("/lvj/")]
    learned = []
    for words in messages:
        param, _ = PARAMS.find(words[0])
        args = words[1:]
        if words[0] == "/lvj/midi/learn":  # an address, and the arguments a note would send it with
            learned.append(args[0])
            target, _ = PARAMS.find(args[0])
            assert not target.trigger or args[1:] == [], words
            if args[1:]:
                assert target.coerce(atoms(args[1:])) is not None, words
            continue
        if param.trigger:
            assert args in ([], ["9003"]), words  # a pulse; /lvj/subscribe takes the reply port
        elif args == ["$1"]:
            assert param.type in ("f", "i", "T"), words
        else:
            assert param.coerce(atoms(args)) is not None, words
    modes = {words[1] for words in messages if words[0] == "/lvj/walk/mode"}
    assert modes == set(WALK_MODES)
    # A learn button for each control the patch plays: a continuous parameter, a switch, a trigger.
    played = {words[0] for words in messages if words[1:] in ([], ["$1"])}
    playable = {address[len("/lvj/"):] for address in played
                if (param := PARAMS.find(address)[0]).trigger or param.type in ("f", "T") and param.access == "rw"}
    missing = playable - set(learned) - {"status", "status/rate"}  # the conversation, not the show
    assert not missing, sorted(missing)


def test_ports(boxes):
    assert objects(boxes, "udpsend") == [["udpsend", "127.0.0.1", str(ServeConfig().osc_port)]]
    assert objects(boxes, "udpreceive") == [["udpreceive", "9003"]]
    assert "/lvj/subscribe 9003" in texts(boxes, "message")
    (recv,) = objects(boxes, "jit.net.recv")
    assert recv[recv.index("@port") + 1] == str(DEFAULT_PORT) == "7474"
    docs = (ROOT / "docs" / "max.md").read_text(encoding="utf-8")
    assert f"latentvj serve --jitter 127.0.0.1:{DEFAULT_PORT}" in docs


def test_subscribes_on_load_and_shows_frames(patcher, boxes):
    lines = {(tuple(e["patchline"]["source"]), tuple(e["patchline"]["destination"])) for e in patcher["lines"]}

    def feeds(source_id, destination_id):
        return any(s[0] == source_id and d[0] == destination_id for s, d in lines)

    ids = {b.get("text"): i for i, b in boxes.items() if b["maxclass"] in ("newobj", "message")}
    assert feeds(ids["loadbang"], ids["/lvj/subscribe 9003"])
    assert feeds(ids["/lvj/subscribe 9003"], ids["udpsend 127.0.0.1 9000"])
    (pwindow,) = [i for i, b in boxes.items() if b["maxclass"] == "jit.pwindow"]
    assert ((ids["jit.net.recv @port 7474"], 0), (pwindow, 0)) in lines


def test_meters_and_the_route_list_are_fed(patcher, boxes):
    """udpreceive's live values reach a slider per audio feature and a number box per drawn value; the route
    list's echo reaches a text box; the meters toggle turns periodic status on and off."""
    lines = {(tuple(e["patchline"]["source"]), tuple(e["patchline"]["destination"])) for e in patcher["lines"]}
    ids = {b.get("text"): i for i, b in boxes.items() if b["maxclass"] in ("newobj", "message")}
    (router,) = [i for i, b in boxes.items() if b.get("text", "").startswith("route /lvj/audio/feature/")]
    words = boxes[router]["text"].split()[1:]
    assert ((ids["udpreceive 9003"], 0), (router, 0)) in lines
    fed = {words[outlet]: boxes[d]["maxclass"] for (s, outlet), (d, _) in lines if s == router and outlet < len(words)}
    assert {fed.get(f"/lvj/audio/feature/{name}") for name in FEATURES} == {"slider"}
    assert fed["/lvj/mod/value/deck/a/walk/speed"] == fed["/lvj/mod/value/crossfade"] == "flonum"
    rest = [(d, i) for (s, outlet), (d, i) in lines if s == router and outlet == len(words)]
    assert {boxes[d].get("text") for d, _ in rest} == {"print lvj", "route /lvj/status /lvj/error"}

    (echoes,) = [i for i, b in boxes.items() if b.get("text", "").startswith("route /lvj/walk/speed ")]
    outlet = boxes[echoes]["text"].split()[1:].index("/lvj/mod/routes")
    (prepend,) = [d for (s, o), (d, _) in lines if s == echoes and o == outlet]
    assert boxes[prepend]["text"] == "prepend set"
    assert [boxes[d]["maxclass"] for (s, _), (d, _) in lines if s == prepend] == ["textedit"]

    rate = {ids["/lvj/status/rate 10"], ids["/lvj/status/rate 0"]}
    assert all(((i, 0), (ids["udpsend 127.0.0.1 9000"], 0)) in lines for i in rate)
    (sel,) = [i for i, b in boxes.items() if b.get("text") == "sel 1 0"]
    assert {d for (s, _), (d, _) in lines if s == sel} == rate
    assert any(boxes[s]["maxclass"] == "toggle" for (s, _), (d, _) in lines if d == sel)
