"""The dashboard's enqueue form and API read a time without an offset in
``server.timezone`` (as the command line and the Client do)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bingo_core.app import App

from .conftest import client, login, make_app

ZONE = "Asia/Shanghai"
AT = datetime(2030, 1, 1, tzinfo=ZoneInfo(ZONE)).timestamp()


@pytest.fixture
def zoned(bingo_redis_url: str, tmp_path: Path) -> Iterator[tuple[App, Any]]:
    from bingo_core.dashboard import create_app

    app = make_app(bingo_redis_url, tmp_path, **{"server.timezone": ZONE})
    web = create_app(app)
    yield app, web
    web.state.dash.close()
    app.close()


def test_the_form_and_the_api_read_a_naive_time_in_the_server_zone(
    zoned: tuple[App, Any], redis_client: Any
) -> None:
    app, web = zoned
    c, token = login(web)
    form = {
        "csrf_token": token,
        "type": "demo:greet",
        "mode": "raw",
        "payload_json": '{"name": "f"}',
        "do": "enqueue",
        "o.process_at": "2030-01-01T00:00",
    }
    r = c.post("/queue/enqueue", data=form)
    assert r.status_code == 303, r.text[:500]
    from_form = r.headers["location"].rsplit("/", 1)[-1]
    api = client(web, app.settings.server.key).post(
        "/queue/api/enqueue",
        json={
            "type": "demo:greet",
            "payload": {"name": "a"},
            "options": {"process_at": "2030-01-01T00:00:00"},
        },
    )
    assert api.status_code == 201, api.text
    from_api = api.json()["task"]["id"]
    for task_id in (from_form, from_api):
        assert redis_client.zscore("bingo:{default}:scheduled", task_id) == AT
