"""The dashboard's enqueue (form and API) refuses a payload over ``client.maxPayloadSize``
with a 400 naming the field, and writes nothing."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bingo_core.app import App

from .conftest import ADMIN_KEY, client, login, make_app

LIMIT = 200


@pytest.fixture
def small(bingo_redis_url: str, tmp_path: Path) -> Iterator[tuple[App, Any]]:
    from bingo_core.dashboard import create_app

    app = make_app(bingo_redis_url, tmp_path, **{"client.maxPayloadSize": str(LIMIT)})
    web = create_app(app)
    yield app, web
    web.state.dash.close()
    app.close()


def test_the_api_refuses_a_payload_over_the_limit(small: tuple[App, Any]) -> None:
    app, web = small
    admin = client(web, ADMIN_KEY)
    big = {"type": "demo:greet", "payload": {"name": "x" * 300}}
    r = admin.post("/queue/api/enqueue", json=big)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field"] == "payload"
    assert body["error"] == (
        f"payload for demo:greet is 334 bytes of JSON, over client.maxPayloadSize ({LIMIT} bytes)"
    )
    r = admin.post("/queue/api/enqueue", json={**big, "check": True})
    assert r.status_code == 400 and r.json()["field"] == "payload"
    assert app.inspector.stats(["default"])[0].pending == 0
    fits = {"type": "demo:greet", "payload": {"name": "x" * 100}}
    assert admin.post("/queue/api/enqueue", json=fits).status_code == 201


def test_the_form_refuses_a_payload_over_the_limit(small: tuple[App, Any]) -> None:
    app, web = small
    c, token = login(web)
    form = {
        "csrf_token": token,
        "type": "demo:free",
        "mode": "raw",
        "payload_json": '{"blob": "' + "y" * 300 + '"}',
        "do": "enqueue",
    }
    r = c.post("/queue/enqueue", data=form)
    assert r.status_code == 400
    assert "over client.maxPayloadSize (200 bytes)" in html.unescape(r.text)
    assert app.inspector.stats(["default"])[0].pending == 0
