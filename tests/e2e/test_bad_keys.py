"""Keys of the wrong type and garbage planted into a running daemon's Redis: the daemon
stays up, keeps running good tasks and firing its schedule, reports each bad key once by
name, and loses nothing it could keep."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli, wait_lines, wait_until

pytestmark = pytest.mark.slow

ENTRY = "config|every-second"


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def enqueue(cfg: Path, path: Path, value: str, *opts: str) -> str:
    payload = json.dumps({"path": str(path), "value": value})
    return cli(cfg, "enqueue", "test:record", "--payload", payload, *opts).stdout.strip()


def test_bad_keys_never_stop_the_daemon(
    config: Any, daemons: Any, tmp_path: Path, redis_client: Any
) -> None:
    tick = tmp_path / "tick.out"
    out = tmp_path / "out.txt"
    cfg = config(
        worker={"queues": {"default": 4, "jam": 1, "stuck": 1}},
        scheduler={"enabled": True, "leaderLease": "2s", "syncInterval": "1s"},
        schedules=[
            {
                "name": "every-second",
                "spec": "@every 1s",
                "type": "test:record",
                "payload": {"path": str(tick), "value": "tick"},
            }
        ],
    )
    d = daemons(cfg)
    wait_lines(tick, 1, timeout=10)
    enqueue(cfg, out, "before")
    assert wait_lines(out, 1) == ["before"]

    r = redis_client
    # A task key holding a string, its id pending.
    r.set("bingo:{default}:t:X", "not a hash")
    # A pending id with no task record at all.
    r.lpush("bingo:{default}:pending", "X", "GHOST")
    # A task whose message is not JSON.
    r.hset("bingo:{default}:t:G", mapping={"msg": "{garbage", "state": "pending"})
    r.lpush("bingo:{default}:pending", "G")
    # A queue whose pending list is a string, another whose lease zset is a list.
    r.set("bingo:{jam}:pending", "not a list")
    r.rpush("bingo:{stuck}:lease", "not a zset")
    # Every scheduler key of the wrong type: leader, epoch, entries, cursors, the
    # entry's hash and history, the sync status.
    s = "bingo:{scheduler}:"
    r.delete(f"{s}leader")
    r.rpush(f"{s}leader", "not a string")
    r.set(f"{s}epoch", "not a number")
    r.delete(f"{s}entries", f"{s}cursors", f"{s}entry:{ENTRY}", f"{s}history:{ENTRY}")
    r.set(f"{s}entries", "not a set")
    r.set(f"{s}cursors", "not a hash")
    r.set(f"{s}entry:{ENTRY}", "not a hash")
    r.set(f"{s}history:{ENTRY}", "not a list")
    r.delete(f"{s}sync")
    r.hset(f"{s}sync", "not", "json")

    # Good work goes on: a task, and the schedule keeps firing.
    ticks = lines(tick)
    enqueue(cfg, out, "after")
    assert wait_lines(out, 2) == ["before", "after"]
    wait_until(lambda: lines(tick) >= ticks + 3, 15, "three more ticks of @every 1s")
    assert d.proc.poll() is None, d.log

    # Each bad thing is reported once, naming it.
    wait_until(lambda: d.count("queue stuck: recovering expired leases failed") == 1, 10, d.log)
    assert d.count("task X archived without running: malformed: key bingo:{default}:t:X") == 1
    assert d.count("had no task record and were dropped from the queue: GHOST") == 1
    assert d.count("task G (?) archived: malformed task: message is not valid JSON") == 1
    assert d.count("bingo:{default}:t:G") == 1
    # (the fetch loop and the recoverer each say it once)
    jam = "WRONGTYPE key bingo:{jam}:pending holds a string, expected a list"
    stuck = "WRONGTYPE key bingo:{stuck}:lease holds a list, expected a zset"
    assert d.count("queue jam: fetch failed") == 1 and d.count(jam) == 2, d.log
    assert d.count("queue stuck: fetch failed") == 1 and d.count(stuck) == 2, d.log
    assert d.count(f"{s}leader (a list, expected a string)") == 1
    assert d.count(f"{s}epoch (a string, expected an integer)") == 1
    for name in ("entries", "cursors", f"entry:{ENTRY}", f"history:{ENTRY}"):
        wait_until(lambda n=name: r.exists(f"{s}malformed:{n}"), 5, f"{name} renamed aside")
    assert "Traceback" not in d.log

    # Nothing that could be kept was lost: the values are kept beside, the ids archived.
    assert r.get("bingo:{default}:malformed:X") == "not a hash"
    assert r.lrange(f"{s}malformed:leader", 0, -1) == ["not a string"]
    assert r.get(f"{s}malformed:epoch") == "not a number"
    archived = json.loads(cli(cfg, "tasks", "list", "--state", "archived", "--json").stdout)
    by_id = {t["id"]: t for t in archived}
    assert "bingo:{default}:malformed:X" in by_id["X"]["error"]
    assert "not valid JSON" in by_id["G"]["error"]
    # A queue's own list is never rewritten: it waits, untouched, for its owner.
    assert r.get("bingo:{jam}:pending") == "not a list"

    # The broken queue works again once its key is fixed; it says so once.
    r.delete("bingo:{jam}:pending")
    enqueue(cfg, out, "jam", "--queue", "jam")
    assert wait_lines(out, 3, timeout=15)[-1] == "jam"
    assert d.count("queue jam: fetching again") == 1
    assert d.count("recovered after") >= 1  # the scheduler's loop that met the bad keys
    assert d.count("fencing epoch key held the wrong type and was renamed aside") == 1, d.log
    assert d.count("another daemon") == 0

    d.signal(signal.SIGTERM)
    assert d.proc.wait(20) == 0
