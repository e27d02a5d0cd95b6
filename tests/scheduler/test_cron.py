"""Cron specs: fields, descriptors, @every, time zones and the DST policy.

Named cases pin the documented behaviour around real transitions; property tests compare
every answer with a brute-force reading of the policy, minute by minute, over real zones.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bingo_core.cli.main import main
from bingo_core.errors import CronSpecError, UsageError
from bingo_core.scheduler.cron import CronSchedule, next_fire_times, parse_spec


def fires(spec: str, tz: str, after: str, n: int) -> list[str]:
    return [t.isoformat() for t in next_fire_times(spec, tz, datetime.fromisoformat(after), n)]


# -- named cases ------------------------------------------------------------------------------

NY, LONDON, LORD_HOWE, SHANGHAI = (
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Shanghai",
)

NAMED = {
    # Asia/Shanghai has no DST: nothing shifts on the dates other zones change.
    "shanghai daily": (
        "0 2 * * *", SHANGHAI, "2026-03-08T00:00:00+08:00",
        ["2026-03-08T02:00:00+08:00", "2026-03-09T02:00:00+08:00"],
    ),
    "shanghai on the US fall-back day": (
        "30 1 * * *", SHANGHAI, "2026-10-31T12:00:00+08:00",
        ["2026-11-01T01:30:00+08:00", "2026-11-02T01:30:00+08:00"],
    ),
    # New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT.
    "new york spring: nonexistent 02:30 fires at 03:00 EDT": (
        "30 2 * * *", NY, "2026-03-07T12:00:00-05:00",
        ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
    ),
    "new york spring: 03:00 exists and fires once": (
        "0 3 * * *", NY, "2026-03-07T12:00:00-05:00",
        ["2026-03-08T03:00:00-04:00", "2026-03-09T03:00:00-04:00"],
    ),
    "new york spring: a whole hour in the gap fires once": (
        "*/15 2 * * *", NY, "2026-03-07T12:00:00-05:00",
        ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00", "2026-03-09T02:15:00-04:00"],
    ),
    "new york spring: every hour goes on with the next real hour": (
        "30 * * * *", NY, "2026-03-08T00:00:00-05:00",
        [
            "2026-03-08T00:30:00-05:00", "2026-03-08T01:30:00-05:00",
            "2026-03-08T03:30:00-04:00", "2026-03-08T04:30:00-04:00",
        ],
    ),
    # New York falls back 2026-11-01 02:00 EDT -> 01:00 EST.
    "new york fall: fixed hour fires on the first 01:30 only": (
        "30 1 * * *", NY, "2026-10-31T12:00:00-04:00",
        ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
    ),
    "new york fall: fixed hour with a minute list": (
        "0,30 1 * * *", NY, "2026-10-31T12:00:00-04:00",
        ["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:00:00-05:00"],
    ),
    "new york fall: fixed hour range": (
        "0 1-3 * * *", NY, "2026-11-01T00:00:00-04:00",
        ["2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"],
    ),
    "new york fall: fixed hour, asked during the second 01:xx": (
        "45 1 * * *", NY, "2026-11-01T01:10:00-05:00",
        ["2026-11-02T01:45:00-05:00"],
    ),
    "new york fall: * hour fires both 01:30": (
        "30 * * * *", NY, "2026-11-01T00:00:00-04:00",
        [
            "2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00",
            "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00",
        ],
    ),
    "new york fall: * hour asked at the first 01:50": (
        "30 * * * *", NY, "2026-11-01T01:50:00-04:00",
        ["2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"],
    ),
    "new york fall: stepped hour range fires both 01:30": (
        "30 1-23/2 * * *", NY, "2026-11-01T00:00:00-04:00",
        ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-01T03:30:00-05:00"],
    ),
    "new york fall: a range over every hour counts as *": (
        "0 0-23 * * *", NY, "2026-11-01T00:30:00-04:00",
        ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"],
    ),
    "new york fall: seconds field, fixed hour": (
        "*/20 59 1 * * *", NY, "2026-11-01T00:00:00-04:00",
        [
            "2026-11-01T01:59:00-04:00", "2026-11-01T01:59:20-04:00",
            "2026-11-01T01:59:40-04:00", "2026-11-02T01:59:00-05:00",
        ],
    ),
    "new york spring: seconds field inside the gap": (
        "15 30 2 * * *", NY, "2026-03-07T12:00:00-05:00",
        ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:15-04:00"],
    ),
    # London springs forward 2026-03-29 01:00 GMT -> 02:00 BST, falls back 2026-10-25.
    "london spring": (
        "30 1 * * *", LONDON, "2026-03-28T12:00:00+00:00",
        ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"],
    ),
    "london fall: fixed hour": (
        "30 1 * * *", LONDON, "2026-10-24T12:00:00+01:00",
        ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"],
    ),
    "london fall: every half hour": (
        "*/30 * * * *", LONDON, "2026-10-25T00:45:00+01:00",
        [
            "2026-10-25T01:00:00+01:00", "2026-10-25T01:30:00+01:00",
            "2026-10-25T01:00:00+00:00", "2026-10-25T01:30:00+00:00",
            "2026-10-25T02:00:00+00:00",
        ],
    ),
    # Lord Howe shifts by 30 minutes: 2026-10-04 02:00 -> 02:30 (+11:00), and
    # 2026-04-05 02:00 (+11:00) -> 01:30 (+10:30).
    "lord howe spring: 02:15 fires at 02:30": (
        "15 2 * * *", LORD_HOWE, "2026-10-03T12:00:00+10:30",
        ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"],
    ),
    "lord howe spring: 02:30 exists": (
        "30 2 * * *", LORD_HOWE, "2026-10-03T12:00:00+10:30",
        ["2026-10-04T02:30:00+11:00", "2026-10-05T02:30:00+11:00"],
    ),
    "lord howe fall: fixed hour": (
        "45 1 * * *", LORD_HOWE, "2026-04-04T12:00:00+11:00",
        ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"],
    ),
    "lord howe fall: * hour fires both 01:45": (
        "45 * * * *", LORD_HOWE, "2026-04-05T00:50:00+11:00",
        ["2026-04-05T01:45:00+11:00", "2026-04-05T01:45:00+10:30", "2026-04-05T02:45:00+10:30"],
    ),
    "lord howe fall: on the hour": (
        "0 * * * *", LORD_HOWE, "2026-04-05T00:30:00+11:00",
        ["2026-04-05T01:00:00+11:00", "2026-04-05T02:00:00+10:30"],
    ),
    # Descriptors.
    "@daily": ("@daily", SHANGHAI, "2026-05-01T12:00:00+08:00",
               ["2026-05-02T00:00:00+08:00", "2026-05-03T00:00:00+08:00"]),
    "@midnight": ("@midnight", LONDON, "2026-05-01T12:00:00+01:00",
                  ["2026-05-02T00:00:00+01:00"]),
    "@hourly": ("@hourly", NY, "2026-11-01T00:10:00-04:00",
                ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]),
    "@weekly (Sundays)": ("@weekly", SHANGHAI, "2026-05-01T00:00:00+08:00",
                          ["2026-05-03T00:00:00+08:00", "2026-05-10T00:00:00+08:00"]),
    "@monthly": ("@monthly", SHANGHAI, "2026-05-01T00:00:00+08:00",
                 ["2026-06-01T00:00:00+08:00", "2026-07-01T00:00:00+08:00"]),
    "@yearly": ("@yearly", SHANGHAI, "2026-05-01T00:00:00+08:00",
                ["2027-01-01T00:00:00+08:00", "2028-01-01T00:00:00+08:00"]),
    "@annually": ("@ANNUALLY", SHANGHAI, "2026-05-01T00:00:00+08:00",
                  ["2027-01-01T00:00:00+08:00"]),
    # Day fields (2026-05-01 is a Friday).
    "both day fields: either matches": (
        "0 0 1 * 1", "UTC", "2026-05-01T00:00:00+00:00",
        [f"2026-05-{d:02d}T00:00:00+00:00" for d in (4, 11, 18, 25)]
        + ["2026-06-01T00:00:00+00:00", "2026-06-08T00:00:00+00:00"],
    ),
    "weekday names and month range": (
        "0 9 * JAN-feb MON-FRI", "UTC", "2026-02-26T10:00:00+00:00",
        ["2026-02-27T09:00:00+00:00", "2027-01-01T09:00:00+00:00"],
    ),
    "last day of the month": (
        "0 0 L * *", "UTC", "2026-01-04T00:00:00+00:00",
        ["2026-01-31T00:00:00+00:00", "2026-02-28T00:00:00+00:00", "2026-03-31T00:00:00+00:00"],
    ),
    "29 February": (
        "0 0 29 2 *", SHANGHAI, "2026-03-01T00:00:00+08:00",
        ["2028-02-29T00:00:00+08:00", "2032-02-29T00:00:00+08:00"],
    ),
    "second Friday": (
        "0 0 * * 5#2", "UTC", "2026-04-04T00:00:00+00:00",
        ["2026-04-10T00:00:00+00:00", "2026-05-08T00:00:00+00:00", "2026-06-12T00:00:00+00:00"],
    ),
    "last Friday": (
        "0 0 * * L5", "UTC", "2026-04-04T00:00:00+00:00",
        ["2026-04-24T00:00:00+00:00", "2026-05-29T00:00:00+00:00", "2026-06-26T00:00:00+00:00"],
    ),
    "single-value range": (
        "5-5 3 * * *", "UTC", "2026-04-04T00:00:00+00:00",
        ["2026-04-04T03:05:00+00:00", "2026-04-05T03:05:00+00:00"],
    ),
    "an hour range that wraps around, written as two": (
        "0 23,0-1 * * *", "UTC", "2026-04-04T12:00:00+00:00",
        ["2026-04-04T23:00:00+00:00", "2026-04-05T00:00:00+00:00", "2026-04-05T01:00:00+00:00"],
    ),
    # A star anywhere in a day field's list leaves that field unrestricted, so the other
    # day field alone decides (Vixie cron, robfig/cron): Mondays only, not daily.
    "a star in the day-of-month list: Mondays only": (
        "0 0 *,15 * 1", "UTC", "2026-05-13T12:00:00+00:00",
        ["2026-05-18T00:00:00+00:00", "2026-05-25T00:00:00+00:00", "2026-06-01T00:00:00+00:00"],
    ),
    "a star in the day-of-week list: the 15th only": (
        "0 0 15 * 1,*", "UTC", "2026-05-13T12:00:00+00:00",
        ["2026-05-15T00:00:00+00:00", "2026-06-15T00:00:00+00:00"],
    ),
    "'?' and '*/1' in a day list count as a star too": (
        "0 0 ?,15 * 1", "UTC", "2026-05-13T12:00:00+00:00",
        ["2026-05-18T00:00:00+00:00", "2026-05-25T00:00:00+00:00"],
    ),
    "'*/1' in a day list": (
        "0 0 */1,15 * 1", "UTC", "2026-05-13T12:00:00+00:00",
        ["2026-05-18T00:00:00+00:00", "2026-05-25T00:00:00+00:00"],
    ),
    "both day fields restricted: either matches": (
        "0 0 15 * 1", "UTC", "2026-05-13T12:00:00+00:00",
        ["2026-05-15T00:00:00+00:00", "2026-05-18T00:00:00+00:00", "2026-05-25T00:00:00+00:00"],
    ),
    "a step over the days restricts (robfig: */2 is no star)": (
        "0 0 */2 * 1", "UTC", "2026-05-13T12:00:00+00:00",
        ["2026-05-15T00:00:00+00:00", "2026-05-17T00:00:00+00:00", "2026-05-18T00:00:00+00:00"],
    ),
    "N/step runs from N to the end of the field": (
        "5/20 0 * * *", "UTC", "2026-05-13T12:00:00+00:00",
        ["2026-05-14T00:05:00+00:00", "2026-05-14T00:25:00+00:00", "2026-05-14T00:45:00+00:00"],
    ),
    "six fields: leading seconds": (
        "*/20 * * * * *", "UTC", "2026-04-04T12:00:10.5+00:00",
        ["2026-04-04T12:00:20+00:00", "2026-04-04T12:00:40+00:00", "2026-04-04T12:01:00+00:00"],
    ),
    "six fields: 7 in the second, 1 in the minute": (
        "7 1 * * * *", "UTC", "2026-04-04T12:00:00+00:00",
        ["2026-04-04T12:01:07+00:00", "2026-04-04T13:01:07+00:00"],
    ),
    # The CRON_TZ= / TZ= prefix names the zone and wins over the default.
    "CRON_TZ prefix": (
        "CRON_TZ=Asia/Shanghai 0 2 * * *", LONDON, "2026-01-04T12:00:00+00:00",
        ["2026-01-05T02:00:00+08:00"],
    ),
    "TZ prefix with DST": (
        "TZ=America/New_York 30 2 * * *", SHANGHAI, "2026-03-07T12:00:00-05:00",
        ["2026-03-08T03:00:00-04:00"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("spec", "tz", "after", "expected"), NAMED.values(), ids=NAMED.keys())
def test_named_case(spec: str, tz: str, after: str, expected: list[str]) -> None:
    assert fires(spec, tz, after, len(expected)) == expected


def test_result_is_in_the_schedule_zone_and_strictly_after() -> None:
    schedule = parse_spec("0 * * * *", "Asia/Shanghai")
    on_the_hour = datetime(2026, 5, 1, 4, tzinfo=UTC)  # 12:00 in Shanghai: a fire time
    nxt = schedule.next_after(on_the_hour)
    assert nxt == on_the_hour + timedelta(hours=1)
    assert nxt.tzinfo == ZoneInfo("Asia/Shanghai") and nxt.hour == 13
    assert schedule.next_after(on_the_hour - timedelta(microseconds=1)) == on_the_hour
    with pytest.raises(ValueError, match="aware"):
        schedule.next_after(datetime(2026, 5, 1))


def test_same_answer_for_any_offset_of_the_input() -> None:
    schedule = parse_spec("30 1 * * *", NY)
    instant = datetime(2026, 11, 1, 5, 40, tzinfo=UTC)  # 01:40 EDT, the first 01:40
    answers = {
        schedule.next_after(instant.astimezone(ZoneInfo(z))).isoformat()
        for z in ("UTC", NY, SHANGHAI, LORD_HOWE)
    }
    assert answers == {"2026-11-02T01:30:00-05:00"}


# -- @every -----------------------------------------------------------------------------------


def test_every_is_aligned_to_the_epoch() -> None:
    schedule = parse_spec("@every 45s", "Asia/Shanghai")
    assert (schedule.interval, schedule.zone) == (45.0, None)
    start = datetime(2026, 1, 1, tzinfo=UTC)  # a multiple of 45 s since the epoch
    assert schedule.next_after(start) == start + timedelta(seconds=45)
    assert schedule.next_after(start + timedelta(seconds=44.9)) == start + timedelta(seconds=45)
    assert schedule.next_after(start + timedelta(seconds=45)) == start + timedelta(seconds=90)
    assert schedule.next_after(start).tzinfo == UTC
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_spec("@every 1h30m", "UTC").next_after(epoch) == epoch + timedelta(hours=1.5)


def test_every_ticks_agree_whatever_the_asking_time() -> None:
    schedule = parse_spec("@every 7s", "UTC")
    base = datetime(2026, 3, 8, 7, 0, 1, tzinfo=UTC)
    ticks = {schedule.next_after(base + timedelta(seconds=s / 10)) for s in range(0, 60, 3)}
    first = min(ticks)
    assert all((t - first).total_seconds() % 7 == 0 for t in ticks)
    assert all(t.timestamp() % 7 == 0 for t in ticks)


@pytest.mark.parametrize(
    ("spec", "seconds", "shown"),
    [
        ("@every 1.5s", 1, "1s"),
        ("@every 5s5ns", 5, "5s"),
        ("@every 10s999999999ns", 10, "10s"),
        ("@every 500ms", 1, "1s"),
        ("@every 1ns", 1, "1s"),
        ("@every 2.3h", 8280, "2h18m"),  # exact: not 8279.999...
        ("@every 4.54m", 272, "4m32s"),
        ("@every +5s", 5, "5s"),
        ("@every 3\u03bcs", 1, "1s"),  # Go takes the Greek mu as well as the micro sign
        ("@every 90", 90, "1m30s"),  # plain seconds, as the config's durations
        ("@every 1d", 86400, "24h"),
    ],
)
def test_every_drops_sub_second_parts_as_robfig_does(spec: str, seconds: int, shown: str) -> None:
    schedule = parse_spec(spec, "UTC")
    assert schedule.interval == seconds
    assert schedule.expression == f"@every {shown}"
    start = datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)
    ticks = next_fire_times(spec, "UTC", start, 5)
    assert all(t.microsecond == 0 for t in ticks)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)] == [seconds] * 4


def test_every_display_zone_is_the_prefix_or_the_default() -> None:
    assert parse_spec("@every 1h", "Asia/Shanghai").display_tz == ZoneInfo("Asia/Shanghai")
    prefixed = parse_spec("CRON_TZ=Europe/London @every 1h", "Asia/Shanghai")
    assert (prefixed.zone, prefixed.display_tz) == (None, ZoneInfo("Europe/London"))
    assert parse_spec("0 1 * * *", NY).display_tz == ZoneInfo(NY)


def test_every_ignores_wall_time_across_dst() -> None:
    times = next_fire_times("@every 1h", NY, datetime(2026, 11, 1, 4, 30, tzinfo=UTC), 4)
    assert [t.isoformat() for t in times] == [
        f"2026-11-01T{h:02d}:00:00+00:00" for h in (5, 6, 7, 8)
    ]


@settings(max_examples=200, deadline=None, database=None)
@given(
    interval=st.integers(min_value=1, max_value=200_000),
    after=st.floats(min_value=1.5e9, max_value=1.95e9, allow_nan=False),
)
def test_every_property(interval: int, after: float) -> None:
    schedule = parse_spec(f"@every {interval}s", "UTC")
    moment = datetime.fromtimestamp(after, UTC)
    nxt = schedule.next_after(moment)
    assert moment < nxt <= moment + timedelta(seconds=interval)
    assert nxt.timestamp() % interval == 0
    assert schedule.next_timestamp(moment.timestamp()) == nxt.timestamp()


# -- parsing and errors ---------------------------------------------------------------------


def test_schedule_attributes() -> None:
    cron = parse_spec("CRON_TZ=Europe/London 0 9 * * 1-5", "Asia/Shanghai")
    assert (cron.spec, cron.zone, cron.interval) == (
        "CRON_TZ=Europe/London 0 9 * * 1-5",
        "Europe/London",
        None,
    )
    assert cron.describe() == "0 9 * * 1-5 in Europe/London"
    assert parse_spec("0 9 * * 1-5", "Asia/Shanghai").zone == "Asia/Shanghai"
    assert parse_spec("0 9 * * 1-5", ZoneInfo("Europe/London")).zone == "Europe/London"
    assert parse_spec("0 9 * * 1-5", None).zone == "UTC"
    every = parse_spec("@every 1h30m", "Asia/Shanghai")
    assert (every.zone, every.interval) == (None, 5400.0)
    assert "every 1h30m" in every.describe()
    assert "with seconds" in parse_spec("0 0 9 * * *", "UTC").describe()
    assert parse_spec("0 9 * * *", "UTC") == parse_spec(" 0 9 * * * ", "UTC")
    assert parse_spec("0 9 * * *", "UTC") != parse_spec("0 9 * * *", "Asia/Shanghai")


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("61 * * * *", "minute 61 is out of range 0-59"),
        ("CRON_TZ=Mars/Base 0 * * * *", "unknown time zone 'Mars/Base'"),
        ("* 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month 0 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week 8 is out of range 0-7"),
        ("60 * * * * *", "second 60 is out of range 0-59"),
        ("0 0 * * 5#6", "day of week '5#6': the week after '#' must be 1-5"),
        ("x * * * *", "minute 'x' is not a number"),
        ("0 0 * foo *", "month 'foo' is not a number or a name"),
        ("*/0 * * * *", "minute step '0' in '*/0' is not a whole number >= 1"),
        ("0 0 1,,2 * *", "the day of month field has an empty list item"),
        (
            "* * *",
            "expected 5 fields (minute hour day-of-month month day-of-week) "
            "or 6 with leading seconds, got 3",
        ),
        ("0 0 30 2 *", "it never fires (no date matches its day and month fields)"),
        ("@every 0s", "the @every interval must be more than zero, got '0s'"),
        ("@every -5s", "the @every interval must be positive, got '-5s'"),
        (
            "5-1 * * * *",
            "minute range '5-1' runs backwards (5 is after 1); "
            "a range that wraps around is written as two: 5-59,0-1",
        ),
        (
            "0 23-1 * * *",
            "hour range '23-1' runs backwards (23 is after 1); "
            "a range that wraps around is written as two: 23,0-1",
        ),
        (
            "0 0 * * fri-mon",
            "day of week range 'fri-mon' runs backwards (5 is after 1); "
            "a range that wraps around is written as two: fri-6,0-mon",
        ),
        (
            "0 0 25-5/2 * *",
            "day of month range '25-5' runs backwards (25 is after 5); "
            "a range that wraps around is written as two: 25-31,1-5",
        ),
        ("*-5 * * * *", "minute '*-5': a range needs a number at each end"),
        ("0 0 * 1-* *", "month '1-*': a range needs a number or a name at each end"),
        ("@every", "@every needs a duration such as 45s or 1h30m"),
        ("CRON_TZ= 0 * * * *", "the CRON_TZ= prefix names no time zone"),
        ("", "the spec is empty (expected e.g. '0 2 * * *' or '@every 1h')"),
    ],
)
def test_error_messages(spec: str, reason: str) -> None:
    with pytest.raises(CronSpecError) as info:
        parse_spec(spec, "UTC")
    assert str(info.value) == f"cron spec {spec!r}: {reason}"
    assert isinstance(info.value, UsageError)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("@reboot", "unknown descriptor '@reboot'"),
        ("@every soon", "'soon' is not a duration"),
        ("0 ? * * *", "'?' is allowed in the day fields only"),
        ("0 0 * * mon#2,fri", "mixing"),
        ("0 0 * * L", "needs a weekday"),
        ("H * * * *", "minute 'h' is not a number"),
        ("0 0 1 1 * 2030", "day of week 2030 is out of range 0-7"),  # 6 fields: seconds first
    ],
)
def test_error_reasons(spec: str, needle: str) -> None:
    with pytest.raises(CronSpecError) as info:
        parse_spec(spec, "UTC")
    message = str(info.value)
    assert message.startswith(f"cron spec {spec!r}: ") and "\n" not in message
    assert needle in message


def test_bad_default_zone() -> None:
    with pytest.raises(
        CronSpecError, match=r"^cron spec '0 \* \* \* \*': unknown time zone 'X/Y'$"
    ):
        parse_spec("0 * * * *", "X/Y")
    with pytest.raises(CronSpecError, match="unknown time zone 'America'"):
        parse_spec("0 * * * *", "America")


# -- property tests over real zones ---------------------------------------------------------

ZONES = [
    "Asia/Shanghai",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight
    "Pacific/Chatham",  # +12:45 / +13:45
    "Africa/Casablanca",  # changes twice a year around Ramadan
    "Antarctica/Troll",  # a two-hour shift
    "America/St_Johns",  # half-hour offset
    "Europe/Berlin",
    "Asia/Kolkata",
    "UTC",
]
YEAR_2020 = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
YEAR_2031 = int(datetime(2031, 1, 1, tzinfo=UTC).timestamp())


def offset(zone: ZoneInfo, ts: int) -> int:
    return int(datetime.fromtimestamp(ts, zone).utcoffset().total_seconds())  # type: ignore[union-attr]


@functools.cache
def transitions(name: str) -> list[int]:
    """Every offset change of ``name`` in 2020-2030, probed every 3 hours and bisected."""
    zone = ZoneInfo(name)
    out = []
    t, prev = YEAR_2020, offset(zone, YEAR_2020)
    while t < YEAR_2031:
        nxt = t + 3 * 3600
        off = offset(zone, nxt)
        if off != prev:
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(zone, mid) == prev else (lo, mid)
            out.append(hi)
            prev = off
        t = nxt
    return out


@dataclass
class Spec:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    second: int
    every_hour: bool


@st.composite
def specs(draw: st.DrawFn, hint: tuple[int, ...] = ()) -> Spec:
    """Minute and hour fields of every kind; fixed hours favour ``hint`` (the hours
    around an offset change) so that repeated and skipped wall times get exercised."""
    hour = st.sampled_from(hint) | st.integers(0, 23) if hint else st.integers(0, 23)
    minute_kind = draw(st.sampled_from(["fixed", "step", "list"]))
    if minute_kind == "fixed":
        m = draw(st.integers(0, 59))
        minute_text, minutes = str(m), {m}
    elif minute_kind == "step":
        k = draw(st.sampled_from([5, 10, 15, 20, 30]))
        minute_text, minutes = f"*/{k}", set(range(0, 60, k))
    else:
        chosen = draw(st.lists(st.integers(0, 59), min_size=2, max_size=3, unique=True))
        minute_text, minutes = ",".join(map(str, chosen)), set(chosen)
    hour_kind = draw(
        st.sampled_from(["fixed", "fixed", "list", "range", "*", "step", "range-step"])
    )
    if hour_kind == "fixed":
        h = draw(hour)
        hour_text, hours = str(h), {h}
    elif hour_kind == "list":
        chosen = draw(st.lists(hour, min_size=2, max_size=3, unique=True))
        hour_text, hours = ",".join(map(str, chosen)), set(chosen)
    elif hour_kind == "range":
        a = draw(st.integers(0, 22))
        b = draw(st.integers(a + 1, 23))
        hour_text, hours = f"{a}-{b}", set(range(a, b + 1))
    elif hour_kind == "*":
        hour_text, hours = "*", set(range(24))
    elif hour_kind == "step":
        k = draw(st.integers(2, 6))
        hour_text, hours = f"*/{k}", set(range(0, 24, k))
    else:
        a = draw(st.integers(0, 10))
        k = draw(st.integers(2, 5))
        hour_text, hours = f"{a}-23/{k}", set(range(a, 24, k))
    every_hour = "*" in hour_text or "/" in hour_text or len(hours) == 24
    second = draw(st.sampled_from([None, 0, 0, 30, 59]))
    text = f"{minute_text} {hour_text} * * *"
    if second is not None:
        text = f"{second} {text}"
    return Spec(text, frozenset(minutes), frozenset(hours), second or 0, every_hour)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, int, Spec]:
    """A zone, an instant in 2020-2030 (half of them within a day of an offset change)
    and a spec."""
    zone_name = draw(st.sampled_from(ZONES))
    changes = transitions(zone_name)
    if changes and draw(st.booleans()):
        change = draw(st.sampled_from(changes))
        after = change + draw(st.integers(-26 * 3600, 26 * 3600))
        zone = ZoneInfo(zone_name)
        hint = {datetime.fromtimestamp(change + k, zone).hour for k in (-3600, -1, 0)}
        return zone_name, after, draw(specs(tuple(sorted(hint))))
    return zone_name, draw(st.integers(YEAR_2020, YEAR_2031 - 1)), draw(specs())


def has_change(zone: str, start: int, end: int) -> bool:
    """Whether ``zone`` changes its offset in ``(start, end]``."""
    changes = transitions(zone)
    i = bisect.bisect_right(changes, start)
    return i < len(changes) and changes[i] <= end


def reference_next(spec: Spec, zone: ZoneInfo, after: int) -> int:
    """The documented policy read literally, minute by minute (changes fall on minutes).

    A fire is a whole minute plus ``spec.second`` whose wall clock matches, skipped when it
    is the second occurrence of a wall time and the hour is fixed; or, for a fixed hour, the
    first instant after a gap when a wall time inside the gap matches.
    """
    t = after - after % 60
    prev_off = offset(zone, t - 60)
    for _ in range(4 * 24 * 60):
        local = datetime.fromtimestamp(t, zone)
        off = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]
        if off > prev_off and t > after and not spec.every_hour:
            wall = local.replace(tzinfo=None)
            for back in range(60, off - prev_off + 1, 60):
                skipped = wall - timedelta(seconds=back)
                if skipped.minute in spec.minutes and skipped.hour in spec.hours:
                    return t
        prev_off = off
        if local.hour not in spec.hours and not has_change(zone.key, t, t + 3600):
            t += (60 - local.minute) * 60  # nothing can fire before the next local hour
            continue
        candidate = t + spec.second
        if (
            candidate > after
            and local.minute in spec.minutes
            and local.hour in spec.hours
            and (spec.every_hour or local.fold == 0)
        ):
            return candidate
        t += 60
    raise AssertionError("no fire within four days")


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=cases())
def test_next_after_follows_the_policy(case: tuple[str, int, Spec]) -> None:
    zone_name, after, spec = case
    zone = ZoneInfo(zone_name)
    schedule = parse_spec(spec.text, zone_name)
    assert schedule.every_hour == spec.every_hour
    moment = datetime.fromtimestamp(after, UTC)
    nxt = schedule.next_after(moment)
    assert nxt > moment
    assert nxt.tzinfo == zone
    assert nxt.utcoffset() == datetime.fromtimestamp(nxt.timestamp(), zone).utcoffset()
    assert int(nxt.timestamp()) == reference_next(spec, zone, after)


def is_gap_end(spec: Spec, zone: ZoneInfo, ts: int) -> bool:
    before, now = offset(zone, ts - 1), offset(zone, ts)
    if now <= before:
        return False
    wall = datetime.fromtimestamp(ts, zone).replace(tzinfo=None)
    skipped = (wall - timedelta(seconds=s) for s in range(1, now - before + 1))
    return any(w.minute in spec.minutes and w.hour in spec.hours for w in skipped)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=cases())
def test_iterating_fire_times(case: tuple[str, int, Spec]) -> None:
    zone_name, after, spec = case
    zone = ZoneInfo(zone_name)
    schedule = parse_spec(spec.text, zone_name)
    moment = datetime.fromtimestamp(after, UTC)
    times = []
    for _ in range(40):
        moment = schedule.next_after(moment)
        times.append(moment)
    stamps = [int(t.timestamp()) for t in times]
    assert stamps == sorted(set(stamps)), "fire times must strictly increase"
    assert stamps[0] > after
    walls = []
    for t, ts in zip(times, stamps, strict=True):
        matches = t.minute in spec.minutes and t.hour in spec.hours and t.second == spec.second
        assert matches or is_gap_end(spec, zone, ts), f"{t} matches neither the spec nor a gap"
        walls.append(t.replace(tzinfo=None))
    if not spec.every_hour:
        assert len(walls) == len(set(walls)), "a fixed-hour entry fired twice at one wall time"
    if len(spec.hours) == 24 and len(spec.minutes) == 1:
        changes = [c for c in transitions(zone_name) if stamps[0] <= c <= stamps[-1]]
        shifts = [offset(zone, c - 1) - offset(zone, c) for c in changes]
        whole_hour_shifts = all(shift != 0 and shift % 3600 == 0 for shift in shifts)
        if whole_hour_shifts:  # across both spring forward and fall back
            gaps = {b - a for a, b in itertools.pairwise(stamps)}
            assert gaps == {3600}, f"not once per real hour across {changes}: {gaps}"


def test_every_zone_sample_has_changes_where_expected() -> None:
    """The property tests only mean something if the sample really has transitions."""
    assert transitions("Asia/Shanghai") == transitions("Asia/Kolkata") == []
    for zone in ("America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham"):
        assert len(transitions(zone)) == 22
    howe = ZoneInfo("Australia/Lord_Howe")
    assert {abs(offset(howe, c) - offset(howe, c - 1)) for c in transitions(howe.key)} == {1800}


# -- cron next on the command line ----------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("BINGO_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bingo.yaml"
    path.write_text("server:\n  timezone: America/New_York\n")
    return path


def run_cli(config: Path, *args: str) -> int:
    return main(["-c", str(config), "cron", "next", *args])


def test_cli_next_uses_the_server_zone(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(config, "30 1 * * *", "--after", "2026-10-31T12:00:00-04:00", "-n", "3") == 0
    assert capsys.readouterr().out.split() == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
        "2026-11-03T01:30:00-05:00",
    ]


def test_cli_next_tz_json_and_naive_after(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A naive --after is read in the spec's zone; CRON_TZ wins over --tz.
    args = ["0", "2", "*", "*", "*", "--tz", "Asia/Shanghai", "--after", "2026-05-01T02:00"]
    assert run_cli(config, *args, "-n", "2", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [
        "2026-05-02T02:00:00+08:00",
        "2026-05-03T02:00:00+08:00",
    ]
    prefixed = "CRON_TZ=Europe/London 0 2 * * *"
    assert (
        run_cli(config, prefixed, "--tz", "Asia/Shanghai", "--after", "2026-05-01", "-n", "1") == 0
    )
    assert capsys.readouterr().out.strip() == "2026-05-01T02:00:00+01:00"


def test_cli_next_tz_applies_to_every_too(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    after = ["--after", "2026-05-01T00:30:00+00:00", "-n", "2"]
    assert run_cli(config, "@every 1h", "--tz", "Asia/Shanghai", *after) == 0
    assert capsys.readouterr().out.split() == [
        "2026-05-01T09:00:00+08:00",
        "2026-05-01T10:00:00+08:00",
    ]
    # Without --tz: the server zone; with a prefix: the prefix's zone.
    assert run_cli(config, "@every 1h", *after) == 0
    assert capsys.readouterr().out.split()[0] == "2026-04-30T21:00:00-04:00"
    assert run_cli(config, "CRON_TZ=Europe/London @every 1h", "--tz", "Asia/Shanghai", *after) == 0
    assert capsys.readouterr().out.split()[0] == "2026-05-01T02:00:00+01:00"
    # A naive --after is read in that zone: 08:30 in Shanghai is 00:30 UTC.
    naive = ["--after", "2026-05-01T08:30", "-n", "1", "--json"]
    assert run_cli(config, "@every 1h", "--tz", "Asia/Shanghai", *naive) == 0
    assert json.loads(capsys.readouterr().out) == ["2026-05-01T09:00:00+08:00"]


@pytest.mark.parametrize(
    ("spec", "seconds"),
    [("@every 5s5ns", 5.0), ("@every 1.5s", 1.0), ("@every 500ms", 1.0), ("@every 999ms", 1.0)],
)
def test_cli_next_never_repeats_an_instant(
    config: Path, capsys: pytest.CaptureFixture[str], spec: str, seconds: float
) -> None:
    assert run_cli(config, spec, "--after", "2026-05-01T00:00:00.7+00:00", "-n", "20") == 0
    times = [datetime.fromisoformat(line) for line in capsys.readouterr().out.split()]
    assert len(set(times)) == 20 and times == sorted(times)
    assert all(t.microsecond == 0 for t in times)
    step = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert step == {seconds}


def test_cli_next_default_is_now(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now(UTC)
    assert run_cli(config, "@every 1s", "-n", "2") == 0
    times = [datetime.fromisoformat(line) for line in capsys.readouterr().out.split()]
    assert len(times) == 2 and times[1] == times[0] + timedelta(seconds=1)
    assert before < times[0] <= datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["61 * * * *"], "error: cron spec '61 * * * *': minute 61 is out of range 0-59"),
        (["0 * * * *", "--tz", "Mars/Base"], "error: --tz: unknown time zone 'Mars/Base'"),
        (
            ["0 * * * *", "--after", "yesterday"],
            "error: --after 'yesterday': expected an ISO-8601 time such as "
            "2026-03-08T01:30:00-05:00",
        ),
        (["0 * * * *", "-n", "0"], "error: -n 0: expected a whole number from 1 to 1000"),
        (
            ["5-1 * * * *"],
            "error: cron spec '5-1 * * * *': minute range '5-1' runs backwards (5 is after 1); "
            "a range that wraps around is written as two: 5-59,0-1",
        ),
        (
            ["@every 0s"],
            "error: cron spec '@every 0s': the @every interval must be more than zero, got '0s'",
        ),
    ],
)
def test_cli_next_bad_input_exits_2(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert run_cli(config, *args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == message


def test_schedule_type_is_exported() -> None:
    from bingo_core import scheduler

    assert scheduler.parse_spec is parse_spec and scheduler.CronSchedule is CronSchedule
