"""A Bingo worker serving a queue of ``asynq.queues`` does to Redis what the Go server
recorded in ``tests/fixtures/asynq/golden.json`` does: each recorded outcome is replayed
on a private Redis (the task written by the Go client's bytes where the recording has
them) and every key of Asynq's layout is compared with the recorded after-state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from asynq_golden import asynq_only, dump_redis, dumps, normal, raw, restore, shape
from pydantic import BaseModel

from bingo_core import Client, SkipRetry
from bingo_core.app import App
from bingo_core.asynq import AsynqMessage
from bingo_core.registry import Registry, TaskRegister
from bingo_core.worker import Worker

MAIL = {"To": "a@b.c", "Subject": "Hi", "Content": "123456"}
SEEN: list[dict[str, Any]] = []


async def ok(ctx: Any, payload: Any) -> None:
    SEEN.append({"id": ctx.task_id, "payload": payload, "retry": ctx.retry_count})
    if ctx.headers:
        SEEN[-1]["headers"] = ctx.headers


async def with_result(ctx: Any, payload: Any) -> dict[str, int]:
    return {"rows": 3}


async def fail(ctx: Any, payload: Any) -> None:
    raise RuntimeError("induced failure")


async def skip(ctx: Any, payload: Any) -> None:
    raise SkipRetry("induced failure")


async def slow(ctx: Any, payload: Any) -> None:
    await asyncio.sleep(30)


def _registry(**handlers: Any) -> Registry:
    registry = Registry()
    register = TaskRegister(registry, "t")
    for name, handler in handlers.items():
        register(name.replace("__", ":"), handler)
    return registry


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def serve(bingo_settings_factory: Any) -> Callable[..., None]:
    """``serve(registry, until)`` runs a Bingo worker on the Asynq queue ``default``
    until ``until()`` holds (or 10 s), then stops it as SIGTERM does."""

    def run(registry: Registry, until: Callable[[], bool], **worker: Any) -> None:
        settings = bingo_settings_factory(
            asynq={"queues": {"default": 1}},
            worker={"queues": {"bingo": 1}, "lease": "2s", "shutdownTimeout": "1s", **worker},
        )

        async def main() -> None:
            app = App(settings, registry=registry)
            stop = asyncio.Event()
            task = asyncio.create_task(Worker(app).run(stop))
            deadline = time.monotonic() + 10
            try:
                while not until() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            finally:
                stop.set()
                await task
                await app.async_broker().close()
                app.close()

        asyncio.run(main())

    return run


def _enqueue(settings_factory: Any, task_type: str, payload: Any, **options: Any) -> None:
    settings = settings_factory(asynq={"queues": {"default": 1}})
    with Client(settings, registry=_registry(**{task_type.replace(":", "__"): ok})) as c:
        c.enqueue(task_type, payload, **options)


def _compare(r: redis.Redis, name: str, dump: int = -1, *, zset_range: float = 2) -> None:
    """Asynq's keys now against a recorded after-state: names, types, members, fields;
    messages field by field (times relative, error texts present); scores and TTLs."""
    recorded = dumps(name)[dump]
    ours = asynq_only(dump_redis(r))
    theirs = asynq_only(recorded["keys"])
    assert shape(ours) == shape(theirs)
    g1, t1 = recorded["at_ms"] / 1000, time.time()
    by_key = {normal(k["key"]): k for k in theirs}
    for key in ours:
        rec = by_key[normal(key["key"])]
        if key["type"] == "zset":
            for mine, their in zip(key["value"], rec["value"], strict=True):
                assert abs((mine["score"] - t1) - (their["score"] - g1)) <= zset_range, key["key"]
        elif key["type"] == "string" and not key["key"].endswith(":paused"):
            assert raw(key["value"]) == raw(rec["value"]), key["key"]
        elif key["type"] == "hash":
            _compare_hash(key, rec, t1, g1)
        if rec["ttl_ms"] != -1:  # daily counters: 90 days from their first event
            assert abs((key["ttl_ms"] / 1000) - (rec["ttl_ms"] / 1000)) < 5


def _compare_hash(key: dict[str, Any], rec: dict[str, Any], t1: float, g1: float) -> None:
    mine = {raw(i["field"]).decode(): raw(i["value"]) for i in key["value"]}
    their = {raw(i["field"]).decode(): raw(i["value"]) for i in rec["value"]}
    assert mine["state"] == their["state"]
    assert mine.get("result") == their.get("result")
    a, b = AsynqMessage.decode(mine["msg"]), AsynqMessage.decode(their["msg"])
    for field in AsynqMessage._fields:
        x, y = getattr(a, field), getattr(b, field)
        if field in ("last_failed_at", "completed_at") and y:
            # written during the run (the recording dumped up to 4 s after it)
            assert t1 - 10 <= x <= t1 + 1 and g1 - 10 <= y <= g1 + 1, field
        elif field == "error_msg" and y:
            assert ("induced failure" in x) if "induced" in y else (x == y), (x, y)
        elif field == "headers":
            assert dict(x) == dict(y)
        else:
            assert x == y, field


def _gone(r: redis.Redis) -> Callable[[], bool]:
    """Nothing is left pending or active (every outcome is written)."""

    def done() -> bool:
        return not r.lrange("asynq:{default}:pending", 0, -1) and not r.lrange(
            "asynq:{default}:active", 0, -1
        )

    return done


def test_success_of_a_task_the_go_client_wrote(r: redis.Redis, serve: Any) -> None:
    SEEN.clear()
    restore(r, dumps("serve_success_done")[0]["keys"])
    serve(_registry(email__verification=ok), _gone(r))
    _compare(r, "serve_success_done")
    assert SEEN == [{"id": "ok-1", "payload": MAIL, "retry": 0}]


def test_success_releases_the_unique_lock(r: redis.Redis, serve: Any) -> None:
    restore(r, dumps("serve_success_unique")[0]["keys"])
    assert r.exists("asynq:{default}:unique:email:verification:e95bdac9547c60143d2c001df6df42d1")
    serve(_registry(email__verification=ok), _gone(r))
    _compare(r, "serve_success_unique")


def test_retention_keeps_the_task_and_its_result(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    _enqueue(
        bingo_settings_factory,
        "report:build",
        {"day": "2026-12-07"},
        task_id="ret-1",
        retention="1h",
    )
    serve(_registry(report__build=with_result), _gone(r))
    _compare(r, "serve_success_retention_result")


def test_retention_without_a_result(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    _enqueue(bingo_settings_factory, "report:build", {}, task_id="ret-2", retention="10m")
    serve(_registry(report__build=ok), _gone(r))
    _compare(r, "serve_success_retention_no_result")


def test_failure_is_retried_with_asynq_s_rewrite(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    _enqueue(bingo_settings_factory, "email:verification", MAIL, task_id="fail-1", max_retry=3)
    before = int(time.time())  # Asynq's retry times are whole seconds
    serve(_registry(email__verification=fail), _gone(r))
    after = time.time()
    # the backoff is random (15..44 s for a first retry): the score is within that
    _compare(r, "serve_failure_retry", zset_range=30)
    score = r.zscore("asynq:{default}:retry", "fail-1") or 0
    assert before + 15 <= score <= after + 45


def test_failure_with_no_retry_left_is_archived(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    _enqueue(bingo_settings_factory, "job:once", {}, task_id="arch-1", max_retry=0)
    serve(_registry(job__once=fail), _gone(r))
    _compare(r, "serve_failure_retry_exhausted", zset_range=3)


def test_skip_retry_archives_at_once(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    _enqueue(bingo_settings_factory, "email:verification", MAIL, task_id="skip-1", max_retry=3)
    serve(_registry(email__verification=skip), _gone(r))
    _compare(r, "serve_skipretry_archive")


def test_shutdown_requeues_to_the_head(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    _enqueue(bingo_settings_factory, "email:verification", MAIL, task_id="slow-1")
    running = lambda: bool(r.lrange("asynq:{default}:active", 0, -1))
    serve(_registry(email__verification=slow), running)
    _compare(r, "serve_active_then_shutdown_requeue")


def test_while_running_the_task_is_active_and_leased(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    _enqueue(bingo_settings_factory, "email:verification", MAIL, task_id="slow-1")
    seen: list[Any] = []

    def caught() -> bool:
        if r.lrange("asynq:{default}:active", 0, -1):
            seen.append(asynq_only(dump_redis(r)))
            return True
        return False

    serve(_registry(email__verification=slow), caught)
    recorded = asynq_only(dumps("serve_active_then_shutdown_requeue")[0]["keys"])
    assert shape(seen[0]) == shape(recorded)
    lease = next(k for k in seen[0] if k["key"].endswith(":lease"))
    assert 25 <= lease["value"][0]["score"] - time.time() <= 31  # Asynq's 30 s lease


def test_a_crashed_server_s_task_is_recovered(r: redis.Redis, serve: Any) -> None:
    """The Go server SIGKILLed mid-task: a Bingo worker's recoverer retries it."""
    restore(r, asynq_only(dumps("lease_expired_recovery")[0]["keys"]))
    r.zadd("asynq:{default}:lease", {"crash-1": int(time.time()) - 31})
    retried = lambda: bool(r.zcard("asynq:{default}:retry"))
    serve(_registry(other__type=ok), retried)
    _compare(r, "lease_expired_recovery", zset_range=30)


