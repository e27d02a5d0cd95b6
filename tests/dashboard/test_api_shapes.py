"""The JSON API's answers keep their shapes: for each read, the keys of every object it
holds (nested objects and the first item of each list), as clients rely on them; and the
OpenAPI document describes each answer's keys."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bingo_core.app import App

from .helpers import asyncio_run_sampler, heartbeat, lease, publish_entries, seed


def shape(value: Any) -> Any:
    """The keys of ``value``: objects as their sorted keys with each value's shape, lists
    as the shape of their first item."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def keys(*names: str) -> dict[str, Any]:
    """``names`` (space-separated) as the keys of a shape."""
    return dict.fromkeys(" ".join(names).split())


QUEUE = keys(
    "queue pending active scheduled retry archived completed size processed failed "
    "processed_today failed_today paused latency consumers throttled error_rate_today memory "
    "layout waiting"
) | {"bad_keys": []}
TOTALS = keys(
    "queues pending active scheduled retry archived completed size processed failed "
    "processed_today failed_today memory error_rate_today latency paused waiting"
)
TASK = keys(
    "id type queue state payload max_retry retried error timeout deadline retention "
    "unique_key enqueued_at process_at started_at failed_at completed_at idempotent "
    "source worker result progress headers payload_text duration cancel_requested depends_on "
    "deps_open batch_items workflow held_by"
) | {
    "actions": [None],
    "payload": {"count": None, "loud": None, "name": None},
    "depends_on": [],
}
LEADER = {"id": None, "epoch": None, "ttl": None, "since": None}
HISTORY = {"tick": None, "task_id": None, "enqueued_at": None, "lateness": None}
ENTRY = keys(
    "key name source spec timezone type queue misfire_grace next_fire last_fire "
    "last_task_id last_enqueued_at missed url last_task_url source_kind"
) | {"next_fires": [None]}
SYNC = keys(
    "last_sync last_success duration interval rounds full_reads last_full_read active "
    "db_ok db_error database daemon published_at"
) | {
    "errors": {"7": None},
    "static_errors": [],
    "rows": [keys("id name type spec status state error key")],
}
SERVER = keys(
    "id host pid concurrency started_at processed failed active_count at status "
    "expires heartbeat_age"
) | {
    "queues": {"default": None},
    "roles": [None],
    "active": [
        keys("id queue type started_at running url"),
    ],
}
ROLE_ONLY = keys("id host pid started_at at status expires heartbeat_age") | {
    "roles": [None],
    "active": [],
}
STATES = ("pending", "active", "scheduled", "retry", "archived", "completed", "waiting")
REDIS = keys(
    "version mode address uptime used_memory used_memory_human used_memory_peak "
    "maxmemory maxmemory_policy connected_clients blocked_clients ops_per_sec dbsize "
    "prefix keys keys_more role"
)
TYPE_STATS = keys(
    "queue type processed failed duration_sum duration_max p50 p95 last_error last_error_at"
) | {"buckets": [None]}


@pytest.fixture
def filled(app: App) -> dict[str, Any]:
    """Tasks in several states, one active, a worker and a dashboard heartbeat, a
    published entry with one enqueue in its history, a sync status and a sample."""
    import json

    ids = seed(app)
    (active,) = lease(app)
    heartbeat(app, active=[{"id": active, "queue": "default", "type": "demo:greet"}])
    now = time.time()
    item = {"tick": now - 60, "task_id": ids["pending"][0], "enqueued_at": now - 59.9}
    item["lateness"] = 0.1
    info = {
        "name": "every five",
        "source": "plugin:demo",
        "spec": "*/5 * * * *",
        "timezone": "UTC",
        "type": "demo:greet",
        "queue": "default",
        "misfire_grace": 60.0,
    }
    key = "plugin:demo|every five"
    publish_entries(app, [{"key": key, "info": info}], {key: item})
    status = {
        "last_sync": now,
        "last_success": now,
        "duration": 0.01,
        "interval": 10.0,
        "rounds": 3,
        "full_reads": 1,
        "last_full_read": now,
        "rows": [
            {
                "id": 7,
                "name": "bad",
                "type": "demo:greet",
                "spec": "61 * * * *",
                "status": 1,
                "state": "error",
                "error": "minute 61",
                "key": None,
            }
        ],
        "active": 0,
        "errors": {"7": "minute 61"},
        "db_ok": True,
        "db_error": None,
        "database": "sqlite:///x.db",
        "daemon": "leader-host:77:aa",
        "static_errors": [],
        "published_at": now,
    }
    app.broker.redis.set(app.broker.keys.scheduler.sync, json.dumps(status))
    asyncio_run_sampler(app)
    return {"ids": ids, "active": active, "key": key}


