"""``depends_on`` on a real Redis Cluster: a chain in a queue whose keys live on one
master and a fan-in on a queue of another (each dependency's set, the waiting zset and the
task hashes are in the queue's slot, so every script stays on one node); an archived
dependency archives its dependents; a dependency in another queue is refused in one line;
a queue deleted with waiting tasks leaves no dependents set behind."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.broker.keys import Keys
from bingo_core.client import Client
from bingo_core.testing import drain

from .redis_ha import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

KEYS = Keys("bingo")


def test_depends_on_on_a_cluster(
    cluster: Cluster, make_app: Callable[..., App], tmp_path: Path
) -> None:
    queues = {"default": 1, "low": 2}
    low, default = KEYS.queue("low"), KEYS.queue("default")
    assert cluster.owner(low.pending) != cluster.owner(default.pending)
    assert len({cluster.keyslot(k) for k in (low.waiting, low.dependents("x"), low.task("y"))}) == 1
    app = make_app({"cluster": {"nodes": cluster.nodes}}, **{"worker.queues": json.dumps(queues)})
    client = Client(app=app)
    out = tmp_path / "out.txt"

    def step(value: str) -> dict[str, str]:
        return {"path": str(out), "value": value}

    a = client.enqueue("test:record", step("a"), queue="low", retention=60)
    b = client.enqueue("test:record", step("b"), queue="low", depends_on=[a.id])
    c_id = client.enqueue_many([("test:record", step("c"), {"queue": "low", "depends_on": [b.id]})])
    parts = [client.enqueue("test:record", step(f"p{i}")).id for i in range(5)]
    last = client.enqueue("test:record", step("last"), depends_on=parts)
    broken = client.enqueue("test:skip", step("skip"))
    after = client.enqueue("test:record", step("never"), depends_on=[broken.id])
    with pytest.raises(bingo.DependencyError, match=f"no task '{a.id}' in queue 'default'"):
        client.enqueue("test:record", step("x"), depends_on=[a.id])
    assert {s.queue: s.waiting for s in app.inspector.stats()} == {"low": 2, "default": 2}

    asyncio.run(drain(app=app, timeout=30))
    lines = out.read_text().splitlines()
    assert lines.index("a") < lines.index("b") < lines.index("c")
    assert all(lines.index(f"p{i}") < lines.index("last") for i in range(5))
    assert "never" not in lines
    assert len(c_id) == 1
    info = app.inspector.find(after.id)
    assert info.state == "archived" and info.error == f"dependency {broken.id} was archived"
    assert {s.queue: s.waiting for s in app.inspector.stats()} == {"low": 0, "default": 0}
    assert last.state == "waiting"

    # queue_delete.lua: waiting tasks leave their dependencies' sets, which go.
    head = client.enqueue("test:record", step("h"), queue="low", process_in=3600)
    client.enqueue("test:record", step("w"), queue="low", depends_on=[head.id])
    node = cluster.client(int(cluster.owner(low.pending).rsplit(":", 1)[1]))
    assert node.exists(low.dependents(head.id))
    assert app.inspector.delete_queue("low", force=True) >= 2
    assert not node.exists(low.dependents(head.id)) and not node.exists(low.waiting)
    client.close()
