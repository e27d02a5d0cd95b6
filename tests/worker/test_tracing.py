"""``tracing.enabled`` with the OpenTelemetry SDK's in-memory exporter, a real worker on a
real Redis: a web request's span, the enqueue's producer span and the worker's consumer
span share one trace (and so does a follow-up task from ``ctx.enqueue`` in a plain
``def`` handler); a handler's error is recorded on its span; a scheduler tick is a root
span its task continues; with tracing off nothing imports OpenTelemetry."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from tracing_helpers import EXPORTER, named, spans

import bingo_core as bingo
from bingo_core.building import Template
from bingo_core.client import AsyncClient
from bingo_core.registry import ScheduleEntry
from bingo_core.scheduler.flows import start_tick_workflows, tick_workflow_id
from bingo_core.testing import drain
from bingo_core.ticks import Tick


async def ok_handler(ctx: bingo.TaskContext, payload: Any) -> str:
    return "ok"


def parent_handler(ctx: bingo.TaskContext, payload: Any) -> None:
    ctx.enqueue("tr:ok", {}, queue="child")


async def failing_handler(ctx: bingo.TaskContext, payload: Any) -> None:
    raise ValueError("no stock")


class Tasks:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("tr:ok", ok_handler, max_retry=0)
        register("tr:parent", parent_handler, max_retry=0)
        register("tr:fail", failing_handler, max_retry=1, retry_backoff=0)


@pytest.fixture(autouse=True)
def _clear() -> None:
    EXPORTER.clear()


def traced(bingo_app: Any) -> Any:
    return bingo_app(
        Tasks(), tracing={"enabled": True}, worker={"queues": {"default": 1, "child": 1}}
    )


def test_a_web_request_its_enqueue_and_the_worker_share_one_trace(bingo_app: Any) -> None:
    app = traced(bingo_app)
    tracer = trace.get_tracer("web")
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as web:
        info = app.client.enqueue("tr:parent", {}, headers={"tenant": "acme"})
    stored = app.inspector.task("default", info.id).headers or {}
    assert stored["tenant"] == "acme" and stored["traceparent"].startswith("00-")
    asyncio.run(drain(app=app))

    trace_id = web.get_span_context().trace_id
    (send,) = named("enqueue default")
    (process,) = named("process default")
    (send_child,) = named("enqueue child")
    (process_child,) = named("process child")
    for span in (send, process, send_child, process_child):
        assert span.context.trace_id == trace_id, span.name
    assert send.kind == SpanKind.PRODUCER and send.parent.span_id == web.get_span_context().span_id
    assert process.kind == SpanKind.CONSUMER and process.parent.span_id == send.context.span_id
    assert send_child.parent.span_id == process.context.span_id  # a sync handler's ctx.enqueue
    assert process_child.parent.span_id == send_child.context.span_id
    assert dict(send.attributes) == {
        "messaging.system": "bingo",
        "messaging.operation.name": "enqueue",
        "messaging.operation.type": "send",
        "messaging.bingo.task_type": "tr:parent",
        "messaging.destination.name": "default",
        "messaging.message.id": info.id,
    }
    assert dict(process.attributes) == {
        "messaging.system": "bingo",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "default",
        "messaging.message.id": info.id,
        "messaging.bingo.task_type": "tr:parent",
        "messaging.bingo.retry_count": 0,
    }
    assert process.status.status_code == StatusCode.UNSET


def test_a_failed_attempt_records_the_error_each_attempt_its_span(bingo_app: Any) -> None:
    app = traced(bingo_app)
    info = app.client.enqueue("tr:fail", {})
    asyncio.run(drain(app=app))
    attempts = sorted(named("process default"), key=lambda s: s.start_time or 0)
    assert [s.attributes["messaging.bingo.retry_count"] for s in attempts] == [0, 1]
    (send,) = named("enqueue default")
    for span in attempts:
        assert span.context.trace_id == send.context.trace_id
        assert span.status.status_code == StatusCode.ERROR
        assert "ValueError: no stock" in (span.status.description or "")
        (event,) = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"] == "ValueError"
        assert event.attributes["exception.message"] == "no stock"
    assert app.inspector.task("default", info.id).state == "archived"


def test_an_enqueue_that_is_refused_ends_its_span_with_the_error(bingo_app: Any) -> None:
    app = traced(bingo_app)
    app.client.enqueue("tr:ok", {}, task_id="same")
    with pytest.raises(bingo.errors.DuplicateTaskError):
        app.client.enqueue("tr:ok", {}, task_id="same")
    failed = [s for s in spans() if s.status.status_code == StatusCode.ERROR]
    assert [s.name for s in failed] == ["enqueue"]
    assert failed[0].events[0].attributes["exception.type"].endswith("DuplicateTaskError")


def test_a_tick_is_a_root_span_its_task_continues(bingo_app: Any) -> None:
    app = traced(bingo_app)
    template = Template.build(app.registry.get("tr:ok"))
    fire = float(int(time.time()))
    tick = Tick(template, "{}", "config|every minute", fire, 60.0)

    async def fire_and_run() -> list[Any]:
        results = await AsyncClient(app=app).enqueue_ticks([tick])
        await drain(app=app)
        return results

    with trace.get_tracer("other").start_as_current_span("unrelated"):
        (result,) = asyncio.run(fire_and_run())
    (root,) = named("tick config|every minute")
    (process,) = named("process default")
    assert root.parent is None and root.kind == SpanKind.PRODUCER
    assert root.attributes["messaging.message.id"] == result.task_id
    assert root.attributes["bingo.schedule.fire_time"] == fire
    assert process.parent.span_id == root.context.span_id
    assert process.context.trace_id == root.context.trace_id


def test_a_tick_that_starts_a_workflow_is_the_root_span_of_every_step(bingo_app: Any) -> None:
    app = traced(bingo_app)
    flow = bingo.chain(bingo.step("tr:ok"), bingo.group(bingo.step("tr:ok"), bingo.step("tr:ok")))
    fire = float(int(time.time()))

    async def fire_and_run() -> list[Any]:
        entry = ScheduleEntry("* * * * *", "workflow", {}, {}, "config", "wf", flow=flow)
        results = await start_tick_workflows(AsyncClient(app=app), [(entry, fire)])
        await drain(app=app)
        return results

    with trace.get_tracer("other").start_as_current_span("unrelated"):
        (result,) = asyncio.run(fire_and_run())
    (root,) = named("tick config|wf")
    assert root.parent is None and root.kind == SpanKind.PRODUCER
    assert (
        root.attributes["messaging.message.id"]
        == result.task_id
        == tick_workflow_id("config|wf", fire)
    )
    assert root.attributes["messaging.destination.name"] == "default"
    steps = named("process default")
    assert len(steps) == 3
    assert all(s.parent.span_id == root.context.span_id for s in steps)


def test_the_async_client_traces_its_enqueue(bingo_app: Any) -> None:
    app = traced(bingo_app)

    async def go() -> Any:
        with trace.get_tracer("web").start_as_current_span("job") as outer:
            info = await AsyncClient(app=app).enqueue("tr:ok", {})
        await app.aclose()
        return outer, info

    outer, info = asyncio.run(go())
    (send,) = named("enqueue default")
    assert send.parent.span_id == outer.get_span_context().span_id
    assert send.attributes["messaging.message.id"] == info.id


NOTHING_IMPORTED = """
import asyncio, builtins, json, sys, traceback

