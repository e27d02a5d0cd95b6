"""A time without an offset is read in ``server.timezone``: ``enqueue --process-at`` and
``--deadline`` (the console script) and ``Client.enqueue(process_at=...)``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bingo_core import Client
from bingo_core.config import load_settings

CLI = Path(sys.executable).with_name("bingo-scheduler")
ZONE = "Asia/Shanghai"
#: 2030-01-01 00:00 in Shanghai (UTC+8).
AT = datetime(2030, 1, 1, tzinfo=ZoneInfo(ZONE)).timestamp()


def _config(tmp_path: Path, redis_url: str) -> Path:
    config = tmp_path / "bingo.yaml"
    config.write_text(f'server: {{timezone: "{ZONE}"}}\nredis: {{url: "{redis_url}"}}\n')
    return config


def _stored(redis_client: Any, task_id: str) -> dict[str, Any]:
    return dict(json.loads(redis_client.hget(f"bingo:{{default}}:t:{task_id}", "msg")))


def test_the_cli_reads_a_naive_time_in_the_server_zone(
    tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    config = _config(tmp_path, redis_url)
    env = {**os.environ, "TZ": "America/New_York"}  # the machine's zone is not the server's
    run = subprocess.run(
        [str(CLI), "-c", str(config), "enqueue", "task:daily-stats",
         "--process-at", "2030-01-01T00:00:00", "--deadline", "2030-01-01T06:00:00", "--json"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run
    task_id = json.loads(run.stdout)["id"]
    assert redis_client.zscore("bingo:{default}:scheduled", task_id) == AT
    assert _stored(redis_client, task_id)["deadline"] == AT + 6 * 3600


def test_the_client_reads_a_naive_time_in_the_server_zone(
    tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    settings = load_settings(_config(tmp_path, redis_url))
    with Client(settings) as client:
        naive = client.enqueue("task:daily-stats", process_at="2030-01-01T00:00:00")
        given = client.enqueue("task:daily-stats", process_at="2030-01-01T00:00:00+00:00")
        moment = client.enqueue("task:daily-stats", process_at=datetime(2030, 1, 1))
    assert redis_client.zscore("bingo:{default}:scheduled", naive.id) == AT
    assert redis_client.zscore("bingo:{default}:scheduled", moment.id) == AT
    assert redis_client.zscore("bingo:{default}:scheduled", given.id) == AT + 8 * 3600


def test_a_schedule_entry_reads_a_naive_deadline_in_its_zone(
    tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    config = _config(tmp_path, redis_url)
    with config.open("a") as fh:
        fh.write(
            "schedules:\n"
            '  - {name: here, spec: "@daily", type: task:daily-stats, '
            'deadline: "2030-01-01T06:00:00"}\n'
            '  - {name: there, spec: "@daily", type: task:daily-stats, timezone: UTC, '
            'deadline: "2030-01-01T06:00:00"}\n'
        )
    ids = []
    for entry in ("config|here", "config|there"):
        run = subprocess.run(
            [str(CLI), "-c", str(config), "cron", "run", entry],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, run
        ids.append(run.stdout.strip())
    assert [_stored(redis_client, i)["deadline"] for i in ids] == [
        AT + 6 * 3600,
        AT + 14 * 3600,
    ]
