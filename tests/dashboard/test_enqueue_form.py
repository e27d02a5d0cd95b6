"""The dashboard's enqueue form and API: their option fields are the option table's
command-line options, read from text as the command line reads them."""

from __future__ import annotations

import html
import re
from typing import Any

from bingo_core import options
from bingo_core.app import App

from .conftest import csrf_of


def test_form_fields_are_the_table_cli_options(admin: Any) -> None:
    html = admin.get("/queue/enqueue", params={"type": "demo:greet"}).text
    fields = re.findall(r'name="o\.(\w+)"', html)
    assert fields == [o.name for o in options.CLI_OPTIONS]
    hint = options.BY_NAME["timeout"].help
    assert hint in html


def test_form_options_reach_the_task(app: App, session: Any) -> None:
    c, token = session
    form = {
        "csrf_token": token,
        "type": "demo:greet",
        "mode": "raw",
        "payload_json": '{"name": "f"}',
        "do": "enqueue",
        "o.max_retry": " 7 ",
        "o.timeout": "45s",
        "o.retention": "",
    }
    r = c.post("/queue/enqueue", data=form)
    assert r.status_code == 303, r.text[:500]
    task_id = r.headers["location"].rsplit("/", 1)[-1]
    task = app.inspector.find(task_id)
    assert (task.max_retry, task.timeout, task.retention) == (7, 45.0, 0.0)


def test_form_bad_option_is_one_line_and_writes_nothing(app: App, session: Any) -> None:
    c, token = session
    form = {
        "csrf_token": token,
        "type": "demo:greet",
        "mode": "raw",
        "payload_json": '{"name": "f"}',
        "do": "enqueue",
        "o.max_retry": "lots",
    }
    r = c.post("/queue/enqueue", data=form)
    assert r.status_code == 400
    line = "task 'demo:greet': option max_retry='lots': expected a whole number >= 0"
    assert line in html.unescape(r.text)
    assert csrf_of(r.text)
    assert c.get("/queue/api/overview").json()["totals"]["pending"] == 0


def test_api_takes_only_the_table_cli_options(admin: Any) -> None:
    for name in sorted(options.OPTION_NAMES - {o.name for o in options.CLI_OPTIONS}):
        r = admin.post(
            "/queue/api/enqueue",
            json={"type": "demo:free", "options": {name: options.DEFAULTS[name]}},
        )
        assert r.status_code == 400, (name, r.text)
        assert f"options.{name}: not an option here" in r.text


def test_headers_from_the_form_and_the_api(app: App, session: Any, admin: Any) -> None:
    c, token = session
    form = {
        "csrf_token": token,
        "type": "demo:greet",
        "mode": "raw",
        "payload_json": '{"name": "f"}',
        "do": "enqueue",
        "o.headers": '{"tenant": "acme"}',
    }
    r = c.post("/queue/enqueue", data=form)
    assert r.status_code == 303, r.text[:500]
    assert app.inspector.find(r.headers["location"].rsplit("/", 1)[-1]).headers == {
        "tenant": "acme"
    }
    bad = c.post("/queue/enqueue", data={**form, "o.headers": "tenant=acme"})
    assert bad.status_code == 400
    line = (
        "task 'demo:greet': option headers='tenant=acme': expected a mapping of non-empty "
        "strings to strings"
    )
    assert line in html.unescape(bad.text)
    r = admin.post(
        "/queue/api/enqueue",
        json={"type": "demo:greet", "payload": {"name": "a"}, "options": {"headers": {"k": "v"}}},
    )
    assert r.status_code in (200, 201), r.text
    assert app.inspector.find(r.json()["task"]["id"]).headers == {"k": "v"}
    r = admin.post(
        "/queue/api/enqueue",
        json={"type": "demo:greet", "payload": {"name": "a"}, "options": {"headers": {"k": 1}}},
    )
    assert r.status_code == 400 and "expected a mapping of non-empty strings" in r.text


def test_depends_on_from_the_form_and_the_api(app: App, session: Any, admin: Any) -> None:
    first = app.client.enqueue("demo:greet", {"name": "a"}).id
    c, token = session
    form = {
        "csrf_token": token,
        "type": "demo:greet",
        "mode": "raw",
        "payload_json": '{"name": "f"}',
        "do": "enqueue",
        "o.depends_on": f" {first} , ",
    }
    r = c.post("/queue/enqueue", data=form)
    assert r.status_code == 303, r.text[:500]
    task = app.inspector.find(r.headers["location"].rsplit("/", 1)[-1])
    assert (task.state, task.depends_on) == ("waiting", (first,))
    r = admin.post(
        "/queue/api/enqueue",
        json={"type": "demo:free", "options": {"depends_on": [first]}},
    )
    assert r.status_code == 201 and r.json()["task"]["state"] == "waiting"
    r = admin.post(
        "/queue/api/enqueue",
        json={"type": "demo:free", "options": {"depends_on": ["nope"]}},
    )
    assert r.status_code == 400
    assert "depends_on: no task 'nope' in queue 'default'" in r.text
    assert c.get("/queue/api/overview").json()["totals"]["waiting"] == 2
