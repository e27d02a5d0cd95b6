"""Problems found from real states, through real daemons: a queue failing every attempt, a
queue no worker serves, a backlog, a skipped sys_crontab row, missed ticks, a server killed
mid-task (its heartbeat left behind, its task stuck) and no scheduler leader; each shown by
``GET /queue/api/problems``, ``bingo-scheduler problems`` and ``bingo_problems`` in
/metrics, and none once the system is healthy again."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import Daemon, cli, wait_until

from bingo_core.app import App
from bingo_core.problems import PROBLEM_KINDS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]

ADMIN_KEY = "problems-admin-key-0123456789"
READ_KEY = "problems-read-key-0123456789"
INSERT = "INSERT INTO sys_crontab (name, type, spec, payload, status) VALUES (?, ?, ?, ?, ?)"


@pytest.fixture
def setup(config: Callable[..., Path], tmp_path: Path) -> Callable[..., Path]:
    """A config for daemons that run workers (``default``, ``failing``) and the scheduler
    (an every-second entry), with low problem thresholds."""

    def make(**extra: Any) -> Path:
        out = tmp_path / "tick.out"
        return config(
            server={"timezone": "UTC", "key": ADMIN_KEY},
            worker={"queues": {"default": 1, "failing": 1}},
            scheduler={
                "enabled": True,
                "leaderLease": "1s",
                "syncInterval": "1s",
                "misfireGrace": "1s",
            },
            schedules=[
                {
                    "name": "tick",
                    "spec": "* * * * * *",
                    "type": "test:record",
                    "payload": {"path": str(out), "value": "tick"},
                }
            ],
            dashboard={
                "readOnlyKey": READ_KEY,
                "problems": {"minAttempts": 3, "backlog": "1s", **extra},
            },
        )

    return make


@pytest.fixture
def app_of() -> Iterator[Callable[[Path], App]]:
    apps: list[App] = []

    def make(cfg: Path) -> App:
        apps.append(App(config=str(cfg)))
        return apps[-1]

    yield make
    for app in apps:
        app.close()


def api_problems(app: App) -> list[dict[str, Any]]:
    """The problems as ``GET /queue/api/problems`` answers the read-only key."""
    from starlette.testclient import TestClient

    from bingo_core.dashboard import create_app

    web = create_app(app)
    try:
        client = TestClient(web, headers={"Authorization": f"Bearer {READ_KEY}"})
        answer = client.get("/queue/api/problems")
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        doc = client.get("/queue/api/openapi.json").json()
        schema = doc["paths"]["/queue/api/problems"]["get"]["responses"]["200"]["content"]
        item = schema["application/json"]["schema"]["items"]
        assert item["required"] == ["kind", "severity", "subject", "message", "since"]
        return found
    finally:
        web.state.dash.close()


def metric_problems(app: App) -> dict[str, float]:
    """``bingo_problems{kind}`` as /metrics shows it (no key needed)."""
    from starlette.testclient import TestClient

    from bingo_core.dashboard import create_app

    web = create_app(app)
    try:
        text = TestClient(web).get("/metrics").text
    finally:
        web.state.dash.close()
    out = {}
    for line in text.splitlines():
        if line.startswith("bingo_problems{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('"')[1]] = float(value)
    return out


def kinds(found: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Kind -> the subjects it names."""
    out: dict[str, set[str]] = {}
    for p in found:
        out.setdefault(p["kind"], set()).add(p["subject"])
    return out


