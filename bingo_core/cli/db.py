"""``bingo-scheduler db init``: create the ``sys_crontab`` table."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .common import print_json

if TYPE_CHECKING:
    from ..app import App


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``db`` command group."""
    db = subparsers.add_parser(
        "db",
        help="manage the database (sys_crontab)",
        description="Manage Bingo's database: MySQL (mysql section or database.url) or SQLite.",
    )
    db_sub = db.add_subparsers(title="actions", metavar="ACTION", required=True)
    init = db_sub.add_parser(
        "init",
        help="create the sys_crontab table if it is missing",
        description="Create the sys_crontab table if it is missing (safe to run again).",
    )
    init.add_argument("--json", action="store_true", help="print the result as JSON")
    init.set_defaults(func=_init)


def _init(app: App) -> int:
    # lazy: keeps SQLAlchemy out of the CLI's start-up
    from ..store import TABLE, store_from_settings

    with store_from_settings(app.settings) as store:
        created = store.init_schema()
        where = store.display_url
    if app.args.json:
        print_json({"table": TABLE, "created": created, "database": where})
    elif created:
        print(f"created table {TABLE} in {where}")
    else:
        print(f"table {TABLE} already exists in {where}; nothing to do")
    return 0
