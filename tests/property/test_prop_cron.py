"""Random cron specs: fields, ranges, steps, lists, names, descriptors, ``@every``,
``CRON_TZ=``, in and out of range, and junk.

Properties: :func:`parse_spec` returns a schedule or raises ``CronSpecError`` in one line;
a schedule's next fire time after any instant (year 1 to 9999, any offset) is later than
that instant, or ``CronSpecError`` says there is none; ``bingo-scheduler cron next`` on the
same input exits 0 or 2 with one line, never a traceback or an internal error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fuzz_support import FUZZ, check_outcome, only_bingo_errors, run_main
from hypothesis import given, settings
from hypothesis import strategies as st

from bingo_core.scheduler.cron import CronSchedule, parse_spec

#: (lowest, highest, names) of each field, seconds first.
FIELDS = [
    (0, 59, []),
    (0, 59, []),
    (0, 23, []),
    (1, 31, []),
    (1, 12, ["jan", "FEB", "Mar", "dec", "janu", "foo"]),
    (0, 7, ["sun", "MON", "Sat", "thu", "sunday", "xyz"]),
]
ZONES = [
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Etc/GMT+12",
    "",
    " ",
    "Mars/Olympus",
    "America",
    "../../etc/passwd",
    "utc",
    "Asia/Shanghai ",
    "UTC\x00",
    "America/New_York/",
    "\U0001f600",
    "Local",
    "EST5EDT",
]
DURATIONS = [
    "1s",
    "45s",
    "1h30m",
    "1.5s",
    "500ms",
    "0s",
    "0",
    "-1s",
    "+5s",
    "1d",
    "1y",
    "",
    "s",
    "1e3s",
    "1e300s",
    "99999999999999999999s",
    "9223372036854775807s",
    "106751d",
    "2562047h",
    "1\u00b5s",
    "1\u03bcs",
    "5s5ns",
    "nan",
    "inf",
    "1.s",
    ".5s",
    "1h-1m",
    "1 h",
    "\uff11s",
    "\u0661s",
    "3600",
    "86400.5",
]


@st.composite
def numbers(draw: st.DrawFn, lo: int, hi: int) -> str:
    value = draw(
        st.one_of(st.integers(lo, hi), st.integers(lo - 3, hi + 3), st.integers(-(2**64), 2**64))
    )
    return str(value)


@st.composite
def items(draw: st.DrawFn, field: int) -> str:
    lo, hi, names = FIELDS[field]
    kind = draw(
        st.sampled_from(
            [
                "num",
                "num",
                "range",
                "step",
                "star",
                "starstep",
                "name",
                "junk",
                "L",
                "hash",
                "q",
                "empty",
            ]
        )
    )
    if kind == "num":
        return draw(numbers(lo, hi))
    if kind == "range":
        return f"{draw(numbers(lo, hi))}-{draw(numbers(lo, hi))}"
    if kind == "step":
        step = draw(st.sampled_from(["0", "1", "2", "15", "60", "-1", "", "x", "99999"]))
        return f"{draw(numbers(lo, hi))}-{draw(numbers(lo, hi))}/{step}"
    if kind == "star":
        return "*"
    if kind == "starstep":
        return "*/" + draw(st.sampled_from(["0", "1", "5", "61", "", "a", "1/2"]))
    if kind == "name" and names:
        return draw(st.sampled_from(names))
    if kind == "L":
        return draw(st.sampled_from(["L", "l", "L5", "5L", "LW", "W", "15W", "L-3"]))
    if kind == "hash":
        return f"{draw(numbers(lo, hi))}#{draw(st.sampled_from(['1', '5', '6', '0', '']))}"
    if kind == "q":
        return "?"
    if kind == "empty":
        return ""
    return draw(st.text(alphabet="0123456789*/-,#?LWH\u0661\uff11abc ", min_size=1, max_size=6))


@st.composite
def cron_fields(draw: st.DrawFn) -> str:
    count = draw(st.sampled_from([5, 5, 5, 6, 6, 4, 7]))
    first = 0 if count >= 6 else 1
    parts = []
    for i in range(count):
        field = min(first + i, 5)
        parts.append(",".join(draw(st.lists(items(field), min_size=1, max_size=3))))
    sep = draw(st.sampled_from([" ", " ", "  ", "\t"]))
    return sep.join(parts)


@st.composite
def specs(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["fields", "fields", "fields", "descriptor", "every", "junk"]))
    if kind == "fields":
        body = draw(cron_fields())
    elif kind == "descriptor":
        body = draw(
            st.sampled_from(
                [
                    "@yearly",
                    "@annually",
                    "@monthly",
                    "@weekly",
                    "@daily",
                    "@midnight",
                    "@hourly",
                    "@DAILY",
                    "@reboot",
                    "@",
                    "@ daily",
                    "@daily 5",
                    "@minutely",
                ]
            )
        )
    elif kind == "every":
        body = "@every " + draw(st.sampled_from(DURATIONS) | st.text(max_size=6))
    else:
        body = draw(st.text(max_size=20))
    prefix = draw(st.sampled_from(["", "", "", "CRON_TZ=", "TZ=", "CRON_TZ= "]))
    if prefix.strip():
        prefix += draw(st.sampled_from(ZONES)) + " "
    return draw(st.sampled_from(["", " ", "\n"])) + prefix + body


#: Instants to ask for the next fire time after: the ends of datetime's range included.
INSTANTS = st.one_of(
    st.datetimes(min_value=datetime(1969, 1, 1), max_value=datetime(2100, 1, 1)),
    st.datetimes(),
    st.sampled_from(
        [
            datetime(1, 1, 1),
            datetime(9999, 12, 31, 23, 59, 59),
            datetime(8999, 12, 31, 23, 59, 59),
            datetime(1970, 1, 1),
        ]
    ),
).flatmap(
    lambda moment: st.sampled_from(
        [UTC, timezone(timedelta(hours=5)), timezone(-timedelta(hours=12, minutes=59))]
    ).map(lambda tz: moment.replace(tzinfo=tz))
)


def _next(schedule: CronSchedule, after: datetime) -> None:
    with only_bingo_errors() as raised:
        nxt = schedule.next_after(after)
    if not raised:
        assert nxt > after, (schedule.spec, after, nxt)


@settings(FUZZ, max_examples=300)
@given(
    spec=specs(), default_tz=st.sampled_from([*ZONES, None]), afters=st.lists(INSTANTS, max_size=3)
)
def test_spec_parses_or_fails_in_one_line(
    spec: str, default_tz: str | None, afters: list[datetime]
) -> None:
    with only_bingo_errors() as raised:
        schedule = parse_spec(spec, default_tz)
    if raised:
        return
    _next(schedule, datetime.now(UTC))
    for after in afters:
        _next(schedule, after)


@settings(FUZZ, max_examples=60)
@given(
    spec=specs(),
    tz=st.sampled_from([None, *ZONES]),
    after=st.none()
    | INSTANTS.map(datetime.isoformat)
    | st.sampled_from(
        [
            "",
            "now",
            "2026-13-01",
            "2026-03-08T02:30",
            "9999-12-31T23:59:59+00:00",
            "0001-01-01T00:00:00+05:00",
            "2026-03-08T02:30:00+25:00",
        ]
    ),
    count=st.sampled_from(["1", "3", "0", "-1", "1001", "x", "1e3"]),
    as_json=st.booleans(),
)
def test_cron_next_command(
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
    spec: str,
    tz: str | None,
    after: str | None,
    count: str,
    as_json: bool,
) -> None:
    argv = ["cron", "next", spec, "-n", count]
    if tz is not None:
        argv += ["--tz", tz]
    if after is not None:
        argv += ["--after", after]
    if as_json:
        argv.append("--json")
    result = run_main(capsys, argv)
    check_outcome(result)
    assert result.code in (0, 2), result