def test_a_paused_queue_is_forwarded_but_not_served(r: redis.Redis, serve: Any) -> None:
    SEEN.clear()
    restore(r, asynq_only(dumps("forward_scheduled_while_paused")[0]["keys"]))
    r.zadd("asynq:{default}:scheduled", {"fwd-1": int(time.time()) - 1})
    forwarded = lambda: bool(r.lrange("asynq:{default}:pending", 0, -1))
    serve(_registry(announcement__publish=ok), forwarded)
    time.sleep(0.3)
    _compare(r, "forward_scheduled_while_paused")
    assert SEEN == []


def test_shutdown_requeue_goes_to_the_head(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    _enqueue(bingo_settings_factory, "email:verification", MAIL, task_id="slow-1")
    running = lambda: bool(r.lrange("asynq:{default}:active", 0, -1))

    def then_another() -> bool:
        if running():
            if not r.exists("asynq:{default}:t:later"):
                _enqueue(bingo_settings_factory, "email:verification", {}, task_id="later")
            return True
        return False

    serve(_registry(email__verification=slow), then_another, concurrency=1)
    # the right end is the head: the requeued task runs next
    assert r.lrange("asynq:{default}:pending", 0, -1) == [b"later", b"slow-1"]
    assert r.hget("asynq:{default}:t:slow-1", "pending_since") is None


class Mail(BaseModel):
    To: str
    Subject: str


async def typed(ctx: Any, payload: Mail) -> None:
    SEEN.append({"id": ctx.task_id, "payload": payload})


def _message(r: redis.Redis, task_id: str) -> AsynqMessage:
    return AsynqMessage.decode(r.hget(f"asynq:{{default}}:t:{task_id}", "msg") or b"")


def test_bad_tasks_are_kept_visibly_never_dropped(
    r: redis.Redis, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    SEEN.clear()
    good = AsynqMessage(type="email:verification", id="good", queue="default", retry=3)
    bad_payload = good.with_(id="badp", payload=b'{"To": 5}')
    unknown = good.with_(id="unk", type="nobody:registers")
    tasks = {
        "good": good.with_(payload=b'{"To":"a","Subject":"b"}').encode(),
        "badp": bad_payload.encode(),
        "unk": unknown.encode(),
        "junk": b"\xff\xff\xff",
    }
    for task_id, msg in tasks.items():
        r.hset(f"asynq:{{default}}:t:{task_id}", mapping={"msg": msg, "state": "pending"})
    r.hset("asynq:{default}:t:nomsg", "state", "pending")
    r.lpush("asynq:{default}:pending", *tasks, "nomsg")
    r.sadd("asynq:queues", "default")
    registry = Registry()
    TaskRegister(registry, "t")("email:verification", typed, payload=Mail)
    serve(registry, _gone(r))
    assert [s["id"] for s in SEEN] == ["good"]
    archived = {m.decode() for m in r.zrange("asynq:{default}:archived", 0, -1)}
    assert archived == {"badp", "junk", "nomsg"}
    assert "does not match Mail" in _message(r, "badp").error_msg
    assert r.hget("asynq:{default}:t:junk", "msg") == b"\xff\xff\xff"  # kept as it was
    # an unknown type is an ordinary failure: retried, as Asynq retries it
    assert r.zrange("asynq:{default}:retry", 0, -1) == [b"unk"]
    assert "unknown task type 'nobody:registers'" in _message(r, "unk").error_msg
    assert _message(r, "unk").retried == 1
    text = caplog.text
    assert "task hash asynq:{default}:t:nomsg has no msg" in text
    assert "not an Asynq task message" in text and "(key asynq:{default}:t:junk)" in text


def test_bingo_and_asynq_queues_served_side_by_side(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    SEEN.clear()
    settings = bingo_settings_factory(
        asynq={"queues": {"default": 1}}, worker={"queues": {"bingo": 1}}
    )
    registry = _registry(job__ping=ok)
    with Client(settings, registry=registry) as c:
        for n in range(20):
            c.enqueue("job:ping", {"n": n}, queue="default" if n % 2 else "bingo")
    serve(registry, lambda: len(SEEN) == 20)
    assert sorted(s["payload"]["n"] for s in SEEN) == list(range(20))
    assert r.get("asynq:{default}:processed") == b"10"
    assert r.get("bingo:{bingo}:processed") == b"10"


def _fields(raw_value: bytes) -> dict[int, Any]:
    """Field number -> value of a flat protobuf message (the last of a repeated one)."""
    from bingo_core.asynq.wire import _read_varint

    out: dict[int, Any] = {}
    pos = 0
    while pos < len(raw_value):
        tag, pos = _read_varint(raw_value, pos)
        if tag & 7 == 0:
            out[tag >> 3], pos = _read_varint(raw_value, pos)
        else:
            size, pos = _read_varint(raw_value, pos)
            out[tag >> 3] = raw_value[pos : pos + size]
            pos += size
    return out


def test_a_bingo_worker_is_listed_as_an_asynq_server(
    r: redis.Redis, serve: Any, bingo_settings_factory: Any
) -> None:
    """While it runs a task: the server and worker records Go writes, with the same
    fields (compared with the recorded ones); gone after a clean stop."""
    _enqueue(bingo_settings_factory, "email:verification", MAIL, task_id="slow-1")
    seen: dict[str, Any] = {}

    def listed() -> bool:
        workers = r.zrange("asynq:workers", 0, -1)
        if workers and r.hlen(workers[0]):
            (server,) = r.zrange("asynq:servers", 0, -1)
            seen["server"] = r.get(server)
            seen["worker"] = r.hget(workers[0], "slow-1")
            seen["names"] = (server, workers[0])
            return True
        return False

    serve(_registry(email__verification=slow), listed, concurrency=2)
    recorded = {k["key"]: k for k in dumps("serve_active_then_shutdown_requeue")[0]["keys"]}
    go_server = next(v for k, v in recorded.items() if k.startswith("asynq:servers:"))
    go_worker = next(v for k, v in recorded.items() if k.startswith("asynq:workers:"))
    ours, theirs = _fields(seen["server"]), _fields(raw(go_server["value"]))
    assert sorted(ours) == sorted(theirs) == go_server["value"]["proto"]["wire_order"]
    assert ours[4] == theirs[4] == 2 and ours[5] == theirs[5]  # concurrency, {default: 1}
    assert ours[7] == b"active" and ours[9] == 1
    mine_w, go_w = _fields(seen["worker"]), _fields(raw(go_worker["value"][0]["value"]))
    assert sorted(mine_w) == sorted(go_w)
    assert {n: mine_w[n] for n in (4, 5, 6, 7)} == {n: go_w[n] for n in (4, 5, 6, 7)}
    start, deadline = _fields(mine_w[8])[1], _fields(mine_w[9])[1]
    assert deadline - start in (1799, 1800, 1801)  # the default timeout, as Go's
    server_key, workers_key = seen["names"]
    assert server_key.decode().startswith("asynq:servers:{") and b"}" in server_key
    assert not r.exists(server_key) and not r.zcard("asynq:servers")  # a clean stop
    assert not r.exists(workers_key) and not r.zcard("asynq:workers")


async def blob(ctx: Any, payload: bytes) -> None:
    SEEN.append({"id": ctx.task_id, "payload": payload})


def test_a_raw_bytes_type_gets_the_go_payload_as_it_is(r: redis.Redis, serve: Any) -> None:
    SEEN.clear()
    restore(r, dumps("enqueue_binary_payload")[-1]["keys"])
    restore(r, dumps("enqueue_empty_payload")[-1]["keys"])
    registry = Registry()
    TaskRegister(registry, "t")("blob:put", blob, payload=bytes)
    TaskRegister(registry, "u")("job:ping", blob, payload=bytes)
    serve(registry, _gone(r))
    assert sorted((s["id"], s["payload"]) for s in SEEN) == [
        ("bin-1", b"\x80\x81\xfe\xffbin\x01\x02\xc3(\x7f"),
        ("empty-1", b""),
    ]


def test_the_heartbeat_keeps_asynq_s_leases_whatever_worker_lease_is(
    bingo_settings_factory: Any,
) -> None:
    """Asynq's lease is 30 s and a Go recoverer takes a task 30 s after it: a worker
    serving Asynq queues beats at least every 5 s, as Go's does."""
    for asynq, expected in (({"queues": {"legacy": 1}}, 5.0), ({}, 100.0)):
        settings = bingo_settings_factory(asynq=asynq, worker={"lease": "300s"})
        app = App(settings, registry=_registry(job__ping=ok))
        try:
            assert Worker(app).heartbeat.interval == expected
        finally:
            app.close()


def test_the_handler_sees_the_headers_go_wrote(r: redis.Redis, serve: Any) -> None:
    SEEN.clear()
    restore(r, dumps("enqueue_headers")[-1]["keys"])
    serve(_registry(email__verification=ok), _gone(r))
    assert SEEN[0]["headers"] == {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tenant": "acme",
    }
