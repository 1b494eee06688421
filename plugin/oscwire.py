"""A tiny OSC 1.0 codec: build messages, read messages and bundles. Standard library only.

Made for hosts whose Python has no python-osc (TouchDesigner's extension in ``plugin/touchdesigner``);
like ``shmring.py`` it imports nothing from LatentVJ and can be copied next to a ``.toe`` unchanged.
It works on bytes only; sockets are the caller's.

Encoding infers each argument's type tag from its Python type::

    bool -> T / F (no data)     int -> i (int32)     float -> f (float32)
    str -> s (UTF-8)            bytes -> b (blob)     None -> N (nil)

Wrap a value as ``Arg("f", 1)`` to force a tag (an int-valued float sent as ``f``, a bool as ``i``).
Decoding understands i f s b T F N I (impulse) h (int64) d (float64) t (timetag) c (char) r (colour)
m (MIDI), arrays and nested bundles; any other tag, a truncated packet, a missing terminator or nesting
deeper than ``MAX_DEPTH`` raises :class:`OscDecodeError`. Decoding is bounded: no packet costs more than
a few passes over its bytes (hostile senders included).

    >>> data = encode_message("/lvj/walk/speed", 0.5)
    >>> decode(data)
    [Message(address='/lvj/walk/speed', args=[0.5], tags='f')]
"""

from __future__ import annotations

import struct
from typing import Any, Iterator, NamedTuple, Sequence

__all__ = [
    "Arg",
    "Bundle",
    "IMMEDIATELY",
    "Message",
    "OscDecodeError",
    "decode",
    "decode_message",
    "decode_packet",
    "encode_bundle",
    "encode_message",
    "timed_messages",
    "timetag_to_unix",
]

BUNDLE_TAG = b"#bundle\0"
IMMEDIATELY = 1
"""The timetag meaning "now" (OSC 1.0: 63 zero bits and a one)."""

_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_FLOAT32 = struct.Struct(">f")
_INT64 = struct.Struct(">q")
_UINT64 = struct.Struct(">Q")
_FLOAT64 = struct.Struct(">d")


class OscDecodeError(ValueError):
    """The bytes are not a well-formed OSC message or bundle; the message says where and why."""


class Arg(NamedTuple):
    """An argument with an explicit type tag: ``Arg("f", 1)`` sends 1.0 as a float32."""

    tag: str
    value: Any


class Message(NamedTuple):
    """One decoded OSC message."""

    address: str
    args: list  # Python values: int, float, str, bytes, bool, None
    tags: str  # the type tags without the leading comma, e.g. "f" or "ii"


class Bundle(NamedTuple):
    """One decoded OSC bundle; ``contents`` holds Messages and nested Bundles in order."""

    timetag: int  # NTP format: seconds since 1900 in the high 32 bits; 1 means immediately
    contents: list


# ---- encoding --------------------------------------------------------------------------------------------

def _padded(data: bytes) -> bytes:
    """``data`` plus 1..4 NUL bytes, to a multiple of 4 (OSC strings are always NUL-terminated)."""
    return data + b"\0" * (4 - len(data) % 4)


def _encode_string(text: str) -> bytes:
    if "\0" in text:
        raise ValueError(f"OSC strings cannot contain NUL characters: {text!r}")
    return _padded(text.encode("utf-8"))


def _encode_blob(data: bytes) -> bytes:
    blob = _UINT32.pack(len(data)) + bytes(data)
    return blob + b"\0" * (-len(blob) % 4)


def _tag_for(value: Any) -> str:
    if isinstance(value, Arg):
        return value.tag
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "T" if value else "F"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    if isinstance(value, str):
        return "s"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "b"
    if value is None:
        return "N"
    # numpy scalars and the like: anything that converts exactly
    if hasattr(value, "__index__"):
        return "i"
    if hasattr(value, "__float__"):
        return "f"
    raise TypeError(f"cannot send {type(value).__name__} {value!r} over OSC (int, float, str, bool, bytes, None)")


def _encode_arg(tag: str, value: Any) -> bytes:
    if tag == "i":
        number = int(value)
        if not -(2**31) <= number < 2**31:
            raise ValueError(f"OSC int32 out of range: {number}")
        return _INT32.pack(number)
    if tag == "f":
        return _FLOAT32.pack(float(value))
    if tag == "s":
        return _encode_string(str(value))
    if tag == "b":
        return _encode_blob(bytes(value))
    if tag == "h":
        return _INT64.pack(int(value))
    if tag == "d":
        return _FLOAT64.pack(float(value))
    if tag in "TFNI":
        return b""
    raise ValueError(f"cannot encode OSC type tag {tag!r} (i f s b h d T F N I)")


