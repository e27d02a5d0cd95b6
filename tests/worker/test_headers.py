"""The ``headers`` option on Bingo's own queues: stored with the task, ``ctx.headers`` in
async, sync and process-isolated handlers, shown by the inspector (what ``tasks show``
and the API print), passed on by ``ctx.enqueue`` (the given ones win), refused in one
line when they are not strings or too large."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bingo_core as bingo
from bingo_core.errors import OptionError
from bingo_core.message import TaskMessage
from bingo_core.testing import drain

SEEN: list[tuple[str, dict[str, str]]] = []


async def async_handler(ctx: bingo.TaskContext, payload: Any) -> None:
    SEEN.append(("async", dict(ctx.headers)))


def sync_handler(ctx: bingo.TaskContext, payload: Any) -> None:
    SEEN.append(("sync", dict(ctx.headers)))


def isolated_handler(ctx: bingo.TaskContext, payload: Any) -> dict[str, str]:
    return dict(ctx.headers)


async def parent_handler(ctx: bingo.TaskContext, payload: Any) -> None:
    SEEN.append(("parent", dict(ctx.headers)))
    ctx.enqueue("h:async", {}, headers={"tenant": "child-wins", "extra": "1"})
    ctx.enqueue("h:sync", {})


class Tasks:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("h:async", async_handler, max_retry=0)
        register("h:sync", sync_handler, max_retry=0)
        register("h:isolated", isolated_handler, max_retry=0, isolation="process")
        register("h:parent", parent_handler, max_retry=0)


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


def test_handlers_see_the_headers_and_the_task_shows_them(bingo_app: Any) -> None:
    app = bingo_app(Tasks())
    headers = {"tenant": "acme", "request-id": "r-1"}
    a = app.client.enqueue("h:async", {}, headers=headers, retention=60)
    s = app.client.enqueue("h:sync", {}, headers=headers)
    plain = app.client.enqueue("h:async", {})
    assert a.headers == headers and plain.headers is None
    shown = app.inspector.task("default", a.id)
    assert shown.headers == headers and shown.to_dict()["headers"] == headers
    raw = app.broker.redis.hget(app.broker.q("default").task(s.id), "msg")
    assert json.loads(raw)["headers"] == headers
    assert "headers" not in json.loads(
        app.broker.redis.hget(app.broker.q("default").task(plain.id), "msg")
    )
    asyncio.run(drain(app=app))
    assert sorted(SEEN, key=str) == sorted(
        [("async", headers), ("sync", headers), ("async", {})], key=str
    )
    assert app.inspector.task("default", a.id).headers == headers  # kept after it ran


def test_a_process_isolated_handler_sees_them(bingo_app: Any) -> None:
    app = bingo_app(Tasks())
    info = bingo.testing.run_task(app, "h:isolated", {}, headers={"k": "v"})
    assert info.state == "completed" and info.result == {"k": "v"}


def test_ctx_enqueue_passes_them_on_and_given_ones_win(bingo_app: Any) -> None:
    import asyncio

    app = bingo_app(Tasks())
    app.client.enqueue("h:parent", {}, headers={"tenant": "acme", "traceparent": "x"})
    asyncio.run(drain(app=app))
    got = sorted(SEEN, key=str)
    assert ("parent", {"tenant": "acme", "traceparent": "x"}) in got
    assert ("async", {"tenant": "child-wins", "traceparent": "x", "extra": "1"}) in got
    assert ("sync", {"tenant": "acme", "traceparent": "x"}) in got


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"a": 1}, "option headers={'a': 1}: expected a mapping of non-empty strings to strings"),
        ("a=b", "expected a mapping of non-empty strings to strings"),
        ({"": "b"}, "expected a mapping of non-empty strings to strings"),
        ({"big": "x" * 9000}, "option headers: 9003 bytes of keys and values, over 8192"),
    ],
)
def test_bad_headers_are_one_line(bingo_app: Any, value: Any, says: str) -> None:
    app = bingo_app(Tasks())
    with pytest.raises(OptionError) as caught:
        app.client.enqueue("h:async", {}, headers=value)
    assert says in str(caught.value) and "\n" not in str(caught.value)
    assert app.broker.reader.queue_stats("default").pending == 0


def test_a_message_with_bad_headers_is_malformed() -> None:
    msg = TaskMessage("i", "t", "q", {}, headers={"a": "b"}).encode()
    assert TaskMessage.decode(msg).headers == {"a": "b"}
    bad = json.dumps({**json.loads(msg), "headers": {"a": 1}})
    with pytest.raises(bingo.errors.MalformedTask, match="field headers is not an object"):
        TaskMessage.decode(bad)


def test_tasks_show_prints_them(bingo_app: Any, tmp_path: Path) -> None:
    app = bingo_app(Tasks())
    info = app.client.enqueue("h:async", {}, headers={"tenant": "acme"})
    cfg = tmp_path / "show.yaml"
    cfg.write_text(json.dumps({"redis": {"url": app.settings.redis.url}}))
    run = [sys.executable, "-m", "bingo_core.cli.main", "-c", str(cfg), "tasks", "show", info.id]
    out = subprocess.run([*run, "--json"], capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["headers"] == {"tenant": "acme"}
    text = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "headers       {'tenant': 'acme'}" in text


def test_enqueue_many_stores_each_items_headers(bingo_app: Any) -> None:
    app = bingo_app(Tasks())
    ids = app.client.enqueue_many([("h:async", {}), ("h:async", {}, {"headers": {"a": "b"}})])
    assert [app.inspector.find(i).headers for i in ids] == [None, {"a": "b"}]


def test_the_cli_enqueues_headers_and_refuses_bad_ones_in_one_line(
    bingo_app: Any, tmp_path: Path
) -> None:
    app = bingo_app(Tasks())
    cfg = tmp_path / "cli.yaml"
    cfg.write_text(json.dumps({"redis": {"url": app.settings.redis.url}}))
    # The CLI loads the installed plugins: a type of the test plugin package.
    enqueue = [sys.executable, "-m", "bingo_core.cli.main", "-c", str(cfg), "enqueue"]
    good = [*enqueue, "test:record", "--payload", '{"path": "/dev/null", "value": "x"}']
    out = subprocess.run(
        [*good, "--headers", '{"tenant": "acme"}', "--json"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    task = json.loads(out.stdout)
    assert app.inspector.task(task["queue"], task["id"]).headers == {"tenant": "acme"}
    bad = subprocess.run([*good, "--headers", '{"tenant": 1}'], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "option headers={'tenant': 1}: expected a mapping of non-empty strings" in bad.stderr


def test_a_workflow_gives_its_headers_to_every_step_under_their_own(bingo_app: Any) -> None:
    app = bingo_app(Tasks())
    flow = bingo.chain(
        bingo.step("h:async", {}),
        bingo.group(bingo.step("h:sync", {}, headers={"tenant": "step-wins", "own": "1"})),
    )
    failure = bingo.step("h:async", {}, headers={"alert": "1"})
    wf = app.client.enqueue_workflow(flow, on_failure=failure, headers={"tenant": "acme"})
    first, second = (app.inspector.task("default", i) for i in wf.task_ids)
    assert first.headers == {"tenant": "acme"}
    assert second.headers == {"tenant": "step-wins", "own": "1"}
    asyncio.run(drain(app=app))
    assert SEEN == [("async", {"tenant": "acme"}), ("sync", {"tenant": "step-wins", "own": "1"})]
    # the on_failure step too (archive a step of a second workflow to run it)
    SEEN.clear()
    wf = app.client.enqueue_workflow(flow, on_failure=failure, headers={"tenant": "acme"})
    app.inspector.act("archive", wf.task_ids[0])
    asyncio.run(drain(app=app))
    assert SEEN == [("async", {"tenant": "acme", "alert": "1"})]


@pytest.mark.parametrize(
    ("value", "says"),
    [({"k": 1}, "expected a mapping of non-empty strings"), ({"k": "v" * 9000}, "over 8192")],
)
def test_bad_workflow_headers_are_one_line(bingo_app: Any, value: Any, says: str) -> None:
    app = bingo_app(Tasks())
    with pytest.raises(OptionError) as caught:
        app.client.enqueue_workflow(bingo.step("h:async", {}), headers=value)
    text = str(caught.value)
    assert text.startswith("enqueue_workflow: option headers") and says in text
    assert "\n" not in text
    small = {"k": "v" * 5000}  # fits alone, not with the step's own
    with pytest.raises(OptionError, match=r"^steps\[0\]: option headers: .* over 8192"):
        app.client.enqueue_workflow(
            bingo.step("h:async", {}, headers={"j": "w" * 5000}), headers=small
        )
