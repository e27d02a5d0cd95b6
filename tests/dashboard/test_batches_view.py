"""Batch items in the dashboard: the enqueue API holds an item of a batched type,
``GET /api/batches`` and the overview's table list the items waiting per type and key
value, a batch task's page gives its item count, /metrics has ``bingo_batch_items``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.plugins import PluginManager

from .conftest import ADMIN_KEY, client, login
from .test_metrics import samples


class Order(BaseModel):
    shop: str
    n: int


async def handle(ctx: Any, items: list[Order]) -> None:
    return None


class BatchPlugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("shop:orders", handle, payload=Order, batch=bingo.Batch(key="shop", max_size=3))


@pytest.fixture
def app(bingo_redis_url: str, tmp_path: Path) -> Iterator[App]:
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
    manager.add(BatchPlugin(), "shop")
    application = App(settings, registry=manager.collect(), manager=manager)
    yield application
    application.close()


@pytest.fixture
def admin(app: App) -> Iterator[Any]:
    from bingo_core.dashboard import create_app

    web = create_app(app)
    yield client(web, ADMIN_KEY)
    web.state.dash.close()


def test_batches_in_the_dashboard(app: App, admin: Any) -> None:
    for n in range(4):
        r = admin.post(
            "/queue/api/enqueue", json={"type": "shop:orders", "payload": {"shop": "a", "n": n}}
        )
        assert r.status_code == 201 and r.json()["task"]["state"] == "held"
    admin.post("/queue/api/enqueue", json={"type": "shop:orders", "payload": {"shop": "b", "n": 9}})
    rows = admin.get("/queue/api/batches").json()
    assert sorted((b["type"], b["key"], b["items"]) for b in rows) == [
        ("shop:orders", "a", 1),
        ("shop:orders", "b", 1),
    ]
    assert all(0 < b["due_in"] <= 60 for b in rows)  # grace 1m by default
    page = admin.get("/queue/").text
    assert "Batches" in page and 'id="batches"' in page
    (batch_id,) = app.broker.redis.lrange("bingo:{default}:pending", 0, -1)
    task = admin.get(f"/queue/queues/default/tasks/{batch_id.decode()}").text
    assert "<dt>Batch</dt><dd>3 items</dd>" in task
    got = samples(admin.get("/metrics").text)
    assert got[("bingo_batch_items", (("queue", "default"), ("type", "shop:orders")))] == 2
    r = admin.post(
        "/queue/api/enqueue",
        json={"type": "shop:orders", "payload": {"shop": "a", "n": 1}, "options": {"unique": "1m"}},
    )
    assert r.status_code == 400 and "batched" in r.json()["error"]


def test_the_enqueue_form_holds_an_item(app: App) -> None:
    from bingo_core.dashboard import create_app

    web = create_app(app)
    try:
        c, token = login(web)
        form = {
            "csrf_token": token,
            "type": "shop:orders",
            "mode": "raw",
            "payload_json": '{"shop": "f", "n": 1}',
            "do": "enqueue",
        }
        r = c.post("/queue/enqueue", data=form)
        assert r.status_code == 303 and r.headers["location"] == "/queue/"
        page = c.get("/queue/").text
        assert "held an item of shop:orders for its batch" in page
        assert [b.key for b in app.inspector.batches()] == ["f"]
    finally:
        web.state.dash.close()


def test_the_plugins_page_shows_the_rule(admin: Any) -> None:
    page = admin.get("/queue/plugins").text
    assert "batched by shop: up to 3 items" in page