asked = []
real_import = builtins.__import__


def watch(name, globals=None, *args, **kwargs):
    if name.startswith("opentelemetry") and (globals or {}).get("__name__", "").startswith(
        "bingo_core"
    ):
        asked.append((globals["__name__"], name))
    return real_import(name, globals, *args, **kwargs)


builtins.__import__ = watch
import trnone
from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.testing import drain
from bingo_core.ticks import Tick

app = App(load_settings(sys.argv[1], env={}), plugins=[trnone], entry_points=False)
app.client.enqueue("tr:none", {"a": 1}, headers={"k": "v"})
asyncio.run(drain(app=app))
print(json.dumps([asked, sorted(m for m in sys.modules if m.startswith("bingo_core.tracing"))]))
"""


def test_with_tracing_off_nothing_imports_opentelemetry(bingo_settings: Any, tmp_path: Any) -> None:
    # redis-py imports OpenTelemetry on its own when it is installed (its observability
    # module): what is counted is what Bingo's modules ask for.
    cfg = tmp_path / "off.yaml"
    cfg.write_text(json.dumps({"redis": {"url": bingo_settings.redis.url}}))
    (tmp_path / "trnone.py").write_text(
        "import bingo_core as bingo\n"
        "async def h(ctx, payload): return ctx.headers\n"
        "@bingo.hookimpl\n"
        "def bingo_register_tasks(register): register('tr:none', h)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", NOTHING_IMPORTED, str(cfg)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": ":".join([str(tmp_path), *sys.path]), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == [[], []]


def test_tracing_on_without_opentelemetry_is_one_line(bingo_settings: Any) -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from bingo_core.client import Client\n"
        "from bingo_core.config import load_settings\n"
        "from bingo_core.errors import BingoError\n"
        "s = load_settings(None, env={}, overrides={'tracing.enabled': 'true', "
        f"'redis.url': {bingo_settings.redis.url!r}}})\n"
        "try:\n    Client(s)\nexcept BingoError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout == (
        "tracing.enabled is true but opentelemetry is not installed: "
        "pip install 'bingo-scheduler[otel]'\n"
    )


def test_enqueue_many_is_one_span_every_task_continues(bingo_app: Any) -> None:
    app = traced(bingo_app)
    ids = app.client.enqueue_many(
        [("tr:ok", {}), ("tr:ok", {}, {"headers": {"tenant": "acme"}, "queue": "child"})]
    )
    (batch,) = named("enqueue")
    assert batch.attributes["messaging.batch.message_count"] == 2
    assert app.inspector.find(ids[1]).headers["tenant"] == "acme"
    asyncio.run(drain(app=app))
    consumers = named("process default") + named("process child")
    assert sorted(s.attributes["messaging.message.id"] for s in consumers) == sorted(ids)
    assert {s.parent.span_id for s in consumers} == {batch.context.span_id}


def test_the_scheduler_service_fires_root_spans(bingo_app: Any) -> None:
    from bingo_core.scheduler.service import SchedulerService

    app = bingo_app(
        Tasks(),
        tracing={"enabled": True},
        scheduler={"leaderLease": "1s"},
        schedules=[{"name": "every", "spec": "* * * * * *", "type": "tr:ok", "payload": {}}],
    )

    async def run() -> None:
        service = SchedulerService(app)
        await service.start()
        deadline = time.monotonic() + 10
        while not named("tick config|every") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await service.stop()
        await service.broker.close()
        await drain(app=app)

    asyncio.run(run())
    ticks = named("tick config|every")
    assert ticks and all(s.parent is None for s in ticks)
    by_id = {s.attributes["messaging.message.id"]: s for s in ticks}
    processed = named("process default")
    assert processed
    for span in processed:
        root = by_id[span.attributes["messaging.message.id"]]
        assert span.parent.span_id == root.context.span_id
        assert span.context.trace_id == root.context.trace_id


def test_an_asynq_queue_carries_the_trace_in_asynq_s_headers(bingo_app: Any) -> None:
    from bingo_core.worker import Worker

    app = bingo_app(
        Tasks(),
        tracing={"enabled": True},
        asynq={"queues": {"go": 1}},
        worker={"queues": {"default": 1}},
    )
    with trace.get_tracer("web").start_as_current_span("POST /go") as web:
        info = app.client.enqueue("tr:ok", {}, queue="go", headers={"tenant": "acme"})
    stored = app.inspector.task("go", info.id).headers or {}
    assert stored["tenant"] == "acme" and stored["traceparent"].startswith("00-")

    async def serve() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(app).run(stop))
        deadline = time.monotonic() + 10
        while not named("process go") and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await task
        await app.aclose()

    asyncio.run(serve())
    (send,) = named("enqueue go")
    (process,) = named("process go")
    assert send.parent.span_id == web.get_span_context().span_id
    assert process.parent.span_id == send.context.span_id
    assert process.attributes["messaging.message.id"] == info.id


class _Entry:
    """What ``run_entry`` reads of a schedule entry."""

    def __init__(self, task_type: Any) -> None:
        self.key = "config|by hand"
        self.task_type = task_type
        self.options: dict[str, Any] = {}
        self.payload_json = "{}"


def test_running_an_entry_by_hand_is_a_producer_span(bingo_app: Any) -> None:
    app = traced(bingo_app)
    entry = _Entry(app.registry.get("tr:ok"))
    with trace.get_tracer("cli").start_as_current_span("cron run") as outer:
        info = app.client.run_entry(entry)

    async def by_async() -> Any:
        got = await AsyncClient(app=app).run_entry(entry)
        await drain(app=app)
        return got

    second = asyncio.run(by_async())
    sends = named("enqueue default")
    assert sorted(s.attributes["messaging.message.id"] for s in sends) == sorted(
        [info.id, second.id]
    )
    first = next(s for s in sends if s.attributes["messaging.message.id"] == info.id)
    assert first.parent.span_id == outer.get_span_context().span_id
    assert info.headers and info.headers["traceparent"].startswith("00-")
    assert info.source == "config|by hand"
    processed = {s.attributes["messaging.message.id"]: s for s in named("process default")}
    for send in sends:
        assert processed[send.attributes["messaging.message.id"]].parent.span_id == (
            send.context.span_id
        )


def test_a_workflow_is_one_span_every_step_continues(bingo_app: Any) -> None:
    app = traced(bingo_app)
    flow = bingo.chain(bingo.step("tr:ok", {}), bingo.group(bingo.step("tr:ok", {}) for _ in "ab"))
    wf = app.client.enqueue_workflow(flow, headers={"tenant": "acme"})
    (send,) = named("enqueue default")
    assert send.kind == SpanKind.PRODUCER
    assert send.attributes["messaging.message.id"] == wf.id
    for task_id in wf.task_ids:
        stored = app.inspector.find(task_id).headers or {}
        assert stored["tenant"] == "acme" and stored["traceparent"].startswith("00-")
    asyncio.run(drain(app=app))
    consumers = named("process default")
    assert sorted(s.attributes["messaging.message.id"] for s in consumers) == sorted(wf.task_ids)
    assert {s.parent.span_id for s in consumers} == {send.context.span_id}


def test_the_async_client_traces_a_workflow(bingo_app: Any) -> None:
    app = traced(bingo_app)

    async def go() -> Any:
        info = await AsyncClient(app=app).enqueue_workflow(bingo.step("tr:ok", {}))
        await app.aclose()
        return info

    wf = asyncio.run(go())
    (send,) = named("enqueue default")
    assert send.attributes["messaging.message.id"] == wf.id
    assert (app.inspector.find(wf.task_ids[0]).headers or {})["traceparent"].startswith("00-")
