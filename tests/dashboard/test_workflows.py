"""The workflow pages and their JSON API: the list (newest first, by state, by id or id
prefix, paged), one workflow as its flow's tree with each step's state, timing, result and
progress, Cancel (admin key and CSRF; the read-only key sees but cannot act), Retry of the
failed step through the task's own retry action, and the ``workflow_failed`` problem."""

from __future__ import annotations

import html
import time
from typing import Any

import pytest

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.problems import find_problems

from .conftest import READ_KEY, client, csrf_of, login
from .helpers import STEP_ERROR, seed_workflows


@pytest.fixture
def flows(app: App) -> dict[str, Any]:
    return seed_workflows(app)


def ids_listed(admin: Any, **params: Any) -> list[str]:
    answer = admin.get("/queue/api/workflows", params=params)
    assert answer.status_code == 200, answer.text
    return [w["id"] for w in answer.json()["workflows"]]


def test_the_list_newest_first_by_state_and_by_id(admin: Any, flows: dict[str, Any]) -> None:
    newest_first = [flows[s].id for s in ("cancelled", "completed", "failed", "running")]
    assert ids_listed(admin) == newest_first
    for state in ("running", "failed", "completed", "cancelled"):
        assert ids_listed(admin, state=state) == [flows[state].id]
    wanted = flows["failed"].id
    assert ids_listed(admin, q=wanted) == [wanted]
    assert ids_listed(admin, q=wanted[:12]) == [wanted]
    assert ids_listed(admin, q=wanted[3:12]) == [wanted]  # without the "wf-" head
    assert ids_listed(admin, q="wf-") == newest_first
    assert ids_listed(admin, q="wf-*") == []  # a glob character is a character
    assert ids_listed(admin, q=wanted, state="running") == []

    page = admin.get("/queue/api/workflows", params={"limit": 3}).json()
    assert [w["id"] for w in page["workflows"]] == newest_first[:3]
    assert (page["total"], page["has_next"], page["has_prev"]) == (4, True, False)
    page = admin.get("/queue/api/workflows", params={"limit": 3, "offset": 3}).json()
    assert [w["id"] for w in page["workflows"]] == newest_first[3:]
    assert (page["has_next"], page["has_prev"], page["complete"]) == (False, True, True)

    row = next(w for w in page["workflows"])
    assert row["state"] == "running" and (row["done"], row["total"]) == (1, 5)
    assert row["queue"] == "flows" and row["duration"] is None and row["running_for"] > 0
    assert row["url"] == f"/queue/workflows/{flows['running'].id}"
    failed = admin.get("/queue/api/workflows", params={"state": "failed"}).json()
    assert failed["workflows"][0]["failed_step"] == flows["failed"].task_ids[0]
    assert failed["workflows"][0]["duration"] >= 0


def test_the_list_page(admin: Any, flows: dict[str, Any]) -> None:
    text = admin.get("/queue/workflows").text
    for state in ("running", "failed", "completed", "cancelled"):
        assert f'data-workflow="{flows[state].id}"' in text
    assert '<a href="/queue/workflows">Workflows</a>' in text.replace(' class="on"', "")
    assert "running for" in text and "1/5" in text
    only = admin.get("/queue/workflows", params={"state": "failed"}).text
    assert f'data-workflow="{flows["failed"].id}"' in only
    assert f'data-workflow="{flows["running"].id}"' not in only
    paged = admin.get("/queue/workflows", params={"limit": 1}).text
    assert "Older →" in paged and paged.count("data-workflow=") == 1
    none = admin.get("/queue/workflows", params={"q": "wf-0000"}).text
    assert "No workflows match" in none


def test_bad_list_input_is_one_line(admin: Any) -> None:
    answer = admin.get("/queue/api/workflows", params={"state": "done"})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "state: expected one of , running, completed, failed, cancelled, got 'done'",
        "field": "state",
    }
    answer = admin.get("/queue/api/workflows/not-a-workflow")
    assert answer.status_code == 400
    assert "is not a workflow id" in answer.json()["error"]
    answer = admin.get("/queue/api/workflows/wf-0123")
    assert answer.status_code == 404
    page = admin.get("/queue/workflows/wf-0123")
    assert page.status_code == 404 and "no workflow" in page.text


