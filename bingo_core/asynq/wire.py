"""Asynq's ``TaskMessage`` (proto3) encoded and decoded by hand.

The message is small and flat: strings and bytes (wire type 2), integers (varints, wire
type 0) and one ``map<string, string>`` (field 15, one entry submessage per header). The
encoder writes the fields in number order and leaves zero values out, which is what Go
writes byte for byte (headers aside: Go orders map entries at random). The decoder takes
any field order, repeated map entries and unknown fields; the unknown ones are kept and
written back, so a rewrite by Bingo (retry, archive, complete) loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from ..errors import MalformedTask

_MASK64 = (1 << 64) - 1

#: Field number -> (name, kind); kind: "s" string, "b" bytes, "i" int32, "l" int64.
FIELDS: dict[int, tuple[str, str]] = {
    1: ("type", "s"),
    2: ("payload", "b"),
    3: ("id", "s"),
    4: ("queue", "s"),
    5: ("retry", "i"),
    6: ("retried", "i"),
    7: ("error_msg", "s"),
    8: ("timeout", "l"),
    9: ("deadline", "l"),
    10: ("unique_key", "s"),
    11: ("last_failed_at", "l"),
    12: ("retention", "l"),
    13: ("completed_at", "l"),
    14: ("group_key", "s"),
}
HEADERS = 15
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class AsynqMessage(NamedTuple):
    """One Asynq task message, field for field (times in Unix seconds, durations in
    seconds; 0 or "" = not set, as in proto3)."""

    type: str = ""
    payload: bytes = b""
    id: str = ""
    queue: str = ""
    retry: int = 0
    retried: int = 0
    error_msg: str = ""
    timeout: int = 0
    deadline: int = 0
    unique_key: str = ""
    last_failed_at: int = 0
    retention: int = 0
    completed_at: int = 0
    group_key: str = ""
    headers: Mapping[str, str] = _NO_HEADERS
    #: Fields this codec does not know, as they were on the wire (written back unchanged).
    unknown: bytes = b""

    def encode(self) -> bytes:
        """The message's bytes: fields in number order, zero values left out."""
        out = bytearray()
        for number, (name, kind) in FIELDS.items():
            value = getattr(self, name)
            if not value:
                continue
            if kind in "il":
                _key(out, number, 0)
                _varint(out, value & _MASK64)
            else:
                _len(out, number, value.encode() if kind == "s" else value)
        for k, v in self.headers.items():
            entry = bytearray()
            if k:
                _len(entry, 1, k.encode())
            if v:
                _len(entry, 2, v.encode())
            _len(out, HEADERS, bytes(entry))
        return bytes(out + self.unknown)

    def with_(self, **changes: Any) -> AsynqMessage:
        """A copy with ``changes`` (the rewrite of a retry, an archive, a completion)."""
        return self._replace(**changes)

    @classmethod
    def decode(cls, raw: bytes) -> AsynqMessage:
        """Decode Asynq message bytes; :class:`MalformedTask` names what is wrong."""
        try:
            return cls._decode(bytes(raw))
        except _Bad as exc:
            raise MalformedTask(f"not an Asynq task message: {exc}") from None

    @classmethod
    def _decode(cls, buf: bytes) -> AsynqMessage:
        values = list(_DEFAULTS)
        headers: dict[str, str] | None = None
        unknown = b""
        slots = _SLOTS
        pos, end = 0, len(buf)
        while pos < end:
            start = pos
            tag = buf[pos]
            pos += 1
            if tag > 0x7F:
                tag, pos = _read_varint(buf, start)
            number, wire = tag >> 3, tag & 7
            if not number:
                raise _Bad("field number 0")
            known = slots.get(number)
            if wire == 2:
                if pos >= end:
                    raise _Bad(f"field {number} runs past the end")
                size = buf[pos]
                pos += 1
                if size > 0x7F:
                    size, pos = _read_varint(buf, pos - 1)
                stop = pos + size
                if stop > end:
                    raise _Bad(f"field {number} runs past the end")
                if known is None:
                    if number == HEADERS:
                        k, v = _entry(buf[pos:stop])
                        if headers is None:
                            headers = {}
                        headers[k] = v
                    else:
                        unknown += buf[start:stop]
                else:
                    at, kind = known
                    if kind == "s":
                        try:
                            values[at] = buf[pos:stop].decode()
                        except UnicodeDecodeError:
                            raise _Bad(f"field {FIELDS[number][0]} is not UTF-8") from None
                    elif kind == "b":
                        values[at] = buf[pos:stop]
                    else:
                        raise _Bad(f"field {number} ({FIELDS[number][0]}) is not a varint")
                pos = stop
            elif wire == 0:
                if pos < end and buf[pos] < 0x80:  # a one-byte value (most of them)
                    value = buf[pos]
                    pos += 1
                else:
                    value, pos = _read_varint(buf, pos)
                if known is None:
                    if number == HEADERS:
                        raise _Bad(f"field {number} (headers) is not length-delimited")
                    unknown += buf[start:pos]
                elif known[1] == "i":
                    values[known[0]] = _signed(value, 32)
                elif known[1] == "l":
                    values[known[0]] = value - (1 << 64) if value >> 63 else value
                else:
                    name = FIELDS[number][0]
                    raise _Bad(f"field {number} ({name}) is not length-delimited")
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
                if pos > end:
                    raise _Bad(f"field {number} runs past the end")
                if known is not None:
                    want = "a varint" if known[1] in "il" else "length-delimited"
                    raise _Bad(f"field {number} ({FIELDS[number][0]}) is not {want}")
                if number == HEADERS:
                    raise _Bad(f"field {number} (headers) is not length-delimited")
                unknown += buf[start:pos]
            else:
                raise _Bad(f"field {number} has wire type {wire}")
        if headers is not None:
            values[_HEADERS_AT] = headers
        if unknown:
            values[_UNKNOWN_AT] = unknown
        return cls._make(values)


