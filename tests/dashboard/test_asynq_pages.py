"""The dashboard shows a queue of ``asynq.queues`` marked as Asynq's, its Go-written tasks
decoded (pages and their JSON twins)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from asynq_golden import dumps, restore

from bingo_core.app import App

from .conftest import ADMIN_KEY, client, make_app


@pytest.fixture
def asynq_app(bingo_redis_url: str, tmp_path: Path) -> Iterator[App]:
    application = make_app(bingo_redis_url, tmp_path, **{"asynq.queues.legacy": "2"})
    yield application
    application.close()


@pytest.fixture
def admin_asynq(asynq_app: App, bingo_redis_url: str) -> Iterator[Any]:
    from bingo_core.dashboard import create_app

    with redis.Redis.from_url(bingo_redis_url) as r:
        keys = dumps("enqueue_options")[-1]["keys"]
        restore(r, [{**k, "key": k["key"].replace("{default}", "{legacy}")} for k in keys])
    web = create_app(asynq_app)
    yield client(web, ADMIN_KEY)
    web.state.dash.close()


def test_overview_and_queue_page_mark_the_asynq_queue(admin_asynq: Any) -> None:
    page = admin_asynq.get("/queue/")
    assert page.status_code == 200
    assert "kept in Asynq's Redis layout" in page.text
    queue = admin_asynq.get("/queue/queues/legacy")
    assert queue.status_code == 200 and ">asynq</span>" in queue.text
    assert "opt-1" in queue.text and "report:build" in queue.text


def test_the_api_shows_the_layout_and_the_decoded_task(admin_asynq: Any) -> None:
    info = admin_asynq.get("/queue/api/queues/legacy").json()
    assert info["layout"] == "asynq" and info["pending"] == 1
    task = admin_asynq.get("/queue/api/queues/legacy/tasks/opt-1").json()
    body = task.get("task", task)
    assert body["payload"] == {"day": "2026-12-07"} and body["max_retry"] == 3
