"""A tiny OSC 1.0 codec: build messages, read messages and bundles. Standard library only.

Made for hosts whose Python has no python-osc (TouchDesigner's extension in ``plugin/touchdesigner``);
like ``shmring.py`` it imports nothing from LatentVJ and can be copied next to a ``.toe`` unchanged.
It works on bytes only; sockets are the caller's.

Encoding infers each argument's type tag from its Python type::

    bool -> T / F (no data)     int -> i (int32)     float -> f (float32)
    str -> s (UTF-8)            bytes -> b (blob)     None -> N (nil)

Wrap a value as ``Arg("f", 1)`` to force a tag (an int-valued float sent as ``f``, a bool as ``i``).
Decoding understands i f s b T F N I (impulse) h (int64) d (float64) t (timetag) c (char) and nested
bundles; any other tag, a truncated packet or a missing terminator raises :class:`OscDecodeError`.

    >>> data = encode_message("/lvj/walk/speed", 0.5)
    >>> decode(data)
    [Message(address='/lvj/walk/speed', args=[0.5], tags='f')]
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple, Sequence

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

def _read_string(data: bytes, offset: int, what: str) -> tuple[str, int]:
    end = data.find(b"\0", offset)
    if end < 0:
        raise OscDecodeError(f"{what} at byte {offset} has no NUL terminator")
    try:
        text = data[offset:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OscDecodeError(f"{what} at byte {offset} is not UTF-8 ({exc.reason})") from None
    next_offset = offset + ((end - offset) // 4 + 1) * 4
    if next_offset > len(data):
        raise OscDecodeError(f"{what} at byte {offset} is not padded to a multiple of 4 bytes")
    return text, next_offset


def _unpack(fmt: struct.Struct, data: bytes, offset: int, tag: str) -> tuple[Any, int]:
    if offset + fmt.size > len(data):
        raise OscDecodeError(f"argument {tag!r} at byte {offset} runs past the end of the {len(data)}-byte packet")
    return fmt.unpack_from(data, offset)[0], offset + fmt.size


def decode_message(data: bytes) -> Message:
    """One OSC message (not a bundle). Raises OscDecodeError for malformed bytes."""
    data = bytes(data)
    if not data:
        raise OscDecodeError("empty packet")
    address, offset = _read_string(data, 0, "address")
    if offset >= len(data):  # OSC 1.0 allows old senders to omit the type tags entirely
        return Message(address, [], "")
    tag_string, offset = _read_string(data, offset, "type tag string")
    if not tag_string.startswith(","):
        raise OscDecodeError(f"type tag string must start with ',', got {tag_string!r}")
    tags = tag_string[1:]
    args: list = []
    for tag in tags:
        if tag == "i":
            value, offset = _unpack(_INT32, data, offset, tag)
        elif tag == "f":
            value, offset = _unpack(_FLOAT32, data, offset, tag)
        elif tag in "sS":
            value, offset = _read_string(data, offset, "string argument")
        elif tag == "b":
            size, offset = _unpack(_UINT32, data, offset, tag)
            if offset + size > len(data):
                raise OscDecodeError(f"blob of {size} bytes at byte {offset} runs past the end of the packet")
            value = data[offset:offset + size]
            offset += size + (-size % 4)
        elif tag == "h":
            value, offset = _unpack(_INT64, data, offset, tag)
        elif tag == "t":
            value, offset = _unpack(_UINT64, data, offset, tag)
        elif tag == "d":
            value, offset = _unpack(_FLOAT64, data, offset, tag)
        elif tag == "c":
            code, offset = _unpack(_UINT32, data, offset, tag)
            value = chr(code)
        elif tag == "T":
            value = True
        elif tag == "F":
            value = False
        elif tag in "NI":
            value = None
        else:
            raise OscDecodeError(f"unsupported OSC type tag {tag!r} in {tag_string!r} (address {address})")
        args.append(value)
    return Message(address, args, tags)


def decode_packet(data: bytes) -> Message | Bundle:
    """A message, or a bundle with its nested contents. Raises OscDecodeError for malformed bytes."""
    data = bytes(data)
    if not data.startswith(BUNDLE_TAG):
        return decode_message(data)
    if len(data) < 16:
        raise OscDecodeError(f"bundle of {len(data)} bytes has no timetag")
    timetag = _UINT64.unpack_from(data, 8)[0]
    contents = []
    offset = 16
    while offset < len(data):
        size, offset = _unpack(_INT32, data, offset, "bundle element size")
        if size < 0 or offset + size > len(data):
            raise OscDecodeError(f"bundle element of {size} bytes at byte {offset} runs past the end of the packet")
        contents.append(decode_packet(data[offset:offset + size]))
        offset += size
    return Bundle(timetag, contents)


def decode(data: bytes) -> list[Message]:
    """Every message in a datagram in order: one for a message, all of a bundle's (nested ones too).

    Timetags are ignored: the messages are meant to be applied now."""
    packet = decode_packet(data)
    if isinstance(packet, Message):
        return [packet]
    messages: list[Message] = []
    stack = [iter(packet.contents)]
    while stack:
        element = next(stack[-1], None)
        if element is None:
            stack.pop()
        elif isinstance(element, Bundle):
            stack.append(iter(element.contents))
        else:
            messages.append(element)
    return messages