def encode_message(address: str, *args: Any) -> bytes:
    """The datagram of one OSC message; see the module docstring for how arguments are typed."""
    if not isinstance(address, str) or not address:
        raise ValueError(f"an OSC address must be a non-empty str, got {address!r}")
    tags = ""
    payload = []
    for value in args:
        tag = _tag_for(value)
        if isinstance(value, Arg):
            value = value.value
        if len(tag) != 1:
            raise ValueError(f"an Arg's tag must be one character, got {tag!r}")
        tags += tag
        payload.append(_encode_arg(tag, value))
    return _encode_string(address) + _encode_string("," + tags) + b"".join(payload)


def encode_bundle(contents: Sequence[bytes], timetag: int = IMMEDIATELY) -> bytes:
    """A bundle of already-encoded messages (or bundles), applied at ``timetag`` (default: now)."""
    parts = [BUNDLE_TAG, _UINT64.pack(timetag)]
    for element in contents:
        if len(element) % 4:
            raise ValueError(f"a bundle element must be a multiple of 4 bytes long, got {len(element)}")
        parts.append(_INT32.pack(len(element)))
        parts.append(bytes(element))
    return b"".join(parts)


# ---- decoding --------------------------------------------------------------------------------------------
#
# The decoder is bounded: it reads each byte a fixed number of times, never loops without moving forward,
# and refuses nesting deeper than MAX_DEPTH (bundles in bundles, arrays in arrays), so no datagram, however
# hostile, costs more than a few passes over its own bytes. Every problem is one OscDecodeError.

MAX_DEPTH = 8
"""Deepest nesting of bundles (and, separately, of ``[`` arrays) a packet may have."""
MAX_PACKET = 65536
"""Largest packet decoded: a UDP datagram's payload cannot be larger; longer input is refused unread."""
NTP_UNIX_OFFSET = 2208988800
"""Seconds from 1900 (NTP's epoch, used by timetags) to 1970 (Unix time)."""


