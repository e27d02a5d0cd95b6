"""Fixtures for the high-availability tests: a real Redis Cluster (one per module, emptied
per test) and a real master + replica + three sentinels (one per test: tests kill it)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bingo_test_plugin
import pytest

from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.plugins import PluginManager
from bingo_core.registry import Registry

from .redis_ha import MASTER_NAME, Cluster, SentinelGroup


@pytest.fixture(scope="module")
def cluster_module() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="bingo-cluster-") as root:
        found = Cluster(Path(root))
        try:
            found.start()
            yield found
        finally:
            found.close()


@pytest.fixture
def cluster(cluster_module: Cluster) -> Cluster:
    """A 3-master Redis Cluster, every node flushed."""
    for port in cluster_module.ports:
        cluster_module.client(port).flushall()
    return cluster_module


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A master, a replica and three sentinels (quorum 2, master down after 1 s)."""
    group = SentinelGroup(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    try:
        group.start()
        yield group
    finally:
        group.close()


def cluster_redis(cluster: Cluster) -> dict[str, Any]:
    return {"cluster": {"nodes": cluster.nodes}}


def sentinel_redis(group: SentinelGroup) -> dict[str, Any]:
    return {"sentinel": {"masterName": MASTER_NAME, "hosts": group.sentinels}}


def write_config(path: Path, redis: dict[str, Any], **sections: dict[str, Any]) -> Path:
    """A daemon config (JSON is YAML) with the given ``redis`` section."""
    base: dict[str, Any] = {
        "server": {"timezone": "UTC"},
        "redis": redis,
        "database": {"url": f"sqlite:///{path.parent / 'bingo.db'}"},
        "log": {"level": "info", "console": True, "path": ""},
        "worker": {
            "concurrency": 4,
            "lease": "2s",
            "recoverInterval": "200ms",
            "shutdownTimeout": "5s",
        },
        "scheduler": {"enabled": False},
    }
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(base.get(name), dict):
            base[name].update(values)
        else:
            base[name] = values
    path.write_text(json.dumps(base))
    return path


@pytest.fixture
def registry() -> Registry:
    """The ``test:*`` task types of the test plugin."""
    manager = PluginManager()
    manager.add(bingo_test_plugin)
    found = manager.collect()
    assert not manager.failures
    return found


@pytest.fixture
def make_app(registry: Registry) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def make(redis: dict[str, Any], **overrides: str) -> App:
        flat = {f"redis.{k}": v if isinstance(v, str) else json.dumps(v) for k, v in redis.items()}
        settings = load_settings(None, env={}, overrides={**flat, **overrides})
        app = App(settings, registry=registry)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()
