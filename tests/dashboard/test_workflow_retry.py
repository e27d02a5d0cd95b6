"""The dashboard's Retry on an archived workflow step (HTTP API and form post) resumes
the failed workflow, "retry all archived" resumes it once, and a step of a cancelled
workflow is refused with one line (409); a real worker then finishes the flow."""

from __future__ import annotations

from typing import Any

from worker_helpers import Running

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.workflow import Chain
from bingo_core.workflows_view import cancel_workflow, find_workflow

API = "/queue/api/queues/default"


def _flow(*names: str) -> Chain:
    return bingo.chain(*(bingo.step("demo:greet", {"name": n}) for n in names))


def _states(app: App, wf: str) -> tuple[str, list[str]]:
    view = find_workflow(app.broker, ["default"], wf)
    return view.state, [s.state for s in view.steps]


def test_retry_resumes_a_failed_workflow(app: App, admin: Any) -> None:
    wf = app.client.enqueue_workflow(_flow("x", "y", "z"))
    first = wf.task_ids[0]
    assert admin.post(f"{API}/tasks/{first}/archive").json()["done"] is True
    assert _states(app, wf.id) == ("failed", ["archived"] * 3)
    r = admin.post(f"{API}/tasks/{first}/retry")
    assert r.status_code == 200 and r.json()["done"] is True
    assert _states(app, wf.id) == ("running", ["pending", "waiting", "waiting"])
    running = Running(app)
    try:
        assert app.client.wait(wf.id, timeout=10) == {"hello": "z"}
    finally:
        running.stop()


def test_retry_all_archived_resumes_once(app: App, admin: Any) -> None:
    wf = app.client.enqueue_workflow(_flow("x", "y", "z"))
    app.inspector.act("archive", wf.task_ids[0])
    r = admin.post(f"{API}/states/archived/retry")
    assert r.json()["done"] == 3
    assert _states(app, wf.id) == ("running", ["pending", "waiting", "waiting"])


def test_the_form_retry_resumes_and_a_cancelled_one_is_refused(app: App, session: Any) -> None:
    c, token = session
    wf = app.client.enqueue_workflow(_flow("x", "y"))
    app.inspector.act("archive", wf.task_ids[0])
    page = f"/queue/queues/default/tasks/{wf.task_ids[0]}"
    assert f'action="{page}/retry"' in c.get(page).text
    assert c.post(f"{page}/retry", data={"csrf_token": token}).status_code == 303
    assert _states(app, wf.id) == ("running", ["pending", "waiting"])
    cancel_workflow(app.broker, ["default"], wf.id)
    assert c.post(f"{page}/retry", data={"csrf_token": token}).status_code == 303
    assert "a cancelled workflow is not resumed" in c.get("/queue").text  # the flash
    assert _states(app, wf.id) == ("cancelled", ["archived", "archived"])


def test_a_step_of_a_cancelled_workflow_is_refused(app: App, admin: Any) -> None:
    wf = app.client.enqueue_workflow(_flow("x", "y"))
    cancel_workflow(app.broker, ["default"], wf.id)
    r = admin.post(f"{API}/tasks/{wf.task_ids[1]}/retry")
    assert r.status_code == 409
    body = r.json()
    assert body["field"] == "action" and "\n" not in body["error"]
    assert "cancelled workflow" in body["error"]
    assert _states(app, wf.id) == ("cancelled", ["archived", "archived"])
