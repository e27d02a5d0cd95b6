"""Plugins that fail on the dashboard: two plugins registering the same task type are both
listed as failed, and an enqueue of that type is refused naming both."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.plugins import PluginManager

from .conftest import ADMIN_KEY, client

CONFLICT = "task type 'x:shared' is registered by both plugin 'a' and plugin 'b'"


def plugin(*types: str) -> object:
    class Plugin:
        @bingo.hookimpl
        def bingo_register_tasks(self, register: Any) -> None:
            for name in types:
                register(name, handle)

    return Plugin()


async def handle(ctx: bingo.TaskContext, payload: Any) -> None:
    return None


@pytest.fixture
def web(bingo_redis_url: str, tmp_path: Path) -> Iterator[Any]:
    from bingo_core.dashboard import create_app

    settings = load_settings(
        None,
        env={},
        overrides={
            "redis.url": bingo_redis_url,
            "server.key": ADMIN_KEY,
            "database.url": f"sqlite:///{tmp_path / 'bingo.db'}",
        },
    )
    manager = PluginManager()
    manager.add(plugin("x:shared", "x:a"), "a")
    manager.add(plugin("x:shared"), "b")
    manager.add(plugin("x:alone"), "c")
    app = App(settings, registry=manager.collect(), manager=manager)
    starlette = create_app(app)
    yield starlette
    starlette.state.dash.close()
    app.close()


def test_both_plugins_are_listed_as_failed(web: Any) -> None:
    admin = client(web, ADMIN_KEY)
    page = admin.get("/queue/plugins")
    assert page.status_code == 200
    assert html.unescape(page.text).count(CONFLICT) == 2


def test_an_enqueue_of_the_type_is_refused_naming_both(web: Any) -> None:
    admin = client(web, ADMIN_KEY)
    r = admin.post("/queue/api/enqueue", json={"type": "x:shared", "payload": {}})
    assert r.status_code == 400
    assert r.json()["field"] == "type" and CONFLICT in r.json()["error"]
    ok = admin.post("/queue/api/enqueue", json={"type": "x:alone", "payload": {}})
    assert ok.status_code == 201