def test_one_workflow_as_its_tree(admin: Any, flows: dict[str, Any]) -> None:
    wf = flows["running"]
    data = admin.get(f"/queue/api/workflows/{wf.id}").json()
    assert data["tree"] == {
        "kind": "chain",
        "items": [
            {"kind": "step", "index": 0},
            {
                "kind": "group",
                "items": [
                    {"kind": "step", "index": 1},
                    {
                        "kind": "chain",
                        "items": [{"kind": "step", "index": 2}, {"kind": "step", "index": 3}],
                    },
                ],
            },
            {"kind": "step", "index": 4},
        ],
    }
    steps = data["steps"]
    assert [s["id"] for s in steps] == wf.task_ids
    first = steps[0]
    assert first["state"] == "completed" and first["duration"] is not None
    assert len(first["result_shown"]) == 200 and first["result"].startswith('{"rows":1234')
    active = next(s for s in steps if s["state"] == "active")
    assert active["progress"]["done"] == 3 and active["progress"]["total"] == 10
    assert [s["state"] for s in steps[3:]] == ["waiting", "waiting"]
    assert data["on_failure"]["state"] == "not run" and data["can_cancel"] is True

    text = admin.get(f"/queue/workflows/{wf.id}").text
    assert text.count('class="wf-node chain"') == 2 and text.count('class="wf-node group"') == 1
    assert "sequence" in text and "parallel" in text
    assert "&lt;i&gt;result&lt;/i&gt;" in text and "<i>result</i>" not in text
    assert f'href="/queue/queues/flows/tasks/{wf.task_ids[0]}"' in text
    assert f'title="{html.escape(first["result"])}"' in text.replace("&#34;", "&quot;")
    assert 'max="10.0" value="3.0"></progress>' in text and "pages" in text
    assert f'action="/queue/workflows/{wf.id}/cancel"' in text


