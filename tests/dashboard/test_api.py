"""The JSON API: every operation answers, bad input is a 4xx with one message naming the
field and writes nothing, the OpenAPI document describes every route, and a fuzz run from
that document (a bounded number of examples) never gets a 5xx."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import redis

from bingo_core.app import App
from bingo_core.dashboard.app import endpoints

from .conftest import ADMIN_KEY
from .helpers import lease, seed


def refused(r: Any, status: int, field: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "field"} and body["field"] == field, body
    return str(body["error"])


def test_openapi_describes_every_api_route(web: Any, admin: Any) -> None:
    doc = admin.get("/queue/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = set()
    for route in web.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", getattr(route, "path", ""))  # {q:seg}
        if path.startswith("/queue/api/") and path != "/queue/api/openapi.json":
            for method in route.methods - {"HEAD"}:
                served.add((method, path))
    assert described == served
    assert len(described) == len(endpoints()) >= 25
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and "400" in op["responses"]


def test_queue_and_task_operations(app: App, admin: Any) -> None:
    ids = seed(app)
    assert admin.get("/queue/api/queues/default").json()["pending"] == 3
    listed = admin.get("/queue/api/queues/default/tasks", params={"state": "scheduled"}).json()
    assert {t["id"] for t in listed["tasks"]} == set(ids["scheduled"])
    task = admin.get(f"/queue/api/queues/default/tasks/{ids['pending'][0]}").json()["task"]
    assert task["payload"] == {"name": "p0", "count": 1, "loud": False}
    assert task["state"] == "pending" and task["max_retry"] == 3
    r = admin.post(f"/queue/api/queues/default/tasks/{ids['scheduled'][0]}/run")
    assert r.json()["done"] is True
    assert app.inspector.find(ids["scheduled"][0]).state == "pending"
    r = admin.post(
        "/queue/api/queues/default/tasks-bulk",
        json={"action": "delete", "ids": [*ids["archived"], "ghost"]},
    )
    assert r.json() == {
        "queue": "default",
        "action": "delete",
        "done": 2,
        "skipped": {"ghost": "no such task"},
    }
    r = admin.post("/queue/api/queues/default/states/pending/archive")
    assert r.json()["done"] == 4
    assert admin.post("/queue/api/queues/default/pause").json()["paused"] is True
    assert admin.post("/queue/api/queues/default/resume").json()["paused"] is False
    assert admin.get("/queue/api/daily", params={"days": 30}).json()["days"][-1]
    assert "samples" in admin.get("/queue/api/samples").json()
    assert "types" in admin.get("/queue/api/task-stats").json()
    assert admin.get("/queue/api/session").json()["role"] == "admin"


def test_task_refusals(app: App, admin: Any) -> None:
    ids = seed(app)
    refused(admin.get("/queue/api/queues/default/tasks/nope"), 404, "id")
    refused(admin.get("/queue/api/queues/ghost/tasks"), 404, "queue")
    refused(admin.get("/queue/api/queues/default/tasks", params={"state": "weird"}), 400, "state")
    refused(admin.get("/queue/api/queues/default/tasks", params={"limit": "0"}), 400, "limit")
    refused(admin.get("/queue/api/queues/default/tasks", params={"limit": "x"}), 400, "limit")
    refused(admin.get("/queue/api/queues/default/tasks", params={"q": "a" * 600}), 400, "q")
    refused(
        admin.post(f"/queue/api/queues/default/tasks/{ids['pending'][0]}/explode"), 400, "action"
    )
    text = refused(
        admin.post(f"/queue/api/queues/default/tasks/{ids['pending'][0]}/run"), 409, "action"
    )
    assert "already pending" in text
    (active,) = lease(app)
    assert "active" in refused(
        admin.post(f"/queue/api/queues/default/tasks/{active}/delete"), 409, "action"
    )
    bulk = "/queue/api/queues/default/tasks-bulk"
    refused(
        admin.post(bulk, content=b"{nope", headers={"content-type": "application/json"}),
        400,
        "body",
    )
    refused(admin.post(bulk, json=[1, 2]), 400, "body")
    refused(admin.post(bulk, json={"action": "delete", "ids": []}), 400, "ids")
    refused(admin.post(bulk, json={"action": "explode", "ids": ["x"]}), 400, "action")
    refused(admin.post(bulk, json={"ids": ["x"]}), 400, "action")
    refused(admin.post("/queue/api/queues/default/states/pending/run"), 409, "action")
    refused(admin.post("/queue/api/queues/default/states/active/delete"), 400, "state")
    refused(admin.delete("/queue/api/queues/default"), 409, "force")
    assert app.inspector.stats(["default"])[0].pending == 2  # nothing moved
    refused(admin.get("/queue/api/nope"), 404, "path")
    refused(admin.put("/queue/api/overview"), 405, "path")


def test_delete_a_queue(app: App, admin: Any) -> None:
    seed(app)
    assert (
        admin.delete("/queue/api/queues/default", params={"force": "true"}).json()["deleted_tasks"]
        == 7
    )
    refused(admin.delete("/queue/api/queues/default"), 404, "queue")


def test_enqueue_with_the_clients_own_checks(app: App, admin: Any) -> None:
    r = admin.post("/queue/api/enqueue", json={"type": "demo:greet", "payload": {"name": "x"}})
    assert r.status_code == 201
    task = r.json()["task"]
    assert app.inspector.find(task["id"]).payload == {"name": "x", "count": 1, "loud": False}
    r = admin.post(
        "/queue/api/enqueue",
        json={
            "type": "demo:greet",
            "payload": {"name": "y"},
            "options": {"queue": "critical", "process_in": "5m", "task_id": "fixed-1"},
        },
    )
    assert r.json()["task"]["state"] == "scheduled" and r.json()["task"]["queue"] == "critical"
    checked = admin.post(
        "/queue/api/enqueue", json={"type": "demo:greet", "payload": {"name": "z"}, "check": True}
    )
    assert checked.status_code == 201 and checked.json()["checked"] is True

    def sizes() -> list[tuple[str, int]]:
        return [(r.queue, r.size) for r in app.inspector.stats()]

    before = sizes()
    text = refused(
        admin.post("/queue/api/enqueue", json={"type": "demo:greet", "payload": {"count": "x"}}),
        400,
        "payload",
    )
    assert "does not match Greeting" in text and "name" in text
    refused(admin.post("/queue/api/enqueue", json={"type": "nope", "payload": {}}), 400, "type")
    refused(
        admin.post(
            "/queue/api/enqueue", json={"type": "demo:free", "options": {"timeout": "soon"}}
        ),
        400,
        "options",
    )
    refused(
        admin.post("/queue/api/enqueue", json={"type": "demo:free", "options": {"color": 1}}),
        400,
        "options",
    )
    refused(
        admin.post(
            "/queue/api/enqueue",
            json={
                "type": "demo:greet",
                "payload": {"name": "y"},
                "options": {"task_id": "fixed-1", "queue": "critical"},
            },
        ),
        409,
        "options.task_id",
    )
    refused(admin.post("/queue/api/enqueue", json={"payload": {}}), 400, "type")
    assert sizes() == before  # nothing written by a refusal
    types = admin.get("/queue/api/task-types").json()["types"]
    greet = next(t for t in types if t["name"] == "demo:greet")
    assert [f["name"] for f in greet["fields"]] == ["name", "count", "loud"]
    assert greet["fields"][0]["required"] is True and greet["fields"][1]["kind"] == "integer"


ROW = {"name": "nightly", "type": "demo:greet", "spec": "0 2 * * *", "payload": {"name": "n"}}


def test_crontab_rows(web: Any, admin: Any) -> None:
    r = admin.post("/queue/api/crontab", json=ROW)
    assert r.status_code == 201, r.text
    row = r.json()["row"]
    assert (row["name"], row["status"], row["payload"]) == ("nightly", 1, '{"name":"n"}')
    listed = admin.get("/queue/api/crontab").json()
    assert listed["total"] == 1 and listed["rows"][0]["valid"] is True
    assert len(listed["rows"][0]["check"]["next_fires"]) == 5
    r = admin.put(
        f"/queue/api/crontab/{row['id']}", json={**ROW, "spec": "@every 1h", "enabled": False}
    )
    assert r.json()["row"]["spec"] == "@every 1h" and r.json()["row"]["status"] == 0
    assert admin.post(f"/queue/api/crontab/{row['id']}/enable").json()["row"]["status"] == 1
    assert admin.post(f"/queue/api/crontab/{row['id']}/disable").json()["row"]["status"] == 0
    assert admin.get(f"/queue/api/crontab/{row['id']}").json()["row"]["sync"] == "disabled"
    assert admin.delete(f"/queue/api/crontab/{row['id']}").json()["deleted"] is True
    refused(admin.get(f"/queue/api/crontab/{row['id']}"), 404, "row_id")
    refused(admin.get("/queue/api/crontab/abc"), 400, "row_id")


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"spec": "61 * * * *"}, "spec", "minute 61"),
        ({"spec": ""}, "spec", "must not be empty"),
        ({"type": "task:nope"}, "type", "unknown task type"),
        ({"payload": {"count": 2}}, "payload", "name"),
        ({"payload": "{not json"}, "payload", "not valid JSON"),
        ({"payload": "[1]"}, "payload", "JSON object"),
        ({"name": "x" * 101}, "name", "holds at most 100"),
        ({"payload": {"text": "x" * 70000}}, "payload", "holds at most 65535"),
        ({"name": " "}, "name", "must not be empty"),
    ],
)
def test_a_bad_row_is_refused_and_not_written(
    web: Any, admin: Any, change: dict[str, Any], field: str, text: str
) -> None:
    r = admin.post("/queue/api/crontab", json={**ROW, **change})
    assert text in refused(r, 400, field)
    assert web.state.dash.store().rows() == []
    check = admin.post("/queue/api/crontab/check", json={**ROW, **change}).json()
    assert check["ok"] is False and text in check["errors"][field]


def test_a_row_check_shows_fire_times_and_schema(admin: Any) -> None:
    check = admin.post("/queue/api/crontab/check", json=ROW).json()
    assert check["ok"] is True and check["errors"] == {}
    assert len(check["next_fires"]) == 5
    assert check["schema"]["title"] == "Greeting"
    refused(admin.post("/queue/api/crontab/check", json={"name": "n"}), 400, "type")


def test_edit_refusal_leaves_the_row(web: Any, admin: Any) -> None:
    row = admin.post("/queue/api/crontab", json=ROW).json()["row"]
    refused(admin.put(f"/queue/api/crontab/{row['id']}", json={**ROW, "spec": "bad"}), 400, "spec")
    assert web.state.dash.store().get(row["id"]).spec == "0 2 * * *"
    refused(admin.put("/queue/api/crontab/999", json=ROW), 404, "row_id")


def test_run_now_refusals(admin: Any) -> None:
    refused(admin.post("/queue/api/schedules/run", json={"key": "config|nope"}), 404, "key")
    refused(admin.post("/queue/api/schedules/run", json={"key": "db:99|x"}), 404, "key")
    refused(admin.post("/queue/api/schedules/run", json={"key": ""}), 400, "key")
    r = admin.post("/queue/api/schedules/run", json={"key": "plugin:demo|every five"})
    assert r.status_code == 201 and r.json()["task"]["type"] == "demo:greet"


def test_fuzz_the_api_from_its_openapi_document(app: App, web: Any, admin: Any) -> None:
    """Every operation of the document, with generated input: never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    seed(app)
    admin.post("/queue/api/crontab", json=ROW)
    doc = admin.get("/queue/api/openapi.json").json()
    schema = schemathesis.openapi.from_dict(doc)
    schema.app = web
    failures: list[str] = []
    seen: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(doc and endpoints())
    for operation in operations:

        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            seen.append(response.status_code)
            if response.status_code >= 500:
                where = f"{case.method} {case.formatted_path}"
                failures.append(f"{where} -> {response.status_code}: {response.text[:200]}")

        run()
    assert failures == []
    assert len(seen) >= 5 * len(operations)  # the examples really ran
    assert any(code < 300 for code in seen) and any(400 <= code < 500 for code in seen)


def test_throttled_lists_the_held_back_tasks(app: App, admin: Any, bingo_redis_url: str) -> None:
    r = redis.Redis.from_url(bingo_redis_url)
    try:
        msg = {"id": "h1", "type": "t:x", "queue": "default", "payload": {}, "max_retry": 0}
        msg["enqueued_at"] = time.time() - 30
        r.hset("bingo:{default}:t:h1", mapping={"msg": json.dumps(msg), "state": "pending"})
        r.lpush("bingo:{default}:limit:t:x\x1fk1:held", "h1")
        r.zadd("bingo:{default}:throttled", {"1|0|0|t:x\x1fk1": time.time() + 60})
        r.sadd("bingo:queues", "default")
    finally:
        r.close()
    got = admin.get("/queue/api/throttled")
    assert got.status_code == 200
    (row,) = got.json()
    assert (row["queue"], row["type"], row["key"], row["held"]) == ("default", "t:x", "k1", 1)
    assert 29 <= row["waited"] < 60
    assert admin.get("/queue/api/queues/default").json()["throttled"] == 1
