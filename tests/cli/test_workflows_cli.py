"""``bingo-scheduler workflows list|show|cancel [--json]`` on a real Redis (no worker: the
workflows stay running until cancelled), ``tasks wait`` on a workflow id, and the
``bingo_workflows_total`` metric counting them by outcome; ``tasks retry`` of a failed
workflow's archived step resumes it (with a real worker), and is refused for a cancelled
one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_helpers import cli
from prometheus_client import CollectorRegistry, generate_latest
from worker_helpers import Running

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.broker import scripts
from bingo_core.dashboard.metrics import BingoCollector
from bingo_core.workflow import Chain


def _flow() -> Chain:
    one = {"path": "/dev/null", "value": "v"}
    return bingo.chain(bingo.step("test:record", one), bingo.step("test:record", one))


def test_list_show_cancel(cfg: Path, app: App) -> None:
    wf = app.client.enqueue_workflow(_flow())
    rows = json.loads(cli(cfg, "workflows", "list", "--json").stdout)
    assert [(r["id"], r["state"], r["done"], r["total"]) for r in rows] == [
        (wf.id, "running", 0, 2)
    ]
    assert wf.id in cli(cfg, "workflows", "list").stdout
    shown = json.loads(cli(cfg, "workflows", "show", wf.id, "--json").stdout)
    assert [(s["id"], s["state"]) for s in shown["steps"]] == [
        (wf.task_ids[0], "pending"),
        (wf.task_ids[1], "waiting"),
    ]
    out = cli(cfg, "workflows", "cancel", wf.id)
    assert out.stdout.startswith(f"cancelled workflow {wf.id} (queue default)")
    shown = json.loads(cli(cfg, "workflows", "show", wf.id, "--json").stdout)
    assert shown["state"] == "cancelled"
    assert {s["state"] for s in shown["steps"]} == {"archived"}
    again = json.loads(cli(cfg, "workflows", "cancel", wf.id, "--json").stdout)
    assert again == {"id": wf.id, "queue": "default", "cancelled": False}
    out = cli(cfg, "tasks", "wait", wf.id, "--timeout", "1", check=False)
    assert out.returncode == 1
    assert out.stderr == f"error: workflow {wf.id} (queue default) failed: cancelled\n"


def test_show_and_cancel_across_queues(cfg: Path, app: App) -> None:
    one = {"path": "/dev/null", "value": "v"}
    flow = bingo.chain(
        bingo.step("test:record", one, queue="red"),
        bingo.step("test:record", one),
        bingo.step("test:record", one, queue="blue"),
    )
    wf = app.client.enqueue_workflow(flow)
    shown = json.loads(cli(cfg, "workflows", "show", wf.id, "--json").stdout)
    assert shown["queue"] == "red"
    assert [(s["id"], s["queue"], s["state"]) for s in shown["steps"]] == [
        (wf.task_ids[0], "red", "pending"),
        (wf.task_ids[1], "default", "waiting"),
        (wf.task_ids[2], "blue", "waiting"),
    ]
    assert "blue" in cli(cfg, "workflows", "show", wf.id).stdout
    out = cli(cfg, "workflows", "cancel", wf.id)
    assert out.stdout.startswith(f"cancelled workflow {wf.id} (queue red)")
    shown = json.loads(cli(cfg, "workflows", "show", wf.id, "--json").stdout)
    assert {s["state"] for s in shown["steps"]} == {"archived"}  # in the three queues


def test_bad_ids_are_one_line(cfg: Path, app: App) -> None:
    out = cli(cfg, "workflows", "show", "nope", check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "'nope'" in out.stderr
    out = cli(cfg, "workflows", "cancel", "wf-0", check=False)
    assert out.returncode == 2 and out.stderr.startswith("error: no workflow 'wf-0'")


def test_metrics_count_workflows_by_outcome(app: App) -> None:
    for _ in range(2):
        wf = app.client.enqueue_workflow(_flow())
        cli_cancel = app.broker._call(scripts.wf_cancel(app.broker.q("default"), wf.id))
        assert cli_cancel == 1
    registry = CollectorRegistry()
    registry.register(BingoCollector(lambda: app.inspector, app.settings, cache=0))
    text = generate_latest(registry).decode()
    assert 'bingo_workflows_total{outcome="cancelled",queue="default"} 2.0' in text
    assert 'bingo_workflows_total{outcome="failed",queue="default"} 0.0' in text


def test_deleting_the_queue_deletes_its_workflows(app: App) -> None:
    wf = app.client.enqueue_workflow(_flow())
    assert app.broker.redis.exists(f"bingo:{{default}}:wf:{wf.id}")
    app.inspector.delete_queue("default", force=True)
    assert not app.broker.redis.keys("bingo:{default}:*")


def test_tasks_retry_resumes_a_failed_workflow(cfg: Path, app: App, tmp_path: Path) -> None:
    log = str(tmp_path / "steps.log")  # test:fail fails while the log has <= 2 lines: "a", "b"
    flow = bingo.chain(
        bingo.step("test:record", {"path": log, "value": "a"}),
        bingo.step("test:fail", {"path": log, "value": "b", "fail_times": 2}, max_retry=0),
        bingo.step("test:record", {"path": log, "value": "c"}),
    )
    wf = app.client.enqueue_workflow(flow)
    running = Running(app)
    try:
        with pytest.raises(bingo.TaskFailed):
            app.client.wait(wf.id, timeout=10)
        shown = json.loads(cli(cfg, "workflows", "show", wf.id, "--json").stdout)
        assert [s["state"] for s in shown["steps"]] == ["completed", "archived", "archived"]
        out = cli(cfg, "tasks", "retry", wf.task_ids[1])
        assert out.stdout == f"retry: {wf.task_ids[1]} (default)\n"
        assert app.client.wait(wf.id, timeout=10) is None  # test:record returns nothing
    finally:
        running.stop()
    assert Path(log).read_text().split() == ["a", "b", "b", "c"]  # a did not run again
    shown = json.loads(cli(cfg, "workflows", "show", wf.id, "--json").stdout)
    assert (shown["state"], shown["done"], shown["error"]) == ("completed", 3, "")
    again = cli(cfg, "tasks", "retry", wf.task_ids[0], check=False)
    assert again.returncode == 2 and again.stderr.count("\n") == 1


def test_tasks_retry_refuses_a_step_of_a_cancelled_workflow(cfg: Path, app: App) -> None:
    wf = app.client.enqueue_workflow(_flow())
    cli(cfg, "workflows", "cancel", wf.id)
    out = cli(cfg, "tasks", "retry", wf.task_ids[1], check=False)
    assert out.returncode == 2
    assert out.stderr == (
        f"error: task {wf.task_ids[1]} is a step of a cancelled workflow: a cancelled "
        "workflow is not resumed (enqueue it again)\n"
    )
