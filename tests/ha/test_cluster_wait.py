"""``Client.wait`` on a real Redis Cluster: tasks of two queues whose keys live on
different masters, waited for before they end (by threads that name no queue, so the
queue is found across nodes, and by ``AsyncClient.wait``); a completed one returns, an
archived one raises ``TaskFailed``, each waiter blocked on its queue's node."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.broker.keys import Keys
from bingo_core.client import AsyncClient, Client
from bingo_core.testing import drain

from .redis_ha import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

KEYS = Keys("bingo")


def test_wait_on_a_cluster(cluster: Cluster, make_app: Callable[..., App], tmp_path: Path) -> None:
    queues = {"default": 1, "low": 2}
    assert cluster.owner(KEYS.queue("default").pending) != cluster.owner(KEYS.queue("low").pending)
    app = make_app({"cluster": {"nodes": cluster.nodes}}, **{"worker.queues": json.dumps(queues)})
    client = Client(app=app)
    out = tmp_path / "out.txt"
    payload = {"path": str(out), "value": "v"}
    done = client.enqueue("test:record", payload, queue="low", retention=60)
    failed = client.enqueue("test:skip", payload, queue="default")
    answers: dict[str, Any] = {}

    def wait(task_id: str) -> None:
        try:
            answers[task_id] = ("ok", client.wait(task_id, timeout=30))
        except bingo.TaskFailed as exc:
            answers[task_id] = ("failed", str(exc))

    threads = [threading.Thread(target=wait, args=(t.id,)) for t in (done, failed)]
    for t in threads:
        t.start()

    def counted(queue: str, task_id: str) -> int:
        key = KEYS.queue(queue).task(task_id)
        port = int(cluster.owner(key).rsplit(":", 1)[1])
        return int(cluster.client(port).hget(key, "waiters") or 0)

    end = time.monotonic() + 10
    while counted("low", done.id) < 1 or counted("default", failed.id) < 1:
        assert time.monotonic() < end
        time.sleep(0.02)

    async def main() -> Any:
        aclient = AsyncClient(app=app)
        try:
            waiting = asyncio.create_task(aclient.wait(done.id, timeout=30, queue="low"))
            await drain(app=app, timeout=30)
            return await waiting
        finally:
            await aclient.aclose()

    assert asyncio.run(main()) is None  # test:record returns nothing
    for t in threads:
        t.join(30)
    assert answers[done.id] == ("ok", None)
    kind, text = answers[failed.id]
    assert kind == "failed" and failed.id in text and "(queue default)" in text
    client.close()