def _read_string(data: bytes, offset: int, end: int, what: str) -> tuple[str, int]:
    nul = data.find(b"\0", offset, end)
    if nul < 0:
        raise OscDecodeError(f"{what} at byte {offset} has no NUL terminator")
    try:
        text = data[offset:nul].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OscDecodeError(f"{what} at byte {offset} is not UTF-8 ({exc.reason})") from None
    next_offset = offset + ((nul - offset) // 4 + 1) * 4
    if next_offset > end:
        raise OscDecodeError(f"{what} at byte {offset} is not padded to a multiple of 4 bytes")
    return text, next_offset


def _unpack(fmt: struct.Struct, data: bytes, offset: int, end: int, tag: str) -> tuple[Any, int]:
    if offset + fmt.size > end:
        raise OscDecodeError(f"argument {tag!r} at byte {offset} runs past the end of the packet")
    return fmt.unpack_from(data, offset)[0], offset + fmt.size


def _check_size(data: bytes) -> bytes:
    data = bytes(data)
    if not data:
        raise OscDecodeError("empty packet")
    if len(data) > MAX_PACKET:
        raise OscDecodeError(f"packet of {len(data)} bytes is larger than {MAX_PACKET} (the most UDP carries)")
    return data


def _message(data: bytes, offset: int, end: int) -> Message:
    """The message in ``data[offset:end]``."""
    if offset >= end:
        raise OscDecodeError(f"empty message at byte {offset}")
    address, offset = _read_string(data, offset, end, "address")
    if offset >= end:  # OSC 1.0 allows old senders to omit the type tags entirely
        return Message(address, [], "")
    tag_string, offset = _read_string(data, offset, end, "type tag string")
    if not tag_string.startswith(","):
        raise OscDecodeError(f"type tag string must start with ',', got {tag_string[:40]!r}")
    tags = tag_string[1:]
    args: list = []
    arrays: list[list] = []  # the arrays being filled, outermost first
    for tag in tags:
        if tag == "[":
            if len(arrays) >= MAX_DEPTH:
                raise OscDecodeError(f"arrays nested deeper than {MAX_DEPTH} (address {address[:80]})")
            arrays.append([])
            continue
        if tag == "]":
            if not arrays:
                raise OscDecodeError(f"']' without '[' in the type tags (address {address[:80]})")
            done = arrays.pop()
            (arrays[-1] if arrays else args).append(done)
            continue
        if tag == "i":
            value, offset = _unpack(_INT32, data, offset, end, tag)
        elif tag == "f":
            value, offset = _unpack(_FLOAT32, data, offset, end, tag)
        elif tag in "sS":
            value, offset = _read_string(data, offset, end, "string argument")
        elif tag == "b":
            size, offset = _unpack(_UINT32, data, offset, end, tag)
            if offset + size > end:
                raise OscDecodeError(f"blob of {size} bytes at byte {offset} runs past the end of the packet")
            value = data[offset:offset + size]
            offset += size + (-size % 4)
        elif tag == "h":
            value, offset = _unpack(_INT64, data, offset, end, tag)
        elif tag == "t":
            value, offset = _unpack(_UINT64, data, offset, end, tag)
        elif tag == "d":
            value, offset = _unpack(_FLOAT64, data, offset, end, tag)
        elif tag == "c":
            code, offset = _unpack(_UINT32, data, offset, end, tag)
            if code > 0x10FFFF:
                raise OscDecodeError(f"char argument {code} is not a Unicode code point")
            value = chr(code)
        elif tag == "r":  # RGBA colour: 32 bits
            value, offset = _unpack(_UINT32, data, offset, end, tag)
        elif tag == "m":  # MIDI message: port id, status, data 1, data 2
            if offset + 4 > end:
                raise OscDecodeError(f"argument 'm' at byte {offset} runs past the end of the packet")
            value, offset = data[offset:offset + 4], offset + 4
        elif tag == "T":
            value = True
        elif tag == "F":
            value = False
        elif tag in "NI":
            value = None
        else:
            raise OscDecodeError(f"unsupported OSC type tag {tag!r} in {tag_string[:40]!r} (address {address[:80]})")
        (arrays[-1] if arrays else args).append(value)
    if arrays:
        raise OscDecodeError(f"'[' without ']' in the type tags (address {address[:80]})")
    return Message(address, args, tags)


def _bundle(data: bytes, offset: int, end: int, depth: int) -> Bundle:
    """The bundle in ``data[offset:end]`` (which starts with ``#bundle``)."""
    if depth > MAX_DEPTH:
        raise OscDecodeError(f"bundles nested deeper than {MAX_DEPTH}")
    if end - offset < 16:
        raise OscDecodeError(f"bundle of {end - offset} bytes at byte {offset} has no timetag")
    timetag = _UINT64.unpack_from(data, offset + 8)[0]
    contents: list = []
    offset += 16
    while offset < end:
        size, offset = _unpack(_INT32, data, offset, end, "bundle element size")
        if size <= 0 or size % 4:
            raise OscDecodeError(f"bundle element size {size} at byte {offset - 4}: sizes are positive "
                                 "multiples of 4")
        if offset + size > end:
            raise OscDecodeError(f"bundle element of {size} bytes at byte {offset} runs past the end of the "
                                 "bundle")
        if data.startswith(BUNDLE_TAG, offset):
            contents.append(_bundle(data, offset, offset + size, depth + 1))
        else:
            contents.append(_message(data, offset, offset + size))
        offset += size  # always moves forward: every element is at least 4 bytes
    return Bundle(timetag, contents)


def decode_message(data: bytes) -> Message:
    """One OSC message (not a bundle). Raises OscDecodeError for malformed bytes."""
    data = _check_size(data)
    return _message(data, 0, len(data))


def decode_packet(data: bytes) -> Message | Bundle:
    """A message, or a bundle with its nested contents. Raises OscDecodeError for malformed bytes.

    Arrays (``[`` ... ``]`` in the type tags) are decoded as lists inside ``args``."""
    data = _check_size(data)
    if data.startswith(BUNDLE_TAG):
        return _bundle(data, 0, len(data), 1)
    return _message(data, 0, len(data))


def timed_messages(packet: Message | Bundle, now: float) -> list[tuple[float, Message]]:
    """(Unix time when due, message) for every message of a decoded packet, in order. A message outside any
    bundle, and the contents of a bundle timetagged "immediately" or in the past, are due ``now``; a
    nested bundle is never due before the bundle around it (OSC 1.0)."""
    out: list[tuple[float, Message]] = []
    stack: list[tuple[float, Iterator]] = []
    if isinstance(packet, Message):
        return [(now, packet)]
    stack.append((_due(packet.timetag, now), iter(packet.contents)))
    while stack:
        when, contents = stack[-1]
        element = next(contents, None)
        if element is None:
            stack.pop()
        elif isinstance(element, Bundle):
            stack.append((max(when, _due(element.timetag, now)), iter(element.contents)))
        else:
            out.append((when, element))
    return out


def _due(timetag: int, now: float) -> float:
    if timetag == IMMEDIATELY:
        return now
    return max(now, timetag_to_unix(timetag))


def timetag_to_unix(timetag: int) -> float:
    """An NTP timetag (seconds since 1900 in the high 32 bits, fraction in the low 32) as Unix time."""
    return (timetag >> 32) - NTP_UNIX_OFFSET + (timetag & 0xFFFFFFFF) / 2**32


def decode(data: bytes) -> list[Message]:
    """Every message in a datagram in order: one for a message, all of a bundle's (nested ones too).

    Timetags are ignored: the messages are meant to be applied now."""
    return [message for _, message in timed_messages(decode_packet(data), 0.0)]
