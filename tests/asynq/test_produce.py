"""Client.enqueue to a queue of ``asynq.queues`` writes what the Go client writes: each
recorded enqueue case is replayed through Bingo on a private Redis and every key is
compared with the recording (key names, types, TTLs, list and set members, hash fields,
messages field by field; ids the Go client generated and times aside)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from asynq_golden import case, dump_redis, dumps, normal, raw, runs, shape

from bingo_core import AsyncClient, Client
from bingo_core.asynq import AsynqMessage
from bingo_core.building import Template
from bingo_core.errors import (
    BulkEnqueueError,
    DuplicateTaskError,
    OptionError,
    PayloadError,
    UniqueTaskError,
)
from bingo_core.registry import Registry, TaskRegister
from bingo_core.ticks import Tick, TickResult

MAIL = {"To": "a@b.c", "Subject": "Hi", "Content": "123456"}
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def handle(ctx: Any, payload: Any) -> None:
    return None


def _deadline(name: str) -> dict[str, Any]:
    """The recorded deadline, moved to the same distance from now."""
    argv = runs(name)[0]["argv"]
    offset = int(argv[argv.index("-deadline") + 1]) - runs(name)[0]["started_ms"] / 1000
    return {"deadline": time.time() + offset}


#: Each recorded case as Bingo calls: (type, payload, options, the error expected).
STEPS: dict[str, list[tuple[str, Any, dict[str, Any], type[Exception] | None]]] = {
    "enqueue_plain_json": [("email:verification", MAIL, {}, None)],
    "enqueue_order": [("job:ping", b"{}", {"task_id": x}, None) for x in "abc"],
    # job:ping and blob:put take raw bytes (register(..., payload=bytes))
    "enqueue_binary_payload": [
        ("blob:put", base64.b64decode("gIH+/2JpbgECwyh/"), {"task_id": "bin-1"}, None)
    ],
    "enqueue_empty_payload": [("job:ping", b"", {"task_id": "empty-1"}, None)],
    "enqueue_unique_empty_payload": [("job:ping", None, {"unique": "10m"}, None)],
    "enqueue_task_id": [("email:verification", MAIL, {"task_id": "trace-123"}, None)],
    "enqueue_options": [
        (
            "report:build",
            {"day": "2026-12-07"},
            {"task_id": "opt-1", "max_retry": 3, "timeout": "90s", "retention": "1h"},
            None,
        )
    ],
    "enqueue_timeout_only": [("report:build", {}, {"task_id": "to-1", "timeout": "45s"}, None)],
    "enqueue_deadline_only": [("report:build", {}, {"task_id": "dl-1"}, None)],
    "enqueue_maxretry_zero_other_queue": [
        ("job:once", {}, {"task_id": "mr0-1", "max_retry": 0, "queue": "critical"}, None)
    ],
    "enqueue_process_in": [
        (
            "announcement:publish",
            {"announcement_id": 7},
            {"task_id": "sched-1", "process_in": "1h"},
            None,
        )
    ],
    "enqueue_unique": [
        ("email:verification", MAIL, {"unique": "1h"}, None),
        ("email:verification", MAIL, {"unique": "1h"}, UniqueTaskError),
    ],
    "enqueue_unique_process_in": [
        ("email:verification", MAIL, {"unique": "60s", "process_in": "120s"}, None)
    ],
    "enqueue_task_id_conflict": [
        ("email:verification", MAIL, {"task_id": "dup-1"}, None),
        ("email:verification", {"other": 1}, {"task_id": "dup-1"}, DuplicateTaskError),
        ("announcement:publish", {}, {"task_id": "dup-2", "process_in": "1h"}, None),
        ("announcement:publish", {}, {"task_id": "dup-2"}, DuplicateTaskError),
    ],
    "enqueue_unique_with_conflicting_id": [
        ("email:verification", MAIL, {"task_id": "u-1"}, None),
        (
            "email:verification",
            {"To": "x@y.z"},
            {"task_id": "u-1", "unique": "5m"},
            DuplicateTaskError,
        ),
    ],
    "enqueue_headers": [
        (
            "email:verification",
            MAIL,
            {"task_id": "hdr-1", "headers": {"traceparent": TRACE, "tenant": "acme"}},
            None,
        )
    ],
}
#: Recorded cases Bingo's client does not make: Asynq's aggregation groups.
NOT_MADE = {"enqueue_group"}


def _registry() -> Registry:
    registry = Registry()
    register = TaskRegister(registry, "t")
    for name in ("email:verification", "job:once", "report:build"):
        register(name, handle)
    register("job:ping", handle, payload=bytes)
    register("blob:put", handle, payload=bytes)
    register("announcement:publish", handle)
    return registry


@pytest.fixture
def client(bingo_settings_factory: Any) -> Iterator[Client]:
    settings = bingo_settings_factory(asynq={"queues": {"default": 1, "critical": 2}})
    c = Client(settings, registry=_registry())
    yield c
    c.close()


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def test_every_recorded_enqueue_case_is_covered() -> None:
    from asynq_golden import golden

    names = {c["name"] for c in golden()["cases"] if c["name"].startswith("enqueue")}
    assert names == set(STEPS) | NOT_MADE


def _hashes(keys: list[dict[str, Any]]) -> dict[str, dict[str, bytes]]:
    return {
        normal(k["key"]): {raw(i["field"]).decode(): raw(i["value"]) for i in k["value"]}
        for k in keys
        if k["type"] == "hash"
    }


def _compare_messages(ours: bytes, theirs: bytes, t0: float, g0: float) -> None:
    a, b = AsynqMessage.decode(ours), AsynqMessage.decode(theirs)
    for name in AsynqMessage._fields:
        mine, recorded = getattr(a, name), getattr(b, name)
        if name == "id":
            assert normal(mine) == normal(recorded)
        elif name == "deadline" and recorded:
            assert abs((mine - t0) - (recorded - g0)) <= 2
        elif name == "headers":
            assert dict(mine) == dict(recorded)
        else:
            assert mine == recorded, name


@pytest.mark.parametrize("name", sorted(STEPS))
def test_enqueue_writes_what_go_writes(name: str, client: Client, raw_redis: redis.Redis) -> None:
    recorded = dumps(name)[-1]
    g0 = runs(name)[0]["started_ms"] / 1000
    t0 = time.time()
    for task_type, payload, options, error in STEPS[name]:
        if name == "enqueue_deadline_only" or "-deadline" in runs(name)[0]["argv"]:
            options = {**options, **_deadline(name)}
        if error is None:
            client.enqueue(task_type, payload, **options)
        else:
            with pytest.raises(error):
                client.enqueue(task_type, payload, **options)
    ours = dump_redis(raw_redis)
    t1 = time.time()
    assert shape(ours) == shape(recorded["keys"])
    by_key = {normal(k["key"]): k for k in recorded["keys"]}
    g1 = recorded["at_ms"] / 1000
    for key in ours:
        theirs = by_key[normal(key["key"])]
        if theirs["ttl_ms"] != -1:  # same TTL, a few seconds aside
            assert abs(key["ttl_ms"] - theirs["ttl_ms"]) < 3000, key["key"]
        if key["type"] == "zset":  # scores: times, at the same distance from the dump
            for mine, their in zip(key["value"], theirs["value"], strict=True):
                assert abs((mine["score"] - t1) - (their["score"] - g1)) <= 2
        if key["type"] == "string":
            assert normal(raw(key["value"]).decode()) == normal(raw(theirs["value"]).decode())
    recorded_hashes = _hashes(recorded["keys"])
    for key, fields in _hashes(ours).items():
        theirs_fields = recorded_hashes[key]
        _compare_messages(fields["msg"], theirs_fields["msg"], t0, g0)
        assert fields["state"] == theirs_fields["state"]
        assert fields.get("unique_key") == theirs_fields.get("unique_key")
        if "pending_since" in theirs_fields:
            assert t0 - 1 <= int(fields["pending_since"]) / 1e9 <= t1 + 1


def test_the_refusals_are_asynq_s(client: Client) -> None:
    """A held unique lock, then a task id in use (the lock stays, as Go leaves it)."""
    first = client.enqueue("email:verification", MAIL, unique="1h")
    with pytest.raises(UniqueTaskError, match="holds the unique lock in queue 'default'"):
        client.enqueue("email:verification", MAIL, unique="1h")
    with pytest.raises(DuplicateTaskError, match=f"task id {first.id!r} already exists"):
        client.enqueue("job:once", {}, task_id=first.id)
    assert first.unique_key == (
        "asynq:{default}:unique:email:verification:e95bdac9547c60143d2c001df6df42d1"
    )


def test_enqueue_many_mixes_formats_and_keeps_the_order(
    bingo_settings_factory: Any, raw_redis: redis.Redis
) -> None:
    settings = bingo_settings_factory(
        asynq={"queues": {"legacy": 1}}, worker={"queues": {"default": 1}}
    )
    with Client(settings, registry=_registry()) as c:
        c.enqueue("job:once", {}, queue="legacy", task_id="taken")
        items: list[Any] = [
            ("job:once", {"n": 0}),
            ("job:once", {"n": 1}, {"queue": "legacy"}),
            ("job:once", {"n": 2}),
            ("job:once", {"n": 3}, {"queue": "legacy", "task_id": "taken"}),
            ("job:once", {"n": 4}, {"queue": "legacy"}),
        ]
        with pytest.raises(BulkEnqueueError) as info:
            c.enqueue_many(items)
    ids = info.value.ids
    assert list(info.value.refused) == [3] and ids[3] == "taken"
    assert raw_redis.lrange("bingo:{default}:pending", 0, -1) == [
        ids[2].encode(),
        ids[0].encode(),
    ]
    pending = raw_redis.lrange("asynq:{legacy}:pending", 0, -1)
    assert pending == [ids[4].encode(), ids[1].encode(), b"taken"]
    msg = AsynqMessage.decode(raw_redis.hget(f"asynq:{{legacy}}:t:{ids[1]}", "msg") or b"")
    assert (msg.payload, msg.queue, msg.retry, msg.timeout) == (b'{"n":1}', "legacy", 25, 1800)
    assert raw_redis.smembers("asynq:queues") == {b"legacy"}


def test_async_client_and_ticks(bingo_settings_factory: Any, redis_url: str) -> None:
    settings = bingo_settings_factory(asynq={"queues": {"default": 1}})
    registry = _registry()
    template = Template.build(registry.get("job:once"))
    tick = Tick(template, '{"n":2}', "config|ping", 1_800_000_000.0, 60.0)

    async def main() -> tuple[list[TickResult], list[TickResult]]:
        client = AsyncClient(settings, registry=registry)
        try:
            info = await client.enqueue("job:once", {"n": 1}, process_in="10m")
            assert info.state == "scheduled"
            return await client.enqueue_ticks([tick]), await client.enqueue_ticks([tick])
        finally:
            await client.broker.close()

    first, again = asyncio.run(main())
    assert first[0].enqueued and again[0].duplicate and first[0].task_id == again[0].task_id
    with redis.Redis.from_url(redis_url) as r:
        assert r.zcard("asynq:{default}:scheduled") == 1
        assert r.lrange("asynq:{default}:pending", 0, -1) == [first[0].task_id.encode()]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"timeout": 0}, "option timeout=0 (no limit) has no Asynq form"),
        ({"unique": 0.5}, "option unique=0.5: Asynq takes >= 1s"),
        ({"retry_backoff": 5}, "option retry_backoff has no field in an Asynq task"),
        ({"isolation": "process"}, "option isolation has no field in an Asynq task"),
    ],
)
def test_options_without_an_asynq_form_are_refused(
    client: Client, raw_redis: redis.Redis, options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(OptionError) as info:
        client.enqueue("job:once", {}, **options)
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert "queue 'default' (an asynq.queues queue)" in str(info.value)
    assert raw_redis.keys("*") == []


def test_headers_go_to_a_bingo_queue_too_and_bad_ones_are_refused(bingo_settings: Any) -> None:
    with Client(bingo_settings, registry=_registry()) as c:
        info = c.enqueue("job:once", {}, headers={"a": "b"})
        assert c.app.inspector.task(info.queue, info.id).headers == {"a": "b"}
        with pytest.raises(OptionError, match="expected a mapping of non-empty strings"):
            c.enqueue("job:once", {}, headers={"a": 1})


def test_the_recording_refused_what_bingo_refuses() -> None:
    """The Go client's own words for the refusals these tests expect."""
    said = {r["stderr"].strip() for c in STEPS for r in runs(c) if r["exit"]}
    assert said == {
        "asynqprobe: enqueue 0: task already exists",
        "asynqprobe: enqueue 0: task ID conflicts with another task",
    }
    assert case("enqueue_unique")["steps"][1]["exit"] == 1


def test_a_raw_bytes_type_takes_bytes_and_only_asynq_queues(
    client: Client, bingo_settings: Any
) -> None:
    with pytest.raises(PayloadError, match="expected bytes"):
        client.enqueue("blob:put", {"a": 1})
    info = client.enqueue("blob:put", b"\x80\x81")
    assert info.payload == {"base64": "gIE="}
    with (
        Client(bingo_settings, registry=_registry()) as bingo_only,
        pytest.raises(OptionError, match="the type takes raw bytes"),
    ):
        bingo_only.enqueue("blob:put", b"x")
