"""Names in paths: a queue named ``eu/reports`` with tasks in every state, and task ids
holding ``#``, ``?``, ``%``, ``/`` and a space, reached from every page, link, form and
API call; a task type and a schedule entry named with ``#?``."""

from __future__ import annotations

import asyncio
import json
import re
import time
from html import escape, unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bingo_core.app import App
from bingo_core.dashboard.paths import encoded_path
from bingo_core.dashboard.service import DashboardService
from bingo_core.testing import free_port

from .conftest import ADMIN_KEY, client, csrf_of, make_app
from .helpers import finish, heartbeat, lease, publish_entries

QUEUE = "eu/reports"
Q = "eu%2Freports"
#: Task ids a user may choose (``task_id=``).
ODD_IDS = ["a b", "x#1", "what?", "50%", "in/out", "%2F"]


def seg(name: str) -> str:
    return quote(name, safe="")


def enqueue(app: App, task_id: str | None = None, **options: Any) -> str:
    extra = {"task_id": task_id} if task_id else {}
    return app.client.enqueue("demo:greet", {"name": "x"}, queue=QUEUE, **extra, **options).id


@pytest.fixture
def tasks(app: App) -> dict[str, list[str]]:
    """Tasks of ``eu/reports`` in every state (the odd ids pending); their ids by state."""
    ids: dict[str, list[str]] = {s: [] for s in ("retry", "archived", "completed", "active")}
    for state in ids:
        ids[state] = [enqueue(app, f"{state} #1?"), enqueue(app)]
    finish(app, QUEUE, ids["retry"], "retry", retry_at=time.time() + 900)
    finish(app, QUEUE, ids["archived"], "archive")
    finish(app, QUEUE, ids["completed"], "complete")
    assert sorted(lease(app, QUEUE, 2)) == sorted(ids["active"])
    ids["scheduled"] = [enqueue(app, "later %20", process_in=600), enqueue(app, process_in=900)]
    ids["pending"] = [enqueue(app, i) for i in ODD_IDS]
    stats = app.inspector.stats([QUEUE])[0]
    assert [stats.count(s) for s in ids] == [2, 2, 2, 2, 2, 6]
    return ids


def links(html: str) -> set[str]:
    return {unescape(m) for m in re.findall(r'(?<![-\w])(?:href|action)="([^"]+)"', html)}


def test_every_page_of_the_queue_and_its_tasks(admin: Any, tasks: dict[str, list[str]]) -> None:
    overview = admin.get("/queue").text
    assert f"/queue/queues/{Q}" in links(overview)
    for state, ids in tasks.items():
        r = admin.get(f"/queue/queues/{Q}?state={state}")
        assert r.status_code == 200, (state, r.text[:300])
        found = links(r.text)
        for task_id in ids:
            page = f"/queue/queues/{Q}/tasks/{seg(task_id)}"
            assert page in found, (state, task_id)
            shown = admin.get(page)
            assert shown.status_code == 200, (task_id, shown.text[:300])
            assert f'<h1 class="mono">{task_id}</h1>' in unescape(shown.text)
            assert f"/queue/queues/{Q}" in links(shown.text)
        for path in found:  # every link and form of the page leads somewhere
            if path.startswith("/queue/queues/") and "/tasks/" in path and path.count("/") == 5:
                assert admin.get(path).status_code == 200, path


