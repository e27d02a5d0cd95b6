"""A task's progress (``ctx.progress``) on the dashboard's task page and in the API."""

from __future__ import annotations

import time
from typing import Any

from bingo_core.app import App
from bingo_core.records import TaskProgress


def _report(app: App, task_id: str, progress: TaskProgress) -> None:
    app.broker.redis.hset(f"bingo:{{default}}:t:{task_id}", "progress", progress.encode())


def test_the_task_page_and_the_api_show_progress(app: App, admin: Any) -> None:
    task_id = app.client.enqueue("demo:greet", {"name": "p"}).id
    page = admin.get(f"/queue/queues/default/tasks/{task_id}").text
    assert '<div id="progress" data-show="task.progress" hidden>' in page
    api = f"/queue/api/queues/default/tasks/{task_id}"
    assert admin.get(api).json()["task"]["progress"] is None
    _report(app, task_id, TaskProgress.of(30, 120, "rows", time.time() - 5))
    page = admin.get(f"/queue/queues/default/tasks/{task_id}").text
    assert '<div id="progress" data-show="task.progress">' in page
    bar = '<progress data-max="task.progress.total" data-value="task.progress.done"'
    assert bar + ' max="120.0" value="30.0">' in page
    assert ">30</span>" in page and ">120</span>" in page and ">rows</span>" in page
    shown = admin.get(api).json()["task"]["progress"]
    assert shown["done"] == 30 and shown["total"] == 120 and shown["note"] == "rows"
    schema = admin.get("/queue/api/openapi.json").json()
    assert "TaskProgress" in str(schema) or "progress" in str(schema)
