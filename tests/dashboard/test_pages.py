"""Every page through Starlette's TestClient, the form posts behind their buttons, and a
test that every template in the package is rendered by some page."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

import bingo_core as bingo
from bingo_core.app import App

from .helpers import heartbeat, lease, publish_entries, seed

ENTRY = {
    "key": "plugin:demo|every five",
    "info": {
        "name": "every five",
        "source": "plugin:demo",
        "spec": "*/5 * * * *",
        "timezone": "UTC",
        "type": "demo:greet",
        "queue": "default",
        "misfire_grace": 60.0,
    },
}


def rendered(web: Any) -> set[str]:
    """Wrap the template environment to record each template rendered."""
    env = web.state.dash.env
    seen: set[str] = set()
    original = env.get_template

    def get_template(name: str, *args: Any, **kwargs: Any) -> Any:
        seen.add(name)
        return original(name, *args, **kwargs)

    env.get_template = get_template
    web.state.seen = seen
    return seen


def test_every_template_is_rendered(web: Any, app: App, admin: Any, anon: Any) -> None:
    seen = rendered(web)
    ids = seed(app)
    now = time.time()
    item = {
        "tick": now - 60,
        "task_id": ids["pending"][0],
        "enqueued_at": now - 59.9,
        "lateness": 0.1,
    }
    publish_entries(app, [ENTRY], {ENTRY["key"]: item})
    heartbeat(app)
    web.state.dash.store().add("nightly", "demo:greet", "0 2 * * *", '{"name": "n"}', 1)
    flow = app.client.enqueue_workflow(bingo.step("demo:greet", {"name": "w"}))
    pages = [
        "/queue",
        "/queue/queues/default",
        "/queue/queues/default?state=archived",
        f"/queue/queues/default/tasks/{ids['pending'][0]}",
        "/queue/failures",
        "/queue/types",
        "/queue/schedules",
        "/queue/schedules/entry?key=plugin%3Ademo%7Cevery+five",
        "/queue/crontab",
        "/queue/crontab/1",
        "/queue/enqueue",
        "/queue/servers",
        "/queue/plugins",
        "/queue/redis",
        "/queue/workflows",
        f"/queue/workflows/{flow.id}",
        "/queue/no-such-page",
    ]
    for path in pages:
        r = admin.get(path)
        assert r.status_code == (404 if "no-such" in path else 200), (path, r.text[:500])
    assert anon.get("/queue/login").status_code == 200
    env = web.state.dash.env
    every = set(env.loader.list_templates())
    included = {"base.html", "_macros.html", "_crontab_form.html"}
    assert every - seen - included == set()
    # the partials are part of the pages rendered above
    assert "base.html" in every and "_crontab_form.html" in every


def test_overview_shows_counts_and_actions(app: App, admin: Any) -> None:
    seed(app)
    html = admin.get("/queue").text
    assert ">3<" in html  # pending of default
    assert 'action="/queue/queues/default/pause"' in html
    data = admin.get("/queue/api/overview").json()
    row = data["queues"][0]
    assert (row["queue"], row["pending"], row["scheduled"], row["archived"]) == ("default", 3, 2, 2)
    assert row["memory"] > 0 and data["totals"]["pending"] == 3


def test_pause_and_resume_from_the_overview(app: App, session: Any) -> None:
    c, token = session
    seed(app)
    r = c.post("/queue/queues/default/pause", data={"csrf_token": token, "next": "/queue"})
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    assert app.inspector.stats(["default"])[0].paused is True
    page = c.get("/queue").text
    assert "paused default" in page  # the flash message
    c.post("/queue/queues/default/resume", data={"csrf_token": token, "next": "/queue"})
    assert app.inspector.stats(["default"])[0].paused is False


def test_unknown_queue_is_404(admin: Any, session: Any) -> None:
    assert admin.get("/queue/queues/nope").status_code == 404
    assert admin.post("/queue/api/queues/nope/pause").status_code == 404
    c, token = session
    r = c.post("/queue/queues/nope/pause", data={"csrf_token": token, "next": "/queue"})
    assert r.status_code == 303
    assert "unknown queue" in c.get("/queue").text


def test_retry_an_archived_task_from_its_page(app: App, session: Any) -> None:
    c, token = session
    ids = seed(app)
    task = ids["archived"][0]
    page = c.get(f"/queue/queues/default/tasks/{task}").text
    assert f'action="/queue/queues/default/tasks/{task}/retry"' in page
    r = c.post(f"/queue/queues/default/tasks/{task}/retry", data={"csrf_token": token})
    assert r.status_code == 303
    assert app.inspector.find(task).state == "pending"


def test_bulk_selection_and_all_of_a_state(app: App, session: Any) -> None:
    c, token = session
    ids = seed(app)
    form = {"csrf_token": token, "action": "delete", "ids": ids["archived"][:1], "next": "/queue"}
    assert c.post("/queue/queues/default/bulk", data=form).status_code == 303
    assert app.inspector.stats(["default"])[0].archived == 1
    form = {"csrf_token": token, "action": "archive", "scope": "all", "state": "scheduled"}
    c.post("/queue/queues/default/bulk", data=form)
    row = app.inspector.stats(["default"])[0]
    assert (row.scheduled, row.archived) == (0, 3)
    form = {"csrf_token": token, "action": "retry", "scope": "all", "state": "archived"}
    c.post("/queue/queues/default/bulk", data=form)
    assert app.inspector.stats(["default"])[0].pending == 6
    # nothing selected: a message, nothing done
    c.post("/queue/queues/default/bulk", data={"csrf_token": token, "action": "delete"})
    assert "select at least one task" in c.get("/queue").text


def test_cancel_an_active_task(app: App, session: Any) -> None:
    c, token = session
    seed(app)
    (active,) = lease(app)
    page = c.get("/queue/queues/default?state=active").text
    assert f"/tasks/{active}/cancel" in page
    c.post(f"/queue/queues/default/tasks/{active}/cancel", data={"csrf_token": token})
    assert app.inspector.cancel_requested("default", [active])
    detail = c.get(f"/queue/api/queues/default/tasks/{active}").json()
    assert detail["task"]["cancel_requested"] is not None
    # a waiting task is archived at once, naming the dashboard
    pending = app.inspector.tasks("default", "pending")[0].id
    page = c.get("/queue/queues/default?state=pending").text
    assert f"/tasks/{pending}/cancel" in page
    r = c.post(f"/queue/api/queues/default/tasks/{pending}/cancel", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["requested"] is False
    done = app.inspector.find(pending)
    assert done.state == "archived"
    assert done.error == "cancelled by the dashboard while it was pending"
    # a task that ended cannot be cancelled
    r = c.post(f"/queue/api/queues/default/tasks/{pending}/cancel", headers={"X-CSRF-Token": token})
    assert r.status_code == 409 and "archived already" in r.json()["error"]


def test_search_by_id_payload_and_error(app: App, admin: Any) -> None:
    ids = seed(app)
    r = admin.get("/queue/api/queues/default/tasks", params={"q": "p1", "where": "payload"})
    assert [t["payload"]["name"] for t in r.json()["tasks"]] == ["p1"]
    r = admin.get(
        "/queue/api/queues/default/tasks", params={"q": ids["archived"][1], "where": "id"}
    )
    assert [t["id"] for t in r.json()["tasks"]] == [ids["archived"][1]]
    r = admin.get("/queue/api/queues/default/tasks", params={"q": "missing", "where": "id"})
    assert r.json()["tasks"] == []
    html = admin.get("/queue/queues/default", params={"q": "p2", "where": "payload"}).text
    assert "1 match(es)" in html and "looked at 3 pending task(s)" in html


def test_search_is_bounded_and_goes_on(
    app: App, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bingo_core.dashboard.views.tasks as tasks

    monkeypatch.setattr(tasks, "SEARCH_SCAN", 10)
    app.client.enqueue_many(
        [("demo:greet", {"name": "x" if i != 25 else "needle"}) for i in range(40)]
    )
    first = admin.get("/queue/api/queues/default/tasks", params={"q": "needle"}).json()
    assert (
        first["tasks"] == [] and first["search"]["scanned"] == 10 and first["search"]["next"] == 10
    )
    later = admin.get("/queue/api/queues/default/tasks", params={"q": "needle", "start": 20}).json()
    assert [t["payload"]["name"] for t in later["tasks"]] == ["needle"]


def test_script_payload_is_shown_as_text(app: App, admin: Any) -> None:
    evil = "<script>alert('x')</script>"
    info = app.client.enqueue("demo:greet", {"name": evil})
    for path in ("/queue/queues/default", f"/queue/queues/default/tasks/{info.id}"):
        html = admin.get(path).text
        assert evil not in html
        assert "&lt;script&gt;" in html


def test_schedules_page_with_leader_and_history(app: App, admin: Any, session: Any) -> None:
    ids = seed(app)
    now = time.time()
    item = {
        "tick": now - 60,
        "task_id": ids["pending"][0],
        "enqueued_at": now - 59.5,
        "lateness": 0.5,
    }
    publish_entries(app, [ENTRY], {ENTRY["key"]: item})
    data = admin.get("/queue/api/schedules").json()
    assert data["total"] == 1 and data["leader"]["id"] == "leader-host:77:aa"
    entry = data["entries"][0]
    assert entry["source"] == "plugin:demo" and len(entry["next_fires"]) == 5
    assert entry["last_task_id"] == ids["pending"][0]
    html = admin.get("/queue/schedules").text
    assert f"/queue/queues/default/tasks/{ids['pending'][0]}" in html
    detail = admin.get("/queue/api/schedules/entry", params={"key": ENTRY["key"]}).json()
    assert detail["entry"]["history"][0]["task_url"].endswith(ids["pending"][0])
    assert admin.get("/queue/api/schedules/entry", params={"key": "nope|x"}).status_code == 404
    # run now: the entry's type and payload, once
    c, token = session
    r = c.post("/queue/schedules/run", data={"csrf_token": token, "key": ENTRY["key"]})
    assert r.status_code == 303 and "/queue/queues/default/tasks/" in r.headers["location"]
    task_id = r.headers["location"].rsplit("/", 1)[1]
    task = app.inspector.find(task_id)
    assert task.payload == {"name": "cron", "count": 1, "loud": False}
    assert task.source == ENTRY["key"]


def test_schedules_are_paged_and_filtered(app: App, admin: Any) -> None:
    entries = [
        {"key": f"db:{i}|row {i:03d}", "info": {**ENTRY["info"], "name": f"row {i:03d}"}}
        for i in range(120)
    ]
    publish_entries(app, entries)
    page = admin.get("/queue/api/schedules", params={"limit": 50, "offset": 100}).json()
    assert page["total"] == 120 and len(page["entries"]) == 20
    found = admin.get("/queue/api/schedules", params={"q": "row 007"}).json()
    assert [e["name"] for e in found["entries"]] == ["row 007"]
    assert admin.get("/queue/api/schedules", params={"source": "plugin"}).json()["total"] == 0


def test_servers_page_marks_dead_servers(app: App, admin: Any) -> None:
    heartbeat(app, "host-a:1:aa")
    heartbeat(app, "host-b:2:bb", ttl=0.05)  # each beat keeps its record among those seen
    time.sleep(0.1)
    data = admin.get("/queue/api/servers").json()
    status = {s["id"]: s["status"] for s in data["servers"]}
    assert status["host-a:1:aa"] == "live" and status["host-b:2:bb"] == "dead"
    assert data["live"] >= 1 and data["dead"] == 1
    assert "dead" in admin.get("/queue/servers").text


def test_servers_page_names_servers_and_a_stopped_one_holds_no_task(app: App, admin: Any) -> None:
    held = [{"id": "t-1", "queue": "default", "type": "demo:greet"}]
    heartbeat(app, "host-a:1:aa", name="billing", active=held, active_count=1)
    heartbeat(app, "host-c:3:cc", name="old", active=held, active_count=1)
    from .helpers import remove_server

    remove_server(app, "host-c:3:cc")  # a clean stop
    servers = {s["id"]: s for s in admin.get("/queue/api/servers").json()["servers"]}
    stopped = servers["host-c:3:cc"]
    assert stopped["status"] == "stopped"
    assert stopped["active"] == [] and stopped["active_count"] == 0
    assert [t["id"] for t in servers["host-a:1:aa"]["active"]] == ["t-1"]
    page = admin.get("/queue/servers").text
    assert '<b data-bind="name">billing</b>' in page
    assert "default \u00d71" in page and "{&#34;default&#34;" not in page
    row = page[page.index('data-k="host-c:3:cc"') :]
    row = row[: row.index("</tr>")]
    assert "t-1" not in row and ">none</span>" in row


def test_plugins_page_masks_secrets_and_lists_broken(admin: Any) -> None:
    data = admin.get("/queue/api/plugins").json()
    demo = next(p for p in data["plugins"] if p["name"] == "demo")
    assert demo["version"] == "1.2.3"
    assert {t["name"] for t in demo["task_types"]} == {"demo:greet", "demo:free"}
    assert demo["settings"]["api_key"] == "***"
    assert "hunter2" not in str(demo["settings"])
    assert data["broken"] == [
        {"name": "brokenplug", "reason": "ImportError: No module named 'missing_dep'"}
    ]
    html = admin.get("/queue/plugins").text
    assert "s3cr3t-value" not in html and "hunter2" not in html and "brokenplug" in html


def test_redis_page(admin: Any) -> None:
    data = admin.get("/queue/api/redis").json()["redis"]
    assert data["mode"] == "standalone" and data["version"]
    assert "Redis" in admin.get("/queue/redis").text


def test_no_page_links_outside_the_dashboard(app: App, admin: Any) -> None:
    seed(app)
    html = admin.get("/queue").text
    for href in re.findall(r'href="([^"]+)"', html):
        assert href.startswith("/queue") or href.startswith("data:"), href


def test_the_sampler_notes_since_when_the_leader_leads(app: App, admin: Any) -> None:
    from .helpers import asyncio_run_sampler

    publish_entries(app, [ENTRY])
    assert admin.get("/queue/api/schedules").json()["leader"]["since"] is None
    before = time.time()
    asyncio_run_sampler(app)
    asyncio_run_sampler(app)  # a second look keeps the first "since"
    leader = admin.get("/queue/api/schedules").json()["leader"]
    assert leader["id"] == "leader-host:77:aa" and before - 1 <= leader["since"] <= time.time()
    assert "since" in admin.get("/queue/schedules").text
    roles = admin.get("/queue/api/servers").json()["servers"]
    assert roles == [] or all("scheduler leader" not in s["roles"] for s in roles)