def cli_problems(cfg: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """``problems --json`` and ``problems`` (both exit 0)."""
    as_json = cli(cfg, "problems", "--json")
    plain = cli(cfg, "problems")
    return json.loads(as_json.stdout), plain.stdout.splitlines()


def test_failing_unserved_backlogged_queues_and_a_bad_row_then_healthy(
    setup: Callable[..., Path],
    daemons: Callable[..., Daemon],
    app_of: Callable[[Path], App],
    tmp_path: Path,
) -> None:
    cfg = setup()
    d = daemons(cfg, "--no-dashboard")
    d.wait_for("created table sys_crontab")
    app = app_of(cfg)
    db = sqlite3.connect(tmp_path / "bingo.db", timeout=10)
    with db:
        db.execute(INSERT, ("bad spec", "test:record", "61 * * * *", "{}", 1))
    d.signal(signal.SIGUSR1)
    for i in range(4):
        app.client.enqueue(
            "test:fail",
            {"path": str(tmp_path / f"fail{i}.out"), "value": "x", "fail_times": 99},
            queue="failing",
            max_retry=0,
        )
    for _ in range(2):
        app.client.enqueue(
            "test:record", {"path": str(tmp_path / "o.out"), "value": "o"}, queue="orphan"
        )
    wait_until(
        lambda: app.inspector.stats(["failing"])[0].failed_today == 4, 15, "4 failed attempts"
    )
    wait_until(lambda: "sys_crontab" in kinds(api_problems(app)).get("sync", set()), 10, "sync")
    wait_until(lambda: app.inspector.stats(["orphan"])[0].latency > 1.2, 5, "a backlog")

    found = api_problems(app)
    by_kind = kinds(found)
    assert by_kind["error_rate"] == {"failing"}
    assert by_kind["unserved_queue"] == {"orphan"}
    assert by_kind["backlog"] == {"orphan"}
    assert by_kind["sync"] == {"sys_crontab"}
    assert not {"dead_server", "stuck_task", "leaderless"} & set(by_kind)
    rate = next(p for p in found if p["kind"] == "error_rate")
    assert rate["severity"] == "critical" and "4 of 4 attempts failed today" in rate["message"]
    row = next(p for p in found if p["kind"] == "sync")
    assert "row 1" in row["message"] and "61" in row["message"]
    unserved = next(p for p in found if p["kind"] == "unserved_queue")
    assert unserved["since"] is not None and unserved["since"] < time.time() - 1
    assert [p["severity"] for p in found] == sorted(
        (p["severity"] for p in found), key=("critical", "warning").index
    )

    as_json, lines = cli_problems(cfg)
    assert kinds(as_json) == by_kind
    assert len(lines) == len(found)
    assert any(x.startswith("CRITICAL") and "error_rate" in x and "failing:" in x for x in lines)
    assert any("unserved_queue" in x and "orphan:" in x and "since 20" in x for x in lines)

    gauges = metric_problems(app)
    assert set(gauges) == set(PROBLEM_KINDS)
    assert gauges["error_rate"] == 1 and gauges["unserved_queue"] == 1
    assert gauges["backlog"] == 1 and gauges["sync"] == 1
    assert gauges["leaderless"] == 0 and gauges["dead_server"] == 0

    # Made healthy: the failing and orphan queues gone, the bad row deleted.
    cli(cfg, "queues", "delete", "failing", "--force")
    cli(cfg, "queues", "delete", "orphan", "--force")
    with db:
        db.execute("DELETE FROM sys_crontab WHERE id = 1")
    db.close()
    d.signal(signal.SIGUSR1)
    wait_until(lambda: api_problems(app) == [], 10, f"no problems: {api_problems(app)}")
    as_json, lines = cli_problems(cfg)
    assert as_json == [] and lines == ["no problems"]
    assert set(metric_problems(app).values()) == {0.0}
    assert d.stop() == 0


def test_missed_ticks_a_killed_server_its_stuck_task_and_no_leader(
    setup: Callable[..., Path],
    daemons: Callable[..., Daemon],
    app_of: Callable[[Path], App],
    tmp_path: Path,
) -> None:
    cfg = setup()
    app = app_of(cfg)
    first = daemons(cfg, "--no-dashboard")
    first.wait_for("scheduler leader:")
    wait_until(lambda: (tmp_path / "tick.out").exists(), 10, "a first tick")
    assert first.stop() == 0  # a clean stop: no dead server, the cursor kept
    time.sleep(3.5)  # ticks pass with no daemon: over the 1 s grace, they are missed
    second = daemons(cfg, "--no-dashboard")
    wait_until(
        lambda: any(s.missed for s in app.inspector.entry_states()), 10, "missed ticks counted"
    )
    task = app.client.enqueue(
        "test:sleep",
        {"path": str(tmp_path / "sleep.out"), "value": "z", "seconds": 30},
        timeout=3,
    )
    wait_until(lambda: app.inspector.find(task.id).state == "active", 10, "the task runs")
    second.signal(signal.SIGKILL)
    second.proc.wait(10)
    # Dead: heartbeat (2 s) gone; stuck: 3 s timeout + 2 s lease after it started.
    wait_until(lambda: "stuck_task" in kinds(api_problems(app)), 12, "a stuck task")

    found = api_problems(app)
    by_kind = kinds(found)
    assert by_kind["leaderless"] == {"scheduler"}
    assert by_kind["missed_ticks"] == {"config|tick"}
    assert by_kind["stuck_task"] == {task.id}
    (dead,) = [p for p in found if p["kind"] == "dead_server"]
    # A server id is host:pid:nonce.
    assert f":{second.proc.pid}:" in dead["subject"] and dead["since"] is not None
    assert f":{first.proc.pid}:" not in json.dumps(found)  # stopped cleanly: not dead
    missed = next(p for p in found if p["kind"] == "missed_ticks")
    assert missed["since"] is not None and missed["since"] < time.time() - 2
    stuck = next(p for p in found if p["kind"] == "stuck_task")
    assert "test:sleep" in stuck["message"] and "default" in stuck["message"]

    as_json, lines = cli_problems(cfg)
    assert set(kinds(as_json)) >= {"leaderless", "missed_ticks", "stuck_task", "dead_server"}
    assert any(x.startswith("CRITICAL") and "leaderless" in x for x in lines)
    assert any("missed_ticks" in x and "config|tick" in x for x in lines)

    gauges = metric_problems(app)
    for kind in ("leaderless", "missed_ticks", "stuck_task", "dead_server"):
        assert gauges[kind] == 1, (kind, gauges)
    assert gauges["error_rate"] == 0
