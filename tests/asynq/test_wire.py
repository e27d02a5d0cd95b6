"""Asynq's TaskMessage codec against every message the real Go Asynq wrote."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from asynq_golden import recorded_messages

from bingo_core.asynq import AsynqMessage
from bingo_core.errors import MalformedTask

MESSAGES = list(recorded_messages())


def _expected(proto: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in proto["fields"].items():
        if isinstance(value, dict) and "b64" in value:
            value = base64.b64decode(value["b64"])
        out[name] = value
    return out


def test_the_recording_has_every_kind_of_message() -> None:
    numbers = {n for _, _, _, proto in MESSAGES for n in proto["wire_order"]}
    assert numbers == set(range(1, 16)) and len(MESSAGES) == 34


@pytest.mark.parametrize(("case", "key", "data", "proto"), MESSAGES, ids=lambda v: "")
def test_decodes_every_recorded_message(
    case: str, key: str, data: bytes, proto: dict[str, Any]
) -> None:
    msg = AsynqMessage.decode(data)
    expected = _expected(proto)
    for name, value in expected.items():
        got = getattr(msg, name)
        assert (dict(got) if name == "headers" else got) == value, (case, key, name)
    for name in AsynqMessage._fields:
        if name not in expected and name != "unknown":
            assert not getattr(msg, name), (case, key, name)
    assert key.endswith(":t:" + msg.id) and f"{{{msg.queue}}}" in key


@pytest.mark.parametrize(("case", "key", "data", "proto"), MESSAGES, ids=lambda v: "")
def test_encodes_byte_for_byte_as_go(
    case: str, key: str, data: bytes, proto: dict[str, Any]
) -> None:
    # Decoded headers keep the wire's entry order, so even those come back identical.
    assert AsynqMessage.decode(data).encode() == data, case


def test_headers_in_any_order_decode_alike() -> None:
    msg = AsynqMessage(type="t", id="i", queue="q", headers={"a": "1", "b": "2"})
    flipped = msg.with_(headers={"b": "2", "a": "1"})
    assert msg.encode() != flipped.encode()
    assert AsynqMessage.decode(flipped.encode()).headers == {"a": "1", "b": "2"}


def test_unknown_fields_survive_a_rewrite() -> None:
    base = AsynqMessage(type="t", id="i", queue="q", retry=3).encode()
    # field 20 (len "hi") and field 21 (varint 7); their tags take two bytes each
    extra = bytes([0xA2, 0x01, 2]) + b"hi" + bytes([0xA8, 0x01, 7])
    msg = AsynqMessage.decode(base + extra)
    assert msg.retry == 3 and msg.unknown == extra
    rewritten = msg.with_(retried=1, error_msg="boom")
    assert AsynqMessage.decode(rewritten.encode()).unknown == extra


def test_fields_in_any_order_and_negative_numbers() -> None:
    a = AsynqMessage(type="t", queue="q", retried=-1, deadline=-5).encode()
    # field 4 before field 1
    swapped = bytes([4 << 3 | 2, 1]) + b"q" + bytes([1 << 3 | 2, 1]) + b"t"
    assert AsynqMessage.decode(swapped).type == "t"
    back = AsynqMessage.decode(a)
    assert (back.retried, back.deadline) == (-1, -5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x0a\x05ab", "field 1 runs past the end"),
        (b"\x28\xff\xff", "a varint runs past the end"),
        (b"\x28" + b"\xff" * 11, "a varint longer than 10 bytes"),
        (b"\x0a\x02\xff\xfe", "field type is not UTF-8"),
        (b"\x0b", "field 1 has wire type 3"),
        (b"\x29" + b"\0" * 8, "field 5 (retry) is not a varint"),
        (b"\x08\x01", "field 1 (type) is not length-delimited"),
        (b"\x00", "field number 0"),
        (b"\x7a\x02\x08\x01", "a header entry has field 1 of wire type 0"),
        (b'{"id": "x"}', "not an Asynq task message"),
    ],
)
def test_malformed_messages_name_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedTask) as info:
        AsynqMessage.decode(data)
    text = str(info.value)
    assert "\n" not in text and text.startswith("not an Asynq task message: ")
    assert reason in text
