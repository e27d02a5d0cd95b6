"""``min-replicas-to-write``: a master that refuses writes while no replica is in sync
(what narrows the window a failover can lose, see the README's "High availability") is
reported like an outage, in one line, and takes writes again once a replica catches up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bingo_core.app import App
from bingo_core.broker import CONNECTION_ERRORS
from bingo_core.broker.connection import NoReplicasError
from bingo_core.client import Client
from bingo_core.errors import ServiceUnavailable

from .redis_ha import HOST, Servers, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def test_master_without_in_sync_replicas(tmp_path: Path, make_app: Callable[..., App]) -> None:
    servers = Servers(tmp_path)
    try:
        master = servers.start("--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
        app = make_app({"host": f"{HOST}:{master}"})
        client = Client(app=app)
        payload = {"path": str(tmp_path / "out.txt"), "value": "1"}
        with pytest.raises(ServiceUnavailable) as caught:
            client.enqueue("test:record", payload)
        text = str(caught.value)
        assert text == (
            f"Redis at {HOST}:{master} is not reachable: Not enough good replicas to write "
            "(the master takes writes again once its replicas catch up (min-replicas-to-write))"
        )

        async def fetch() -> None:
            broker = app.async_broker()
            try:
                await broker.fetch("default", 1, 0.0, "w")
            finally:
                await app.aclose()

        with pytest.raises(CONNECTION_ERRORS) as refused:  # the daemon's loops retry
            asyncio.run(fetch())
        assert isinstance(refused.value, NoReplicasError)

        replica = servers.start("--replicaof", HOST, str(master))
        wait_until(
            "replica in sync",
            lambda: servers.client(replica).info("replication")["master_link_status"] == "up",
            10,
        )
        # The master counts a replica as good only after its first REPLCONF ACK (sent once
        # a second), which can come after the replica reports its link up.
        wait_until(
            "the master counts the replica",
            lambda: (
                int(servers.client(master).info("replication").get("min_slaves_good_slaves", 0))
                >= 1
            ),
            10,
        )
        info = client.enqueue("test:record", payload)
        key = f"bingo:{{default}}:t:{info.id}"
        # The master answered once a replica was counted; the copy reaches it just after.
        wait_until("the task on the replica", lambda: servers.client(replica).exists(key), 10)
        assert json.loads(servers.client(replica).hget(key, "msg"))
        client.broker.close()  # the app closed its own broker in fetch(); the client kept it
    finally:
        servers.close()
