"""In Chromium: a queue named ``eu/reports`` and a task id with ``#`` and ``?``, reached by
clicking the links the page's script rebuilds at each refresh; the Failures and Task types
pages (screenshots)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bingo_core.app import App
from bingo_core.broker import AsyncBroker
from bingo_core.broker.scripts import DURATION_BUCKETS, StatsRow

from .helpers import finish, run_async
from .test_browser import log_in, page, server, shot

__all__ = ["page", "server"]  # the fixtures, from the browser tests

QUEUE = "eu/reports"


def test_click_through_a_queue_named_with_a_slash(page: Any, app: App, tmp_path: Path) -> None:
    task_id = app.client.enqueue("demo:greet", {"name": "x"}, queue=QUEUE, task_id="r #1?").id
    finish(app, QUEUE, [task_id], "retry", retry_at=time.time() + 900, error="OSError: disk")
    log_in(page)
    page.get_by_role("link", name=QUEUE, exact=True).first.click()
    page.wait_for_url("**/queue/queues/eu%2Freports")
    page.get_by_role("link", name="Retry").first.click()
    page.wait_for_url("**/queue/queues/eu%2Freports?state=retry")
    page.wait_for_timeout(3500)  # a live refresh rebuilds the rows and their links
    page.get_by_role("link", name=task_id).click()
    page.wait_for_url("**/queue/queues/eu%2Freports/tasks/r%20%231%3F")
    assert page.locator("h1").inner_text() == task_id
    assert page.locator("dt", has_text="Next attempt").is_visible()
    shot(page, tmp_path, "task-retrying")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_selector(".flash.ok")
    assert app.inspector.find(task_id, QUEUE).state == "pending"
    assert page.errors == []


def test_the_failures_and_task_types_pages(page: Any, app: App, tmp_path: Path) -> None:
    ids = [app.client.enqueue("demo:greet", {"name": f"f{i}"}, queue=QUEUE).id for i in range(3)]
    finish(app, QUEUE, ids[:2], "archive", error="ValueError: no such report")
    finish(app, QUEUE, ids[2:], "retry", error="TimeoutError: the database is slow")
    buckets = [0, 0, 5, 2] + [0] * (len(DURATION_BUCKETS) - 3)

    async def record() -> None:
        broker = AsyncBroker(app.settings.redis)
        try:
            row = StatsRow("demo:greet", 7, 3, 0.9, 0.4, buckets, "TimeoutError: slow", time.time())
            await broker.record_stats({QUEUE: [row]})
        finally:
            await broker.close()

    run_async(record)
    log_in(page)
    page.locator("header nav").get_by_role("link", name="Failures").click()
    page.wait_for_url("**/queue/failures")
    assert page.locator("tbody tr").count() == 3
    shot(page, tmp_path, "failures")
    page.fill("input[name=q]", "database")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**q=database**")
    assert page.locator("tbody tr").count() == 1
    page.get_by_role("link", name=ids[2]).click()
    page.wait_for_url(f"**/queue/queues/eu%2Freports/tasks/{ids[2]}")
    page.locator("header nav").get_by_role("link", name="Task types").click()
    page.wait_for_url("**/queue/types")
    assert "TimeoutError: slow" in page.locator("tbody").inner_text()
    shot(page, tmp_path, "task-types")
    assert page.errors == []
