"""Tests of the daily_report plugin: the report a real worker builds from sys_task_stats
(SQLite and MariaDB) and the archive, as HTML and CSV, and the mail it sends."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import bingo_plugin_daily_report as plugin
import pytest
from conftest import Mailbox
from pydantic import ValidationError

from bingo_core.app import App
from bingo_core.errors import PayloadError
from bingo_core.testing import run_task


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def fill(app: App, worker: Callable[..., None]) -> None:
    """A day of work: fast and slow tasks, two archived with errors, another queue."""
    for _ in range(4):
        app.client.enqueue("job:fast", {"seconds": 0.001})
    app.client.enqueue("job:slow", {"seconds": 0.3})
    app.client.enqueue("job:slow", {"seconds": 0.25, "error": "disk full on /var/<tmp>"})
    app.client.enqueue("job:<b>odd</b>", {"error": "<script>alert('x')</script> & more"})
    app.client.enqueue("job:export", {"seconds": 0.05})
    worker(app)  # the worker writes its figures to Redis when it stops


def test_registers_the_task_type_schedule_and_settings(
    bingo_registry: Callable[..., Any],
) -> None:
    import bingo_plugin_daily_stats
    import bingo_plugin_mail_notify

    registry = bingo_registry(plugin, bingo_plugin_daily_stats, bingo_plugin_mail_notify)
    task_type = registry.get("task:daily-report")
    assert task_type.plugin == "daily_report"
    assert task_type.payload_model is plugin.ReportPayload
    assert task_type.is_async
    assert (task_type.option("max_retry"), task_type.option("timeout")) == (5, 30.0)
    [entry] = [s for s in registry.schedules if s.type == "task:daily-report"]
    assert (entry.spec, entry.payload, entry.source) == (
        "0 2 * * *",
        {"date": "today"},
        "plugin:daily_report",
    )
    assert registry.settings_models["daily_report"] is plugin.DailyReportSettings


def test_the_schedule_follows_the_plugin_settings(bingo_app: Callable[..., App]) -> None:
    import bingo_plugin_daily_stats
    import bingo_plugin_mail_notify

    plugins = (plugin, bingo_plugin_daily_stats, bingo_plugin_mail_notify)
    moved = bingo_app(*plugins, plugins={"daily_report": {"schedule": "30 3 * * 1-5"}})
    [entry] = [s for s in moved.registry.schedules if s.type == "task:daily-report"]
    assert entry.spec == "30 3 * * 1-5"
    off = bingo_app(*plugins, plugins={"daily_report": {"schedule": None}})
    assert [s for s in off.registry.schedules if s.type == "task:daily-report"] == []


def test_an_html_report_is_written_and_mailed(
    report_app: Callable[..., App],
    bingo_worker: Callable[..., None],
    mailbox: tuple[Mailbox, int],
) -> None:
    app = report_app()
    fill(app, bingo_worker)
    day = today()
    task = run_task(
        app, "task:daily-report", {"date": day, "recipients": ["Ops <ops@example.com>"]}
    )
    assert task.state == "completed", task.error
    result = task.result
    path = Path(result["path"])
    assert path.name == f"daily-report-{day}.html"
    assert (result["format"], result["mailed_to"]) == ("html", ["Ops <ops@example.com>"])
    assert result["rows"] == 5  # the job types and task:mail-alert (for the archived ones)
    html = path.read_text()
    assert '<table id="totals">' in html
    assert "job:&lt;b&gt;odd&lt;/b&gt;" in html and "<b>odd</b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in html
    assert "<script>" not in html
    assert "SkipRetry: disk full on /var/&lt;tmp&gt;" in html
    # The mail: a summary and the report attached, byte for byte.
    [(recipients, message)] = mailbox[0].received
    assert recipients == ["ops@example.com"]
    assert message["Subject"] == f"Bingo daily report {day}"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "10 attempt(s), 2 failed, 2 task(s) archived" in text
    assert "default job:slow: 1 failed, 1 archived; last error: SkipRetry: disk full" in text
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == path.name
    assert attached.get_content_type() == "text/html"
    assert attached.get_payload(decode=True) == path.read_bytes()


def test_a_csv_report_has_one_row_per_queue_and_type(
    report_app: Callable[..., App],
    bingo_worker: Callable[..., None],
    mailbox: tuple[Mailbox, int],
) -> None:
    app = report_app(report={"format": "csv"})
    fill(app, bingo_worker)
    app.client.enqueue("job:fast", {"error": '=HYPERLINK("http://evil")'})
    bingo_worker(app)
    task = run_task(app, "task:daily-report", {"date": today()})
    assert task.state == "completed", task.error
    assert task.result["mailed_to"] == [] and mailbox[0].received == []
    rows = list(csv.DictReader(io.StringIO(Path(task.result["path"]).read_text())))
    by_type = {(r["queue"], r["type"]): r for r in rows}
    assert list(rows[0]) == list(plugin.render.CSV_COLUMNS)
    assert set(by_type) == {
        ("default", "task:mail-alert"),
        ("default", "job:<b>odd</b>"),
        ("default", "job:fast"),
        ("default", "job:slow"),
        ("exports", "job:export"),
    }
    slow = by_type[("default", "job:slow")]
    assert (slow["date"], slow["processed"], slow["failed"], slow["archived"]) == (
        today(),
        "2",
        "1",
        "1",
    )
    assert 250 <= float(slow["max_ms"]) < 5000
    assert slow["last_error"] == "SkipRetry: disk full on /var/<tmp>"


def test_recipients_come_from_the_settings_unless_the_payload_names_them(
    report_app: Callable[..., App], mailbox: tuple[Mailbox, int]
) -> None:
    app = report_app(report={"recipients": ["team@example.com"]})
    mailed = run_task(app, "task:daily-report", {"date": "2026-01-31"}).result
    assert mailed["mailed_to"] == ["team@example.com"]
    nobody = run_task(app, "task:daily-report", {"date": "2026-01-31", "recipients": []})
    assert nobody.result["mailed_to"] == [] and nobody.result["mail_task"] is None
    assert [r for r, _ in mailbox[0].received] == [["team@example.com"]]


def test_a_retried_report_does_not_mail_twice(
    report_app: Callable[..., App], mailbox: tuple[Mailbox, int]
) -> None:
    app = report_app(report={"recipients": ["team@example.com"]})
    # As if an earlier attempt of task "r1" had enqueued its mail already (due in an hour).
    app.client.enqueue(
        "task:mail-notify",
        {"to": ["team@example.com"], "subject": "s", "body": "b"},
        task_id="r1-mail",
        process_in=3600,
    )
    task = run_task(app, "task:daily-report", {"date": "2026-01-31"}, task_id="r1")
    assert task.state == "completed", task.error
    assert task.result["mail_task"] == "r1-mail"
    assert mailbox[0].received == []


def test_a_day_without_statistics(report_app: Callable[..., App]) -> None:
    app = report_app(report={"refreshStats": False})
    task = run_task(app, "task:daily-report", {"date": "2025-12-31"})
    assert task.result["rows"] == 0
    html = Path(task.result["path"]).read_text()
    assert "No task statistics were recorded for this day." in html
    assert "daily-report-2025-12-31.html" in task.result["path"]


def test_report_reads_rows_daily_stats_wrote(
    report_app: Callable[..., App], bingo_worker: Callable[..., None]
) -> None:
    app = report_app(report={"refreshStats": False})
    fill(app, bingo_worker)
    day = today()
    run_task(app, "task:daily-stats", {"date": day})
    task = run_task(app, "task:daily-report", {"date": day, "format": "csv"})
    types = [r["type"] for r in csv.DictReader(io.StringIO(Path(task.result["path"]).read_text()))]
    assert "job:fast" in types and "task:daily-stats" not in types


class NoArchive:
    """An inspector with queues and an empty archive."""

    def queues(self) -> list[str]:
        return ["q"]

    def stats(self, queues: list[str]) -> list[Any]:
        from types import SimpleNamespace

        return [SimpleNamespace(queue=q, archived=0) for q in queues]

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 50) -> list[Any]:
        return []


def test_build_report_orders_failures_and_slowest() -> None:
    rows = [
        {"queue": "q", "type": t, "processed": p, "failed": f, "p50_ms": 1.0, "p95_ms": p95,
         "max_ms": p95 * 2, "created_at": None}
        for t, p, f, p95 in [("a", 10, 0, 5.0), ("b", 10, 3, 50.0), ("c", 0, 0, 0.0)]
    ]  # fmt: skip
    report = plugin.build_report(date(2026, 1, 31), UTC, rows, NoArchive(), slowest=1)
    assert [line.type for line in report.failures] == ["b"]
    assert [line.type for line in report.slowest] == ["b"]
    assert (report.processed, report.failed) == (20, 3)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"date": "tomorrow"}, "date: Value error, expected 'today', 'yesterday'"),
        ({"format": "pdf"}, "format: Input should be 'html' or 'csv'"),
        ({"recipients": ["not an address"]}, "recipients.0: Value error, expected an e-mail"),
        ({"to": ["ops@example.com"]}, "to: Extra inputs are not permitted"),
    ],
)
def test_bad_payloads_are_refused_naming_the_field(
    bingo_registry: Callable[..., Any], payload: dict[str, Any], message: str
) -> None:
    import bingo_plugin_daily_stats
    import bingo_plugin_mail_notify

    registry = bingo_registry(plugin, bingo_plugin_daily_stats, bingo_plugin_mail_notify)
    with pytest.raises(PayloadError, match=r"ReportPayload: ") as info:
        registry.get("task:daily-report").validate_payload(payload)
    assert message in str(info.value)


def test_settings_are_checked() -> None:
    settings = plugin.DailyReportSettings.model_validate(
        {"outputDir": "out", "recipients": "ops@example.com", "errorsPerType": 2}
    )
    assert (settings.output_dir, settings.recipients, settings.errors_per_type) == (
        "out",
        ["ops@example.com"],
        2,
    )
    for bad, message in [
        ({"timezone": "UTC"}, "timezone was removed"),
        ({"format": "xls"}, "format"),
        ({"slowest": 0}, "slowest"),
        ({"outputDirectory": "x"}, "outputDirectory"),
    ]:
        with pytest.raises(ValidationError, match=message):
            plugin.DailyReportSettings.model_validate(bad)


def test_the_html_is_escaped_and_the_csv_defused_for_hostile_rows() -> None:
    row = {"queue": "<q>", "type": "\"><img src=x onerror=alert(1)>", "processed": 1,
           "failed": 0, "p50_ms": 0.0, "p95_ms": 0.0, "max_ms": 0.0}  # fmt: skip
    html = plugin.render_html(plugin.build_report(date(2026, 1, 31), UTC, [row], NoArchive()))
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;q&gt;" in html
    formula = {**row, "type": '=HYPERLINK("http://evil")', "queue": "+q"}
    text = plugin.render_csv(plugin.build_report(date(2026, 1, 31), UTC, [formula], NoArchive()))
    [parsed] = list(csv.DictReader(io.StringIO(text)))
    # A cell a spreadsheet would run as a formula is quoted.
    assert (parsed["queue"], parsed["type"]) == ("'+q", '\'=HYPERLINK("http://evil")')


def test_attachment_content_is_the_file(tmp_path: Path) -> None:
    # The mail payload carries the report inline (base64), so any worker can send it.
    path = tmp_path / "r.csv"
    path.write_text("a,b\n")
    assert base64.b64decode(base64.b64encode(path.read_bytes())) == b"a,b\n"
