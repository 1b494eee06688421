"""The one typed registry of everything a performer can change.

OSC, the generated reference (docs/osc.md), presets and OSCQuery all read from here: a parameter that is
not in this registry does not exist anywhere else. Each parameter knows its OSC type, range or choices,
default, unit and description, and turns incoming OSC arguments into a validated value or a
:class:`ParamError` whose message says what was expected and what came.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

PREFIX = "/lvj"

WALK_MODES = ("drift", "loop", "noise", "keyframes", "hold")


class ParamError(ValueError):
    """An OSC value that a parameter cannot take; the message is sent back to the controller as is."""


@dataclass(frozen=True)
class Param:
    name: str
    """Address below the prefix, e.g. ``walk/speed`` for ``/lvj/walk/speed``."""
    type: str
    """OSC type tag of the value: ``f`` float, ``i`` int, ``s`` string, ``T`` boolean (0/1/T/F)."""
    default: Any
    description: str
    range: tuple[float, float] | None = None
    """Inclusive bounds for ``f`` and ``i``; ``None`` for strings and booleans."""
    choices: tuple[str, ...] | None = None
    """Allowed values of an ``s`` parameter."""
    unit: str = ""

    def __post_init__(self) -> None:
        if self.type not in ("f", "i", "s", "T"):
            raise ValueError(f"{self.name}: unknown OSC type {self.type!r}")
        if self.type in ("f", "i") and self.range is None:
            raise ValueError(f"{self.name}: numeric parameters need a range")
        # The default must itself be a valid value, so a registry typo fails at import, not on stage.
        self.coerce([self.default])

    @property
    def address(self) -> str:
        return f"{PREFIX}/{self.name}"

    def coerce(self, args: Sequence[Any]) -> Any:
        """Turn the arguments of one OSC message into this parameter's value, or raise ParamError."""
        if len(args) != 1:
            raise ParamError(f"expected 1 argument ({self._expected()}), got {len(args)}")
        (arg,) = args
        if self.type == "f":
            value = self._number(arg)
        elif self.type == "i":
            value = self._number(arg)
            if value != int(value):
                raise ParamError(f"expected an integer ({self._expected()}), got {arg!r}")
            value = int(value)
        elif self.type == "T":
            value = _boolean(arg)
            if value is None:
                raise ParamError(f"expected a boolean (0/1/T/F), got {arg!r}")
            return value
        else:
            if not isinstance(arg, str):
                raise ParamError(f"expected a string ({self._expected()}), got {_describe(arg)}")
            value = arg.strip().lower() if self.choices else arg
            if self.choices and value not in self.choices:
                raise ParamError(f"expected one of {', '.join(self.choices)}, got {arg!r}")
            return value
        lo, hi = self.range
        if not lo <= value <= hi:
            raise ParamError(f"{_num(value)} is out of range [{_num(lo)}, {_num(hi)}]")
        return value

    def _number(self, arg: Any) -> float:
        # OSC senders disagree about ints and floats (Max sends ints for whole numbers, TouchDesigner
        # sends floats for everything), so both are accepted wherever a number is expected.
        if isinstance(arg, bool) or not isinstance(arg, (int, float)):
            raise ParamError(f"expected a number ({self._expected()}), got {_describe(arg)}")
        if isinstance(arg, float) and not math.isfinite(arg):
            raise ParamError(f"expected a finite number ({self._expected()}), got {arg}")
        return float(arg) if self.type == "f" else arg

    def _expected(self) -> str:
        if self.choices:
            return "|".join(self.choices)
        if self.range:
            return f"{'float' if self.type == 'f' else 'int'} in [{_num(self.range[0])}, {_num(self.range[1])}]"
        return {"s": "string", "T": "0/1/T/F"}[self.type]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) >= 1e6 else f"{x:g}"


def _boolean(arg: Any) -> bool | None:
    if isinstance(arg, bool):
        return arg
    if isinstance(arg, (int, float)) and arg in (0, 1):
        return bool(arg)
    if isinstance(arg, str) and arg.strip().lower() in ("0", "1", "t", "f", "true", "false"):
        return arg.strip().lower() in ("1", "t", "true")
    return None


