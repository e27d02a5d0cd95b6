"""``bingo-scheduler cron add|edit|enable|disable|delete``: change ``sys_crontab`` rows.

``add`` and ``edit`` validate a row exactly as the sync will
(:mod:`bingo_core.scheduler.rows`: the columns, payload JSON, spec, known task type,
payload model) and write nothing when it is bad. Each command says when running daemons
see the change (a ``note`` in its JSON). This module loads the store (SQLAlchemy):
:mod:`.cron` imports it when one of these runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..durations import format_duration
from ..errors import UsageError
from ..scheduler import rows
from ..store import KEEP, CrontabRow, Store, store_from_settings
from .common import print_json

if TYPE_CHECKING:
    from ..app import App


def _validate(
    app: App, row_id: int | None, name: str, task_type: str, spec: str, payload: str | None
) -> None:
    """Validate a row exactly as the sync does; raises a UsageError subclass."""
    rows.compile_row(row_id, name, task_type, spec, payload, app.registry, _default_tz(app))


def _default_tz(app: App) -> Any:
    return getattr(getattr(app.settings, "server", None), "timezone", None)


def _check_columns(name: str, task_type: str, spec: str, payload: str | None) -> None:
    """The first column the table cannot hold, named by its argument (exit 2)."""
    errors = rows.column_errors(name, task_type, spec, payload, label=_argument)
    if errors:
        raise UsageError(next(iter(errors.values())))


def _argument(column: str) -> str:
    return "--payload" if column == "payload" else column.upper()


def _show(row: CrontabRow) -> str:
    state = "enabled" if row.enabled else "disabled"
    return f"sys_crontab row {row.id} {row.name!r}: {row.type} at {row.spec!r} ({state})"


def _when_applied(app: App, verb: str) -> str:
    """When running daemons see a change: ``verb`` is what they do with the row."""
    scheduler = getattr(app.settings, "scheduler", None)
    if scheduler is not None and not scheduler.enabled:
        return (
            f"daemons with this config do not run the scheduler (scheduler.enabled is false); "
            f"one that does will {verb} it at its next sync"
        )
    interval = format_duration(float(getattr(scheduler, "sync_interval", 10.0)))
    return (
        f"running daemons {verb} it at their next sync (within {interval}), "
        f"or now with: kill -USR1 <daemon pid>"
    )


def _command(app: App, *words: str) -> str:
    config = f" -c {app.args.config}" if app.args.config else ""
    return f"bingo-scheduler{config} {' '.join(words)}"


def _report(app: App, data: dict[str, Any], line: str, note: str) -> None:
    """Print the change: a line and the note on when daemons see it, or JSON with a note."""
    if app.args.json:
        print_json({**data, "note": note})
    else:
        print(line)
        print(note)


def _open(app: App) -> Store:
    return store_from_settings(app.settings)


def _require(store: Store, row_id: int) -> CrontabRow:
    row = store.get(row_id)
    if row is None:
        raise UsageError(f"sys_crontab row {row_id} does not exist")
    return row


def add(app: App) -> int:
    """``cron add``: validate the row, then insert it."""
    args = app.args
    _check_columns(args.name, args.type, args.spec, args.payload)
    _validate(app, None, args.name, args.type, args.spec, args.payload)
    with _open(app) as store:
        row_id = store.add(
            args.name,
            args.type,
            args.spec.strip(),
            args.payload,
            rows.status_of(not args.disabled),
        )
        row = _require(store, row_id)
    if row.enabled:
        note = _when_applied(app, "start")
    else:
        note = f"it does not run until enabled: {_command(app, 'cron', 'enable', str(row.id))}"
    _report(app, row.to_dict(), f"added {_show(row)}", note)
    return 0


def edit(app: App) -> int:
    """``cron edit ID [--spec S] [--payload JSON] [--name N]``: validate the row as it will
    be, then change the given columns (nothing is written when the result is not valid)."""
    args = app.args
    if args.spec is None and args.payload is None and args.name is None:
        raise UsageError("cron edit: give at least one of --spec, --payload, --name")
    with _open(app) as store:
        old = _require(store, args.id)
        name = old.name if args.name is None else args.name
        spec = old.spec if args.spec is None else args.spec.strip()
        payload = old.payload if args.payload is None else args.payload
        errors = rows.column_errors(name, old.type, spec, payload, label=_edit_argument)
        if errors:
            raise UsageError(next(iter(errors.values())))
        _validate(app, old.id, name, old.type, spec, payload)
        store.update(
            args.id,
            name=KEEP if args.name is None else name,
            spec=KEEP if args.spec is None else spec,
            payload=KEEP if args.payload is None else payload,
        )
        row = _require(store, args.id)
    note = _when_applied(app, "reschedule") if row.enabled else "it does not run (disabled)"
    _report(app, row.to_dict(), f"edited {_show(row)}", note)
    return 0


def _edit_argument(column: str) -> str:
    return f"--{column}" if column in ("payload", "spec", "name") else column.upper()


def _set_status(app: App, enabled: bool) -> int:
    args = app.args
    with _open(app) as store:
        _require(store, args.id)
        store.set_status(args.id, rows.status_of(enabled))
        row = _require(store, args.id)
    note = _when_applied(app, "start" if enabled else "stop")
    if enabled:
        try:
            _validate(app, row.id, row.name, row.type, row.spec, row.payload)
        except UsageError as exc:
            print(
                f"warning: sys_crontab row {row.id} will be skipped by the sync: {exc}",
                file=sys.stderr,
            )
            note = "the sync skips it until it is fixed"
    line = f"{'enabled' if enabled else 'disabled'} {_show(row)}"
    _report(app, row.to_dict(), line, note)
    return 0


def enable(app: App) -> int:
    """``cron enable ID``."""
    return _set_status(app, True)


def disable(app: App) -> int:
    """``cron disable ID``."""
    return _set_status(app, False)


def delete(app: App) -> int:
    """``cron delete ID``."""
    args = app.args
    with _open(app) as store:
        row = _require(store, args.id)
        if not store.delete(args.id):
            raise UsageError(f"sys_crontab row {args.id} does not exist")
    note = _when_applied(app, "stop") if row.enabled else "it was not running (disabled)"
    _report(app, {**row.to_dict(), "deleted": True}, f"deleted {_show(row)}", note)
    return 0
