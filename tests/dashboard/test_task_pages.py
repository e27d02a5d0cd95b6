"""What the task pages and the API say about a task's times and its error: the next
attempt of a retrying task and the due time of a scheduled one (from the retry and
scheduled sets), in the server's zone with the zone named; no error box for a task with
no error; schedule history links only to tasks that are still kept."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bingo_core.app import App

from .conftest import make_app
from .helpers import finish, publish_entries

ZONE = "Asia/Shanghai"


@pytest.fixture
def app(bingo_redis_url: str, tmp_path: Path) -> Iterator[App]:
    application = make_app(bingo_redis_url, tmp_path, **{"server.timezone": ZONE})
    yield application
    application.close()


def shown(at: float) -> str:
    return datetime.fromtimestamp(at, ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S")


def test_a_retrying_task_shows_its_next_attempt(app: App, admin: Any) -> None:
    task_id = app.client.enqueue("demo:greet", {"name": "r"}).id
    at = round(time.time() + 1800.0, 3)
    finish(app, "default", [task_id], "retry", retry_at=at)
    api = admin.get(f"/queue/api/queues/default/tasks/{task_id}").json()["task"]
    assert api["state"] == "retry" and api["process_at"] == pytest.approx(at)
    listed = admin.get("/queue/api/queues/default/tasks", params={"state": "retry"}).json()
    assert listed["tasks"][0]["process_at"] == pytest.approx(at)
    assert app.inspector.find(task_id).process_at == pytest.approx(at)
    tab = admin.get("/queue/queues/default?state=retry").text
    assert f"Next attempt ({ZONE})" in tab and shown(at) in tab
    page = admin.get(f"/queue/queues/default/tasks/{task_id}").text
    assert re.search(r"<dt>Next attempt</dt><dd><span[^>]*>" + re.escape(shown(at)), page)
    assert f"times in {ZONE}" in page
    assert "ValueError: boom" in page  # its error, shown


def test_a_scheduled_task_shows_when_it_is_due(app: App, admin: Any) -> None:
    task_id = app.client.enqueue("demo:greet", {"name": "s"}, process_in=3600).id
    due = app.inspector.find(task_id).process_at
    assert due is not None
    tab = admin.get("/queue/queues/default?state=scheduled").text
    assert f"Due ({ZONE})" in tab and shown(due) in tab
    page = admin.get(f"/queue/queues/default/tasks/{task_id}").text
    assert re.search(r"<dt>Due</dt><dd><span[^>]*>" + re.escape(shown(due)), page)


def test_no_error_box_for_a_task_without_an_error(app: App, admin: Any) -> None:
    done, failed = (app.client.enqueue("demo:greet", {"name": n}).id for n in "ab")
    finish(app, "default", [done], "complete")
    finish(app, "default", [failed], "archive")

    def error_box(task_id: str) -> str:
        page = admin.get(f"/queue/queues/default/tasks/{task_id}").text
        found = re.search(r'<div data-show="task.error"( hidden)?>\s*<h3>Last error', page)
        assert found, page
        return found.group(1) or ""

    assert error_box(done) == " hidden"
    assert error_box(failed) == ""


def test_history_links_only_to_tasks_still_kept(app: App, admin: Any) -> None:
    kept = app.client.enqueue("demo:greet", {"name": "k"}).id
    gone = app.client.enqueue("demo:greet", {"name": "g"}).id
    app.inspector.act("delete", gone)
    key = "plugin:demo|every five"
    info = {
        "name": "every five",
        "source": "plugin:demo",
        "spec": "*/5 * * * *",
        "timezone": "UTC",
        "type": "demo:greet",
        "queue": "default",
        "misfire_grace": 60.0,
    }
    now = time.time()
    publish_entries(
        app,
        [{"key": key, "info": info}],
        {key: {"tick": now - 600, "task_id": kept, "enqueued_at": now - 600}},
    )
    publish_entries(
        app,
        [{"key": key, "info": info}],
        {key: {"tick": now - 300, "task_id": gone, "enqueued_at": now - 300}},
    )
    entry = admin.get("/queue/api/schedules/entry", params={"key": key}).json()["entry"]
    urls = {h["task_id"]: h["task_url"] for h in entry["history"]}
    assert urls == {kept: f"/queue/queues/default/tasks/{kept}", gone: None}
    assert entry["last_task_id"] == gone and entry["last_task_url"] is None
    page = admin.get("/queue/schedules/entry", params={"key": key}).text
    assert f'href="/queue/queues/default/tasks/{kept}"' in page
    assert f"/tasks/{gone}" not in page and gone in page
    listing = admin.get("/queue/schedules").text
    assert f'href="/queue/queues/default/tasks/{gone}"' not in listing
    assert f"Next fire ({ZONE})" in listing and f"times in {ZONE}" in page


def test_the_task_page_and_its_api_show_the_headers(app: App, admin: Any) -> None:
    headers = {"tenant": "acme <b>", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    task_id = app.client.enqueue("demo:greet", {"name": "h"}, headers=headers).id
    api = admin.get(f"/queue/api/queues/default/tasks/{task_id}").json()["task"]
    assert api["headers"] == headers
    page = admin.get(f"/queue/queues/default/tasks/{task_id}").text
    assert "<div>tenant: acme &lt;b&gt;</div>" in page
    assert f"<div>traceparent: {headers['traceparent']}</div>" in page
    plain = app.client.enqueue("demo:greet", {"name": "p"}).id
    assert admin.get(f"/queue/api/queues/default/tasks/{plain}").json()["task"]["headers"] is None
    assert re.search(
        r"<dt>Headers</dt><dd class=\"mono\">-</dd>",
        admin.get(f"/queue/queues/default/tasks/{plain}").text,
    )


def test_a_waiting_task_has_its_tab_and_shows_what_it_waits_for(app: App, admin: Any) -> None:
    first = app.client.enqueue("demo:greet", {"name": "first"}).id
    task_id = app.client.enqueue("demo:greet", {"name": "then"}, depends_on=[first]).id
    listed = admin.get("/queue/api/queues/default/tasks", params={"state": "waiting"}).json()
    assert [t["id"] for t in listed["tasks"]] == [task_id]
    assert listed["counts"]["waiting"] == 1 and "waiting" in listed["states"]
    assert listed["tasks"][0]["depends_on"] == [first]
    assert listed["tasks"][0]["actions"] == ["run", "cancel", "archive", "delete"]
    overview = admin.get("/queue/api/overview").json()
    assert overview["queues"][0]["waiting"] == 1 and overview["totals"]["waiting"] == 1
    tab = admin.get("/queue/queues/default?state=waiting").text
    assert task_id in tab
    page = admin.get(f"/queue/queues/default/tasks/{task_id}").text
    assert "<dt>Depends on</dt>" in page and f"/tasks/{first}" in page
    assert "(1 not completed yet)" in page
    assert admin.get("/queue/").status_code == 200