def _describe(arg: Any) -> str:
    if isinstance(arg, bool):
        return f"boolean {arg}"
    if isinstance(arg, (bytes, bytearray)):
        return f"a blob of {len(arg)} bytes"
    return f"{type(arg).__name__} {arg!r}"


class Registry:
    """An ordered, read-only collection of parameters, looked up by name or by OSC address."""

    def __init__(self, params: Iterable[Param]):
        self._params: dict[str, Param] = {}
        for param in params:
            if param.name in self._params:
                raise ValueError(f"parameter {param.name!r} is declared twice")
            self._params[param.name] = param

    def __iter__(self) -> Iterator[Param]:
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def find(self, address: str) -> Param | None:
        """The parameter behind an OSC address; the leading slash and the prefix are optional."""
        return self._params.get(address_to_name(address))

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self}


def address_to_name(address: str) -> str:
    """``/lvj/walk/speed``, ``lvj/walk/speed`` and ``walk/speed`` all name ``walk/speed``."""
    name = address.strip("/")
    prefix = PREFIX.strip("/") + "/"
    return name[len(prefix):] if name.startswith(prefix) else name


PARAMS = Registry([
    Param("walk/mode", "s", "drift", choices=WALK_MODES,
          description="How the latent point moves: drift (smooth random walk), loop (perfect loop of "
                      "walk/period seconds), noise (gradient-noise loop), keyframes (eased slerp through "
                      "seeds), hold (stand still). Switching blends, never jumps."),
    Param("walk/speed", "f", 1.0, range=(-10.0, 10.0), unit="x",
          description="Walk speed multiplier; 0 pauses the motion, negative runs it backwards. "
                      "Changing it never jumps the image."),
    Param("walk/period", "f", 8.0, range=(0.5, 600.0), unit="s",
          description="Length of one loop (loop, noise and keyframes modes) at speed 1."),
    Param("morph/time", "f", 2.0, range=(0.0, 60.0), unit="s",
          description="Transition time of a morph to a new seed; mode and period changes blend over this "
                      "or 1 s, whichever is shorter. 0 cuts."),
    Param("seed", "i", 0, range=(0, 2**31 - 1),
          description="Morph to this seed's latent point over morph/time; drift, loop and noise then move "
                      "around it, hold stays on it (sending it again in hold brings the image back to it)."),
])


def reference_markdown(registry: Registry = PARAMS) -> str:
    """docs/osc.md, generated from the registry (`make docs`); a test fails when the two differ."""
    from .osc import ERROR_ADDRESS, STATUS_ADDRESS, STATUS_FIELDS

    lines = [
        "# OSC reference",
        "",
        "<!-- Generated from bridge/params.py by `make docs`; do not edit by hand. -->",
        "",
        "LatentVJ listens for OSC on UDP 127.0.0.1:9000 (`latentvj serve --osc-host/--osc-port`).",
        f"Every address lives under `{PREFIX}/`; the leading slash is optional, and so is the prefix for",
        "senders that only send a channel name (`walk/speed`). Numbers are accepted as int or float",
        "wherever a number makes sense. A message that cannot be applied is answered to its sender with",
        f"`{ERROR_ADDRESS} s` (\"ADDRESS: reason\") and logged; rendering and later messages carry on.",
        "",
        "## Parameters",
        "",
        "| address | type | range | default | unit | description |",
        "|---|---|---|---|---|---|",
    ]
    for p in registry:
        span = "\\|".join(p.choices) if p.choices else (f"{_num(p.range[0])} .. {_num(p.range[1])}" if p.range else "0/1")
        lines.append(f"| `{p.address}` | `{p.type}` | {span} | `{p.default}` | {p.unit} | {p.description} |")
    fields = ", ".join(f"{name} `{tag}`" for name, tag in STATUS_FIELDS)
    lines += [
        "",
        "## Queries and replies",
        "",
        "| address | direction | arguments |",
        "|---|---|---|",
        f"| `{STATUS_ADDRESS}` | to LatentVJ | none: asks for a status reply |",
        f"| `{STATUS_ADDRESS}` | reply to the sender | {fields} |",
        f"| `{ERROR_ADDRESS}` | reply to the sender | one string: the address, a colon, and what was wrong |",
        "",
        "The HTTP preview's `/status` returns the same status, and more, as JSON.",
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
