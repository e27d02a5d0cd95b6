"""``bingo-scheduler check``: config, Redis, database, plugins and every schedule entry.

One line per problem. Exit 0 when all is well, 1 when a service (Redis, the database) is
not usable, 2 when the config or a schedule entry is invalid or a plugin is broken.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from ..config.paths import DEFAULT_CONFIG_PATH
from ..errors import ServiceUnavailable, UsageError
from .common import print_json

if TYPE_CHECKING:
    from ..app import App

_SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

SERVICE, INVALID, WARNING = "service", "invalid", "warning"


@dataclass
class Problem:
    """One thing ``check`` found wrong: its kind, what it concerns, and the message."""

    kind: str  # SERVICE (exit 1), INVALID (exit 2) or WARNING (no effect on the exit code)
    what: str
    message: str


@dataclass
class Report:
    """Everything ``check`` looked at."""

    config: str
    problems: list[Problem]
    summary: dict[str, Any]

    @property
    def exit_code(self) -> int:
        kinds = {p.kind for p in self.problems}
        return 1 if SERVICE in kinds else 2 if INVALID in kinds else 0


def register(subparsers: _SubParsers) -> None:
    """Add the ``check`` command."""
    parser = subparsers.add_parser(
        "check",
        help="check config, Redis, database, plugins and every schedule entry",
        description="Load the config, ping Redis, open the database and its sys_crontab "
        "table, list broken plugins and compile every schedule entry (plugins, config file, "
        "sys_crontab rows). Exit 0 when all is well, 1 when a service is not usable, 2 when "
        "something is invalid.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=_check)


def run_checks(app: App) -> Report:
    """Run every check; only a config that does not load stops the others."""
    config = app.args.config or str(DEFAULT_CONFIG_PATH)
    report = Report(config, [], {})
    try:
        settings = app.settings
        registry = app.registry
    except UsageError as exc:
        report.problems.append(Problem(INVALID, "config", str(exc)))
        return report
    report.summary["config"] = "ok"
    for line in settings.warnings:
        report.problems.append(Problem(WARNING, "config", line))
    _check_redis(app, report)
    for failure in app.manager.failures:
        report.problems.append(Problem(INVALID, f"plugin {failure.plugin}", str(failure)))
    report.summary["plugins"] = len(app.manager.infos)
    report.summary["task_types"] = len(registry.tasks)
    _check_static(app, report)
    _check_database(app, report, settings.server.timezone)
    return report


def _check_redis(app: App, report: Report) -> None:
    """The Redis mode and each node (sentinels, master, replicas, cluster nodes with their
    slots): one SERVICE problem per node down; then the queues nobody consumes."""
    try:
        topology = app.broker.topology()
    except ServiceUnavailable as exc:
        report.problems.append(Problem(SERVICE, "redis", str(exc)))
        return
    report.summary["redis"] = topology.summary()
    report.summary["redis_mode"] = topology.mode
    report.summary["redis_nodes"] = [vars(n) for n in topology.nodes]
    for line in topology.problems:
        report.problems.append(Problem(SERVICE, "redis", line))
    inspector = app.inspector
    try:
        inspector.ping()
        rows = inspector.stats()
        idle = [r.queue for r in rows if not r.consumers and r.size and r.layout == "bingo"]
        listed = inspector.asynq_listed()
    except ServiceUnavailable as exc:
        if not topology.problems:
            report.problems.append(Problem(SERVICE, "redis", str(exc)))
        return
    _check_asynq(app, report, rows, listed)
    if idle and inspector.consumers():
        report.problems.append(
            Problem(
                WARNING,
                "queues",
                f"no live worker consumes queue(s) {', '.join(idle)}: their tasks wait until "
                "a worker lists them in worker.queues",
            )
        )


def _check_asynq(app: App, report: Report, rows: list[Any], listed: set[str]) -> None:
    """The queues of ``asynq.queues``: their sizes, and each one Asynq's tools do not
    list yet (not in ``asynq:queues`` until a task is enqueued to it)."""
    queues = app.settings.asynq.queues
    if not queues:
        return
    report.summary["asynq_queues"] = {
        r.queue: {"weight": queues[r.queue], "size": r.size, "paused": r.paused}
        for r in rows
        if r.layout == "asynq"
    }
    for name in sorted(set(queues) - listed):
        report.problems.append(
            Problem(
                WARNING,
                "asynq",
                f"queue {name!r} of asynq.queues is not in asynq:queues yet: asynqmon and the "
                "asynq CLI list it once a task is enqueued to it",
            )
        )


def _check_static(app: App, report: Report) -> None:
    # lazy: keeps croniter out of the CLI's start-up
    from ..scheduler.entries import compile_static

    try:
        good, bad = compile_static(app.settings, app.registry)
    except UsageError as exc:
        report.problems.append(Problem(INVALID, "schedules", str(exc)))
        return
    for line in bad:
        report.problems.append(Problem(INVALID, "schedule", line))
    report.summary["static_entries"] = len(good)


def _check_database(app: App, report: Report, default_tz: Any) -> None:
    # lazy: keeps SQLAlchemy out of the CLI's start-up
    from ..store import store_from_settings

    hint = f"bingo-scheduler -c {report.config} db init"
    try:
        store = store_from_settings(app.settings)
    except UsageError as exc:
        report.problems.append(Problem(INVALID, "database", str(exc)))
        return
    with store:
        try:
            store.ping()
            if not store.has_schema():
                report.problems.append(
                    Problem(
                        SERVICE,
                        "database",
                        f"database {store.display_url}: table sys_crontab is missing "
                        f"(create it with: {hint})",
                    )
                )
                return
            rows = store.rows()
        except ServiceUnavailable as exc:
            report.problems.append(Problem(SERVICE, "database", str(exc)))
            return
        report.summary["database"] = store.display_url
    # lazy: keeps SQLAlchemy out of the CLI's start-up
    from ..scheduler.rows import compile_row

    valid = 0
    for row in rows:
        try:
            compile_row(row.id, row.name, row.type, row.spec, row.payload, app.registry, default_tz)
            valid += 1
        except UsageError as exc:
            kind = INVALID if row.enabled else WARNING
            state = "" if row.enabled else " (disabled)"
            report.problems.append(
                Problem(
                    kind,
                    f"sys_crontab row {row.id}",
                    f"sys_crontab row {row.id} {row.name!r}{state}: {exc}",
                )
            )
    report.summary["crontab_rows"] = len(rows)
    report.summary["crontab_valid"] = valid


def _check(app: App) -> int:
    report = run_checks(app)
    code = report.exit_code
    if app.args.json:
        print_json(
            {
                "ok": code == 0,
                "exit_code": code,
                "config": report.config,
                "summary": report.summary,
                "problems": [asdict(p) for p in report.problems],
            }
        )
        return code
    for p in report.problems:
        stream = sys.stdout if p.kind == WARNING else sys.stderr
        print(f"{'warning' if p.kind == WARNING else 'error'}: {p.message}", file=stream)
    if code == 0:
        s = report.summary
        print(
            f"ok: config {report.config}, Redis at {s.get('redis')}, database "
            f"{s.get('database')} ({s.get('crontab_rows', 0)} sys_crontab rows), "
            f"{s.get('plugins', 0)} plugins, {s.get('task_types', 0)} task types, "
            f"{s.get('static_entries', 0)} static schedule entries"
        )
    return code
