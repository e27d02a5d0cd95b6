"""The HTML report opened in a real browser (Debian's Chromium through Playwright): its
tables are there and read right, nothing from the data runs, and a screenshot is saved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from test_daily_report import fill

from bingo_core.app import App
from bingo_core.testing import run_task

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def bingo_database_url(tmp_path: Path) -> str:
    """SQLite only: the page does not depend on the store (the other tests run on both)."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.mark.slow
def test_the_report_reads_right_in_chromium(
    report_app: Callable[..., App], bingo_worker: Callable[..., None], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    app = report_app()
    fill(app, bingo_worker)
    day = datetime.now(UTC).date().isoformat()
    task = run_task(app, "task:daily-report", {"date": day, "recipients": []})
    page_file = Path(task.result["path"])
    shot = tmp_path / "daily-report.png"
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_file.as_uri())
            assert page.title() == f"Bingo daily report {day}"
            headers = page.locator("#totals thead th").all_inner_texts()
            assert headers[:4] == ["Queue", "Task type", "Processed", "Failed"]
            rows = page.locator("#totals tbody tr")
            # The four job types, and the alerts mail_notify queued for the archived ones.
            assert rows.count() == 5
            cells = {tuple(rows.nth(i).locator("td").all_inner_texts()[:4]) for i in range(5)}
            assert ("default", "task:mail-alert", "2", "0") in cells
            assert ("default", "job:fast", "4", "0") in cells
            assert ("default", "job:<b>odd</b>", "1", "1") in cells  # shown, not rendered
            assert ("exports", "job:export", "1", "0") in cells
            assert page.locator("#totals tbody tr.bad").count() == 2
            assert page.locator("#totals b").count() == 0
            assert page.inner_text("#total-processed") == "10"
            errors = page.locator("#failures .error").all_inner_texts()
            assert "SkipRetry: <script>alert('x')</script> & more" in errors
            assert page.locator("#slowest tbody tr").first.locator("td").nth(2).inner_text() == (
                "job:slow"
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert dialogs == []  # the <script> in an error message did not run
    assert shot.stat().st_size > 10_000
