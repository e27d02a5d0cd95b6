"""Batches on a real Redis Cluster: items of two queues whose keys live on different
masters are held per key value and cut into batch tasks (at max_size by the enqueue, after
grace by a worker's fetch), every key of a batch in its queue's slot; ``stats`` lists
what is held; a queue deleted with held items leaves no batch key behind."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from bingo_core.app import App
from bingo_core.broker.keys import Keys
from bingo_core.client import Client
from bingo_core.testing import drain

from .redis_ha import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

KEYS = Keys("bingo")


def test_batches_on_a_cluster(cluster: Cluster, make_app: Callable[..., App]) -> None:
    low, default = KEYS.queue("low"), KEYS.queue("default")
    assert cluster.owner(low.pending) != cluster.owner(default.pending)
    group_keys = (low.batches, low.batch_prefix + "i:t\x1fg", low.batch_prefix + "seq")
    assert len({cluster.keyslot(k) for k in (*group_keys, low.task("x"))}) == 1
    queues = {"default": 1, "low": 2}
    app = make_app({"cluster": {"nodes": cluster.nodes}}, **{"worker.queues": json.dumps(queues)})
    client = Client(app=app)
    record = "{rec}:batches"  # its ":starts" list in the same slot
    node = cluster.client(int(cluster.owner(record).rsplit(":", 1)[1]))
    url = f"redis://{cluster.owner(record)}/0"

    def item(i: int, queue: str) -> tuple[str, dict[str, object], dict[str, str]]:
        payload = {"url": url, "key": record, "group": f"g{i % 2}", "value": f"{queue}{i}"}
        return ("test:batch-record", payload, {"queue": queue})

    client.enqueue_many([item(i, q) for q in queues for i in range(60)])
    held = {(b.queue, b.key): b.items for b in app.inspector.batches()}
    assert held == {(q, g): 5 for q in queues for g in ("g0", "g1")}  # 2 x 25 cut at once
    asyncio.run(drain(app=app, timeout=30))
    values = [r.split(" ", 1)[1] for r in node.lrange(record, 0, -1)]
    assert sorted(values) == sorted(f"{q}{i}" for q in queues for i in range(60))
    assert app.inspector.batches() == []

    client.enqueue("test:batch-record", item(1, "low")[1], queue="low")
    owner = cluster.client(int(cluster.owner(low.pending).rsplit(":", 1)[1]))
    assert owner.zcard(low.batches) == 1
    assert app.inspector.delete_queue("low", force=True) == 1
    assert not owner.exists(low.batches, low.batch_prefix + "i:test:batch-record\x1fg1")
    client.close()
