"""docs/osc.md, the OSC reference, generated from the parameter registry and the OSC layer's replies and
bounds: ``python -m latentvj.bridge.control.reference docs/osc.md`` (``make docs``). A test fails when the
file and the code differ."""

from __future__ import annotations

from .osc import (ERROR_ADDRESS, MODEL_LIST_ADDRESS, SCHEDULE_HORIZON_S, SCHEDULED_BYTES_PER_SENDER,
                  SCHEDULED_BYTES_TOTAL, SCHEDULED_PER_SENDER, SCHEDULED_TOTAL, STATUS_ADDRESS, STATUS_FIELDS,
                  WARNING_ADDRESS)
from .params import DECKS, PARAMS, PREFIX, Registry, number_text
from .problems import ANSWERED_PER_WINDOW, LOGGED_PER_WINDOW, WINDOW_S


def reference_markdown(registry: Registry = PARAMS) -> str:
    """docs/osc.md, generated from the registry (`make docs`); a test fails when the two differ."""

    access = {"rw": "set, read, echoed", "w": "trigger / command", "r": "read, echoed"}
    types = {"f*": "`f` x latent size", "I": "none (pulse)"}
    lines = [
        "# OSC reference",
        "",
        "<!-- Generated from bridge/control/params.py and reference.py by `make docs`; do not edit by hand. -->",
        "",
        "LatentVJ listens for OSC on UDP 127.0.0.1:9000 (`latentvj serve --osc-host/--osc-port`).",
        f"Every address lives under `{PREFIX}/`; the leading slash is optional, and so is the prefix for",
        "senders that only send a channel name (`walk/speed`). Numbers are accepted as int or float",
        "wherever a number makes sense; booleans as 0/1, T/F or true/false. Pulses (triggers) take no",
        "argument or one non-zero argument; a lone 0 (a button's release) does nothing.",
        "",
        "## Parameters",
        "",
        "| address | type | range | default | unit | access | description |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in registry:
        if p.deck not in (None, "*"):
            continue  # the deck-qualified copies: described once, below the table
        if p.choices:
            span = "\\|".join(p.choices)
        elif p.range:
            span = f"{number_text(p.range[0])} .. {number_text(p.range[1])}"
        else:
            span = "0/1" if p.type == "T" else ""
        default = "" if p.default is None else f"`{p.default}`"
        kind = types.get(p.type, f"`{p.type}`")
        lines.append(f"| `{p.address}` | {kind} | {span} | {default} | {p.unit} | {access[p.access]} | "
                     f"{p.description} |")
    fields = ", ".join(f"{name} `{tag}`" for name, tag in STATUS_FIELDS)
    lines += [
        "",
        "`N` in `/lvj/z/N` is a dimension, 0-based (`/lvj/z/0`, `/lvj/z/1`, ...).",
        "",
        "## Decks",
        "",
        f"Two decks, {' and '.join(d.upper() for d in DECKS)}, each play a model of their own with a walk, knobs "
        "and presets of their own;",
        "`/lvj/crossfade` blends them (0: A only, 1: B only). These are a deck's own parameters:",
        "",
        ", ".join(f"`{p.name}`" for p in registry if p.deck == "*") + ".",
        "",
        f"Each is on `{PREFIX}/deck/a/NAME` and `{PREFIX}/deck/b/NAME` (`{PREFIX}/deck/b/walk/speed`), with the "
        "same type, range and",
        f"default as above, and on `{PREFIX}/NAME` for the deck `{PREFIX}/deck` selects (A at start), so patches "
        "made before there",
        "were decks play deck A. Every change is echoed on the deck's address and, while that deck is selected,",
        f"on the address without a deck too; selecting a deck echoes its values there. A deck's `z` and `z/N` take "
        "its model's",
        "latent size. Presets are a deck's look (stored from either deck, recalled on either, if the model is the",
        "same).",
        "",
        "## Replies, echoes and subscriptions",
        "",
        "| address | direction | arguments |",
        "|---|---|---|",
        f"| `{STATUS_ADDRESS}` | reply to the sender, and to subscribers at `status/rate` | {fields} |",
        f"| `{MODEL_LIST_ADDRESS}` | reply to the sender | one string per model you can load |",
        f"| `{ERROR_ADDRESS}` | reply to the sender and to subscribers | one string: the address, a colon, and "
        "what was wrong |",
        f"| `{WARNING_ADDRESS}` | reply to the sender and to subscribers | one string: the address, a colon, "
        "and why a change that was made does not work out as asked (an output size too large for the frame "
        "rate) |",
        "| every `set, read, echoed` and `read, echoed` address | to the sender and to subscribers | the new "
        "value, after every accepted change, whoever made it (a controller, a preset recall, a model load) |",
        "",
        "Echoes are coalesced: after a burst, only the newest value of each address is sent. A new subscriber",
        "(`/lvj/subscribe`, or `latentvj serve --reply HOST:PORT`) is sent every current value at once.",
        "",
        f"Errors are answered and logged per sender with a bound: in every {WINDOW_S:g} s, the first "
        f"{ANSWERED_PER_WINDOW} of a",
        f"sender are answered and the first {LOGGED_PER_WINDOW} logged; past that they are counted, and one "
        "`/lvj/error` then says how",
        "many went unanswered (`(flood): N more errors ...`).",
        "",
        "Bundles are applied in order; a bundle whose timetag lies in the future is applied at that time. A",
        f"timetag more than {SCHEDULE_HORIZON_S:g} s ahead is refused, and so is a future bundle to an unknown "
        "address (at once);",
        f"a sender may have {SCHEDULED_PER_SENDER:,} messages ({SCHEDULED_BYTES_PER_SENDER >> 20} MiB) waiting "
        f"at most, all senders {SCHEDULED_TOTAL:,} ({SCHEDULED_BYTES_TOTAL >> 20} MiB).",
        "",
        "The HTTP preview's `/status` returns the same status, and more, as JSON. The same namespace is",
        "served for discovery over OSCQuery (docs/oscquery.md). Presets: docs/presets.md.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    text = reference_markdown()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
