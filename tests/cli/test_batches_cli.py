"""Batch items on a real Redis with no worker: ``enqueue`` holds an item of a batched type,
``stats`` (text and ``--json``) lists the items waiting per type and key value, ``tasks
show`` of a batch task (cut at max_size) gives its item count."""

from __future__ import annotations

import json
from pathlib import Path

from daemon_helpers import cli

from bingo_core.app import App


def _item(i: int, group: str = "g1") -> dict[str, object]:
    return {"url": "redis://127.0.0.1:1/0", "key": "k", "group": group, "value": str(i)}


def test_enqueue_stats_and_show(cfg: Path, app: App) -> None:
    app.client.enqueue_many([("test:batch-record", _item(i)) for i in range(26)])
    out = cli(cfg, "enqueue", "test:batch-record", "--payload", json.dumps(_item(26, "g2")))
    assert out.returncode == 0 and out.stdout.strip()
    stats = json.loads(cli(cfg, "stats", "--json").stdout)
    held = sorted((b["type"], b["key"], b["items"]) for b in stats["batches"])
    assert held == [("test:batch-record", "g1", 1), ("test:batch-record", "g2", 1)]
    assert stats["queues"][0]["pending"] == 1  # the batch of the first 25
    text = cli(cfg, "stats").stdout
    assert "batch items waiting:" in text and "test:batch-record" in text
    (batch_id,) = app.broker.redis.lrange("bingo:{default}:pending", 0, -1)
    shown = cli(cfg, "tasks", "show", batch_id.decode()).stdout
    assert "batch_items   25" in shown
    payload = json.loads(cli(cfg, "tasks", "show", batch_id.decode(), "--json").stdout)
    assert payload["batch_items"] == 25
    assert [p["value"] for p in payload["payload"]] == [str(i) for i in range(25)]
    out = cli(cfg, "enqueue", "test:batch-record", "--payload", "{}", check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1


def test_plugins_shows_the_batch_rule(cfg: Path) -> None:
    text = cli(cfg, "plugins").stdout
    assert "batched by group: max_size=25 max_wait=2s grace=0.3s" in text
    data = json.loads(cli(cfg, "plugins", "--json").stdout)
    types = {t["name"]: t for p in data["plugins"] for t in p["task_types"]}
    assert types["test:batch-record"]["batch"] == {
        "key": "group",
        "max_size": 25,
        "max_wait": 2.0,
        "grace": 0.3,
    }
    assert types["test:record"]["batch"] is None
