"""Schedule entries that start a workflow: ``register(spec, flow)`` and the YAML
``workflow:`` form, each bad flow one line naming the entry (and the step by its path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core.config import load_settings
from bingo_core.errors import RegistrationError
from bingo_core.registry import WORKFLOW_TYPE, Registry, ScheduleRegister, TaskRegister
from bingo_core.scheduler.entries import (
    compile_all,
    compile_entry,
    compile_static,
    config_entries,
)
from bingo_core.scheduler.flows import tick_workflow_id
from bingo_core.scheduler.timing import describe


class PartPayload(BaseModel):
    part: int


async def handle(ctx: Any, payload: Any) -> None:
    """Not run here."""


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    register = TaskRegister(registry, "etl")
    register("etl:extract", handle)
    register("etl:transform", handle, payload=PartPayload)
    register("etl:load", handle, queue="etl")
    return registry


def flow() -> bingo.workflow.Chain:
    return bingo.chain(
        bingo.step("etl:extract", {"day": "2026-12-01"}, queue="etl"),
        bingo.group(bingo.step("etl:transform", {"part": i}, queue="etl") for i in range(3)),
        bingo.step("etl:load"),
    )


def registered(registry: Registry, *args: Any, **kwargs: Any) -> None:
    ScheduleRegister(registry, "etl")(*args, **kwargs)


def test_a_plugin_entry_starts_a_workflow(registry: Registry) -> None:
    registered(registry, "0 2 * * *", flow(), name="nightly-etl", misfire_grace="5m")
    (entry,) = registry.schedules
    assert (entry.type, entry.name, entry.key) == (
        WORKFLOW_TYPE,
        "nightly-etl",
        "plugin:etl|nightly-etl",
    )
    compiled = compile_entry(entry, registry, "UTC")
    assert compiled.flow is entry.flow and compiled.misfire_grace == 300
    info = describe(compiled, 300)
    assert info.type == "workflow: etl:extract -> group(etl:transform x3) -> etl:load"
    assert info.queue == "etl"
    # An unnamed entry is named after the spec; an edit of a step changes the fingerprint.
    registered(registry, "@every 1h", bingo.step("etl:extract", queue="etl"))
    assert registry.schedules[1].name == "workflow@@every 1h"
    edited = bingo.chain(*flow().items[:2], bingo.step("etl:load", {"x": 1}))
    registered(registry, "0 2 * * *", edited, name="nightly-etl")
    assert registry.schedules[2].fingerprint() != entry.fingerprint()


@pytest.mark.parametrize(
    ("bad", "line"),
    [
        (
            bingo.chain(bingo.step("etl:extract", queue="etl"), bingo.step("etl:nope")),
            "schedule 'w' (plugin:etl): steps[1]: unknown task type 'etl:nope'",
        ),
        (
            bingo.chain(
                bingo.step("etl:extract", queue="etl"),
                bingo.group(bingo.step("etl:transform", {"part": "x"}, queue="etl")),
            ),
            "schedule 'w' (plugin:etl): steps[1][0]: payload for etl:transform does not match",
        ),
        (
            bingo.chain(bingo.step("etl:extract", queue="etl"), bingo.group()),
            "schedule 'w' (plugin:etl): steps[1]: empty group",
        ),
    ],
)
def test_a_bad_flow_is_one_line_naming_the_entry_and_the_step(
    registry: Registry, bad: Any, line: str
) -> None:
    registered(registry, "0 2 * * *", bad, name="w")
    registered(registry, "0 3 * * *", flow(), name="good")
    good, errors = compile_all(registry.schedules, registry, "UTC")
    assert [c.entry.name for c in good] == ["good"]
    (error,) = (text for _, text in errors)
    assert error.startswith(line), error
    assert "\n" not in error


def test_register_refuses_a_payload_or_task_options_beside_a_flow(registry: Registry) -> None:
    with pytest.raises(RegistrationError) as payload:
        registered(registry, "0 2 * * *", flow(), payload={"x": 1}, name="w")
    assert str(payload.value) == (
        "plugin 'etl', schedule 'w' -> workflow: payload goes on the workflow's steps"
    )
    with pytest.raises(RegistrationError) as options:
        registered(registry, "0 2 * * *", flow(), name="w", queue="etl", max_retry=2)
    assert str(options.value).startswith(
        "plugin 'etl', schedule 'w' -> workflow: task option(s) max_retry, queue go on the "
        "workflow's steps"
    )
    assert registry.schedules == []


YAML_FLOW = {
    "chain": [
        {"type": "etl:extract", "payload": {"day": "today"}, "queue": "etl"},
        {
            "group": [
                {"type": "etl:transform", "payload": {"part": i}, "queue": "etl"} for i in (1, 2)
            ]
        },
        {"type": "etl:load", "maxRetry": 2},
    ]
}


def test_a_yaml_item_with_workflow_starts_it(registry: Registry) -> None:
    items = [
        {"name": "nightly-etl", "spec": "0 2 * * *", "workflow": YAML_FLOW, "misfireGrace": "1m"},
        {"name": "list-form", "spec": "0 3 * * *", "workflow": YAML_FLOW["chain"], "payload": {}},
    ]
    entries, errors = config_entries(items)
    assert errors == []
    good, bad = compile_all(entries, registry, "UTC")
    assert bad == []
    first, second = good
    assert first.entry.flow == second.entry.flow
    assert first.entry.flow == bingo.chain(
        bingo.step("etl:extract", {"day": "today"}, queue="etl"),
        bingo.group(bingo.step("etl:transform", {"part": i}, queue="etl") for i in (1, 2)),
        bingo.step("etl:load", {}, max_retry=2),
    )
    assert first.misfire_grace == 60 and first.key == "config|nightly-etl"
    assert first.label == "workflow: etl:extract -> group(etl:transform x2) -> etl:load"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"workflow": {"chain": []}}, "spec: expected a non-empty string, got None"),
        (
            {"spec": "0 2 * * *", "type": "etl:load", "workflow": [{"type": "etl:load"}]},
            "give type and payload, or workflow (its steps have their own)",
        ),
        (
            {"spec": "0 2 * * *", "queue": "etl", "workflow": [{"type": "etl:load"}]},
            "queue: task options go on the workflow's steps",
        ),
        (
            {"spec": "0 2 * * *", "workflow": {"chain": [{"type": "etl:load"}, {"group": 3}]}},
            "steps[1]: group expects a list, got int",
        ),
        (
            {"spec": "0 2 * * *", "workflow": {"chain": [{"payload": {}}]}},
            "steps[0]: expected type (a non-empty string), chain or group",
        ),
        (
            {"spec": "0 2 * * *", "workflow": {"chain": [], "group": []}},
            "steps: a chain item holds only its list (also: group)",
        ),
        ({"spec": "0 2 * * *", "workflow": ["etl:load"]}, "steps[0]: expected a mapping"),
    ],
)
def test_a_bad_yaml_workflow_is_one_line_naming_the_item(item: dict[str, Any], reason: str) -> None:
    entries, errors = config_entries([{"name": "bad", **item}])
    assert entries == []
    ((label, text),) = errors
    assert label == "bad"
    assert text.startswith(reason), text
    assert "\n" not in text


def test_a_yaml_workflow_step_is_checked_when_compiled(registry: Registry) -> None:
    bad = {
        "chain": [
            {"type": "etl:extract", "queue": "etl"},
            {"group": [{"type": "etl:transform", "queue": "etl", "payload": {"part": "x"}}]},
        ]
    }
    entries, _ = config_entries(
        [
            {"name": "bad", "spec": "0 2 * * *", "workflow": bad},
            {"name": "empty", "spec": "0 2 * * *", "workflow": {"group": []}},
            {"name": "unknown", "spec": "0 2 * * *", "workflow": [{"type": "etl:nope"}]},
        ]
    )
    _, errors = compile_all(entries, registry, "UTC")
    lines = [text for _, text in errors]
    assert lines[0].startswith("schedule 'bad' (config): steps[1][0]: payload for etl:transform"), (
        lines
    )
    assert "part" in lines[0]
    assert lines[1] == "schedule 'empty' (config): steps: empty group"
    assert lines[2].startswith(
        "schedule 'unknown' (config): steps[0]: unknown task type 'etl:nope'"
    )
    assert all("\n" not in line for line in lines)


def test_a_tick_workflow_id_is_the_same_on_every_daemon() -> None:
    one = tick_workflow_id("config|nightly-etl", 1_700_000_000.0)
    assert one == tick_workflow_id("config|nightly-etl", 1_700_000_000.0)
    assert one.startswith("wf-tick-") and one.endswith("-1700000000000")
    assert one != tick_workflow_id("config|nightly-etl", 1_700_000_001.0)
    assert one != tick_workflow_id("config|other", 1_700_000_000.0)


def test_a_step_in_an_asynq_queue_is_one_line_when_the_config_is_compiled(
    tmp_path: Path, registry: Registry
) -> None:
    config = tmp_path / "bingo.yaml"
    config.write_text(
        json.dumps(
            {
                "asynq": {"queues": {"etl": 1}},
                "schedules": [
                    {"name": "etl", "spec": "0 2 * * *", "workflow": YAML_FLOW},
                    {"name": "ok", "spec": "0 2 * * *", "workflow": [{"type": "etl:extract"}]},
                ],
            }
        )
    )
    good, lines = compile_static(load_settings(config, env={}), registry)
    assert [c.key for c in good] == ["config|ok"]
    assert lines == [
        "schedule 'etl' (config): steps[0] (etl:extract): queue 'etl' is in asynq.queues "
        "(Asynq's layout), which has no workflows"
    ]


def test_an_entry_may_give_the_workflow_an_on_failure_step(registry: Registry) -> None:
    alert = bingo.step("etl:extract", {"why": "nightly failed"}, queue="etl")
    registered(registry, "0 2 * * *", flow(), name="with-alert", on_failure=alert)
    registered(registry, "0 2 * * *", flow(), name="bad-alert", on_failure=bingo.step("etl:nope"))
    with pytest.raises(RegistrationError) as chained:
        registered(registry, "0 2 * * *", flow(), name="w", on_failure=bingo.chain(alert))
    assert str(chained.value).startswith(
        "plugin 'etl', schedule 'w' -> workflow: on_failure: expected bingo.step, got Chain("
    )
    good, bad = compile_all(registry.schedules, registry, "UTC")
    assert [c.on_failure for c in good] == [alert]
    ((_, line),) = bad
    assert line.startswith("schedule 'bad-alert' (plugin:etl): on_failure: unknown task type")

    entries, errors = config_entries(
        [
            {
                "name": "y",
                "spec": "0 2 * * *",
                "workflow": YAML_FLOW,
                "onFailure": {"type": "etl:load"},
            },
            {
                "name": "z",
                "spec": "0 2 * * *",
                "workflow": YAML_FLOW,
                "onFailure": [{"type": "etl:load"}],
            },
        ]
    )
    assert [e.on_failure for e in entries] == [bingo.step("etl:load", {})]
    assert errors == [("z", "on_failure: expected one step (type, payload, options)")]
    assert (
        entries[0].fingerprint()
        != config_entries([{"name": "y", "spec": "0 2 * * *", "workflow": YAML_FLOW}])[0][
            0
        ].fingerprint()
    )
