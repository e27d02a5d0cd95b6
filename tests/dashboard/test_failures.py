"""The failures page and ``GET /api/failures``: retrying and archived tasks of every queue,
newest failure first, filtered by queue, task type, error text and time, paged, each
linking to its task; and the task types page (processed, failed, p50/p95, last error)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.broker import AsyncBroker
from bingo_core.broker.scripts import DURATION_BUCKETS, StatsRow
from bingo_core.config import load_settings
from bingo_core.plugins import PluginManager

from .conftest import ADMIN_KEY, READ_KEY, DemoPlugin
from .helpers import finish

ODD = "odd:#1?"


class OddPlugin:
    """A task type whose name holds ``#`` and ``?``."""

    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register(ODD, odd)


async def odd(ctx: Any, payload: Any) -> None:
    return None


@pytest.fixture
def app(bingo_redis_url: str, tmp_path: Path) -> Iterator[App]:
    settings = load_settings(
        None,
        env={},
        overrides={
            "redis.url": bingo_redis_url,
            "server.key": ADMIN_KEY,
            "dashboard.readOnlyKey": READ_KEY,
            "database.url": f"sqlite:///{tmp_path / 'bingo.db'}",
            "server.timezone": "UTC",
        },
    )
    manager = PluginManager()
    manager.add(DemoPlugin(), "demo", version="1")
    manager.add(OddPlugin(), "odd", version="1")
    application = App(settings, registry=manager.collect(), manager=manager)
    yield application
    application.close()


def fail(app: App, queue: str, task_type: str, how: str, error: str) -> str:
    payload = {"name": "x"} if task_type == "demo:greet" else {}
    task_id = app.client.enqueue(task_type, payload, queue=queue).id
    finish(app, queue, [task_id], how, error=error)
    time.sleep(0.002)  # distinct failure times
    return task_id


@pytest.fixture
def failed(app: App) -> list[str]:
    """Five failures, oldest first: two queues, two types, retrying and archived."""
    return [
        fail(app, "default", "demo:greet", "archive", "ValueError: bad name"),
        fail(app, "eu/reports", ODD, "retry", "TimeoutError: the disk is slow"),
        fail(app, "default", ODD, "archive", "KeyError: 'x'"),
        fail(app, "eu/reports", "demo:greet", "archive", "ValueError: bad name again"),
        fail(app, "default", "demo:greet", "retry", "OSError: the DISK is full"),
    ]


def ids(admin: Any, **params: Any) -> list[str]:
    r = admin.get("/queue/api/failures", params=params)
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["failures"]]


def test_failures_of_every_queue_newest_first(app: App, admin: Any, failed: list[str]) -> None:
    app.client.enqueue("demo:greet", {"name": "fine"})  # pending: not a failure
    data = admin.get("/queue/api/failures").json()
    assert [f["id"] for f in data["failures"]] == failed[::-1]
    assert (data["total"], data["scanned"], data["complete"]) == (5, 5, True)
    newest = data["failures"][0]
    assert (newest["queue"], newest["type"], newest["state"]) == ("default", "demo:greet", "retry")
    assert newest["error"] == "OSError: the DISK is full" and newest["next_attempt"] > time.time()
    assert data["failures"][1]["next_attempt"] is None  # archived: no next attempt
    page = unescape(admin.get("/queue/failures").text)
    for f in data["failures"]:
        assert f'href="/queue/queues/{quote(f["queue"], safe="")}/tasks/{f["id"]}"' in page
        assert f["error"] in page
    assert page.index(failed[4]) < page.index(failed[0])


def test_filters_by_queue_type_text_and_time(admin: Any, failed: list[str]) -> None:
    assert ids(admin, queue="eu/reports") == [failed[3], failed[1]]
    assert ids(admin, type=ODD) == [failed[2], failed[1]]
    assert ids(admin, type=ODD, queue="default") == [failed[2]]
    assert ids(admin, q="disk") == [failed[4], failed[1]]
    assert ids(admin, q="disk", type="demo:greet") == [failed[4]]
    assert ids(admin, hours=1) == failed[::-1]
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    past = an_hour_ago.replace(tzinfo=None, microsecond=0).isoformat()
    assert ids(admin, until=str(time.time() - 3600)) == []
    assert ids(admin, until=past, since="2020-01-01T00:00") == []
    assert ids(admin, since=str(time.time() - 60), until=str(time.time() + 60)) == failed[::-1]
    r = admin.get("/queue/api/failures", params={"since": "yesterday"})
    assert r.status_code == 400 and r.json()["field"] == "since"
    assert "read in UTC" in r.json()["error"]
    r = admin.get("/queue/api/failures", params={"queue": "nope"})
    assert r.status_code == 404 and r.json()["field"] == "queue"
    page = admin.get("/queue/failures", params={"type": ODD, "q": "disk"}).text
    assert failed[1] in page and failed[4] not in page and failed[2] not in page


def test_pages_of_failures(admin: Any, failed: list[str]) -> None:
    first = admin.get("/queue/api/failures", params={"limit": 2}).json()
    second = admin.get("/queue/api/failures", params={"limit": 2, "offset": 2}).json()
    assert [f["id"] for f in first["failures"] + second["failures"]] == failed[::-1][:4]
    page = unescape(admin.get("/queue/failures", params={"limit": 2, "q": "error"}).text)
    assert "Older →" in page and "offset=2" in page


def test_the_failures_api_is_described(admin: Any) -> None:
    doc = admin.get("/queue/api/openapi.json").json()
    op = doc["paths"]["/queue/api/failures"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"queue", "type", "q", "since", "until", "hours", "offset", "limit"} <= names
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"failures", "total", "scanned", "complete"} <= set(schema["properties"])


def test_both_pages_are_in_the_navigation(admin: Any) -> None:
    page = admin.get("/queue").text
    assert 'href="/queue/failures"' in page and 'href="/queue/types"' in page


def test_task_types_page_shows_the_last_error(app: App, admin: Any) -> None:
    at = time.time() - 30
    buckets = [0] * (len(DURATION_BUCKETS) + 1)
    buckets[2] = 4

    async def record() -> None:
        broker = AsyncBroker(app.settings.redis)
        try:
            rows = [
                StatsRow(ODD, 4, 2, 0.4, 0.2, buckets, "TimeoutError: slow <b>", at),
                StatsRow("demo:greet", 4, 0, 0.4, 0.2, buckets),
            ]
            await broker.record_stats({"eu/reports": rows})
        finally:
            await broker.close()

    app.client.enqueue("demo:greet", {"name": "q"}, queue="eu/reports")
    asyncio.run(record())
    for params in ({}, {"day": "total"}):
        r = admin.get("/queue/types", params=params)
        assert r.status_code == 200
        text = unescape(r.text)
        assert "TimeoutError: slow <b>" in text and "<b>" not in r.text  # escaped
        shown = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        assert shown in text and "50.0%" in text
        link = f"/queue/failures?queue=eu%2Freports&type={quote(ODD, safe='')}"
        assert f'href="{link}"' in text
        assert admin.get(link).status_code == 200
    api = admin.get("/queue/api/task-stats").json()["types"]
    odd_row = next(t for t in api if t["type"] == ODD)
    assert odd_row["last_error"] == "TimeoutError: slow <b>" and odd_row["last_error_at"] == at
    r = admin.get("/queue/types", params={"day": "someday"})
    assert r.status_code == 400
