"""``bingo-scheduler cron``: the schedules, and the dynamic ones in ``sys_crontab``.

``list`` (:mod:`.cron_list`), ``next`` (:mod:`.cron_next`), ``run`` (:mod:`.cron_run`), and
``add``, ``edit``, ``enable``, ``disable``, ``delete`` (:mod:`.cron_rows`). The running daemons pick
row changes up within ``scheduler.syncInterval``, or at once on SIGUSR1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from . import cron_list, cron_next, cron_run

if TYPE_CHECKING:
    from ..app import App

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
    cron_run.add_run_parser(cron_sub)

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
    add.set_defaults(func=_row_command("add"))

    edit = cron_sub.add_parser(
        "edit",
        help="change a row's spec, payload or name (validated like add)",
        description="Change the given columns of a sys_crontab row. The row is validated "
        "as it will be, like cron add; nothing is written when it is not valid.",
    )
    edit.add_argument("id", metavar="ID", type=_row_id, help="the row's id")
    edit.add_argument("--spec", metavar="SPEC", default=None, help="a new cron spec")
    edit.add_argument("--payload", metavar="JSON", default=None, help="a new payload object")
    edit.add_argument("--name", metavar="NAME", default=None, help="a new name")
    edit.add_argument("--json", action="store_true", help="print the row as JSON")
    edit.set_defaults(func=_row_command("edit"))

    for action, text in (
        ("enable", "set a row's status to 1 (it runs)"),
        ("disable", "set a row's status to 0 (it stops)"),
        ("delete", "delete a row"),
    ):
        parser = cron_sub.add_parser(action, help=text, description=text[0].upper() + text[1:])
        parser.add_argument("id", metavar="ID", type=_row_id, help="the row's id")
        parser.add_argument("--json", action="store_true", help="print the row as JSON")
        parser.set_defaults(func=_row_command(action))


def _row_command(name: str) -> Callable[[App], int]:
    """The command ``name`` of :mod:`.cron_rows`, imported when it runs: it loads the store
    (SQLAlchemy), which ``--help`` and the other commands do without."""

    def run(app: App) -> int:
        # lazy: keeps SQLAlchemy out of the CLI's start-up (see above)
        from . import cron_rows

        command: Callable[[App], int] = getattr(cron_rows, name)
        return command(app)

    return run


def _row_id(text: str) -> int:
    """A ``sys_crontab`` id: a whole number from 1 to 2**63-1 (argparse reports the rest)."""
    # lazy: keeps SQLAlchemy out of the CLI's start-up (rows loads the store)
    from ..scheduler import rows

    try:
        return rows.parse_row_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
