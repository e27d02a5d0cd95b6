"""Real Redis topologies for the high-availability tests, each in its own temporary folder
on free ports of 127.0.0.1, bounded in time and killed at the end:

- :class:`Cluster`: ``redis-server --cluster-enabled yes`` masters joined by
  ``redis-cli --cluster create ... --cluster-replicas 0``;
- :class:`SentinelGroup`: a master, a replica and three ``redis-sentinel`` processes;
- :class:`Servers`: plain ``redis-server`` processes with any options (replicas too).

A missing binary is a failure, never a skip.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

HOST = "127.0.0.1"
MASTER_NAME = "mymaster"


def _exe(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install redis-server redis-sentinel)")
    return path


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, bus: bool = False) -> list[int]:
    """``count`` distinct free ports below the ephemeral range (a cluster node also needs
    ``port + 10000`` free for its bus)."""
    found: list[int] = []
    while len(found) < count:
        port = random.randint(20000, 30000)
        if port in found or (bus and port + 10000 in found):
            continue
        if _bindable(port) and (not bus or _bindable(port + 10000)):
            found.append(port)
    return found


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout}s")
        time.sleep(0.05)


class _Processes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._clients: dict[int, redis.Redis] = {}

    def _spawn(self, port: int, args: list[str]) -> None:
        log = (self.root / f"{port}.log").open("wb")
        self.procs[port] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def _server_args(self, port: int, *extra: str) -> list[str]:
        folder = self.root / str(port)
        folder.mkdir(exist_ok=True)
        return [
            _exe("redis-server"),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--loglevel",
            "notice",
            *extra,
        ]

    def client(self, port: int) -> redis.Redis:
        """A plain client of the process on ``port`` (closed by :meth:`close`)."""
        found = self._clients.get(port)
        if found is None:
            found = self._clients[port] = redis.Redis(
                host=HOST, port=port, socket_timeout=2, decode_responses=True, retry=None
            )
        return found

    def kill(self, port: int) -> None:
        """SIGKILL the process on ``port``."""
        proc = self.procs.pop(port, None)
        if proc is not None:
            proc.kill()
            proc.wait(10)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        for port in list(self.procs):
            self.kill(port)


class Cluster(_Processes):
    """A Redis Cluster of ``masters`` masters and no replicas."""

    def __init__(self, root: Path, masters: int = 3) -> None:
        super().__init__(root)
        self.ports = free_ports(masters, bus=True)

    @property
    def nodes(self) -> list[str]:
        return [f"{HOST}:{p}" for p in self.ports]

    def start(self, timeout: float = 20) -> None:
        for port in self.ports:
            self._spawn(
                port,
                self._server_args(
                    port,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(self.root / f"nodes-{port}.conf"),
                    "--cluster-node-timeout",
                    "2000",
                ),
            )
        for port in self.ports:
            wait_until(f"cluster node {port}", self.client(port).ping, 10)
        create = ["--cluster", "create", *self.nodes, "--cluster-replicas", "0", "--cluster-yes"]
        subprocess.run(
            [_exe("redis-cli"), *create],
            check=True,
            capture_output=True,
            timeout=timeout,
        )

        def ready() -> bool:
            for port in self.ports:
                info = self.client(port).cluster("info")
                if info["cluster_state"] != "ok" or int(info["cluster_known_nodes"]) != len(
                    self.ports
                ):
                    return False
            return True

        wait_until("cluster_state:ok on every node", ready, timeout)

    def keyslot(self, key: str) -> int:
        return int(self.client(self.ports[0]).cluster("keyslot", key))

    def owner(self, key: str) -> str:
        """``host:port`` of the master serving ``key``'s slot."""
        slot = self.keyslot(key)
        for start, end, master, *_ in self.client(self.ports[0]).execute_command(
            "CLUSTER", "SLOTS"
        ):
            if int(start) <= slot <= int(end):
                return f"{master[0]}:{master[1]}"
        raise AssertionError(f"no node serves slot {slot}")


class SentinelGroup(_Processes):
    """A master, one replica and three sentinels watching ``mymaster`` (quorum 2)."""

    def __init__(self, root: Path, down_after_ms: int = 1000) -> None:
        super().__init__(root)
        self.master_port, self.replica_port, *self.sentinel_ports = free_ports(5)
        self.down_after_ms = down_after_ms

    @property
    def sentinels(self) -> list[str]:
        return [f"{HOST}:{p}" for p in self.sentinel_ports]

    def start(self, timeout: float = 20) -> None:
        self._spawn(self.master_port, self._server_args(self.master_port))
        wait_until("master", self.client(self.master_port).ping, 10)
        self._spawn(
            self.replica_port,
            self._server_args(self.replica_port, "--replicaof", HOST, str(self.master_port)),
        )
        wait_until(
            "replica in sync",
            lambda: (
                self.client(self.replica_port).info("replication")["master_link_status"] == "up"
            ),
            timeout,
        )
        for port in self.sentinel_ports:
            conf = self.root / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind {HOST}\ndir {self.root}\n"
                f"sentinel monitor {MASTER_NAME} {HOST} {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self._spawn(port, [_exe("redis-sentinel"), str(conf), "--loglevel", "notice"])

        def ready() -> bool:
            for port in self.sentinel_ports:
                state = self.client(port).sentinel_master(MASTER_NAME)
                if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                    return False
            return True

        wait_until("every sentinel seeing the replica and the other two", ready, timeout)

    def master(self) -> tuple[str, int]:
        """The master's address as the first sentinel that answers reports it."""
        for port in self.sentinel_ports:
            try:
                host, found = self.client(port).sentinel_get_master_addr_by_name(MASTER_NAME)
                return str(host), int(found)
            except redis.ConnectionError:
                continue
        raise AssertionError("no sentinel answered")


class Servers(_Processes):
    """Plain ``redis-server`` processes, each started with its own options."""

    def start(self, *options: str) -> int:
        """Start one on a free port; returns the port once it answers."""
        (port,) = free_ports(1)
        self._spawn(port, self._server_args(port, *options))
        wait_until(f"redis-server on {port}", self.client(port).ping, 10)
        return port
