"""Middleware (``bingo_register_middleware``) around real workers on a real Redis: order,
before/after, results and errors seen, the handler skipped, failures and retries, and the
two examples of docs/plugins.md run as they are written there."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core.testing import drain, run_task

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
EVENTS: list[Any] = []


class Item(BaseModel):
    n: int = 0
    fail: bool = False


async def async_handler(ctx: bingo.TaskContext, payload: Item) -> dict[str, Any]:
    EVENTS.append(("handler", "async", payload.n))
    if payload.fail:
        raise RuntimeError(f"handler failed {payload.n}")
    return {"n": payload.n}


def sync_handler(ctx: bingo.TaskContext, payload: Item) -> dict[str, Any]:
    EVENTS.append(("handler", "sync", threading.current_thread().name))
    if payload.fail:
        raise RuntimeError("sync handler failed")
    return {"n": payload.n}


async def slow_handler(ctx: bingo.TaskContext, payload: Item) -> None:
    await asyncio.sleep(5)


class Tasks:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("t:async", async_handler, payload=Item, max_retry=0)
        register("t:sync", sync_handler, payload=Item, max_retry=0)
        register("t:retry", async_handler, payload=Item, max_retry=2, retry_backoff=0)
        register("t:slow", slow_handler, payload=Item, timeout=0.2, max_retry=0)


def recorder(label: str) -> Any:
    async def middleware(ctx: bingo.TaskContext, payload: Any, call_next: bingo.CallNext) -> Any:
        EVENTS.append(("before", label, ctx.type))
        try:
            result = await call_next()
        except Exception as exc:
            EVENTS.append(("error", label, f"{type(exc).__name__}: {exc}"))
            raise
        EVENTS.append(("after", label, result))
        return result

    middleware.__qualname__ = f"recorder_{label}"
    return middleware


class Outer:
    @bingo.hookimpl
    def bingo_register_middleware(self, register: bingo.MiddlewareRegister) -> None:
        register(recorder("outer"))
        register(recorder("middle"))


class Inner:
    @bingo.hookimpl
    def bingo_register_middleware(self, register: bingo.MiddlewareRegister) -> None:
        register(recorder("inner"))


@pytest.fixture(autouse=True)
def _clear() -> None:
    EVENTS.clear()


def test_chain_in_registration_order_around_async_and_sync_handlers(bingo_app: Any) -> None:
    app = bingo_app(Tasks(), Outer(), Inner())
    task = run_task(app, "t:async", {"n": 4})
    assert task.state == "completed" and task.result == {"n": 4}
    assert EVENTS == [
        ("before", "outer", "t:async"),
        ("before", "middle", "t:async"),
        ("before", "inner", "t:async"),
        ("handler", "async", 4),
        ("after", "inner", {"n": 4}),
        ("after", "middle", {"n": 4}),
        ("after", "outer", {"n": 4}),
    ]
    EVENTS.clear()
    task = run_task(app, "t:sync", {"n": 5})
    assert task.state == "completed" and task.result == {"n": 5}
    kinds = [(e[0], e[1]) for e in EVENTS]
    assert kinds == [
        ("before", "outer"),
        ("before", "middle"),
        ("before", "inner"),
        ("handler", "sync"),
        ("after", "inner"),
        ("after", "middle"),
        ("after", "outer"),
    ]
    assert EVENTS[3][2].startswith("bingo-task")  # the sync handler ran in the pool


def test_middleware_sees_the_handlers_exception_and_timeout(bingo_app: Any) -> None:
    app = bingo_app(Tasks(), Inner())
    task = run_task(app, "t:sync", {"fail": True})
    assert task.state == "archived" and "sync handler failed" in task.error
    assert ("error", "inner", "RuntimeError: sync handler failed") in EVENTS
    EVENTS.clear()
    started = time.monotonic()
    task = run_task(app, "t:slow", {})
    assert time.monotonic() - started < 4
    assert task.state == "archived" and "timed out after 0.2s" in task.error
    assert ("error", "inner", "TaskTimeout: timed out after 0.2s") in EVENTS


async def cached(ctx: bingo.TaskContext, payload: Any, call_next: bingo.CallNext) -> Any:
    if payload.n == 7:
        return {"cached": True}  # the handler does not run
    return await call_next()


async def refuse(ctx: bingo.TaskContext, payload: Any, call_next: bingo.CallNext) -> Any:
    if payload.n == 8:
        raise bingo.SkipRetry("refused by middleware")
    if payload.n == 9:
        raise ValueError(f"middleware error on attempt {ctx.retry_count}")
    if payload.n == 10:
        raise SystemExit(3)
    return await call_next()


class Stopping:
    @bingo.hookimpl
    def bingo_register_middleware(self, register: bingo.MiddlewareRegister) -> None:
        register(cached)
        register(refuse)


def test_middleware_can_stop_the_handler_and_its_errors_fail_the_task(bingo_app: Any) -> None:
    app = bingo_app(Tasks(), Stopping())
    client = app.client
    cached_task = client.enqueue("t:async", {"n": 7}, retention=60)
    skipped = client.enqueue("t:retry", {"n": 8}, retention=60)
    retried = client.enqueue("t:retry", {"n": 9}, retention=60)
    exiting = client.enqueue("t:async", {"n": 10}, retention=60)
    plain = client.enqueue("t:async", {"n": 11}, retention=60)
    asyncio.run(drain(app=app))  # the worker outlives every one of them
    show = app.inspector.task
    done = show("default", cached_task.id)
    assert done.state == "completed" and done.result == {"cached": True}
    assert ("handler", "async", 7) not in EVENTS
    skip = show("default", skipped.id)
    assert skip.state == "archived" and skip.retried == 0 and "refused by middleware" in skip.error
    retry = show("default", retried.id)
    assert retry.state == "archived" and retry.retried == 2
    assert "ValueError: middleware error on attempt 2" in retry.error
    assert "retries exhausted" in retry.error
    exit_ = show("default", exiting.id)
    assert exit_.state == "archived" and "MiddlewareError: SystemExit: 3" in exit_.error
    assert show("default", plain.id).result == {"n": 11}
    assert [e for e in EVENTS if e[0] == "handler"] == [("handler", "async", 11)]


async def twice(ctx: bingo.TaskContext, payload: Any, call_next: bingo.CallNext) -> Any:
    await call_next()
    return await call_next()


class Twice:
    @bingo.hookimpl
    def bingo_register_middleware(self, register: bingo.MiddlewareRegister) -> None:
        register(twice)


def test_call_next_runs_the_handler_once(bingo_app: Any) -> None:
    app = bingo_app(Tasks(), Twice())
    task = run_task(app, "t:async", {"n": 1})
    assert task.state == "archived" and "called call_next twice" in task.error
    assert EVENTS == [("handler", "async", 1)]


def sync_middleware(ctx: Any, payload: Any, call_next: Any) -> Any:
    return call_next()


async def two_args(ctx: Any, call_next: Any) -> Any:
    return await call_next()


@pytest.mark.parametrize(
    ("middleware", "expected"),
    [
        (sync_middleware, "middleware 'sync_middleware': expected an async def function"),
        (two_args, "middleware 'two_args': it must take three arguments"),
    ],
)
def test_a_bad_middleware_breaks_its_plugin_only(middleware: Any, expected: str) -> None:
    from bingo_core.plugins import PluginManager

    class Bad:
        @bingo.hookimpl
        def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
            register("bad:type", async_handler)

        @bingo.hookimpl
        def bingo_register_middleware(self, register: bingo.MiddlewareRegister) -> None:
            register(middleware)

    manager = PluginManager()
    manager.add(Bad(), "bad")
    manager.add(Tasks(), "good")
    registry = manager.collect()
    (failure,) = [str(f) for f in manager.failures]
    assert "\n" not in failure and f"plugin 'bad', {expected} (ctx, payload, call_next)" in failure
    assert "bad:type" not in registry.tasks and "t:async" in registry.tasks
    assert registry.middleware == []


def test_no_middleware_calls_the_handler_directly(bingo_app: Any) -> None:
    from bingo_core.worker import Worker

    app = bingo_app(Tasks())
    assert Worker(app).runner.middleware == ()


# -- the examples of docs/plugins.md, run as written ---------------------------------------


def doc_examples() -> list[types.ModuleType]:
    """The python blocks of the ``bingo_register_middleware`` section, each a module."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### `bingo_register_middleware(register)`", 1)[1]
    section = section.split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the middleware section has two examples"
    modules = []
    for i, code in enumerate(blocks):
        module = types.ModuleType(f"middleware_doc_example_{i}")
        exec(compile(code, f"docs/plugins.md example {i}", "exec"), module.__dict__)
        modules.append(module)
    return modules


