"""``bingo-scheduler cron run ENTRY``, run as a real process: an entry of the config file
or a ``sys_crontab`` row enqueued now; an unknown entry is one line, exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_cron_cli import Cli, assert_one_line_error

from bingo_core.store import Store


@pytest.fixture
def cli(tmp_path: Path, redis_url: str) -> Cli:
    db = tmp_path / "data" / "bingo.db"
    runner = Cli(tmp_path, f"sqlite:///{db}")
    with runner.config.open("a") as config:
        config.write(
            f'redis:\n  url: "{redis_url}"\n'
            "schedules:\n"
            '  - {name: nightly, spec: "0 2 * * *", type: task:daily-stats, '
            "payload: {date: yesterday}, queue: low, maxRetry: 4}\n"
        )
    with Store(f"sqlite:///{db}") as store:
        store.init_schema()
        store.add("stats", "task:daily-stats", "@daily", '{"limit": 3}')
    return runner


def test_cron_run_enqueues_a_config_entry(cli: Cli, redis_client: Any) -> None:
    run = cli("cron", "run", "config|nightly")
    assert run.code == 0, run
    task_id = run.out.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", task_id), run.out
    assert redis_client.lrange("bingo:{low}:pending", 0, -1) == [task_id]
    msg = json.loads(redis_client.hget(f"bingo:{{low}}:t:{task_id}", "msg"))
    assert msg["payload"] == {"date": "yesterday", "limit": 10}


def test_cron_run_enqueues_a_row_as_json(cli: Cli, redis_client: Any) -> None:
    run = cli("cron", "run", "db:1", "--json")
    assert run.code == 0, run
    data = run.json()
    assert data["key"] == "db:1|stats"
    task = data["task"]
    assert (task["type"], task["queue"], task["state"]) == (
        "task:daily-stats",
        "default",
        "pending",
    )
    assert task["payload"] == {"date": "today", "limit": 3} and task["source"] == "db:1|stats"
    assert redis_client.lrange("bingo:{default}:pending", 0, -1) == [task["id"]]


def test_cron_run_of_an_unknown_entry_is_one_line(cli: Cli, redis_client: Any) -> None:
    missing, row = cli.many([["cron", "run", "config|nope"], ["cron", "run", "db:99"]])
    assert_one_line_error(missing, 2, "no schedule entry 'config|nope'")
    assert_one_line_error(row, 2, "no sys_crontab row for entry 'db:99'")
    assert redis_client.keys("bingo:*:pending") == []


def test_cron_run_starts_a_workflow_entry(cli: Cli, redis_client: Any) -> None:
    with cli.config.open("a") as config:
        config.write(
            "  - name: nightly-etl\n"
            '    spec: "0 2 * * *"\n'
            "    workflow:\n"
            "      chain:\n"
            "        - {type: task:daily-stats, payload: {date: monday}, queue: low}\n"
            "        - group:\n"
            "            - {type: task:daily-stats, payload: {limit: 1}, queue: low}\n"
            "            - {type: task:daily-stats, payload: {limit: 2}, queue: low}\n"
        )
    run, as_json = cli.many(
        [["cron", "run", "config|nightly-etl"], ["cron", "run", "config|nightly-etl", "--json"]]
    )
    assert run.code == 0, run
    workflow_id = run.out.strip()
    assert re.fullmatch(r"wf-[0-9a-f]{32}", workflow_id), run.out
    assert as_json.code == 0, as_json
    data = as_json.json()
    assert data["key"] == "config|nightly-etl"
    second = data["workflow"]
    assert second["queue"] == "low" and len(second["task_ids"]) == 3
    assert second["id"] != workflow_id  # no tick: each run is a new workflow
    assert set(redis_client.zrange("bingo:{low}:workflows", 0, -1)) == {workflow_id, second["id"]}
    first_step = second["task_ids"][0]
    assert first_step in redis_client.lrange("bingo:{low}:pending", 0, -1)
    msg = json.loads(redis_client.hget(f"bingo:{{low}}:t:{first_step}", "msg"))
    assert msg["payload"] == {"date": "monday", "limit": 10}
    assert msg["workflow"] == second["id"]
