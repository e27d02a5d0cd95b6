"""Queues of ``asynq.queues`` as the inspector, the CLI and the dashboard show them:
marked as Asynq's, counted from Asynq's keys, their tasks decoded (Go-written bytes)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from asynq_golden import dumps, restore
from daemon_helpers import cli, write_config

from bingo_core.app import App
from bingo_core.errors import UsageError


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def app(bingo_settings_factory: Any) -> Iterator[App]:
    settings = bingo_settings_factory(
        asynq={"queues": {"default": 2, "quiet": 1}},
        worker={"queues": {"bingo": 1}},
        server={"timezone": "Pacific/Pago_Pago"},
    )
    a = App(settings)
    yield a
    a.close()


def _go_tasks(r: redis.Redis) -> None:
    """Tasks the Go client wrote: one with options, one scheduled, one archived."""
    restore(r, dumps("enqueue_options")[-1]["keys"])
    restore(r, dumps("enqueue_process_in")[-1]["keys"])
    restore(r, dumps("serve_skipretry_archive")[-1]["keys"])
    restore(r, dumps("enqueue_headers")[-1]["keys"])


def test_stats_count_asynq_s_keys_and_mark_the_queue(app: App, r: redis.Redis) -> None:
    _go_tasks(r)
    stats = {s.queue: s for s in app.inspector.stats()}
    assert set(stats) == {"default", "quiet"}  # the configured ones (no Bingo queue used)
    row = stats["default"]
    assert row.layout == "asynq" and stats["quiet"].layout == "asynq"
    assert (row.pending, row.scheduled, row.archived) == (2, 1, 1)
    assert (row.processed, row.failed) == (1, 1)
    assert row.latency > 0  # from pending_since of the head
    # today's counters are the keys of today's UTC date (as Asynq's Inspector reads them),
    # whatever server.timezone is (here UTC-11)
    utc_day = time.strftime("%Y-%m-%d", time.gmtime())
    r.set(f"asynq:{{default}}:processed:{utc_day}", 7)
    r.set(f"asynq:{{default}}:failed:{utc_day}", 3)
    row = app.inspector.stats(["default"])[0]
    assert (row.processed_today, row.failed_today) == (7, 3)
    assert row.to_json()["layout"] == "asynq"


def test_tasks_are_decoded(app: App, r: redis.Redis) -> None:
    _go_tasks(r)
    pending = {t.id: t for t in app.inspector.tasks("default", "pending")}
    opt = pending["opt-1"]
    assert opt.payload == {"day": "2026-12-07"} and opt.type == "report:build"
    assert (opt.max_retry, opt.timeout, opt.retention) == (3, 90.0, 3600.0)
    assert opt.deadline == 1796623839 and opt.enqueued_at
    assert pending["hdr-1"].headers == {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tenant": "acme",
    }
    (archived,) = app.inspector.tasks("default", "archived")
    assert archived.state == "archived" and archived.error.startswith("skip retry for the task")
    assert app.inspector.tasks("default", "scheduled")[0].id == "sched-1"


def test_a_message_that_does_not_decode_is_shown(app: App, r: redis.Redis) -> None:
    r.hset("asynq:{default}:t:bad", mapping={"msg": b"\xff", "state": "archived"})
    r.zadd("asynq:{default}:archived", {"bad": 1})
    r.hset("asynq:{default}:t:none", mapping={"state": "archived"})
    r.zadd("asynq:{default}:archived", {"none": 2})
    bad, none = app.inspector.tasks("default", "archived")
    assert bad.error.startswith("malformed: not an Asynq task message")
    assert none.error == "malformed: the task hash has no msg"


def test_pause_and_resume_as_asynq_s_inspector(app: App, r: redis.Redis) -> None:
    app.inspector.pause("default")
    paused = int(r.get("asynq:{default}:paused") or 0)
    assert abs(paused - time.time()) < 2
    assert not r.exists("bingo:{default}:paused")
    app.inspector.pause("default")  # SET NX: the first pause time stays
    assert int(r.get("asynq:{default}:paused") or 0) == paused
    assert app.inspector.stats(["default"])[0].paused
    app.inspector.resume("default")
    assert not r.exists("asynq:{default}:paused")


def test_bingo_s_task_actions_are_refused_in_one_line(app: App, r: redis.Redis) -> None:
    _go_tasks(r)
    for call in (
        lambda: app.inspector.act("delete", "opt-1", "default"),
        lambda: app.inspector.delete_queue("default", force=True),
        lambda: app.inspector.act_many("retry", "default", ["opt-1"]),
    ):
        with pytest.raises(UsageError) as info:
            call()
        assert "queue 'default' is in asynq.queues" in str(info.value)
        assert "\n" not in str(info.value)
    assert r.exists("asynq:{default}:t:opt-1")


def test_cli_queues_stats_and_check(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    _go_tasks(r)
    config = write_config(
        tmp_path / "c.yaml",
        redis_url,
        asynq={"queues": {"default": 2, "quiet": 1}},
        worker={"queues": {"bingo": 1}},
    )
    out = cli(config, "queues", "list").stdout
    assert "default (asynq)" in out and "quiet (asynq)" in out
    rows = json.loads(cli(config, "queues", "list", "--json").stdout)
    assert {row["queue"]: row["layout"] for row in rows} == {"default": "asynq", "quiet": "asynq"}
    assert "default (asynq)" in cli(config, "stats").stdout
    check = cli(config, "check", "--json", check=False)
    report = json.loads(check.stdout)
    assert report["summary"]["asynq_queues"]["default"] == {
        "weight": 2,
        "size": 4,
        "paused": False,
    }
    assert any(
        "queue 'quiet' of asynq.queues is not in asynq:queues yet" in p["message"]
        for p in report["problems"]
    )


def test_failures_and_existing_tasks_of_asynq_queues(app: App, r: redis.Redis) -> None:
    _go_tasks(r)
    page = app.inspector.failures(["default"])
    assert [f.id for f in page.failures] == ["skip-1"]
    assert app.inspector.existing([("default", "opt-1"), ("default", "gone")]) == {
        ("default", "opt-1")
    }