def test_doc_example_timing_logs_into_the_tasks_log(
    bingo_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    timing, _ = doc_examples()
    app = bingo_app(Tasks(), timing)
    with caplog.at_level(logging.INFO, logger="bingo.task"):
        done = run_task(app, "t:async", {"n": 1})
        failed = run_task(app, "t:sync", {"fail": True})
    records = {r.task_id: r.getMessage() for r in caplog.records if r.name == "bingo.task"}  # type: ignore[attr-defined]
    assert re.fullmatch(r"t:async succeeded in \d+\.\d ms", records[done.id])
    assert re.fullmatch(r"t:sync failed in \d+\.\d ms", records[failed.id])


ORDERS = sa.Table(
    "orders", sa.MetaData(), sa.Column("n", sa.Integer, primary_key=True), sa.Column("by", sa.Text)
)


def import_orders(ctx: bingo.TaskContext, payload: Item) -> int:
    with ctx.db() as session:
        session.execute(sa.insert(ORDERS).values(n=payload.n, by="sync"))
        if payload.fail:
            raise RuntimeError("the import failed half way")
        return int(session.execute(sa.select(sa.func.count()).select_from(ORDERS)).scalar_one())


async def import_orders_async(ctx: bingo.TaskContext, payload: Item) -> None:
    with ctx.db() as session:
        session.execute(sa.insert(ORDERS).values(n=payload.n, by="async"))
        if payload.fail:
            raise RuntimeError("the async import failed half way")


class Orders:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("task:import-orders", import_orders, payload=Item, max_retry=0)
        register("task:import-orders-async", import_orders_async, payload=Item, max_retry=0)
        register("task:plain-orders", import_orders, payload=Item, max_retry=0)


def test_doc_example_transaction_commits_or_rolls_back(bingo_app: Any) -> None:
    _, transaction = doc_examples()
    transaction.TRANSACTIONAL.add("task:import-orders-async")
    app = bingo_app(Orders(), transaction)
    with app.db() as session:
        ORDERS.create(session.connection())
        session.commit()
    states = {}
    for task_type, n, fail in (
        ("task:import-orders", 1, False),
        ("task:import-orders", 2, True),
        ("task:import-orders-async", 3, False),
        ("task:import-orders-async", 4, True),
        ("task:plain-orders", 5, False),  # not transactional: its session is never committed
    ):
        task = run_task(app, task_type, {"n": n, "fail": fail})
        states[n] = (task.state, task.result)
    assert states[1] == ("completed", 1)  # the handler saw its own uncommitted row
    assert states[2][0] == states[4][0] == "archived"
    assert states[3] == ("completed", None) and states[5] == ("completed", 3)
    with app.db() as session:
        rows = session.execute(sa.select(ORDERS.c.n, ORDERS.c.by).order_by(ORDERS.c.n)).all()
    assert [tuple(r) for r in rows] == [(1, "sync"), (3, "async")]
