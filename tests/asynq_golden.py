"""The bytes the real Go Asynq (v0.26.0) wrote to Redis, recorded in
``tests/fixtures/asynq/golden.json``, and helpers to compare Redis with them.

Each case is a list of steps: ``run`` (a command of the recording) and ``dump`` (every key
after the steps before it). Byte strings are ``{"b64": ..., "utf8": ...}``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "asynq" / "golden.json"


@cache
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text())
    return data


def case(name: str) -> dict[str, Any]:
    for c in golden()["cases"]:
        if c["name"] == name:
            return dict(c)
    raise KeyError(name)


def raw(value: dict[str, Any]) -> bytes:
    """The bytes of a recorded ``{"b64": ...}`` value."""
    return base64.b64decode(value["b64"])


def dumps(name: str) -> list[dict[str, Any]]:
    """The dump steps of one case, in order."""
    return [s for s in case(name)["steps"] if s["step"] == "dump"]


def runs(name: str) -> list[dict[str, Any]]:
    return [s for s in case(name)["steps"] if s["step"] == "run"]


def recorded_messages() -> Iterator[tuple[str, str, bytes, dict[str, Any]]]:
    """Every recorded task message: (case, key, bytes, the recording's own decode)."""
    for c in golden()["cases"]:
        for dump in (s for s in c["steps"] if s["step"] == "dump"):
            for key in dump["keys"]:
                if key["type"] != "hash" or ":t:" not in key["key"]:
                    continue
                for item in key["value"]:
                    if item["field"].get("utf8") == "msg":
                        value = item["value"]
                        yield c["name"], key["key"], raw(value), value["proto"]


def task_hashes(name: str, dump: int = -1) -> dict[str, dict[str, bytes]]:
    """The task hashes of one dump of a case: key -> field -> bytes."""
    out = {}
    for key in dumps(name)[dump]["keys"]:
        if key["type"] == "hash" and ":t:" in key["key"]:
            out[key["key"]] = {raw(i["field"]).decode(): raw(i["value"]) for i in key["value"]}
    return out


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def shape(keys: list[dict[str, Any]]) -> dict[str, Any]:
    """A dump reduced to what must match across runs: key name (generated ids as
    ``<uuid>``) -> (type, has a TTL, list items / set and zset members / hash fields /
    string value, likewise); times and messages are compared on their own."""
    out: dict[str, Any] = {}
    name = normal

    for key in keys:
        kind = key["type"]
        if kind == "hash":
            body: Any = sorted(name(raw(i["field"]).decode()) for i in key["value"])
        elif kind in ("list", "set"):
            body = [name(raw(v).decode()) for v in key["value"]]
        elif kind == "zset":
            body = sorted(name(raw(v["member"]).decode()) for v in key["value"])
        else:
            body = name(raw(key["value"]).decode(errors="replace"))
        out[name(key["key"])] = (kind, key["ttl_ms"] != -1, body)
    return out


def _b(value: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"b64": base64.b64encode(value).decode()}
    with contextlib.suppress(UnicodeDecodeError):
        out["utf8"] = value.decode()
    return out


def dump_redis(client: Any) -> list[dict[str, Any]]:
    """Every key of a Redis (a client without ``decode_responses``) in the recording's
    form: ``{key, type, ttl_ms, value}``, sorted by key."""
    out = []
    for name in sorted(client.keys("*")):
        kind = client.type(name).decode()
        if kind == "string":
            value: Any = _b(client.get(name))
        elif kind == "hash":
            value = [
                {"field": _b(f), "value": _b(v)} for f, v in sorted(client.hgetall(name).items())
            ]
        elif kind == "list":
            value = [_b(v) for v in client.lrange(name, 0, -1)]
        elif kind == "set":
            value = [_b(v) for v in sorted(client.smembers(name))]
        else:
            value = [
                {"member": _b(m), "score": s}
                for m, s in client.zrange(name, 0, -1, withscores=True)
            ]
        out.append(
            {"key": name.decode(), "type": kind, "ttl_ms": client.pttl(name), "value": value}
        )
    return out


def normal(text: str) -> str:
    """``text`` with every UUID (a generated task id) replaced by ``<uuid>``."""
    return _UUID.sub("<uuid>", text)


def restore(client: Any, keys: list[dict[str, Any]]) -> None:
    """Write a recorded dump's keys into Redis (TTLs as recorded)."""
    for key in keys:
        name, kind, value = key["key"], key["type"], key["value"]
        if kind == "string":
            client.set(name, raw(value))
        elif kind == "hash":
            client.hset(name, mapping={raw(i["field"]): raw(i["value"]) for i in value})
        elif kind == "list":
            client.rpush(name, *[raw(v) for v in value])
        elif kind == "set":
            client.sadd(name, *[raw(v) for v in value])
        else:
            client.zadd(name, {raw(v["member"]): v["score"] for v in value})
        if key["ttl_ms"] > 0:
            client.pexpire(name, key["ttl_ms"])


def asynq_only(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The keys of Asynq's task layout (its server and worker records left out)."""
    return [
        k
        for k in keys
        if k["key"].startswith("asynq:")
        and not k["key"].startswith(("asynq:servers", "asynq:workers"))
    ]
