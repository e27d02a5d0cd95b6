"""Static schedule entries: the YAML list, compilation against the registry, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from bingo_core.errors import (
    CronSpecError,
    OptionError,
    PayloadError,
    UnknownTaskType,
    UsageError,
)
from bingo_core.registry import Registry, ScheduleEntry, ScheduleRegister, TaskRegister
from bingo_core.scheduler.entries import (
    CompiledEntry,
    compile_all,
    compile_entry,
    config_entries,
)


class ReportPayload(BaseModel):
    date: str = "today"
    limit: int = 10


async def handle_report(ctx: Any, payload: ReportPayload) -> None:
    """Not run here."""


def handle_ping(ctx: Any, payload: dict[str, Any]) -> None:
    """Not run here."""


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    register = TaskRegister(registry, "reports")
    register("task:report", handle_report, payload=ReportPayload, max_retry=5, queue="reports")
    register("task:ping", handle_ping, timeout="10s")
    return registry


def entry(
    spec: str = "0 2 * * *",
    type_: str = "task:report",
    payload: dict[str, Any] | None = None,
    name: str = "nightly",
    source: str = "config",
    **options: Any,
) -> ScheduleEntry:
    return ScheduleEntry(
        spec=spec,
        type=type_,
        payload=payload or {},
        options=options,
        source=source,
        name=name,
    )


# -- compile_entry ----------------------------------------------------------------------------


def test_compile_entry(registry: Registry) -> None:
    compiled = compile_entry(
        entry(payload={"date": "2026-01-01"}, timeout="5m", misfire_grace="90s"),
        registry,
        "Asia/Shanghai",
    )
    assert isinstance(compiled, CompiledEntry)
    assert compiled.task_type is registry.tasks["task:report"]
    assert json.loads(compiled.payload_json) == {"date": "2026-01-01", "limit": 10}
    # Type defaults < entry options; schedule-only keys are not task options.
    assert compiled.options == {"max_retry": 5, "queue": "reports", "timeout": 300.0}
    assert compiled.misfire_grace == 90.0
    assert compiled.key == "config|nightly" == compiled.entry.key
    assert compiled.fingerprint() == compiled.entry.fingerprint()
    assert compiled.schedule.zone == "Asia/Shanghai"
    nxt = compiled.schedule.next_after(datetime(2026, 5, 1, tzinfo=UTC))
    assert nxt.isoformat() == "2026-05-02T02:00:00+08:00"


def test_entry_options_override_type_defaults(registry: Registry) -> None:
    compiled = compile_entry(entry(queue="urgent", max_retry=0), registry, "UTC")
    assert compiled.options == {"queue": "urgent", "max_retry": 0}
    assert compiled.misfire_grace is None
    plain = compile_entry(entry(type_="task:ping"), registry, "UTC")
    assert plain.options == {"timeout": 10.0}
    assert plain.payload_json == "{}"


def test_zone_precedence(registry: Registry) -> None:
    with_option = compile_entry(entry(timezone="Europe/London"), registry, "Asia/Shanghai")
    assert with_option.schedule.zone == "Europe/London"
    prefixed = compile_entry(
        entry(spec="CRON_TZ=America/New_York 0 2 * * *", timezone="Europe/London"),
        registry,
        "Asia/Shanghai",
    )
    assert prefixed.schedule.zone == "America/New_York"
    every = compile_entry(entry(spec="@every 1h30m"), registry, "Asia/Shanghai")
    assert (every.schedule.zone, every.schedule.interval) == (None, 5400.0)


def test_fingerprint_follows_edits(registry: Registry) -> None:
    base = compile_entry(entry(), registry, "UTC").fingerprint()
    assert compile_entry(entry(), registry, "UTC").fingerprint() == base
    assert compile_entry(entry(spec="0 3 * * *"), registry, "UTC").fingerprint() != base
    assert compile_entry(entry(payload={"limit": 2}), registry, "UTC").fingerprint() != base
    assert compile_entry(entry(queue="other"), registry, "UTC").fingerprint() != base


@pytest.mark.parametrize(
    ("made", "error", "message"),
    [
        (
            {"type_": "task:nope"},
            UnknownTaskType,
            "schedule 'nightly' (config): unknown task type 'task:nope': "
            "no installed plugin registers it",
        ),
        (
            {"spec": "61 * * * *"},
            CronSpecError,
            "schedule 'nightly' (config): cron spec '61 * * * *': minute 61 is out of range 0-59",
        ),
        (
            {"timezone": "Mars/Base"},
            CronSpecError,
            "schedule 'nightly' (config): cron spec '0 2 * * *': unknown time zone 'Mars/Base'",
        ),
        (
            {"payload": {"limit": "many"}},
            PayloadError,
            "schedule 'nightly' (config): payload for task:report does not match ReportPayload: "
            "limit: Input should be a valid integer, unable to parse string as an integer "
            '(got "many")',
        ),
        (
            {"max_retry": -1},
            OptionError,
            "schedule 'nightly' (config): option max_retry=-1: expected a whole number >= 0",
        ),
        (
            {"task_id": "fixed"},
            OptionError,
            "schedule 'nightly' (config): option 'task_id' cannot be set on a schedule "
            "(each tick is a new task)",
        ),
        (
            {"isolation": "process"},
            OptionError,
            "schedule 'nightly' (config): option isolation='process' needs a plain def handler",
        ),
    ],
)  # fmt: skip
def test_compile_errors_name_the_entry(
    registry: Registry, made: dict[str, Any], error: type[UsageError], message: str
) -> None:
    with pytest.raises(error) as info:
        compile_entry(entry(**made), registry, "UTC")
    assert str(info.value) == message
    assert isinstance(info.value, UsageError)


def test_unknown_option_names_the_entry(registry: Registry) -> None:
    bad = entry()
    bad.options = {"colour": "red"}
    with pytest.raises(OptionError) as info:
        compile_entry(bad, registry, "UTC")
    assert str(info.value).startswith("schedule 'nightly' (config): unknown option 'colour'")


def test_plugin_entries_compile(registry: Registry) -> None:
    ScheduleRegister(registry, "reports")(
        "@daily", "task:report", payload={"date": "today"}, misfire_grace=30
    )
    [plugin_entry] = registry.schedules
    compiled = compile_entry(plugin_entry, registry, "UTC")
    assert compiled.key == "plugin:reports|task:report@@daily"
    assert compiled.misfire_grace == 30.0


# -- compile_all ------------------------------------------------------------------------------


def test_compile_all_keeps_the_good_ones(registry: Registry) -> None:
    good_one = entry(name="good")
    bad_spec = entry(name="bad spec", spec="* * *")
    bad_type = entry(name="bad type", type_="task:nope")
    twin = entry(name="good", spec="0 5 * * *")
    other_source = entry(name="good", source="plugin:x")
    compiled, bad = compile_all([good_one, bad_spec, bad_type, twin, other_source], registry, "UTC")
    assert [c.entry for c in compiled] == [good_one, other_source]
    assert [b[0] for b in bad] == [bad_spec, bad_type, twin]
    reasons = [b[1] for b in bad]
    assert reasons[0].startswith("schedule 'bad spec' (config): cron spec '* * *': expected 5")
    assert reasons[1].startswith("schedule 'bad type' (config): unknown task type 'task:nope'")
    assert reasons[2] == "schedule 'good' (config): another entry of config has this name"
    assert all("\n" not in r for r in reasons)


def test_compile_all_survives_an_unexpected_failure(registry: Registry) -> None:
    broken = entry(name="broken")
    broken.options = None  # type: ignore[assignment]  # not a mapping: not a UsageError
    compiled, bad = compile_all([broken, entry(name="fine")], registry, "UTC")
    assert [c.entry.name for c in compiled] == ["fine"]
    assert len(bad) == 1 and bad[0][1].startswith("schedule 'broken' (config): AttributeError: ")


# -- config_entries ---------------------------------------------------------------------------


def test_config_entries_accept_both_key_styles(registry: Registry) -> None:
    raw = [
        {
            "name": "nightly",
            "spec": "0 2 * * *",
            "type": "task:report",
            "payload": {"date": "yesterday"},
            "maxRetry": 3,
            "misfireGrace": "2m",
            "timezone": "Europe/London",
        },
        {"spec": "@every 10m", "type": "task:ping", "max_retry": 1, "misfire_grace": 5},
        {"spec": "*/5 * * * *", "type": "task:ping", "payload": None, "retention": "1h"},
    ]
    entries, errors = config_entries(raw)
    assert errors == []
    assert [e.source for e in entries] == ["config"] * 3
    assert [e.name for e in entries] == ["nightly", "task:ping@@every 10m", "task:ping@*/5 * * * *"]
    assert entries[0].options == {
        "max_retry": 3,
        "misfire_grace": 120.0,
        "timezone": "Europe/London",
    }
    assert entries[0].payload == {"date": "yesterday"}
    assert entries[1].options == {"max_retry": 1, "misfire_grace": 5.0}
    assert entries[2].payload == {} and entries[2].options == {"retention": 3600.0}

    compiled, bad = compile_all(entries, registry, "Asia/Shanghai")
    assert bad == []
    assert compiled[0].schedule.zone == "Europe/London"
    assert compiled[0].options == {"max_retry": 3, "queue": "reports"}
    assert compiled[0].misfire_grace == 120.0


def test_config_entry_errors_are_per_item() -> None:
    raw: list[Any] = [
        {"name": "ok", "spec": "@hourly", "type": "task:ping"},
        "0 2 * * * task:ping",
        {"spec": "@hourly"},
        {"name": "no spec", "spec": " ", "type": "task:ping"},
        {"name": "odd option", "spec": "@hourly", "type": "task:ping", "colour": "red"},
        {"spec": "@hourly", "type": "task:ping", "maxRetry": "lots"},
        {"name": "list payload", "spec": "@hourly", "type": "task:ping", "payload": [1]},
        {"name": 7, "spec": "@hourly", "type": "task:ping"},
        {"name": "ok", "spec": "@daily", "type": "task:ping"},
    ]
    entries, errors = config_entries(raw)
    assert [e.name for e in entries] == ["ok"]
    labels = [label for label, _ in errors]
    assert labels == [
        "schedules[1]",
        "schedules[2]",
        "no spec",
        "odd option",
        "schedules[5]",
        "list payload",
        "schedules[7]",
        "ok",
    ]
    reasons = dict(zip(range(len(errors)), (reason for _, reason in errors), strict=True))
    assert reasons[0] == "expected a mapping with spec and type, got str"
    assert reasons[1] == "type: expected a non-empty string, got None"
    assert reasons[2] == "spec: expected a non-empty string, got ' '"
    assert reasons[3].startswith("unknown option 'colour' (known: ")
    assert reasons[4].startswith("option max_retry='lots': expected a whole number")
    assert reasons[5] == "payload: expected a mapping, got list"
    assert reasons[6] == "name: expected a string, got 7"
    assert reasons[7] == "the same name as schedules[0] (names must be unique)"


def test_config_items_of_any_shape_are_skipped_one_by_one() -> None:
    # What the settings keep of a bad YAML item: it never fails the load, it is skipped here.
    raw: list[Any] = [
        None,
        ["0 2 * * *", "task:ping"],
        {"name": "text payload", "spec": "@hourly", "type": "task:ping", "payload": "x"},
        {"name": "fine", "spec": "@hourly", "type": "task:ping", "payload": {}},
    ]
    entries, errors = config_entries(raw)
    assert [e.name for e in entries] == ["fine"]
    assert errors == [
        ("schedules[0]", "expected a mapping with spec and type, got NoneType"),
        ("schedules[1]", "expected a mapping with spec and type, got list"),
        ("text payload", "payload: expected a mapping, got str"),
    ]
