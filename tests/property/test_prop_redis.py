"""Random messages and keys planted in a private Redis, read by the inspector and by a
short-lived worker.

What is planted, under Bingo's prefix: task hashes with garbage messages (not JSON, JSON of
the wrong shape, fields of the wrong types, unknown task types, another queue's or
another id's message, payloads that fail the model), garbage in the other hash fields
(state, retried, times, result), task keys that are not hashes, ids with no task record
in every state's list or zset, unique and done markers of the wrong type, and, in queues
the good task does not use, state keys, counters, statistics, pause and wake-up keys of
the wrong type; also queue names that are not names, and garbage server heartbeats.

Properties: every inspector read (``stats``, ``tasks`` in each state, ``find``, and the
overview, servers, schedules and task statistics the dashboard shows) returns or raises a
``BingoError`` in one line; a worker serving the damaged queues runs the good task enqueued
alongside the garbage and completes it, and does not stop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from fuzz_support import FUZZ, only_bingo_errors, run_worker_until
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.broker import STATES

RAN: list[str] = []
P = "bingo"


class Item(BaseModel):
    n: int


async def record(ctx: bingo.TaskContext, payload: Item) -> None:
    RAN.append(ctx.task_id)


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("r:ok", record, payload=Item, max_retry=1, retry_backoff=0.05)


#: The good task's queue (only entry garbage here) and the others (anything).
GOOD_QUEUE = "default"
OTHER_QUEUES = ["other", "x" * 300, "\u00e9t\u00e9", "a{b}", "", "a:b"]
IDS = ["g1", "g2", "", "x" * 1000, "\u00e9", "a{b}", "*", "fixed"]


def _msg(**fields: Any) -> str:
    base: dict[str, Any] = {
        "id": "g1",
        "type": "r:ok",
        "queue": GOOD_QUEUE,
        "payload": {"n": 1},
        "max_retry": 1,
        "timeout": 5.0,
        "deadline": None,
        "retention": 0.0,
        "retry_backoff": None,
        "idempotent": False,
        "isolation": "thread",
        "enqueued_at": 1.0,
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v != "<drop>"})


MESSAGES = (
    st.sampled_from(
        [
            "",
            "{",
            "null",
            "[]",
            "1",
            '"x"',
            "{}",
            "\xff",
            '{"id": 1}',
            '{"id": "g1"}',
            _msg(),
            _msg(type="r:nosuch"),
            _msg(type=1),
            _msg(queue="other"),
            _msg(id="other-id"),
            _msg(payload={"n": "x"}),
            _msg(payload=[1]),
            _msg(payload=None),
            _msg(max_retry="3"),
            _msg(max_retry=-1),
            _msg(max_retry=10**30),
            _msg(timeout="5"),
            _msg(timeout=-1),
            _msg(timeout=1e308),
            _msg(deadline="tomorrow"),
            _msg(deadline=1.0),
            _msg(deadline=1e300),
            _msg(retention=-5),
            _msg(retention=1e300),
            _msg(retry_backoff="x"),
            _msg(retry_backoff=-1),
            _msg(isolation="fork"),
            _msg(isolation="process"),
            _msg(idempotent="yes"),
            _msg(enqueued_at="x"),
            _msg(enqueued_at=-1e300),
            _msg(payload="<drop>"),
            _msg(max_retry="<drop>"),
            _msg(timeout="<drop>"),
            _msg(unique_key=5),
            _msg(source=[1]),
            _msg(unique_key="deadbeef"),
            '{"id":"g1","type":"r:ok","queue":"default","payload":{"n":1},'
            '"max_retry":1,"timeout":NaN,"deadline":null,"retention":0,"retry_backoff":null,'
            '"idempotent":false,"isolation":"thread","enqueued_at":1}',
        ]
    )
    | st.text(max_size=20)
    | st.binary(max_size=12)
)

FIELD_VALUES = st.sampled_from(
    ["", "x", "-1", "1e400", "nan", "inf", "99999999999999999999", "{", "null", "\xff"]
) | st.binary(max_size=6)
HASH_FIELDS = st.sampled_from(
    [
        "state",
        "retried",
        "error",
        "failed_at",
        "started_at",
        "completed_at",
        "worker",
        "process_at",
        "result",
        "bogus",
    ]
)


@st.composite
def task_garbage(draw: st.DrawFn, queue: str) -> list[tuple[Any, ...]]:
    """Garbage entries of one queue: bad task records and dangling ids."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 4))):
        task_id = draw(st.sampled_from(IDS))
        kind = draw(st.sampled_from(["hash", "hash", "hash", "notahash", "dangling", "marker"]))
        state = draw(st.sampled_from(STATES))
        if kind == "hash":
            fields: dict[str, Any] = {}
            if draw(st.integers(0, 9)) < 8:
                fields["msg"] = draw(MESSAGES)
            for name in draw(st.lists(HASH_FIELDS, max_size=3, unique=True)):
                fields[name] = draw(FIELD_VALUES)
            fields.setdefault("state", state)
            ops.append(("hash", f"{P}:{{{queue}}}:t:{task_id}", fields))
        elif kind == "notahash":
            ops.append(
                (
                    draw(st.sampled_from(["string", "list", "set", "zset"])),
                    f"{P}:{{{queue}}}:t:{task_id}",
                    draw(st.binary(max_size=5)),
                )
            )
        elif kind == "marker":
            suffix = draw(st.sampled_from(["unique:deadbeef", f"done:{task_id}", "malformed:g1"]))
            ops.append(
                (
                    draw(st.sampled_from(["list", "hash", "string"])),
                    f"{P}:{{{queue}}}:{suffix}",
                    b"x",
                )
            )
            continue
        where = {"pending": "pending", "active": "lease"}.get(state, state)
        score = draw(st.sampled_from([0.0, 1.0, 1e300, -1e300, float("inf"), float("-inf")]))
        if state == "pending":
            ops.append(("lpush", f"{P}:{{{queue}}}:pending", task_id))
        else:
            ops.append(("zadd", f"{P}:{{{queue}}}:{where}", task_id, score))
    return ops


