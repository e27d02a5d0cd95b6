"""``workflows show`` prints the steps as the flow's tree (a chain "sequence", a group
"parallel", a level deeper each) with each step's type, state, time and a short result
or error, and ``--json`` adds the ``tree``; ``tasks show`` (text and ``--json``) names a
step's workflow. A real worker runs the steps on a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import cli, wait_until
from pydantic import BaseModel
from worker_helpers import Running

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.plugins import PluginManager
from bingo_core.registry import TaskRegister
from bingo_core.workflow import Step
from bingo_core.workflows_view import workflow_detail


class Job(BaseModel):
    name: str


def named(ctx: bingo.TaskContext, payload: Job) -> str:
    return payload.name


def fail(ctx: bingo.TaskContext, payload: Job) -> None:
    raise bingo.SkipRetry(f"{payload.name} failed\nsecond line")


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("t:named", named, payload=Job)
        register("t:fail", fail, payload=Job)


@pytest.fixture
def worked(cfg: Path) -> Iterator[App]:
    manager = PluginManager()
    manager.add(Plugin(), "treeplugin")
    app = App(load_settings(cfg, env={}), registry=manager.collect(), manager=manager)
    yield app
    app.close()


def job(name: str, kind: str = "t:named") -> Step:
    return bingo.step(kind, {"name": name})


def test_show_prints_the_tree(cfg: Path, worked: App) -> None:
    flow = bingo.chain(
        job("a"),
        bingo.group(job("b" * 100), bingo.chain(job("c"), job("d", "t:fail"))),
        job("e"),
    )
    wf = worked.client.enqueue_workflow(flow, on_failure=job("z"))
    running = Running(worked)
    try:
        with pytest.raises(bingo.TaskFailed):
            worked.client.wait(wf.id, timeout=10)

        def handled() -> bool:  # the on_failure step runs after the workflow has failed
            failure = workflow_detail(worked.broker, ["default"], wf.id).on_failure
            return failure is not None and failure.state == "completed"

        wait_until(handled, 10, "the on_failure step to complete")
    finally:
        running.stop()
    ids = wf.task_ids
    out = cli(cfg, "workflows", "show", wf.id).stdout
    table = out.split("\n\n", 1)[1].splitlines()
    assert table[0].split() == ["step", "queue", "type", "state", "took", "task", "result"]
    rows = table[1:]
    assert [r[: len(r) - len(r.lstrip())] + r.split()[0] for r in rows] == [
        "sequence",
        "  #0",
        "  parallel",
        "    #1",
        "    sequence",
        "      #2",
        "      #3",
        "  #4",
        "on_failure",
    ]
    assert rows[1].split()[1:4] == ["default", "t:named", "completed"] and rows[1].endswith(
        f'{ids[0]}  "a"'
    )
    assert rows[1].split()[5] == "ms"  # how long it ran
    assert rows[3].endswith(f'{ids[1]}  "{"b" * 58}…')  # cut to 60 characters
    assert rows[6].split()[2:4] == ["t:fail", "archived"]
    assert rows[6].endswith(f"{ids[3]}  error: SkipRetry: d failed")
    assert "second line" not in out
    assert rows[7].split()[2:4] == ["t:named", "archived"] and "error: dependency " in rows[7]
    assert rows[8].split()[2:4] == ["t:named", "completed"]
    assert "took" in out.split("\n\n")[0]  # the workflow's own time

    shown = json.loads(cli(cfg, "workflows", "show", wf.id, "--json").stdout)
    assert [s["id"] for s in shown["steps"]] == ids
    assert {"state", "done", "total", "created", "ended", "duration"} <= set(shown)
    step = {"kind": "step"}
    assert shown["tree"] == {
        "kind": "chain",
        "items": [
            {**step, "index": 0},
            {
                "kind": "group",
                "items": [
                    {**step, "index": 1},
                    {"kind": "chain", "items": [{**step, "index": 2}, {**step, "index": 3}]},
                ],
            },
            {**step, "index": 4},
        ],
    }


def test_tasks_show_names_the_workflow(cfg: Path, app: App) -> None:
    one = {"path": "/dev/null", "value": "v"}
    wf = app.client.enqueue_workflow(bingo.step("test:record", one))
    alone = app.client.enqueue("test:record", one).id
    text = cli(cfg, "tasks", "show", wf.task_ids[0]).stdout
    assert f"workflow      {wf.id}\n" in text
    assert (
        json.loads(cli(cfg, "tasks", "show", wf.task_ids[0], "--json").stdout)["workflow"] == wf.id
    )
    assert "workflow" not in cli(cfg, "tasks", "show", alone).stdout
    assert json.loads(cli(cfg, "tasks", "show", alone, "--json").stdout)["workflow"] is None


def test_show_without_a_shape_lists_the_steps(cfg: Path, app: App) -> None:
    one = {"path": "/dev/null", "value": "v"}
    wf = app.client.enqueue_workflow(
        bingo.group(bingo.step("test:record", one), bingo.step("test:record", one))
    )
    app.broker.redis.hdel(app.broker.q("default").workflow(wf.id), "shape")  # an older record
    out = cli(cfg, "workflows", "show", wf.id).stdout
    rows = out.split("\n\n", 1)[1].splitlines()[1:]
    assert [r.split()[:4] for r in rows] == [
        ["#0", "default", "test:record", "pending"],
        ["#1", "default", "test:record", "pending"],
    ]
    assert json.loads(cli(cfg, "workflows", "show", wf.id, "--json").stdout)["tree"] is None