def test_every_api_call_on_the_queue(admin: Any, tasks: dict[str, list[str]]) -> None:
    api = f"/queue/api/queues/{Q}"
    assert admin.get(api).json()["queue"] == QUEUE
    for state, ids in tasks.items():
        page = admin.get(f"{api}/tasks", params={"state": state}).json()
        assert page["queue"] == QUEUE and sorted(t["id"] for t in page["tasks"]) == sorted(ids)
        for task_id in ids:
            one = admin.get(f"{api}/tasks/{seg(task_id)}")
            assert one.status_code == 200 and one.json()["task"]["id"] == task_id
    daily = admin.get("/queue/api/daily", params={"queue": QUEUE, "days": 2}).json()
    assert list(daily["queues"]) == [QUEUE]
    for chart in ("daily", "sizes"):
        r = admin.get(f"/queue/charts/{chart}.svg", params={"queue": QUEUE})
        assert r.status_code == 200 and r.text.startswith("<svg")
    found = admin.get("/queue/api/failures", params={"queue": QUEUE}).json()
    assert {f["queue"] for f in found["failures"]} == {QUEUE} and found["total"] == 4
    by_id = admin.get(f"{api}/tasks", params={"state": "pending", "q": "x#1", "where": "id"})
    assert [t["id"] for t in by_id.json()["tasks"]] == ["x#1"]
    assert admin.post(f"{api}/pause").json() == {"queue": QUEUE, "paused": True}
    assert admin.get(api).json()["paused"] is True
    assert admin.post(f"{api}/resume").json() == {"queue": QUEUE, "paused": False}
    retry = tasks["retry"][0]
    r = admin.post(f"{api}/tasks/{seg(retry)}/run")
    assert r.status_code == 200 and r.json()["id"] == retry
    r = admin.post(f"{api}/tasks/{seg('50%')}/archive")
    assert r.status_code == 200 and r.json()["done"] is True
    r = admin.post(f"{api}/tasks/{seg('in/out')}/delete")
    assert r.status_code == 200
    assert admin.get(f"{api}/tasks/{seg('in/out')}").status_code == 404
    r = admin.post(f"{api}/tasks/{seg('a b')}/cancel")
    assert r.status_code == 200 and r.json()["requested"] is False
    r = admin.post(f"{api}/tasks-bulk", json={"action": "archive", "ids": ["x#1", "what?"]})
    assert r.json()["done"] == 2
    r = admin.post(f"{api}/states/archived/retry")
    assert r.status_code == 200 and r.json()["done"] == 6
    r = admin.post(f"{api}/states/pending/delete")
    assert r.status_code == 200
    r = admin.delete(api, params={"force": "true"})
    assert r.status_code == 200 and r.json()["queue"] == QUEUE


def test_the_forms_of_the_queue_and_their_redirects(
    app: App, session: Any, tasks: dict[str, list[str]]
) -> None:
    c, token = session
    back = f"/queue/queues/{Q}?state=pending"
    r = c.post(f"/queue/queues/{Q}/pause", data={"csrf_token": token, "next": back})
    assert (r.status_code, r.headers["location"]) == (303, back)
    assert app.inspector.stats([QUEUE])[0].paused is True
    page = c.get(r.headers["location"])
    assert page.status_code == 200 and f"paused {QUEUE}" in page.text
    c.post(f"/queue/queues/{Q}/resume", data={"csrf_token": token, "next": back})
    assert app.inspector.stats([QUEUE])[0].paused is False
    for task_id, action in [("x#1", "archive"), (tasks["retry"][0], "run")]:
        path = f"/queue/queues/{Q}/tasks/{seg(task_id)}"
        r = c.post(f"{path}/{action}", data={"csrf_token": token, "next": path})
        assert (r.status_code, r.headers["location"]) == (303, path)
        assert 'class="flash ok"' in c.get(path).text
    r = c.post(f"/queue/queues/{Q}/tasks/{seg('50%')}/delete", data={"csrf_token": token})
    assert r.headers["location"] == f"/queue/queues/{Q}"
    assert c.get(r.headers["location"]).status_code == 200
    assert "50%" not in [t.id for t in app.inspector.tasks(QUEUE, "pending")]
    r = c.post(
        f"/queue/queues/{Q}/bulk",
        data={"csrf_token": token, "action": "archive", "ids": ["a b", "what?"], "next": back},
    )
    assert r.status_code == 303 and "archive: 2 task(s)" in c.get(back).text
    assert app.inspector.stats([QUEUE])[0].archived == 2 + 1 + 2


def test_a_type_and_an_entry_named_with_hash_and_question_mark(app: App, admin: Any) -> None:
    key = "plugin:demo|nightly #1?"
    task_id = app.client.enqueue("demo:greet", {"name": "n"}, task_id="t#1?").id
    publish_entries(
        app,
        [
            {
                "key": key,
                "info": {
                    "name": "nightly #1?",
                    "source": "plugin:demo",
                    "spec": "0 2 * * *",
                    "timezone": "UTC",
                    "type": "demo:greet",
                    "queue": "default",
                    "misfire_grace": 60.0,
                },
            }
        ],
        {key: {"tick": time.time() - 60, "task_id": task_id, "enqueued_at": time.time()}},
    )
    page = admin.get("/queue/schedules").text
    entry = next(p for p in links(page) if p.startswith("/queue/schedules/entry?"))
    shown = admin.get(entry)
    assert shown.status_code == 200 and "nightly #1?" in unescape(shown.text)
    assert f"/queue/queues/default/tasks/{seg('t#1?')}" in links(shown.text)
    api = admin.get("/queue/api/schedules/entry", params={"key": key}).json()
    assert api["entry"]["history"][0]["task_url"] == f"/queue/queues/default/tasks/{seg('t#1?')}"


