"""``bingo-scheduler cron``: manage the dynamic schedules in ``sys_crontab``.

``add`` validates a row exactly as the sync will (payload JSON, spec, known task type,
payload model) and writes nothing when it is bad. The running daemons pick changes up
within ``scheduler.syncInterval``, or at once on SIGUSR1; each command says so after its
change (a ``note`` in its JSON).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TypeAlias

from ..durations import format_duration
from ..errors import UsageError
from . import cron_list, cron_next
from .common import App, print_json

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported only when a command runs
    from ..store import CrontabRow, Store

#: ``sys_crontab.status`` values.
ENABLED, DISABLED = 1, 0

#: Column sizes of ``sys_crontab`` (characters).
LIMITS = {"name": 100, "type": 50, "spec": 100}

_SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(subparsers: _SubParsers) -> None:
    """Add the ``cron`` command group."""
    cron = subparsers.add_parser(
        "cron",
        help="manage dynamic schedules (sys_crontab rows)",
        description="Manage the dynamic schedules stored in the sys_crontab table.",
    )
    cron_sub = cron.add_subparsers(title="actions", metavar="ACTION", required=True)
    cron_list.add_list_parser(cron_sub)
    cron_next.add_next_parser(cron_sub)

    add = cron_sub.add_parser(
        "add",
        help="add a row (validated like the sync validates it)",
        description="Add a sys_crontab row. Nothing is written when the row is not valid.",
    )
    add.add_argument("name", metavar="NAME", help="the row's name (up to 100 characters)")
    add.add_argument("type", metavar="TYPE", help="a registered task type, e.g. task:daily-stats")
    add.add_argument("spec", metavar="SPEC", help="cron spec, e.g. '0 1 * * *' or '@every 1h'")
    add.add_argument("--payload", metavar="JSON", default=None, help="the payload, a JSON object")
    add.add_argument("--disabled", action="store_true", help="add the row with status 0")
    add.add_argument("--json", action="store_true", help="print the row as JSON")
    add.set_defaults(func=_add)

    for action, func, text in (
        ("enable", _enable, "set a row's status to 1 (it runs)"),
        ("disable", _disable, "set a row's status to 0 (it stops)"),
        ("delete", _delete, "delete a row"),
    ):
        parser = cron_sub.add_parser(action, help=text, description=text[0].upper() + text[1:])
        parser.add_argument("id", metavar="ID", type=_row_id, help="the row's id")
        parser.add_argument("--json", action="store_true", help="print the row as JSON")
        parser.set_defaults(func=func)


def _validate(
    app: App, row_id: int | None, name: str, task_type: str, spec: str, payload: str | None
) -> None:
    """Validate a row exactly as the sync does; raises a UsageError subclass."""
    from ..scheduler.sync import compile_row  # the scheduler is loaded only when needed

    compile_row(row_id, name, task_type, spec, payload, app.registry, _default_tz(app))


def _default_tz(app: App) -> Any:
    return getattr(getattr(app.settings, "server", None), "timezone", None)


#: The most bytes of a payload (MySQL's TEXT column holds 65,535).
PAYLOAD_BYTES = 65535
#: Row ids are BIGINT (signed 64-bit).
MAX_ROW_ID = 2**63 - 1


def _row_id(text: str) -> int:
    """A ``sys_crontab`` id: a whole number from 1 to 2**63-1 (argparse reports the rest)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a row id (a whole number), got {text!r}"
        ) from None
    if not 1 <= value <= MAX_ROW_ID:
        raise argparse.ArgumentTypeError(f"row id {text!r} is out of range (1 to 2**63-1)")
    return value


def _check_payload_size(payload: str | None) -> None:
    size = len(payload.encode()) if payload else 0
    if size > PAYLOAD_BYTES:
        raise UsageError(
            f"--payload is {size} bytes of JSON; sys_crontab.payload holds at most {PAYLOAD_BYTES}"
        )


def _check_sizes(values: dict[str, str]) -> None:
    for column, limit in LIMITS.items():
        value = values[column]
        if not value.strip():
            raise UsageError(f"{column.upper()} must not be empty")
        if len(value) > limit:
            raise UsageError(
                f"{column.upper()} {value[:20]!r}... is {len(value)} characters; "
                f"sys_crontab.{column} holds at most {limit}"
            )


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
    from ..store import store_from_settings

    return store_from_settings(app.settings)


def _require(store: Store, row_id: int) -> CrontabRow:
    row = store.get(row_id)
    if row is None:
        raise UsageError(f"sys_crontab row {row_id} does not exist")
    return row


def _add(app: App) -> int:
    args = app.args
    _check_sizes({"name": args.name, "type": args.type, "spec": args.spec})
    _check_payload_size(args.payload)
    _validate(app, None, args.name, args.type, args.spec, args.payload)
    with _open(app) as store:
        row_id = store.add(
            args.name,
            args.type,
            args.spec.strip(),
            args.payload,
            DISABLED if args.disabled else ENABLED,
        )
        row = _require(store, row_id)
    if row.enabled:
        note = _when_applied(app, "start")
    else:
        note = f"it does not run until enabled: {_command(app, 'cron', 'enable', str(row.id))}"
    _report(app, row.to_dict(), f"added {_show(row)}", note)
    return 0


def _set_status(app: App, status: int) -> int:
    args = app.args
    with _open(app) as store:
        _require(store, args.id)
        store.set_status(args.id, status)
        row = _require(store, args.id)
    note = _when_applied(app, "start" if status == ENABLED else "stop")
    if status == ENABLED:
        try:
            _validate(app, row.id, row.name, row.type, row.spec, row.payload)
        except UsageError as exc:
            print(
                f"warning: sys_crontab row {row.id} will be skipped by the sync: {exc}",
                file=sys.stderr,
            )
            note = "the sync skips it until it is fixed"
    line = f"{'enabled' if status == ENABLED else 'disabled'} {_show(row)}"
    _report(app, row.to_dict(), line, note)
    return 0


def _enable(app: App) -> int:
    return _set_status(app, ENABLED)


def _disable(app: App) -> int:
    return _set_status(app, DISABLED)


def _delete(app: App) -> int:
    args = app.args
    with _open(app) as store:
        row = _require(store, args.id)
        if not store.delete(args.id):
            raise UsageError(f"sys_crontab row {args.id} does not exist")
    note = _when_applied(app, "stop") if row.enabled else "it was not running (disabled)"
    _report(app, {**row.to_dict(), "deleted": True}, f"deleted {_show(row)}", note)
    return 0
