"""The index of a queue's workflows (``P:{q}:workflows``) loses the ended workflows whose
record expired (``lua/_wf_trim.lua``: when a workflow is written and when one ends), so it
does not grow forever; and a workflow's ``ended`` is as precise as its ``created``."""

from __future__ import annotations

import time

import pytest

import bingo_core as bingo
from bingo_core import workflow
from bingo_core.app import App
from bingo_core.workflow import Chain
from bingo_core.workflows_view import (
    cancel_workflow,
    find_workflow,
    list_workflows,
    outcomes,
    search_workflows,
)

INDEX = "bingo:{default}:workflows"
ENDS = "bingo:{default}:workflows:ends"


def _flow() -> Chain:
    one = {"path": "/dev/null", "value": "v"}
    return bingo.chain(bingo.step("test:record", one), bingo.step("test:record", one))


def _cancel(app: App, workflow_id: str) -> None:
    assert cancel_workflow(app.broker, ["default"], workflow_id) == ("default", True)


@pytest.fixture
def short_keep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workflow records kept 1 s after they end (instead of a day)."""
    monkeypatch.setattr(workflow, "RECORD_KEEP", 1.0)


def test_a_new_workflow_drops_the_expired_ones(app: App, short_keep: None) -> None:
    r = app.broker.redis
    old = [app.client.enqueue_workflow(_flow()).id for _ in range(3)]
    running = app.client.enqueue_workflow(_flow()).id
    for wf in old:
        _cancel(app, wf)
    assert r.zcard(INDEX) == 4
    assert sorted(x.decode() for x in r.zrange(ENDS, 0, -1)) == sorted(old)
    time.sleep(1.2)  # their records expire
    new = app.client.enqueue_workflow(_flow()).id
    assert {x.decode() for x in r.zrange(INDEX, 0, -1)} == {running, new}
    assert r.zcard(ENDS) == 0
    assert [w.id for w in list_workflows(app.broker, ["default"])] == [new, running]
    page = search_workflows(app.broker, ["default"])
    assert [w.id for w in page.workflows] == [new, running] and page.total == 2
    assert outcomes(app.broker, ["default"])["default"]["cancelled"] == 3  # /metrics


def test_an_ending_workflow_drops_the_expired_ones(app: App, short_keep: None) -> None:
    r = app.broker.redis
    first, second = (app.client.enqueue_workflow(_flow()).id for _ in range(2))
    _cancel(app, first)
    time.sleep(1.2)
    _cancel(app, second)  # bingo_wf_end trims: the first's record has expired
    assert [x.decode() for x in r.zrange(INDEX, 0, -1)] == [second]
    assert [x.decode() for x in r.zrange(ENDS, 0, -1)] == [second]


def test_a_record_still_kept_gets_its_real_expiry(app: App, short_keep: None) -> None:
    r = app.broker.redis
    wf = app.client.enqueue_workflow(_flow()).id
    _cancel(app, wf)
    r.expire(f"bingo:{{default}}:wf:{wf}", 100)  # as if the caller's clock ran ahead
    time.sleep(1.2)
    app.client.enqueue_workflow(_flow())
    assert r.zscore(INDEX, wf) is not None
    assert r.zscore(ENDS, wf) > time.time() + 90


def test_ended_is_as_precise_as_created(app: App) -> None:
    cancelled = app.client.enqueue_workflow(_flow()).id
    failed = app.client.enqueue_workflow(_flow())
    for attempt in range(2):
        before = time.time()
        if attempt == 0:
            _cancel(app, cancelled)
        else:
            app.inspector.act("archive", failed.task_ids[0])
        after = time.time()
        view = find_workflow(app.broker, ["default"], cancelled if attempt == 0 else failed.id)
        assert view.state == ("cancelled", "failed")[attempt]
        assert view.ended is not None and before - 0.01 <= view.ended <= after + 0.01
        assert view.duration is not None and view.duration >= 0
        assert view.as_dict()["duration"] == view.duration


def test_a_resumed_workflow_stays_in_the_index(app: App, short_keep: None) -> None:
    r = app.broker.redis
    wf = app.client.enqueue_workflow(_flow())
    app.inspector.act("archive", wf.task_ids[0])
    assert r.zscore(ENDS, wf.id) is not None
    app.inspector.act("retry", wf.task_ids[0])  # resumes it: running, kept without expiry
    assert r.zscore(ENDS, wf.id) is None
    time.sleep(1.2)
    app.client.enqueue_workflow(_flow())
    assert r.zscore(INDEX, wf.id) is not None
    assert find_workflow(app.broker, ["default"], wf.id).state == "running"


def test_a_call_drops_at_most_100(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflow, "RECORD_KEEP", 3.0)
    r = app.broker.redis
    old = [
        app.client.enqueue_workflow(
            bingo.step("test:record", {"path": "/dev/null", "value": "v"})
        ).id
        for _ in range(150)
    ]
    for wf in old:
        _cancel(app, wf)
    assert r.zcard(INDEX) == 150
    time.sleep(3.2)
    app.client.enqueue_workflow(_flow())
    assert (r.zcard(INDEX), r.zcard(ENDS)) == (51, 50)
    app.client.enqueue_workflow(_flow())
    assert (r.zcard(INDEX), r.zcard(ENDS)) == (2, 0)


def test_deleting_the_queue_deletes_the_ends_too(app: App) -> None:
    wf = app.client.enqueue_workflow(_flow()).id
    _cancel(app, wf)
    assert app.broker.redis.exists(ENDS)
    app.inspector.delete_queue("default", force=True)
    assert not app.broker.redis.keys("bingo:{default}:*")
