"""User stories in a real browser: Playwright on Debian's Chromium against a real uvicorn
on a free port, the private Redis and a SQLite file store. Each story saves a screenshot
(in the test's tmp dir; also in ``$BINGO_SCREENSHOTS`` when set, which is how
``docs/screenshots/`` is refreshed)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bingo_core.app import App
from bingo_core.testing import free_port

from .conftest import ADMIN_KEY
from .helpers import heartbeat, publish_entries, seed, seed_workflows
from .test_pages import ENTRY

pytestmark = [pytest.mark.slow, pytest.mark.parallel_safe]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def server(web: Any) -> Iterator[str]:
    """The dashboard on a real uvicorn in a thread of its own."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def page(server: str, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1360, "height": 860}, base_url=server)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.errors = errors
        yield tab
        browser.close()


def shot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("BINGO_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def log_in(page: Any, key: str = ADMIN_KEY) -> None:
    page.goto("/queue")
    page.wait_for_url("**/queue/login**")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/queue")


def test_log_in(page: Any, app: App, tmp_path: Path) -> None:
    seed(app)
    page.goto("/queue/servers")
    assert "/queue/login" in page.url
    page.fill("#key", "wrong")
    page.click("button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "wrong key"
    shot(page, tmp_path, "login")
    page.errors.clear()  # the browser reports the 401 of the refused login
    page.fill("#key", ADMIN_KEY)
    page.click("button[type=submit]")
    page.wait_for_url("**/queue/servers")
    assert page.locator("header .badge").inner_text() == "admin"
    assert page.errors == []


def test_pause_and_resume_a_queue(page: Any, app: App, tmp_path: Path) -> None:
    seed(app)
    log_in(page)
    row = page.locator("tbody tr", has=page.locator("a", has_text="default")).first
    row.get_by_role("button", name="Pause").click()
    page.wait_for_selector(".flash.ok")
    assert "paused default" in page.locator(".flash").inner_text()
    assert app.inspector.stats(["default"])[0].paused is True
    row = page.locator("tbody tr", has=page.locator("a", has_text="default")).first
    assert row.locator(".badge.paused").is_visible()
    assert not row.get_by_role("button", name="Pause").is_visible()
    shot(page, tmp_path, "overview-paused")
    row.get_by_role("button", name="Resume").click()
    page.wait_for_selector(".flash.ok")
    assert app.inspector.stats(["default"])[0].paused is False
    assert page.errors == []


def test_the_overview_refreshes_by_itself(page: Any, app: App, tmp_path: Path) -> None:
    seed(app)
    seed_workflows(app)  # the Workflows card: one running, one failed (a problem)
    log_in(page)
    cell = (
        page.locator("tbody tr", has=page.locator("a", has_text="default"))
        .first.locator("td.num a")
        .first
    )
    assert cell.inner_text() == "3"
    app.client.enqueue_many([("demo:free", {}) for _ in range(4)])
    page.wait_for_function(
        "() => document.querySelector('main tbody tr td.num a').textContent === '7'",
        timeout=10000,
    )
    assert page.locator("#live").inner_text().startswith("live")
    card = page.locator("[data-card-kind=workflow_failed]")
    assert card.locator("[data-workflows=running]").inner_text() == "1 running"
    assert card.locator("[data-workflows=failed]").inner_text() == "1 failed"
    shot(page, tmp_path, "overview")
    assert page.errors == []


def test_retry_an_archived_task_by_clicking(page: Any, app: App, tmp_path: Path) -> None:
    ids = seed(app)
    log_in(page)
    page.goto("/queue/queues/default")
    page.locator("nav.tabs a", has_text="Archived").click()
    page.wait_for_url("**state=archived")
    shot(page, tmp_path, "tasks-archived")
    row = page.locator("tbody tr", has=page.locator("a", has_text=ids["archived"][0]))
    row.get_by_role("button", name="Retry").click()
    page.wait_for_selector(".flash.ok")
    assert f"task {ids['archived'][0]}: moved to pending" in page.locator(".flash").inner_text()
    assert app.inspector.find(ids["archived"][0]).state == "pending"
    assert page.locator("tbody tr", has=page.locator("a", has_text=ids["archived"][0])).count() == 0
    assert page.errors == []


def test_a_bad_sys_crontab_row_shows_its_error(
    page: Any, app: App, web: Any, tmp_path: Path
) -> None:
    log_in(page)
    page.goto("/queue/crontab")
    page.fill("#name", "nightly report")
    page.select_option("#type", "demo:greet")
    page.fill("#payload", '{"name": "night"}')
    page.fill("#spec", "61 * * * *")
    # checked as it is typed, through the API
    page.wait_for_function(
        "() => document.querySelector('[data-error-for=spec]').textContent.includes('61')",
        timeout=10000,
    )
    page.get_by_role("button", name="Add row").click()
    error = page.locator("[data-error-for=spec]").inner_text()
    assert "minute 61 is out of range 0-59" in error
    page.errors.clear()  # the browser reports the 400 of the refused form
    assert page.locator("#preview .badge.bad").is_visible()
    shot(page, tmp_path, "crontab-bad-spec")
    assert web.state.dash.store().rows() == []
    page.fill("#spec", "0 2 * * *")
    page.get_by_role("button", name="Check").click()
    assert page.locator("#preview .badge.ok").is_visible()
    assert page.locator("#preview li").count() == 5
    page.get_by_role("button", name="Add row").click()
    page.wait_for_selector(".flash.ok")
    rows = web.state.dash.store().rows()
    assert [(r.name, r.spec) for r in rows] == [("nightly report", "0 2 * * *")]
    shot(page, tmp_path, "crontab")
    assert page.errors == []


def test_enqueue_from_the_form(page: Any, app: App, tmp_path: Path) -> None:
    log_in(page)
    page.goto("/queue/enqueue?type=demo:greet")
    page.fill("[name='p.name']", "from the form")
    page.fill("[name='p.count']", "-1")
    page.get_by_role("button", name="Enqueue").click()
    assert "does not match Greeting" in page.locator(".flash.error").inner_text()
    page.errors.clear()  # the browser reports the 400 of the refused form
    assert app.inspector.stats() == [] or app.inspector.stats()[0].size == 0
    page.fill("[name='p.count']", "3")
    page.fill("[name='o.queue']", "critical")
    shot(page, tmp_path, "enqueue")
    page.get_by_role("button", name="Enqueue").click()
    page.wait_for_url("**/queue/queues/critical/tasks/*")
    task_id = page.url.rsplit("/", 1)[1]
    task = app.inspector.find(task_id)
    assert task.payload == {"name": "from the form", "count": 3, "loud": False}
    assert "from the form" in page.locator("pre#payload").inner_text()
    assert page.errors == []


def test_a_script_payload_is_shown_as_text(page: Any, app: App, tmp_path: Path) -> None:
    evil = "<script>window.pwned = 1</script><img src=x onerror=window.pwned=2>"
    info = app.client.enqueue("demo:greet", {"name": evil}, process_in=600)
    log_in(page)
    page.goto(f"/queue/queues/default/tasks/{info.id}")
    assert evil in page.locator("pre#payload").inner_text()
    page.goto("/queue/queues/default?state=scheduled")
    page.wait_for_timeout(3500)  # a live refresh renders the rows again
    assert evil[:40] in page.locator("tbody td.mono.clip").first.inner_text()
    assert page.evaluate("() => window.pwned") is None
    shot(page, tmp_path, "script-payload")


def test_a_tour_of_every_page(page: Any, app: App, web: Any, tmp_path: Path) -> None:
    ids = seed(app)
    now = time.time()
    item = {
        "tick": now - 120,
        "task_id": ids["pending"][0],
        "enqueued_at": now - 119.9,
        "lateness": 0.1,
    }
    publish_entries(app, [ENTRY], {ENTRY["key"]: item})
    heartbeat(
        app,
        active=[{"id": ids["pending"][1], "queue": "default", "type": "demo:greet"}],
        active_count=1,
    )
    web.state.dash.store().add("nightly", "demo:greet", "0 2 * * *", '{"name": "n"}', 1)
    web.state.dash.store().add("broken", "demo:greet", "0 2 * * *", '{"count": 1}', 1)
    log_in(page)
    for name, path in [
        ("tasks", "/queue/queues/default?state=pending"),
        ("task", f"/queue/queues/default/tasks/{ids['pending'][0]}"),
        ("schedules", "/queue/schedules"),
        ("entry", "/queue/schedules/entry?key=plugin%3Ademo%7Cevery+five"),
        ("crontab-rows", "/queue/crontab"),
        ("servers", "/queue/servers"),
        ("plugins", "/queue/plugins"),
        ("redis", "/queue/redis"),
    ]:
        page.goto(path)
        page.wait_for_timeout(600)
        assert page.locator("h1").count() >= 1, path
        shot(page, tmp_path, name)
    assert page.errors == []


def test_a_task_page_shows_progress_as_it_comes(page: Any, app: App, tmp_path: Path) -> None:
    from bingo_core.records import TaskProgress

    info = app.client.enqueue("demo:greet", {"name": "p"})
    log_in(page)
    page.goto(f"/queue/queues/default/tasks/{info.id}")
    assert page.locator("#progress").is_hidden()
    report = TaskProgress.of(30, 120, "rows loaded", time.time())
    app.broker.redis.hset(f"bingo:{{default}}:t:{info.id}", "progress", report.encode())
    page.wait_for_selector("#progress", state="visible", timeout=10000)
    assert page.locator("#progress p").inner_text().startswith("30 of 120 rows loaded")
    assert page.locator("#progress progress").evaluate("e => [e.value, e.max]") == [30, 120]
    shot(page, tmp_path, "task-progress")
    assert page.errors == []


def test_a_waiting_task_in_its_tab_and_cancelled_by_clicking(
    page: Any, app: App, tmp_path: Path
) -> None:
    first = app.client.enqueue("demo:greet", {"name": "first"}).id
    waiting = app.client.enqueue("demo:greet", {"name": "then"}, depends_on=[first]).id
    log_in(page)
    page.goto("/queue/queues/default")
    page.locator("nav.tabs a", has_text="Waiting").click()
    page.wait_for_url("**state=waiting")
    row = page.locator("tbody tr", has=page.locator("a", has_text=waiting))
    assert row.count() == 1
    shot(page, tmp_path, "tasks-waiting")
    row.locator("a", has_text=waiting).click()
    page.wait_for_url(f"**/tasks/{waiting}")
    assert page.locator("dd a", has_text=first).count() == 1
    assert "(1 not completed yet)" in page.locator("main").inner_text()
    shot(page, tmp_path, "task-waiting")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Cancel").first.click()
    page.wait_for_selector(".flash.ok")
    info = app.inspector.find(waiting)
    assert info.state == "archived" and "while it waited for its dependencies" in info.error
    assert page.errors == []