def test_queue_reads_keep_their_shapes(admin: Any, filled: dict[str, Any]) -> None:
    overview = admin.get("/queue/api/overview").json()
    assert shape(overview) == {"at": None, "queues": [QUEUE], "totals": TOTALS}
    assert shape(admin.get("/queue/api/queues/default").json()) == QUEUE
    daily = admin.get("/queue/api/daily", params={"days": 2}).json()
    series = {"processed": [None], "failed": [None]}
    assert shape(daily) == {"days": [None], "queues": {"default": series}, "total": series}
    samples = admin.get("/queue/api/samples").json()
    states = {s: None for s in STATES}
    assert shape(samples) == {
        "minutes": None,
        "samples": [{"t": None, "q": {"default": states}}],
    }
    stats = admin.get("/queue/api/task-stats").json()
    assert shape(stats) == {"day": None, "types": []}


def test_task_stats_keep_their_shape(app: App, admin: Any) -> None:
    from bingo_core.testing import drain

    from .helpers import run_async

    app.client.enqueue("demo:greet", {"name": "x"})
    run_async(lambda: drain(app=app, timeout=20))
    stats = admin.get("/queue/api/task-stats").json()
    assert shape(stats) == {"day": None, "types": [TYPE_STATS]}


def test_task_reads_keep_their_shapes(admin: Any, filled: dict[str, Any]) -> None:
    listed = admin.get("/queue/api/queues/default/tasks", params={"state": "active"}).json()
    assert shape(listed) == {
        "queue": None,
        "state": None,
        "states": [None],
        "counts": {s: None for s in STATES},
        "info": QUEUE,
        "paused": None,
        "total": None,
        "offset": None,
        "limit": None,
        "has_prev": None,
        "has_next": None,
        "tasks": [TASK | {"other_state": None}],
        "search": None,
        "actions": [None],
        "bulk_actions": [],
    }
    task = admin.get(f"/queue/api/queues/default/tasks/{filled['active']}").json()
    assert shape(task) == {"task": TASK, "entry": None}
    found = admin.get(
        "/queue/api/queues/default/tasks", params={"state": "pending", "q": "p1"}
    ).json()
    assert shape(found["search"]) == {k: None for k in ("q", "where", "scanned", "next", "start")}


def test_schedule_reads_keep_their_shapes(admin: Any, filled: dict[str, Any]) -> None:
    page = admin.get("/queue/api/schedules").json()
    assert shape(page["leader"]) == LEADER
    assert shape(page["sync"]) == SYNC
    assert shape(page["entries"]) == [ENTRY]
    assert set(page) == {
        "total",
        "offset",
        "limit",
        "entries",
        "leader",
        "sync",
        "q",
        "source",
        "has_prev",
        "has_next",
        "sync_summary",
    }
    one = admin.get("/queue/api/schedules/entry", params={"key": filled["key"]}).json()
    assert shape(one) == {
        "entry": ENTRY | {"history": [HISTORY | {"task_url": None}]},
        "leader": LEADER,
    }


