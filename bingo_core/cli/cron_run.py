"""``bingo-scheduler cron run ENTRY``: enqueue a schedule entry's task (or start its
workflow) now.

ENTRY is an entry's key as ``cron list`` shows it (``SOURCE|NAME``: ``plugin:demo|nightly``,
``config|cleanup``, ``db:7|stats``) or a ``sys_crontab`` row as ``db:7``. The task gets the
entry's payload and options, as its ticks do, but it is no tick: it runs whatever the
schedule does next. Prints the task id (``--json``: the entry key and the task). An entry
that starts a workflow starts it, with a new workflow id, and prints that id (``--json``:
the entry key and the workflow: id, queue, step task ids).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .common import print_json

if TYPE_CHECKING:
    import argparse

    from ..app import App

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_run_parser(cron_subparsers: _SubParsers) -> None:
    """Add ``run`` to the ``cron`` command group."""
    parser = cron_subparsers.add_parser(
        "run",
        help="enqueue a schedule entry's task (or start its workflow) now",
        description="Enqueue the task of a schedule entry (plugin, config file or "
        "sys_crontab row) once, now, with its payload and options; an entry that starts a "
        "workflow starts it and prints the workflow id. ENTRY is the entry's "
        "key as cron list shows it (SOURCE|NAME), or db:ID for a sys_crontab row.",
    )
    parser.add_argument("entry", metavar="ENTRY", help="e.g. 'plugin:demo|nightly' or db:7")
    parser.add_argument(
        "--json", action="store_true", help="print the entry key and the task (or workflow)"
    )
    parser.set_defaults(func=run_entry)


def run_entry(app: App) -> int:
    """Resolve the entry, enqueue its task (or start its workflow), print the id."""
    # lazy: keeps SQLAlchemy out of the CLI's start-up (the rows and the store)
    from ..scheduler.rows import resolve_entry
    from ..store import CrontabRow, store_from_settings

    def get_row(row_id: int) -> CrontabRow | None:  # the database only for a row's key
        with store_from_settings(app.settings) as store:
            return store.get(row_id)

    compiled = resolve_entry(app.args.entry, app.settings, app.registry, get_row)
    client = app.client
    info = client.run_entry(compiled)
    if app.args.json:
        kind = "task" if compiled.flow is None else "workflow"
        print_json({"key": compiled.key, kind: info.to_dict()})
    else:
        print(info.id)
    for warning in client.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
