"""The option table (``bingo_core/options.py``) and what is derived from it: the docs'
table, the flags of ``bingo-scheduler enqueue``, the message fields, the places an option
may be set; a function given per task is refused through ``Client.enqueue``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bingo_core import Client, options
from bingo_core.cli.main import build_parser
from bingo_core.errors import OptionError, RegistrationError
from bingo_core.message import OPTION_FIELDS, TaskMessage
from bingo_core.registry import Registry, ScheduleRegister, TaskRegister

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"

#: A valid value of each option (the table's default where it has one).
SAMPLES: dict[str, Any] = {
    "deadline": "2030-01-01T00:00:00+00:00",
    "unique": "1h",
    "task_id": "fixed-id",
    "process_at": 1e10,
    "process_in": "5m",
    "depends_on": ["a", "b"],
    "retry_backoff": 2,
    "misfire_grace": "30s",
    "timezone": "UTC",
    "name": "nightly",
    "headers": {"tenant": "acme"},
}


class Item(BaseModel):
    n: int = 0


async def handle(ctx: Any, payload: Item) -> None:
    return None


def slow_backoff(retried: int) -> float:
    return 60.0 * retried


def test_docs_table_is_generated_from_the_option_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert options.with_table(text) == text, (
        "the option table of docs/plugins.md differs from bingo_core/options.py: run `make docs`"
    )


def test_enqueue_flags_are_the_table_cli_options() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command" or a.choices)
    enqueue = sub.choices["enqueue"]  # type: ignore[index]
    [group] = [g for g in enqueue._action_groups if g.title and "task options" in g.title]
    flags = [s for a in group._group_actions for s in a.option_strings]
    assert flags == [o.flag for o in options.CLI_OPTIONS]
    others = {s for a in enqueue._actions for s in a.option_strings} - set(flags)
    assert not others & {o.flag for o in options.TABLE}, others


def test_message_fields_are_the_table_message_options() -> None:
    assert OPTION_FIELDS == {o.name: o.default for o in options.TABLE if o.message}
    for name, default in OPTION_FIELDS.items():
        assert name in TaskMessage._fields, f"TaskMessage has no field for option {name!r}"
        if name != "queue":
            assert TaskMessage._field_defaults[name] == default, name


def test_defaults_keep_the_documented_values() -> None:
    assert {"deadline", "unique", "task_id", "retention", "retry_backoff"} < options.OPTION_NAMES
    assert {"idempotent", "isolation"} < options.OPTION_NAMES
    assert options.DEFAULTS["queue"] == "default"
    assert options.DEFAULTS["max_retry"] == 25
    assert options.DEFAULTS["timeout"] == 1800.0
    assert options.PER_TASK_ONLY == {
        "task_id",
        "process_at",
        "process_in",
        "headers",
        "depends_on",
    }
    assert options.SCHEDULE_OPTIONS == {"misfire_grace", "timezone", "name"}


@pytest.mark.parametrize(
    ("name", "place"),
    [(o.name, p) for o in options.TABLE for p in sorted(options.EVERYWHERE) if p in o.places],
)
def test_an_option_is_taken_where_the_table_allows_it(name: str, place: str) -> None:
    value = SAMPLES.get(name, options.BY_NAME[name].default)
    given = options.normalize({name: value}, where="here", place=place)
    assert set(given) == {name}


@pytest.mark.parametrize(
    ("name", "place"),
    [(o.name, p) for o in options.TABLE for p in sorted(options.EVERYWHERE) if p not in o.places],
)
def test_an_option_is_refused_where_the_table_does_not_allow_it(name: str, place: str) -> None:
    with pytest.raises(OptionError) as info:
        options.normalize({name: SAMPLES.get(name, 1)}, where="here", place=place)
    line = str(info.value)
    assert line.startswith(f"here: option {name!r} ") and "\n" not in line


def test_a_type_default_may_be_a_function() -> None:
    registry = Registry()
    TaskRegister(registry, "p")("t:x", handle, payload=Item, retry_backoff=slow_backoff)
    assert registry.get("t:x").option("retry_backoff") is slow_backoff


@pytest.fixture
def client(bingo_settings: Any) -> Any:
    registry = Registry()
    TaskRegister(registry, "p")("t:x", handle, payload=Item)
    c = Client(bingo_settings, registry=registry)
    yield c
    c.close()


def test_a_function_given_to_enqueue_is_refused_in_one_line(client: Any, redis_client: Any) -> None:
    with pytest.raises(OptionError) as info:
        client.enqueue("t:x", {"n": 1}, retry_backoff=slow_backoff)
    assert str(info.value) == (
        "task 't:x': option retry_backoff: a function is only allowed as the task type's "
        "default, given at registration (register(..., retry_backoff=...)); it cannot "
        "travel in the task's message"
    )
    with pytest.raises(OptionError, match="only allowed as the task type's default"):
        client.enqueue_many([("t:x", {"n": 2}, {"retry_backoff": slow_backoff})])
    assert redis_client.dbsize() == 0
    # Seconds travel in the message.
    info_ok = client.enqueue("t:x", {"n": 3}, retry_backoff=7)
    raw = redis_client.hget(f"bingo:{{default}}:t:{info_ok.id}", "msg")
    assert json.loads(raw)["retry_backoff"] == 7.0


def test_a_function_on_a_schedule_entry_is_refused() -> None:
    registry = Registry()
    with pytest.raises(RegistrationError, match="only allowed as the task type's default"):
        ScheduleRegister(registry, "p")("@daily", "t:x", retry_backoff=slow_backoff)
    assert registry.schedules == []


def test_stored_message_has_exactly_the_table_message_fields(
    client: Any, redis_client: Any
) -> None:
    info = client.enqueue("t:x", {"n": 1}, max_retry=2)
    msg = json.loads(redis_client.hget(f"bingo:{{default}}:t:{info.id}", "msg"))
    assert set(msg) == {"id", "type", "enqueued_at", "payload", *OPTION_FIELDS}
    assert msg["max_retry"] == 2 and msg["timeout"] == options.DEFAULTS["timeout"]


def _cli(redis_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "bingo.yaml"
    config.write_text(
        f'redis:\n  url: "{redis_url}"\ndatabase:\n  url: "sqlite:///{tmp_path}/b.db"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["BINGO_PLUGINS"] = "testplug"
    return subprocess.run(
        [sys.executable, "-m", "bingo_core.cli.main", "-c", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_flags_reach_the_task(bingo_redis_url: str, tmp_path: Path) -> None:
    payload = json.dumps({"path": str(tmp_path / "out"), "value": "v"})
    done = _cli(
        bingo_redis_url, tmp_path, "enqueue", "test:record", "--payload", payload,
        "--max-retry", "2", "--timeout", "30s", "--queue", "low", "--retention", "1h", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert (task["max_retry"], task["timeout"], task["queue"], task["retention"]) == (
        2,
        30.0,
        "low",
        3600.0,
    )
    bad = _cli(
        bingo_redis_url, tmp_path, "enqueue", "test:record", "--payload", payload,
        "--max-retry", "lots",
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: task 'test:record': option max_retry='lots': expected a whole number >= 0"
    ]
