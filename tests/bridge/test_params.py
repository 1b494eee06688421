import math
import re
from pathlib import Path

import pytest

from latentvj.bridge.control.params import PARAMS, Param, ParamError
from latentvj.bridge.control.reference import reference_markdown


def test_numbers_accept_ints_and_floats_alike():
    assert PARAMS["walk/speed"].coerce([2]) == 2.0
    assert isinstance(PARAMS["walk/speed"].coerce([2]), float)
    assert PARAMS["seed"].coerce([7.0]) == 7
    assert isinstance(PARAMS["seed"].coerce([7.0]), int)


@pytest.mark.parametrize("name, args, fragment", [
    ("walk/speed", ["fast"], "expected a number"),
    ("walk/speed", [math.nan], "finite"),
    ("walk/speed", [math.inf], "finite"),
    ("walk/speed", [11.0], "out of range [-10, 10]"),
    ("walk/speed", [], "expected 1 argument"),
    ("walk/speed", [1.0, 2.0], "expected 1 argument"),
    ("walk/speed", [True], "expected a number"),
    ("seed", [2.5], "expected an integer"),
    ("seed", [-1], "out of range [0, 2147483647]"),
    ("walk/mode", ["spin"], "expected one of drift, loop, noise, keyframes, hold"),
    ("walk/mode", [3], "expected a string"),
    ("walk/mode", [b"\x00\x01"], "blob of 2 bytes"),
])
def test_bad_values_are_refused_with_a_reason(name, args, fragment):
    with pytest.raises(ParamError, match=re.escape(fragment)):
        PARAMS[name].coerce(args)


def test_choices_ignore_case_and_spaces():
    assert PARAMS["walk/mode"].coerce([" Hold "]) == "hold"


@pytest.mark.parametrize("arg, value", [(1, True), (0, False), ("T", True), ("f", False), (True, True), (1.0, True)])
def test_booleans_take_0_1_t_f(arg, value):
    assert Param("x", "T", False, description="").coerce([arg]) is value


def test_addresses_with_or_without_slash_and_prefix():
    for address in ("/lvj/walk/speed", "lvj/walk/speed", "walk/speed", "/walk/speed"):
        assert PARAMS.find(address) == (PARAMS["walk/speed"], None)
    assert PARAMS.find("/lvj/z/12") == (PARAMS["z/N"], 12)
    assert PARAMS.find("/lvj/nope") is None and PARAMS.find("/lvj/walk/7") is None


def test_a_bad_default_fails_at_declaration():
    with pytest.raises(ParamError):
        Param("bad", "f", 5.0, range=(0.0, 1.0), description="")


def test_generated_osc_reference_matches_the_registry():
    doc = Path(__file__).parents[2] / "docs" / "osc.md"
    assert doc.read_text(encoding="utf-8") == reference_markdown(), "docs/osc.md is stale: run `make docs`"
    text = doc.read_text(encoding="utf-8")
    for param in PARAMS:
        if param.deck in (None, "*"):
            assert f"`{param.address}`" in text
        else:  # a deck's copy: its name is listed among a deck's own, and the deck addresses are explained
            assert f"`{param.name.split('/', 2)[2]}`" in text and "`/lvj/deck/a/NAME`" in text