def test_uvicorn_routes_encoded_names(bingo_redis_url: str, tmp_path: Path) -> None:
    """Through a real server (which decodes the path once; the test client twice)."""
    port = free_port()
    app = make_app(bingo_redis_url, tmp_path, **{"server.addr": f"127.0.0.1:{port}"})
    odd = "a b#?%/c%2F"
    enqueue(app, odd)

    async def run() -> list[tuple[int, str]]:
        service = DashboardService(app, serve=True)
        try:
            await service.start()
            base = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
            async with httpx.AsyncClient(base_url=base, headers=auth) as http:
                out = []
                for path in (
                    f"/queue/queues/{Q}",
                    f"/queue/queues/{Q}/tasks/{seg(odd)}",
                    f"/queue/api/queues/{Q}/tasks/{seg(odd)}",
                ):
                    r = await http.get(path)
                    out.append((r.status_code, r.text))
                r = await http.post(f"/queue/api/queues/{Q}/pause")
                out.append((r.status_code, r.text))
                return out
        finally:
            await service.stop()
            await app.aclose()

    try:
        (listed, page, api, paused) = asyncio.run(run())
        assert listed[0] == 200 and f"/queue/queues/{Q}/tasks/{seg(odd)}" in listed[1]
        assert page[0] == 200 and escape(odd) in page[1]
        assert api[0] == 200 and json.loads(api[1])["task"]["id"] == odd
        assert paused[0] == 200 and app.inspector.stats([QUEUE])[0].paused is True
    finally:
        app.close()


def test_log_in_returns_to_the_encoded_page(web: Any, app: App) -> None:
    enqueue(app, "x#1")
    c = client(web)
    target = f"/queue/queues/{Q}/tasks/{seg('x#1')}"
    r = c.get(target)
    assert r.status_code == 303
    form = c.get(r.headers["location"])
    token = csrf_of(form.text)
    nxt = re.search(r'name="next" value="([^"]+)"', form.text)
    assert nxt and unescape(nxt.group(1)) == target
    r = c.post("/queue/login", data={"key": ADMIN_KEY, "csrf_token": token, "next": target})
    assert (r.status_code, r.headers["location"]) == (303, target)
    assert c.get(target).status_code == 200


def test_the_servers_page_links_active_tasks_encoded(app: App, admin: Any) -> None:
    task_id = enqueue(app, "busy #1?")
    heartbeat(app, active=[{"id": task_id, "queue": QUEUE, "type": "demo:greet"}])
    target = f"/queue/queues/{Q}/tasks/{seg(task_id)}"
    assert target in links(admin.get("/queue/servers").text)
    api = admin.get("/queue/api/servers").json()
    assert target in str(api)
    assert admin.get(target).status_code == 200


def test_the_path_the_router_sees() -> None:
    def scope(path: str, raw: bytes) -> dict[str, Any]:
        return {"path": path, "raw_path": raw}

    assert encoded_path(scope("/queue/queues/eu/reports", b"/queue/queues/eu%2Freports")) == (
        "/queue/queues/eu%2Freports"
    )
    # a space, # ? and % are encoded the one way, whatever the client sent
    raw = b"/queue/queues/q/tasks/a b%23%3f%25"
    assert encoded_path(scope("/queue/queues/q/tasks/a b#?%", raw)) == (
        "/queue/queues/q/tasks/a%20b%23%3F%25"
    )
    # a server's root path in front is kept; a path rewritten otherwise is left alone
    assert encoded_path(scope("/app/queue/x%2Fy", b"/queue/x%252Fy")) == "/app/queue/x%252Fy"
    assert encoded_path(scope("/other", b"/queue")) is None
    assert encoded_path({"path": "/queue"}) is None
