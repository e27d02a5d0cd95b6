"""The report as an HTML page (Jinja2, autoescaped) or a CSV file, and the mail text."""

from __future__ import annotations

import csv
import io

from jinja2 import Environment, PackageLoader, select_autoescape

from .report import Report

_env = Environment(
    loader=PackageLoader("bingo_plugin_daily_report", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["ms"] = lambda value: f"{value:,.1f}"
_env.filters["pct"] = lambda value: f"{value:.1%}"

CSV_COLUMNS = (
    "date",
    "queue",
    "type",
    "processed",
    "failed",
    "failure_rate",
    "p50_ms",
    "p95_ms",
    "max_ms",
    "archived",
    "last_error",
)
#: A spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    return _env.get_template("report.html.j2").render(report=report)


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render_csv(report: Report) -> str:
    """One CSV row per queue and task type (``CSV_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in report.lines:
        writer.writerow(
            _cell(v)
            for v in (
                report.day.isoformat(),
                line.queue,
                line.type,
                line.processed,
                line.failed,
                f"{line.failure_rate:.4f}",
                f"{line.p50_ms:.3f}",
                f"{line.p95_ms:.3f}",
                f"{line.max_ms:.3f}",
                line.archived,
                line.last_error,
            )
        )
    return out.getvalue()


def mail_text(report: Report, filename: str) -> str:
    """The plain-text body of the mail the report is attached to."""
    lines = [
        f"Bingo daily report for {report.day.isoformat()} ({report.zone})",
        "",
        f"{report.processed} attempt(s), {report.failed} failed, "
        f"{report.archived} task(s) archived, over {len(report.lines)} queue/type pair(s).",
    ]
    if report.failures:
        lines += ["", "Failures:"]
        for line in report.failures[:10]:
            lines.append(
                f"- {line.queue} {line.type}: {line.failed} failed, {line.archived} archived"
                + (f"; last error: {line.last_error[:200]}" if line.last_error else "")
            )
    if report.slowest:
        lines += ["", "Slowest (p95):"]
        for line in report.slowest[:5]:
            lines.append(f"- {line.queue} {line.type}: p95 {line.p95_ms:,.1f} ms")
    lines += ["", f"The full report is attached ({filename})."]
    return "\n".join(lines) + "\n"
