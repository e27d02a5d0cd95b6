"""The overview in a real browser (Playwright on Debian's Chromium): the problems lead the
page, the queue rows they name are flagged with a word, and the queue table sorts by any
column, across live refreshes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bingo_core.app import App

from .helpers import seed
from .test_browser import log_in, page, server, shot

pytestmark = [pytest.mark.slow, pytest.mark.parallel_safe]
__all__ = ["page", "server"]  # the fixtures this module borrows


def row(page: Any, queue: str) -> Any:
    return page.locator("tbody[data-rows=queues] tr", has=page.locator("a", has_text=queue)).first


def test_the_overview_leads_with_the_problems_and_flags_their_rows(
    page: Any, app: App, tmp_path: Path
) -> None:
    seed(app)  # pending tasks in "default", and no worker at all
    app.client.enqueue("demo:free", {}, queue="later", process_in=600)
    log_in(page)
    problems = page.locator("#problems")
    first = problems.locator("li.problem").first
    assert first.locator(".sev").inner_text().lower() == "critical"
    assert "unserved_queue" in first.inner_text() and "default" in first.inner_text()
    # The problems come before the queue table.
    top = page.evaluate(
        "() => [document.querySelector('#problems').getBoundingClientRect().top,"
        " document.querySelector('table[data-sortable]').getBoundingClientRect().top]"
    )
    assert top[0] < top[1]
    flagged = row(page, "default")
    assert "flagged" in (flagged.get_attribute("class") or "")
    assert flagged.locator(".badge.flag").inner_text() == "no worker"
    assert row(page, "later").locator(".badge.flag").count() == 0
    pending = page.locator(".stat[data-card-kind=unserved_queue]")
    assert "critical" in (pending.get_attribute("class") or "")
    assert pending.locator("[data-card-flag]").inner_text() == "no worker"
    assert not page.locator(".stat[data-card-kind=backlog] [data-card-flag]").is_visible()
    # A live refresh rebuilds the rows: the flag stays.
    page.wait_for_function(
        "() => document.querySelector('tbody[data-rows=queues] tr[data-k]')"
        " && document.querySelector('#live').textContent.startsWith('live ')",
        timeout=10000,
    )
    assert row(page, "default").locator(".badge.flag").inner_text() == "no worker"
    assert pending.locator("[data-card-flag]").is_visible()
    shot(page, tmp_path, "overview-problems")

    # Sorting by Pending: ascending, then descending; kept across a refresh.
    queues = page.locator("table:has(tbody[data-rows=queues])")
    names = (
        "() => [...document.querySelectorAll('tbody[data-rows=queues] tr[data-k]')]"
        ".map(r => r.dataset.k)"
    )
    queues.locator("th", has_text="Pending").click()
    assert page.evaluate(names) == ["later", "default"]
    queues.locator("th", has_text="Pending").click()
    assert page.evaluate(names) == ["default", "later"]
    assert queues.locator("th", has_text="Pending").get_attribute("aria-sort") == "descending"
    queues.locator("th", has_text="Queue").click()
    assert page.evaluate(names) == ["default", "later"]
    queues.locator("th", has_text="Queue").click()
    assert page.evaluate(names) == ["later", "default"]
    text = page.locator("#live").inner_text()
    page.wait_for_function(f"() => document.querySelector('#live').textContent !== {text!r}")
    assert page.evaluate(names) == ["later", "default"]
    assert page.errors == []


def test_a_healthy_overview_says_there_is_no_problem(page: Any, app: App) -> None:
    app.client.enqueue("demo:free", {}, queue="later", process_in=600)
    log_in(page)
    assert page.locator("#problems [data-problems-none]").is_visible()
    assert page.locator("#problems li.problem").count() == 0
    assert page.locator("tr.flagged, .stat.flagged").count() == 0
    assert page.locator("[data-card-flag]:visible").count() == 0
    assert page.errors == []