STRUCTURE = [
    "pending",
    "lease",
    "scheduled",
    "retry",
    "archived",
    "completed",
    "paused",
    "notify",
    "processed",
    "failed",
    "stats:total",
    "cancel",
    "processed:2026-01-01",
]


@st.composite
def queue_damage(draw: st.DrawFn, queue: str) -> list[tuple[Any, ...]]:
    """A queue's own keys holding the wrong type."""
    ops = []
    for suffix in draw(st.lists(st.sampled_from(STRUCTURE), min_size=1, max_size=3, unique=True)):
        ops.append(
            (
                draw(st.sampled_from(["string", "list", "hash", "set", "zset"])),
                f"{P}:{{{queue}}}:{suffix}",
                b"junk",
            )
        )
    return ops


@st.composite
def plantings(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    ops: list[tuple[Any, ...]] = []
    ops += draw(task_garbage(GOOD_QUEUE))
    for queue in draw(st.lists(st.sampled_from(OTHER_QUEUES), max_size=2, unique=True)):
        ops.append(("sadd", f"{P}:queues", queue))
        if draw(st.booleans()):
            ops += draw(task_garbage(queue))
        if draw(st.booleans()):
            ops += draw(queue_damage(queue))
    if draw(st.booleans()):
        ops.append(("sadd", f"{P}:queues", draw(st.binary(max_size=4) | st.text(max_size=4))))
    if draw(st.booleans()):
        server = draw(st.sampled_from(["s1", "", "\xff"]))
        ops.append(("zadd", f"{P}:servers", server, draw(st.sampled_from([1e300, 0.0]))))
        ops.append(
            (
                "string",
                f"{P}:server:{server}",
                draw(
                    st.sampled_from(
                        [
                            b"{",
                            b"[]",
                            b'{"queues": 5}',
                            b'{"queues": {"a": "x"}}',
                            b'{"pid": "x", "started": "y"}',
                            b"\xff",
                        ]
                    )
                ),
            )
        )
    if draw(st.booleans()):
        ops.append(
            (
                draw(st.sampled_from(["string", "list", "zset"])),
                f"{P}:{{scheduler}}:{draw(st.sampled_from(['entries', 'sync', 'leader']))}",
                b"{",
            )
        )
    return ops


def plant(client: redis.Redis, ops: list[tuple[Any, ...]]) -> None:
    for op in ops:
        kind, key = op[0], op[1]
        try:
            if kind == "hash":
                client.delete(key)
                fields = op[2] if isinstance(op[2], dict) else {"f": op[2]}
                client.hset(key, mapping=fields)
            elif kind in ("string", "list", "set", "zset"):
                client.delete(key)
                value = op[2] or b"x"
                if kind == "string":
                    client.set(key, value)
                elif kind == "list":
                    client.rpush(key, value)
                elif kind == "set":
                    client.sadd(key, value)
                else:
                    client.zadd(key, {value: 1})
            elif kind == "lpush":
                client.lpush(key, op[2])
            elif kind == "sadd":
                client.sadd(key, op[2])
            elif kind == "zadd":
                client.zadd(key, {op[2]: op[3]})
        except redis.ResponseError:
            pass  # planting over a key of another type: it stays what it was


@pytest.fixture
def app(bingo_app: Callable[..., App]) -> App:
    return bingo_app(
        Plugin(),
        worker={
            "queues": {GOOD_QUEUE: 2, "other": 1, "\u00e9t\u00e9": 1},
            "lease": "2s",
            "recoverInterval": "0.2s",
        },
    )


def _raw(app: App) -> redis.Redis:
    return redis.Redis.from_url(app.settings.redis.url)


def _read_everything(app: App, ids: list[str]) -> None:
    inspector = app.inspector
    with only_bingo_errors() as raised:
        queues = inspector.queues()
    if raised:
        queues = [GOOD_QUEUE]
    calls: list[Callable[[], Any]] = [
        inspector.stats,
        inspector.servers,
        inspector.overview,
        inspector.task_stats,
        lambda: inspector.schedules(history=5),
        inspector.server_list,
    ]
    for queue in queues:
        for state in STATES:
            calls.append(lambda q=queue, s=state: inspector.tasks(q, s, limit=20))
        calls.append(lambda q=queue: inspector.stats([q]))
    for task_id in ids:
        calls.append(lambda t=task_id: inspector.find(t))
        calls.append(lambda t=task_id: inspector.find(t, GOOD_QUEUE))
    for action in ("retry", "archive", "delete"):  # last: they change what the reads see
        for task_id in ids[:3]:
            calls.append(lambda a=action, t=task_id: inspector.act(a, t))
        calls.append(lambda a=action: inspector.act_many(a, GOOD_QUEUE, ids))
    for call in calls:
        with only_bingo_errors():
            call()


@settings(FUZZ, max_examples=120)
@given(ops=plantings())
@example(
    ops=[
        ("hash", f"{P}:{{{GOOD_QUEUE}}}:t:g1", {"msg": "{", "state": "pending"}),
        ("lpush", f"{P}:{{{GOOD_QUEUE}}}:pending", "g1"),
    ]
)
def test_inspector_reads_garbage_in_one_line(app: App, ops: list[tuple[Any, ...]]) -> None:
    client = _raw(app)
    try:
        client.flushall()
        client.sadd(f"{P}:queues", GOOD_QUEUE)
        good = app.client.enqueue("r:ok", {"n": 1}, retention=60)
        plant(client, ops)
    finally:
        client.close()
    _read_everything(app, [good.id, *IDS])


@settings(FUZZ, max_examples=30)
@given(ops=plantings())
@example(
    ops=[
        ("hash", f"{P}:{{{GOOD_QUEUE}}}:t:g1", {"msg": _msg(timeout=1e308)}),
        ("lpush", f"{P}:{{{GOOD_QUEUE}}}:pending", "g1"),
    ]
)
@example(ops=[("string", f"{P}:{{other}}:notify", b"x"), ("sadd", f"{P}:queues", "other")])
def test_worker_runs_the_good_task_beside_garbage(app: App, ops: list[tuple[Any, ...]]) -> None:
    client = _raw(app)
    try:
        client.flushall()
        client.sadd(f"{P}:queues", GOOD_QUEUE)
        plant(client, ops)
        RAN.clear()
        with only_bingo_errors() as raised:
            good = app.client.enqueue("r:ok", {"n": 1}, retention=60)
        event("good task refused" if raised else "good task enqueued")
        if raised:
            return  # refused in one line (a key it needs holds the wrong type)
        done = run_worker_until(app, lambda: good.id in RAN, timeout=6.0)
        assert done, f"the good task {good.id} did not run beside the garbage"

        def completed() -> bool:
            return client.hget(f"{P}:{{{GOOD_QUEUE}}}:t:{good.id}", "state") == b"completed"

        # Acked within the worker's next loop: give it a moment.
        assert run_worker_until(app, completed, timeout=3.0) or completed(), (
            f"the good task {good.id} ran but was not completed"
        )
    finally:
        client.close()


@pytest.fixture
def cli_config(cli_env: Any, app: App) -> str:
    """A config file for the command line on the same private Redis."""
    from fuzz_support import write_yaml

    return str(write_yaml(cli_env / "bingo.yaml", {"redis": {"url": app.settings.redis.url}}))


@settings(FUZZ, max_examples=60)
@given(
    ops=plantings(),
    command=st.sampled_from(
        [
            ["stats"],
            ["stats", "--json"],
            ["queues", "list"],
            ["tasks", "list"],
            ["tasks", "list", "--json"],
            ["tasks", "show", "g1"],
            ["tasks", "show", "g1", "--json"],
            ["tasks", "retry", "g1"],
            ["tasks", "archive", "g1"],
            ["tasks", "delete", "g1"],
            ["cron", "list"],
            ["cron", "list", "--json"],
        ]
    ),
    state=st.sampled_from(STATES),
)
@example(
    ops=[
        ("hash", f"{P}:{{{GOOD_QUEUE}}}:t:g1", {"msg": _msg(enqueued_at=-1e300)}),
        ("lpush", f"{P}:{{{GOOD_QUEUE}}}:pending", "g1"),
    ],
    command=["tasks", "list"],
    state="pending",
)
@example(
    ops=[
        ("hash", f"{P}:{{{GOOD_QUEUE}}}:t:g1", {"msg": _msg(), "process_at": "1e300"}),
        ("zadd", f"{P}:{{{GOOD_QUEUE}}}:scheduled", "g1", 1e300),
    ],
    command=["tasks", "list"],
    state="scheduled",
)
def test_command_line_reads_garbage_in_one_line(
    app: App,
    cli_config: str,
    capsys: pytest.CaptureFixture[str],
    ops: list[tuple[Any, ...]],
    command: list[str],
    state: str,
) -> None:
    from fuzz_support import check_outcome, run_main

    client = _raw(app)
    try:
        client.flushall()
        client.sadd(f"{P}:queues", GOOD_QUEUE)
        plant(client, ops)
    finally:
        client.close()
    if command[:2] == ["tasks", "list"]:
        command = [*command, "--state", state]
    check_outcome(run_main(capsys, ["-c", cli_config, *command]))