def test_a_failed_workflow_offers_the_retry_of_its_failed_step(
    app: App, admin: Any, flows: dict[str, Any]
) -> None:
    wf = flows["failed"]
    data = admin.get(f"/queue/api/workflows/{wf.id}").json()
    assert data["workflow"]["state"] == "failed" and data["can_cancel"] is False
    failed, after = data["steps"]
    assert failed["failed"] and failed["can_retry"] and failed["error"] == STEP_ERROR
    assert after["state"] == "archived" and not after["can_retry"]
    assert data["on_failure"]["state"] == "pending"
    text = admin.get(f"/queue/workflows/{wf.id}").text
    retry = f"/queue/queues/flows/tasks/{wf.task_ids[0]}/retry"
    assert f'action="{retry}"' in text and '<span data-show="can_cancel" hidden>' in text
    assert "&lt;b&gt;refused&lt;/b&gt;" in text
    # the form posts to the task's own retry action, and comes back here
    answer = admin.post(retry, data={"next": f"/queue/workflows/{wf.id}"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/queue/workflows/{wf.id}"
    assert app.inspector.task("flows", wf.task_ids[0]).state == "pending"


def test_the_tree_of_a_single_step_and_of_a_record_without_one(
    app: App, admin: Any, flows: dict[str, Any]
) -> None:
    data = admin.get(f"/queue/api/workflows/{flows['completed'].id}").json()
    assert data["tree"] == {"kind": "chain", "items": [{"kind": "step", "index": 0}]}
    assert data["workflow"]["state"] == "completed" and data["on_failure"] is None
    older = flows["cancelled"]
    app.broker.redis.hdel(app.broker.q("flows").workflow(older.id), "shape")
    data = admin.get(f"/queue/api/workflows/{older.id}").json()
    assert data["tree"] is None and len(data["steps"]) == 2
    text = admin.get(f"/queue/workflows/{older.id}").text
    assert "in flow order" in text and text.count('class="wf-step') == 2


def test_cancel_from_the_page(web: Any, app: App, flows: dict[str, Any], session: Any) -> None:
    c, token = session
    wf = flows["running"]
    here = f"/queue/workflows/{wf.id}"
    refused = c.post(f"{here}/cancel", data={"next": here})
    assert refused.status_code == 403  # no CSRF token
    assert app.broker.redis.hget(app.broker.q("flows").workflow(wf.id), "state") == b"running"
    done = c.post(f"{here}/cancel", data={"csrf_token": token, "next": here})
    assert done.status_code == 303 and done.headers["location"] == here
    page = c.get(here).text
    assert "cancelled (its steps not started are archived)" in page
    assert app.broker.redis.hget(app.broker.q("flows").workflow(wf.id), "state") == b"cancelled"
    again = c.post(f"{here}/cancel", data={"csrf_token": token, "next": here})
    assert again.status_code == 303
    assert "had already ended; nothing done" in c.get(here).text


def test_the_read_only_key_sees_but_cannot_cancel(
    web: Any, app: App, reader: Any, admin: Any, flows: dict[str, Any]
) -> None:
    wf = flows["running"]
    assert reader.get("/queue/api/workflows").status_code == 200
    assert reader.get(f"/queue/api/workflows/{wf.id}").status_code == 200
    answer = reader.post(f"/queue/api/workflows/{wf.id}/cancel")
    assert answer.status_code == 403 and "read-only" in answer.json()["error"]
    c, _ = login(web, READ_KEY)
    page = c.get(f"/queue/workflows/{wf.id}").text
    assert 'disabled title="read-only key">Cancel</button>' in page
    token = csrf_of(page)
    refused = c.post(f"/queue/workflows/{wf.id}/cancel", data={"csrf_token": token})
    assert refused.status_code == 403
    failed = c.get(f"/queue/workflows/{flows['failed'].id}").text
    assert 'disabled title="read-only key">Retry</button>' in failed
    assert app.broker.redis.hget(app.broker.q("flows").workflow(wf.id), "state") == b"running"
    assert client(web).get("/queue/api/workflows").status_code == 401
    answer = admin.post(f"/queue/api/workflows/{wf.id}/cancel")
    assert answer.json() == {"id": wf.id, "queue": "flows", "cancelled": True}


def test_a_failed_workflow_is_a_problem(app: App, admin: Any, flows: dict[str, Any]) -> None:
    wf = flows["failed"]
    found = [p for p in admin.get("/queue/api/problems").json() if p["kind"] == "workflow_failed"]
    assert len(found) == 1
    problem = found[0]
    assert problem["subject"] == wf.id and problem["severity"] == "warning"
    assert f"step {wf.task_ids[0]} (demo:greet, archived)" in problem["message"]
    assert "RuntimeError: the ledger <b>refused</b> batch 7" in problem["message"]
    assert problem["message"].endswith("…") and problem["since"] > time.time() - 60
    overview = admin.get("/queue").text
    assert f'<a class="msg" href="/queue/workflows/{wf.id}">' in overview
    assert 'data-workflows="failed"' in overview and 'data-workflows="running"' in overview
    # outside the window (dashboard.problems.workflowWindow) it is no problem
    later = find_problems(app.inspector, app.settings, now=time.time() + 86_400 + 5)
    assert [p for p in later if p.kind == "workflow_failed"] == []


def test_the_overview_counts_workflows(app: App, admin: Any) -> None:
    step = bingo.step("demo:greet", {"name": "a"}, queue="flows")
    for _ in range(2):
        app.client.enqueue_workflow(bingo.chain(step, step))
    text = admin.get("/queue").text
    running = text.split('data-workflows="running">')[1].split("</a>")[0]
    assert running == "2 running"


def test_a_step_names_its_workflow(app: App, admin: Any, flows: dict[str, Any]) -> None:
    wf = flows["failed"]
    step = wf.task_ids[1]
    page = admin.get(f"/queue/queues/flows/tasks/{step}").text
    assert f'<dt>Workflow</dt><dd class="mono"><a href="/queue/workflows/{wf.id}">' in page
    answer = admin.get(f"/queue/api/queues/flows/tasks/{step}")
    assert answer.status_code == 200 and answer.json()["task"]["workflow"] == wf.id
    assert app.client.info(step).workflow == wf.id
    on_failure = app.broker.redis.hget(app.broker.q("flows").workflow(wf.id), "on_failure_id")
    assert app.client.info(on_failure.decode()).workflow == wf.id  # its message names it
    alone = app.client.enqueue("demo:greet", {"name": "x"}, queue="flows").id
    assert app.client.info(alone).workflow is None
    assert "<dt>Workflow</dt>" not in admin.get(f"/queue/queues/flows/tasks/{alone}").text
