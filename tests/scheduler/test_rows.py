"""The ``sys_crontab`` row rules (:mod:`bingo_core.scheduler.rows`): what fits the table,
what the sync runs, and the entry a key names (plugins, config file, a stored row)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bingo_core.errors import EntryNotFound, PayloadError, UnknownTaskType
from bingo_core.registry import Registry, ScheduleRegister, TaskRegister, row_id_of, row_key
from bingo_core.scheduler import rows
from bingo_core.store import Store


class Greeting(BaseModel):
    name: str


def handle(ctx: Any, payload: Greeting) -> None:
    return None


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    TaskRegister(registry, "demo")("demo:greet", handle, payload=Greeting)
    ScheduleRegister(registry, "demo")(
        "@every 1h", "demo:greet", payload={"name": "a"}, name="hourly"
    )
    return registry


def test_column_errors_name_each_column_once() -> None:
    assert rows.column_errors("n", "t", "@daily", '{"a": 1}') == {}
    errors = rows.column_errors(" ", "t" * 51, "@daily", '"' + "x" * 70000 + '"')
    assert errors["name"] == "name must not be empty"
    assert errors["type"].endswith("is 51 characters; sys_crontab.type holds at most 50")
    assert (
        errors["payload"]
        == "payload is 70002 bytes of JSON; sys_crontab.payload holds at most 65535"
    )
    named = rows.column_errors("", "t", "@daily", None, label=str.upper)
    assert named == {"name": "NAME must not be empty"}


def test_check_row_reports_by_field(registry: Registry) -> None:
    good = rows.check_row(None, "n", "demo:greet", "0 1 * * *", '{"name": "x"}', registry, "UTC")
    assert good == {}
    bad = rows.check_row(None, "n", "demo:nope", "61 * * * *", "[1]", registry, "UTC")
    assert set(bad) == {"type", "spec", "payload"}
    assert "known: demo:greet" in bad["type"] and "minute" in bad["spec"]
    model = rows.check_row(None, "n", "demo:greet", "@daily", "{}", registry, "UTC")
    assert set(model) == {"payload"} and "name" in model["payload"]


def test_compile_row_names_the_row(registry: Registry) -> None:
    entry = rows.compile_row(7, "hi", "demo:greet", " @daily ", '{"name": "x"}', registry, "UTC")
    assert entry.key == row_key(7, "hi") == "db:7|hi" and row_id_of(entry.key) == 7
    with pytest.raises(PayloadError, match=r"schedule 'hi' \(db:7\): payload is not valid JSON"):
        rows.compile_row(7, "hi", "demo:greet", "@daily", "{", registry, "UTC")
    with pytest.raises(UnknownTaskType, match=r"schedule 'hi' \(sys_crontab\)"):
        rows.compile_row(None, "hi", "demo:nope", "@daily", None, registry, "UTC")


def test_parse_row_id() -> None:
    assert rows.parse_row_id("12") == 12
    for text, said in (("x", "whole number"), ("0", "out of range"), (str(2**63), "out of range")):
        with pytest.raises(ValueError, match=said):
            rows.parse_row_id(text)


def test_resolve_entry_finds_each_source(
    registry: Registry, bingo_settings_factory: Any, tmp_path: Path
) -> None:
    nightly = {
        "name": "nightly",
        "spec": "0 2 * * *",
        "type": "demo:greet",
        "payload": {"name": "c"},
    }
    settings = bingo_settings_factory(schedules=[nightly])
    with Store(f"sqlite:///{tmp_path / 'bingo.db'}") as store:
        store.init_schema()
        row_id = store.add("stats", "demo:greet", "@daily", '{"name": "r"}')
        bad_id = store.add("bad", "demo:greet", "@daily", "{}")

        def find(key: str) -> Any:
            return rows.resolve_entry(key, settings, registry, store.get)

        assert find("plugin:demo|hourly").payload_json == '{"name":"a"}'
        assert find("config|nightly").payload_json == '{"name":"c"}'
        assert find(f"db:{row_id}").key == f"db:{row_id}|stats"
        assert find(f"db:{row_id}|stats").payload_json == '{"name":"r"}'
        with pytest.raises(EntryNotFound, match=r"no schedule entry 'config\|nope'"):
            find("config|nope")
        with pytest.raises(EntryNotFound, match="no sys_crontab row for entry 'db:99'"):
            find("db:99")
        with pytest.raises(PayloadError, match=f"db:{bad_id}"):
            find(f"db:{bad_id}")
