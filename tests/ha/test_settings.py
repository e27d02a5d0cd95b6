"""``redis.sentinel`` / ``redis.cluster`` settings, the clients they build and the one-line
errors of an outage (no server needed; the CLI timings use ports nothing listens on)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis.exceptions as rexc
from daemon_helpers import BIN

from bingo_core.broker import connection, reach
from bingo_core.broker.connection import NoMaster, short_reason, unavailable
from bingo_core.config import load_settings
from bingo_core.config.settings import RedisSettings
from bingo_core.errors import ConfigError
from bingo_core.testing import free_port

SENTINELS = ["10.0.0.11:26379", "10.0.0.12:26379", "10.0.0.13:26379"]


def redis_settings(**overrides: str) -> RedisSettings:
    flat = {f"redis.{k}": v for k, v in overrides.items()}
    return load_settings(None, env={}, overrides=flat).redis


def test_cluster_true_keeps_redis_host() -> None:
    cfg = redis_settings(cluster="true", host="10.0.0.5:7000")
    assert (cfg.mode, cfg.cluster_nodes, cfg.address) == (
        "cluster",
        ["10.0.0.5:7000"],
        "cluster 10.0.0.5:7000",
    )
    env = load_settings(None, env={"BINGO_REDIS__CLUSTER": "true"}).redis
    assert env.mode == "cluster"
    assert redis_settings(cluster="false").mode == "standalone"


def test_cluster_nodes() -> None:
    cfg = redis_settings(cluster="{nodes: [10.0.0.5:7000, 10.0.0.6]}")
    assert cfg.cluster_nodes == ["10.0.0.5:7000", "10.0.0.6:6379"]
    assert redis_settings(**{"cluster.nodes": "[a:1, b:2]"}).cluster_nodes == ["a:1", "b:2"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"cluster": "{nodes: [a:1, 'b:x']}"},
            "config key redis.cluster.nodes[1]: 'b:x' is not valid: expected host:port",
        ),
        (
            {"cluster": "true", "database": "2"},
            "config key redis.database: 2 is not valid: expected database 0: Redis Cluster",
        ),
        (
            {"cluster": "true", "sentinel": "{masterName: m, hosts: [a]}"},
            "expected either redis.sentinel or redis.cluster, not both",
        ),
    ],
)
def test_bad_cluster_settings(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        redis_settings(**overrides)
    assert message in str(caught.value)


def sentinel_settings() -> RedisSettings:
    return redis_settings(sentinel=f"{{masterName: mymaster, hosts: [{', '.join(SENTINELS)}]}}")


def test_sentinel_outage_is_one_short_line() -> None:
    cfg = sentinel_settings()
    refused = rexc.ConnectionError("Error 111 connecting to 10.0.0.11:26379. Connection refused.")
    nobody = connection._no_master("mymaster", 0, 3, [refused] * 3)
    text = str(unavailable(cfg, nobody))
    assert text == (
        "Redis at mymaster via sentinel 10.0.0.11:26379,10.0.0.12:26379,10.0.0.13:26379 is not "
        "reachable: no sentinel answered (Connection refused) (start the "
        "sentinels or fix redis.sentinel.hosts)"
    )
    assert len(text) < 200 and "\n" not in text
    failing_over = str(unavailable(cfg, connection._no_master("mymaster", 3, 3, [])))
    assert "is not reachable: 3/3 sentinels name no healthy master (a failover" in failing_over
    assert "failover" in failing_over and len(failing_over) < 200
    # The master the sentinels still name refuses connections (before the failover).
    old = rexc.ConnectionError(
        "Error 111 connecting to 10.0.0.21:6379. Connect call failed ('10.0.0.21', 6379)."
    )
    line = str(unavailable(cfg, old))
    assert "Connection refused (10.0.0.21:6379)" in line and "a failover follows" in line
    assert len(line) < 200


def test_sentinel_lookup_error_is_short() -> None:
    """redis-py's own message joins every sentinel's error repr (~1,000 characters)."""
    ports = [free_port() for _ in range(3)]
    cfg = redis_settings(
        sentinel=f"{{masterName: m, hosts: [{', '.join(f'127.0.0.1:{p}' for p in ports)}]}}"
    )
    client = connection.make_sync(cfg)
    with pytest.raises(NoMaster) as caught:
        client.ping()
    assert str(caught.value) == "no sentinel answered (Connection refused)"
    client.close()


def test_short_reason() -> None:
    assert (
        short_reason(
            rexc.ConnectionError("Error -2 connecting to nohost:6379. Name or service not known.")
        )
        == "Name or service not known (nohost:6379)"
    )
    assert short_reason(
        rexc.InvalidResponse('Protocol error, got "H" as reply type byte')
    ).startswith("not a Redis server")
    assert len(short_reason(rexc.ResponseError("x" * 500))) <= reach.REASON_CHARS


def test_sync_client_tries_once_with_a_short_connect_timeout() -> None:
    cfg = redis_settings(host=f"127.0.0.1:{free_port()}")
    assert cfg.connect_timeout == 0.5
    client = connection.make_sync(cfg)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] == 0.5
    started = time.monotonic()
    with pytest.raises(rexc.ConnectionError):
        client.ping()
    assert time.monotonic() - started < 0.2  # refused: no retries, no backoff
    client.close()


def _full_backlog() -> tuple[socket.socket, list[socket.socket], int]:
    """A port whose accept queue is full: a connect there never completes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    held = []
    for _ in range(4):
        sock = socket.socket()
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        held.append(sock)
    time.sleep(0.1)
    return server, held, port


@pytest.mark.slow
def test_cli_reports_an_unreachable_redis_within_a_second(tmp_path: Path) -> None:
    refused = tmp_path / "refused.yaml"
    refused.write_text(f"redis:\n  host: 127.0.0.1:{free_port()}\n")
    server, held, port = _full_backlog()
    silent = tmp_path / "silent.yaml"
    silent.write_text(f"redis:\n  host: 127.0.0.1:{port}\n")
    try:
        for config, reason in ((refused, "Connection refused"), (silent, "no answer within 0.5s")):
            started = time.monotonic()
            proc = subprocess.run(
                [BIN, "-c", str(config), "stats"], capture_output=True, text=True, timeout=30
            )
            took = time.monotonic() - started
            assert proc.returncode == 1 and reason in proc.stderr, proc.stderr
            assert proc.stderr.count("\n") == 1
            assert took < 1.0 + 0.5, took  # the interpreter's start-up is the rest
    finally:
        for sock in (server, *held):
            sock.close()