def test_server_and_redis_reads_keep_their_shapes(
    app: App, admin: Any, filled: dict[str, Any]
) -> None:
    from bingo_core.dashboard.sampler import Sampler

    async def own() -> None:
        broker = app.async_broker()
        try:
            await Sampler(broker, roles=["dashboard"]).sample_once()
        finally:
            await broker.close()
            app._async_broker = None

    from .helpers import run_async

    run_async(own)
    servers = admin.get("/queue/api/servers").json()
    shapes = [shape(s) for s in servers["servers"]]
    assert SERVER in shapes and ROLE_ONLY in shapes
    assert shape({**servers, "servers": []}) == {
        "servers": [],
        "live": None,
        "dead": None,
        "active": None,
        "concurrency": None,
        "leader": LEADER,
        "keep": None,
    }
    assert shape(admin.get("/queue/api/redis").json()) == {"redis": REDIS}


def conforms(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Where ``value`` does not match ``schema`` (the JSON schema subset the OpenAPI
    document uses: type, properties, required, items, additionalProperties, anyOf)."""
    if "anyOf" in schema:
        if any(not conforms(value, s, where) for s in schema["anyOf"]):
            return []
        return [f"{where}: {value!r:.60} matches none of {schema['anyOf']}"]
    kinds = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "null": type(None),
        "integer": int,
        "number": (int, float),
    }
    kind = schema.get("type")
    if kind is None:
        return []
    if not isinstance(value, kinds[kind]) or (
        kind in ("integer", "number") and isinstance(value, bool)
    ):
        return [f"{where}: {value!r:.60} is not {kind}"]
    out: list[str] = []
    if kind == "object":
        props = schema.get("properties", {})
        out += [f"{where}: {k} missing" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            if props and sub is None:
                out.append(f"{where}: {k} is not described")
            elif sub is not None:
                out += conforms(v, sub, f"{where}.{k}")
    if kind == "array":
        for i, item in enumerate(value):
            out += conforms(item, schema.get("items", {}), f"{where}[{i}]")
    return out


def test_each_answer_is_what_the_openapi_document_says(
    app: App, admin: Any, filled: dict[str, Any]
) -> None:
    """The answers' schemas come from the records: each read answers what they say, and
    every read is described beyond "an object"."""
    doc = admin.get("/queue/api/openapi.json").json()
    paths = doc["paths"]
    key, active = filled["key"], filled["active"]
    reads = {
        "/queue/api/overview": {},
        "/queue/api/queues/{queue}": {},
        "/queue/api/daily": {"days": 3},
        "/queue/api/samples": {},
        "/queue/api/task-stats": {},
        "/queue/api/queues/{queue}/tasks": {"state": "active"},
        "/queue/api/queues/{queue}/tasks/{task_id}": {},
        "/queue/api/schedules": {},
        "/queue/api/schedules/entry": {"key": key, "history": 5},
        "/queue/api/servers": {},
        "/queue/api/redis": {},
    }
    for path, params in reads.items():
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema.get("properties"), f"{path} is not described"
        url = path.replace("{queue}", "default").replace("{task_id}", active)
        answer = admin.get(url, params=params).json()
        assert conforms(answer, schema) == [], path
    found = admin.get(
        "/queue/api/queues/default/tasks", params={"state": "pending", "q": "p1"}
    ).json()
    schema = paths["/queue/api/queues/{queue}/tasks"]["get"]["responses"]["200"]
    assert conforms(found, schema["content"]["application/json"]["schema"]) == []


def test_each_record_gives_its_json_and_schema() -> None:
    """Every record's JSON schema describes each field, and its JSON names them all."""
    import dataclasses

    import bingo_core.records as records

    for name in records.__all__:
        cls = getattr(records, name)
        if not (isinstance(cls, type) and issubclass(cls, records.Record)) or cls is records.Record:
            continue
        schema = cls.json_schema()
        fields = [cls.JSON_NAMES.get(f.name, f.name) for f in dataclasses.fields(cls)]
        assert list(schema["properties"]) == fields, name
        assert all(schema["properties"].values()), name
