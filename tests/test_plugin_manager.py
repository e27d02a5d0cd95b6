"""The plugin manager: two plugins that register the same task type both fail, each named,
whichever loads first; the CLI, ``check`` and the daemon say so, and nothing serves the
type (never the newcomer, never without its payload model)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import BIN, Daemon, write_config

import bingo_core as bingo
from bingo_core.errors import TaskTypeConflict, UnknownTaskType
from bingo_core.plugins import PluginManager

ORIGINAL = """
from pydantic import BaseModel, ConfigDict
import bingo_core as bingo

class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = 0

async def handle(ctx, payload):
    return payload.n

@bingo.hookimpl
def bingo_register_tasks(register):
    register("probe:async", handle, payload=Probe)
    register("probe:other", handle, payload=Probe)
"""

# Its entry point sorts first: it is loaded before the original.
NEWCOMER = """
import bingo_core as bingo

async def handle(ctx, payload):
    return "taken over"

@bingo.hookimpl
def bingo_register_tasks(register):
    register("probe:async", handle)
"""

CONFLICT = (
    "task type 'probe:async' is registered by both plugin 'alpha_probe' and plugin "
    "'zeta_probe'; neither is loaded"
)


def install(site: Path, name: str, source: str) -> None:
    """An installed distribution as importlib.metadata finds it: the module and a
    dist-info folder declaring its ``bingo.plugins`` entry point."""
    (site / f"{name}.py").write_text(source)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[bingo.plugins]\n{name} = {name}\n")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "zeta_probe", ORIGINAL)
    install(site, "alpha_probe", NEWCOMER)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "BINGO_PLUGINS": "alpha_probe,zeta_probe"}


@pytest.fixture
def cfg(tmp_path: Path, redis_url: str) -> Path:
    schedules = [{"name": "probe", "spec": "@every 1s", "type": "probe:async", "payload": {}}]
    return write_config(
        tmp_path / "bingo.yaml",
        redis_url,
        scheduler={"enabled": True},
        schedules=schedules,
    )


def run(cfg: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, "-c", str(cfg), *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_plugins_lists_both_as_failed(cfg: Path, env: dict[str, str]) -> None:
    out = run(cfg, env, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    by_name = {p["name"]: p for p in json.loads(out.stdout)["plugins"]}
    for name in ("alpha_probe", "zeta_probe"):
        assert CONFLICT in by_name[name]["error"]
        assert by_name[name]["task_types"] == []


def test_enqueue_of_the_conflicted_type_is_refused(
    cfg: Path, env: dict[str, str], redis_client: Any
) -> None:
    out = run(cfg, env, "enqueue", "probe:async", "--payload", '{"anything": [1, 2, 3]}')
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and CONFLICT in out.stderr
    assert redis_client.keys("bingo:*t:*") == []


def test_check_names_both_plugins(cfg: Path, env: dict[str, str]) -> None:
    assert run(cfg, env, "db", "init").returncode == 0
    out = run(cfg, env, "check")
    assert out.returncode == 2, out.stdout + out.stderr
    text = out.stdout + out.stderr
    for subject in ("plugin 'alpha_probe'", "plugin 'zeta_probe'", "schedule 'probe' (config)"):
        assert f"{subject}: {CONFLICT}" in text, text


def test_the_daemon_says_so_and_skips_the_schedule(cfg: Path, env: dict[str, str]) -> None:
    d = Daemon(cfg, env=env)
    try:
        d.wait_for("worker ready")
        for name in ("alpha_probe", "zeta_probe"):
            assert d.count(f"plugin {name} is broken and was not loaded: {CONFLICT}") == 1
        d.wait_for("schedule 'probe'")
        skipped = [line for line in d.lines if "schedule 'probe'" in line]
        assert len(skipped) == 1 and CONFLICT in skipped[0], d.log
        assert d.stop() == 0
    finally:
        d.close()


def plugin(*types: str) -> object:
    class Plugin:
        @bingo.hookimpl
        def bingo_register_tasks(self, register: Any) -> None:
            for name in types:
                register(name, handle)

    return Plugin()


async def handle(ctx: bingo.TaskContext, payload: Any) -> None:
    return None


@pytest.mark.parametrize("order", [("a", "b", "c"), ("c", "b", "a")])
def test_every_plugin_registering_a_type_fails_whatever_the_order(
    order: tuple[str, ...],
) -> None:
    plugins: dict[str, Callable[[], object]] = {
        "a": lambda: plugin("x:shared", "x:a"),
        "b": lambda: plugin("x:shared"),
        "c": lambda: plugin("x:shared", "x:c"),
    }
    manager = PluginManager()
    manager.add(plugin("x:alone"), "d")
    for name in order:
        manager.add(plugins[name](), name)
    registry = manager.collect()
    assert sorted(f.plugin for f in manager.failures) == ["a", "b", "c"]
    assert all("'x:shared' is registered by" in f.reason for f in manager.failures)
    assert sorted(registry.tasks) == ["x:alone"]
    with pytest.raises(TaskTypeConflict, match="registered by") as caught:
        registry.get("x:shared")
    assert isinstance(caught.value, UnknownTaskType)
    assert sorted(caught.value.plugins) == ["a", "b", "c"]


def test_a_type_registered_twice_by_one_plugin_fails_that_plugin_only() -> None:
    manager = PluginManager()
    manager.add(plugin("x:one", "x:one"), "twice")
    manager.add(plugin("x:two"), "fine")
    registry = manager.collect()
    assert [f.plugin for f in manager.failures] == ["twice"]
    assert "registered twice" in manager.failures[0].reason
    assert sorted(registry.tasks) == ["x:two"]
