"""``bingo-scheduler cron next SPEC``: when a cron spec fires next.

Reads the spec exactly as the scheduler does (time zone prefix, DST policy, ``@every``
epoch alignment), so it answers "when will this entry run?" without a daemon. Times are
printed in the spec's zone: its ``CRON_TZ=`` prefix, else ``--tz``, else
``server.timezone``; ``@every`` specs, which ignore zones when they fire, are shown in it too.

Only ``server.timezone`` is read from the configuration (file, environment, ``--set``),
without the settings models (:meth:`~bingo_core.parts.Parts.server_timezone`), so the
answer comes in a few dozen milliseconds; a zone that is not valid is reported as the
settings report it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..errors import UsageError
from .common import print_json

#: The most fire times one call prints.
MAX_COUNT = 1000

if TYPE_CHECKING:
    import argparse

    from ..app import App

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_next_parser(cron_subparsers: _SubParsers) -> None:
    """Add ``next`` to the ``cron`` command group."""
    parser = cron_subparsers.add_parser(
        "next",
        help="print the next fire times of a cron spec",
        description=(
            "Print the next fire times of a cron spec, one ISO-8601 time with its offset "
            "per line, in the spec's zone: its CRON_TZ= prefix, else --tz, else "
            "server.timezone (@every specs fire on the same instants in any zone, and are "
            "shown in that zone too)."
        ),
    )
    parser.add_argument(
        "spec",
        nargs="+",
        metavar="SPEC",
        help="the spec, e.g. '0 2 * * *', 'CRON_TZ=Asia/Shanghai 30 1 * * *' or '@every 1h'",
    )
    parser.add_argument(
        "--tz",
        metavar="ZONE",
        default=None,
        help="zone of a spec without CRON_TZ= prefix, and of the times printed",
    )
    parser.add_argument(
        "--after",
        metavar="ISO-8601",
        default=None,
        help="start strictly after this time (default: now); without an offset it is read "
        "in the spec's zone",
    )
    parser.add_argument(
        "-n",
        dest="count",
        type=int,
        default=5,
        metavar="N",
        help="how many fire times (default: 5)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array of times")
    parser.set_defaults(func=run_next)


def run_next(app: App) -> int:
    """Print the next fire times; raises CronSpecError / UsageError on bad input."""
    # lazy: keeps croniter out of the CLI's start-up
    from ..scheduler.cron import parse_spec, resolve_zone

    args = app.args
    count: int = args.count
    if not 1 <= count <= MAX_COUNT:
        raise UsageError(f"-n {count}: expected a whole number from 1 to {MAX_COUNT}")
    if args.tz is not None:
        try:
            resolve_zone(args.tz)
        except ValueError as exc:
            raise UsageError(f"--tz: {exc}") from None
    zone = args.tz or app.server_timezone()
    schedule = parse_spec(" ".join(args.spec), zone)
    if args.after is None:
        after = datetime.now(UTC)
    else:
        try:
            after = datetime.fromisoformat(args.after)
        except ValueError:
            raise UsageError(
                f"--after {args.after!r}: expected an ISO-8601 time such as "
                "2026-03-08T01:30:00-05:00"
            ) from None
        if after.tzinfo is None:
            after = after.replace(tzinfo=schedule.display_tz)
    shown = schedule.display_tz
    times: list[str] = []
    moment = after
    for _ in range(count):
        moment = schedule.next_after(moment)
        times.append(moment.astimezone(shown).isoformat())
    if args.json:
        print_json(times)
    else:
        print("\n".join(times))
    return 0
