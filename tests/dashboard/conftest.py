"""Fixtures for the dashboard: an App on the private Redis and a SQLite store, its
Starlette app, and clients (admin Bearer, read-only Bearer, anonymous, logged-in)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.plugins import PluginManager

ADMIN_KEY = "admin-key-0123456789abcdef"
READ_KEY = "read-only-key-0123456789abcdef"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Starlette's TestClient warns that it runs on httpx rather than httpx2.
    for item in items:
        if "tests/dashboard" in str(item.fspath):
            item.add_marker(
                pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
            )


class Greeting(BaseModel):
    """Payload of demo:greet."""

    name: str
    count: int = Field(default=1, ge=0)
    loud: bool = False


class DemoSettings(BaseModel):
    """Settings of the demo plugin (one secret)."""

    endpoint: str = "https://user:hunter2@example.com/hook"
    api_key: str = "s3cr3t-value"
    retries: int = 3


class DemoPlugin:
    """Two task types and one schedule, registered inline."""

    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("demo:greet", greet, payload=Greeting, max_retry=3, description="Say hello")
        register("demo:free", free)

    @bingo.hookimpl
    def bingo_register_schedules(self, register: Any) -> None:
        register("*/5 * * * *", "demo:greet", payload={"name": "cron"}, name="every five")

    @bingo.hookimpl
    def bingo_register_settings(self, register: Any) -> None:
        register(DemoSettings, name="demo")


async def greet(ctx: Any, payload: Greeting) -> dict[str, Any]:
    return {"hello": payload.name}


async def free(ctx: Any, payload: Any) -> None:
    return None


def make_app(redis_url: str, tmp_path: Path, **overrides: str) -> App:
    settings = load_settings(
        None,
        env={},
        overrides={
            "redis.url": redis_url,
            "server.key": ADMIN_KEY,
            "dashboard.readOnlyKey": READ_KEY,
            "database.url": f"sqlite:///{tmp_path / 'bingo.db'}",
            "server.timezone": "UTC",
            "worker.lease": "2s",
            **overrides,
        },
    )
    manager = PluginManager()
    manager.add(DemoPlugin(), "demo", version="1.2.3")
    manager._fail("brokenplug", "ImportError: No module named 'missing_dep'")
    registry = manager.collect()
    return App(settings, registry=registry, manager=manager)


@pytest.fixture
def app(bingo_redis_url: str, tmp_path: Path) -> Iterator[App]:
    application = make_app(bingo_redis_url, tmp_path)
    yield application
    application.close()


@pytest.fixture
def web(app: App) -> Any:
    from bingo_core.dashboard import create_app

    starlette = create_app(app)
    yield starlette
    starlette.state.dash.close()


def client(web: Any, key: str | None = None) -> Any:
    from starlette.testclient import TestClient

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return TestClient(web, headers=headers, follow_redirects=False)


@pytest.fixture
def admin(web: Any) -> Any:
    return client(web, ADMIN_KEY)


@pytest.fixture
def reader(web: Any) -> Any:
    return client(web, READ_KEY)


@pytest.fixture
def anon(web: Any) -> Any:
    return client(web)


def csrf_of(html: str) -> str:
    """The CSRF token a page carries."""
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, "no csrf token in the page"
    return found.group(1)


def login(web: Any, key: str = ADMIN_KEY) -> tuple[Any, str]:
    """A client logged in through the form, and the CSRF token of its pages."""
    c = client(web)
    page = c.get("/queue/login")
    token = csrf_of(page.text)
    r = c.post("/queue/login", data={"key": key, "csrf_token": token, "next": "/queue"})
    assert r.status_code == 303, r.text
    return c, csrf_of(c.get("/queue").text)


@pytest.fixture
def session(web: Any) -> tuple[Any, str]:
    return login(web)