#: Field number -> (index in the tuple, kind), for decoding.
_SLOTS = {n: (AsynqMessage._fields.index(name), kind) for n, (name, kind) in FIELDS.items()}
_DEFAULTS = tuple(AsynqMessage._field_defaults[name] for name in AsynqMessage._fields)
_HEADERS_AT = AsynqMessage._fields.index("headers")
_UNKNOWN_AT = AsynqMessage._fields.index("unknown")


def put_varint(out: bytearray, number: int, value: int) -> None:
    """Append field ``number`` as a varint (left out when 0, as proto3 does)."""
    if value:
        _key(out, number, 0)
        _varint(out, value & _MASK64)


def put_bytes(out: bytearray, number: int, data: bytes) -> None:
    """Append field ``number`` as length-delimited bytes (left out when empty)."""
    if data:
        _len(out, number, data)


class _Bad(Exception):
    """A decoding failure inside this module (turned into :class:`MalformedTask`)."""


def _key(out: bytearray, number: int, wire: int) -> None:
    _varint(out, number << 3 | wire)


def _len(out: bytearray, number: int, data: bytes) -> None:
    _key(out, number, 2)
    _varint(out, len(data))
    out += data


def _varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise _Bad("a varint runs past the end")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise _Bad("a varint longer than 10 bytes")


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _text(chunk: bytes, name: str) -> str:
    try:
        return chunk.decode()
    except UnicodeDecodeError:
        raise _Bad(f"field {name} is not UTF-8") from None


def _entry(chunk: bytes) -> tuple[str, str]:
    """One map entry: key (field 1) and value (field 2), both strings."""
    buf = chunk
    out = ["", ""]
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire != 2:
            raise _Bad(f"a header entry has field {number} of wire type {wire}")
        size, pos = _read_varint(buf, pos)
        if pos + size > len(buf):
            raise _Bad("a header entry runs past its end")
        if number in (1, 2):
            out[number - 1] = _text(buf[pos : pos + size], "headers")
        pos += size
    return out[0], out[1]
