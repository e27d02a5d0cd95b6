"""A plugin's schedule entry that starts a workflow, on the dashboard: the Schedules page
shows the workflow it starts, and "Run now" (form and API) starts the workflow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.plugins import PluginManager
from bingo_core.scheduler.entries import compile_static
from bingo_core.scheduler.timing import describe

from .conftest import ADMIN_KEY, DemoPlugin, client, login, make_app
from .helpers import publish_entries

KEY = "plugin:flows|nightly-etl"


class FlowPlugin:
    """One schedule entry that starts a workflow of the demo plugin's steps."""

    @bingo.hookimpl
    def bingo_register_schedules(self, register: Any) -> None:
        register(
            "0 2 * * *",
            bingo.chain(
                bingo.step("demo:greet", {"name": "first"}),
                bingo.group(bingo.step("demo:greet", {"name": f"g{i}"}) for i in range(2)),
            ),
            name="nightly-etl",
        )


@pytest.fixture
def app(bingo_redis_url: str, tmp_path: Path) -> Iterator[App]:
    base = make_app(bingo_redis_url, tmp_path)
    base.close()
    manager = PluginManager()
    manager.add(DemoPlugin(), "demo", version="1.2.3")
    manager.add(FlowPlugin(), "flows", version="0.1")
    application = App(base.settings, registry=manager.collect(), manager=manager)
    yield application
    application.close()


@pytest.fixture
def web(app: App) -> Any:
    from bingo_core.dashboard import create_app

    starlette = create_app(app)
    yield starlette
    starlette.state.dash.close()


def test_the_schedules_page_shows_the_workflow_and_run_now_starts_it(app: App, web: Any) -> None:
    good, errors = compile_static(app.settings, app.registry)
    assert errors == []
    (compiled,) = [c for c in good if c.key == KEY]
    info = describe(compiled, 60).to_json()
    publish_entries(app, [{"key": KEY, "info": info}])
    admin = client(web, ADMIN_KEY)
    listed = admin.get("/queue/api/schedules", params={"q": "nightly"}).json()
    (entry,) = listed["entries"]
    assert entry["type"] == "workflow: demo:greet -> group(demo:greet x2)"
    assert "workflow: demo:greet -&gt; group(demo:greet x2)" in admin.get("/queue/schedules").text

    r = admin.post("/queue/api/schedules/run", json={"key": KEY})
    assert r.status_code == 201, r.text
    started = r.json()["workflow"]
    assert started["id"].startswith("wf-") and len(started["task_ids"]) == 3
    assert app.inspector.find(started["task_ids"][0]).payload == {
        "name": "first",
        "count": 1,
        "loud": False,
    }

    c, token = login(web)
    r = c.post("/queue/schedules/run", data={"csrf_token": token, "key": KEY})
    assert r.status_code == 303, r.text
    assert "/queue/workflows/wf-" in r.headers["location"]
    second = r.headers["location"].rsplit("/", 1)[1]
    assert second != started["id"]  # no tick: a new workflow each time
    assert c.get(r.headers["location"]).status_code == 200

    # A tick's workflow, named in the entry's history, links to its workflow page.
    now = time.time()
    item = {"tick": now - 60, "task_id": started["id"], "enqueued_at": now - 59.9, "lateness": 0.1}
    publish_entries(app, [{"key": KEY, "info": info}], {KEY: item})
    detail = admin.get("/queue/api/schedules/entry", params={"key": KEY}).json()["entry"]
    assert detail["last_task_url"].endswith(f"/queue/workflows/{started['id']}")
    assert detail["history"][0]["task_url"] == detail["last_task_url"]
    assert f"/queue/workflows/{started['id']}" in admin.get("/queue/schedules").text


def test_the_plugins_page_shows_the_workflow_an_entry_starts(web: Any) -> None:
    admin = client(web, ADMIN_KEY)
    plugins = admin.get("/queue/api/plugins").json()["plugins"]
    (entry,) = next(p for p in plugins if p["name"] == "flows")["schedules"]
    assert entry["type"] == "workflow: demo:greet -> group(demo:greet x2)"
    assert entry["workflow"] == {
        "chain": [
            {"type": "demo:greet", "payload": {"name": "first"}},
            {"group": [{"type": "demo:greet", "payload": {"name": f"g{i}"}} for i in range(2)]},
        ]
    }
    html = admin.get("/queue/plugins").text
    assert "workflow: demo:greet -&gt; group(demo:greet x2)" in html
    assert "{&#34;chain&#34;:[{&#34;type&#34;:&#34;demo:greet&#34;" in html
