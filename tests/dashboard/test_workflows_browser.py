"""A workflow in a real browser (Playwright on Debian's Chromium): the list leads to the
workflow's page, whose steps stand as the flow's tree (a sequence, a parallel group
indented under it) and refresh by themselves, and Cancel cancels it. Screenshots as in
:mod:`.test_browser`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bingo_core.app import App

from .helpers import run_async, seed_workflows, steady_box
from .test_browser import log_in, page, server, shot

pytestmark = [pytest.mark.slow, pytest.mark.parallel_safe]
__all__ = ["page", "server"]  # the fixtures this module borrows


def set_progress(app: App, task_id: str, done: int) -> None:
    """The progress the pretend worker holding the step reports."""

    async def run() -> None:
        broker = app.async_broker()
        try:
            text = json.dumps({"done": done, "total": 10, "note": "pages", "at": time.time()})
            assert await broker.set_progress("flows", task_id, "pretend:1:w", text)
        finally:
            await broker.close()
            app._async_broker = None

    run_async(run)


def test_a_workflow_as_a_tree_then_cancelled(page: Any, app: App, tmp_path: Path) -> None:
    flows = seed_workflows(app)
    wf = flows["running"]
    log_in(page)
    page.locator("header nav").get_by_role("link", name="Workflows").click()
    page.wait_for_url("**/queue/workflows")
    assert page.locator("tr[data-workflow]").count() == 4
    shot(page, tmp_path, "workflows")
    page.locator(f"tr[data-workflow='{wf.id}'] a", has_text=wf.id).click()
    page.wait_for_url(f"**/queue/workflows/{wf.id}")

    tree = page.locator("#wf-tree")
    assert tree.is_visible()
    group = tree.locator(".wf-node.group")
    assert group.locator("> .wf-kind").inner_text().lower() == "parallel"
    members = group.locator("> ol > li")
    assert members.count() == 2  # a step, and a chain of two
    assert members.nth(1).locator(".wf-step").count() == 2
    outer = tree.locator("> li > ol > li")
    assert outer.count() == 3
    # each level stands further right than the one holding it
    x_first = steady_box(outer.nth(0).locator(".wf-line"))["x"]
    x_member = steady_box(members.nth(0).locator(".wf-line"))["x"]
    x_inner = steady_box(members.nth(1).locator(".wf-step").first.locator(".wf-line"))["x"]
    assert x_first < x_member < x_inner
    result = tree.locator(".wf-result").first
    assert result.is_visible() and result.get_attribute("title").startswith('{"rows":1234')
    assert page.get_by_role("progressbar").count() == 1  # the one step that reported any
    shot(page, tmp_path, "workflow")

    # the page refreshes by itself: a step's new progress shows without a reload
    active = page.locator(".wf-step", has=page.locator(".badge.active")).get_attribute("data-step")
    set_progress(app, active, 7)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.wf-progress .mono')]"
        ".some((e) => e.textContent === '7')",
        timeout=10000,
    )

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_selector(".flash.ok")
    assert "cancelled" in page.locator(".flash").inner_text()
    assert page.locator("h1 + .sub .badge").inner_text() == "cancelled"
    assert page.get_by_role("button", name="Cancel").count() == 0
    record = app.broker.redis.hget(app.broker.q("flows").workflow(wf.id), "state")
    assert record == b"cancelled"
    shot(page, tmp_path, "workflow-cancelled")
    assert page.errors == []
