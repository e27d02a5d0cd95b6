"""Limits in one process on a real Redis: the one-line refusals of bad limits, limits per
``limit_key`` value, queue limits, a held-back task cancelled, and the held-back counts
in ``stats``, the ``throttled`` problem and ``/metrics``' figures."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core.config import load_settings
from bingo_core.errors import ConfigError, OptionError, RegistrationError
from bingo_core.limits import KEY_SEP
from bingo_core.problems import find_problems
from bingo_core.testing import drain

RUNS: list[tuple[str, str, float, float]] = []


class Order(BaseModel):
    customer: str = "a"
    sleep: float = 0.1


async def work(ctx: bingo.TaskContext, payload: Order) -> None:
    started = time.monotonic()
    await asyncio.sleep(payload.sleep)
    RUNS.append((ctx.type, payload.customer, started, time.monotonic()))


class Limited:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("l:key", work, payload=Order, concurrency_limit=1, limit_key="customer")
        register("l:one", work, payload=Order, concurrency_limit=1)
        register("l:low", work, payload=Order, queue="low")


@pytest.fixture(autouse=True)
def _clear() -> None:
    RUNS.clear()


def most_at_once(runs: list[tuple[str, str, float, float]]) -> int:
    events = sorted([(r[2], 1) for r in runs] + [(r[3], -1) for r in runs])
    running = top = 0
    for _, step in events:
        running += step
        top = max(top, running)
    return top


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"rate_limit": "10/x"}, "option rate_limit='10/x': expected N/s, N/m or N/h, e.g. 10/s"),
        (
            {"rate_limit": "0/s"},
            "option rate_limit='0/s': expected a whole number of tasks >= 1 before the slash",
        ),
        ({"concurrency_limit": 0}, "option concurrency_limit=0: expected a whole number >= 1"),
        (
            {"concurrency_limit": 2, "limit_key": "tenant"},
            "limit_key='tenant' names no field of Order (its fields: customer, sleep)",
        ),
        ({"limit_key": "customer"}, "limit_key='customer' needs rate_limit or concurrency_limit"),
    ],
)
def test_bad_limits_are_one_line_refusals(options: dict[str, Any], expected: str) -> None:
    register = bingo.TaskRegister(bingo_registry(), "shop")
    with pytest.raises(RegistrationError) as info:
        register("l:bad", work, payload=Order, **options)
    assert str(info.value) == f"plugin 'shop', task type 'l:bad': {expected}"


def bingo_registry() -> Any:
    from bingo_core.registry import Registry

    return Registry()


def test_limits_are_a_task_types_own_not_an_enqueues(bingo_app: Any) -> None:
    app = bingo_app(Limited())
    with pytest.raises(OptionError) as info:
        app.client.enqueue("l:one", {}, rate_limit="1/s")
    assert "option 'rate_limit' cannot be set here (it is set on: type)" in str(info.value)
    register = bingo.TaskRegister(bingo_registry(), "shop")
    with pytest.raises(RegistrationError, match="must not hold"):
        register(f"l:{KEY_SEP}", work, concurrency_limit=1)


def test_a_bad_queue_limit_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("worker: {queueLimits: {low: {concurrency: 0, rateLimit: 10/x}}}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    text = str(info.value)
    assert "worker.queueLimits.low.concurrency" in text and "\n" not in text.strip()
    cfg.write_text("worker: {queueLimits: {low: {rateLimit: 10/x}}}\n")
    with pytest.raises(ConfigError, match=r"worker.queueLimits.low.rateLimit.*N/s, N/m or N/h"):
        load_settings(cfg, env={})


def test_each_limit_key_value_has_its_own_limit(bingo_app: Any) -> None:
    app = bingo_app(Limited(), worker={"concurrency": 8})
    for customer in "ababab":
        app.client.enqueue("l:key", {"customer": customer})
    asyncio.run(drain(app=app))
    for customer in "ab":
        assert most_at_once([r for r in RUNS if r[1] == customer]) == 1
    assert most_at_once(RUNS) == 2  # one customer's tasks never held the other's back


def test_queue_limits_hold_across_the_queue(bingo_app: Any) -> None:
    app = bingo_app(
        Limited(),
        worker={
            "concurrency": 8,
            "queues": {"low": 1, "default": 1},
            "queueLimits": {"low": {"concurrency": 2, "rateLimit": "4/s"}},
        },
    )
    for _ in range(6):
        app.client.enqueue("l:low", {"sleep": 0.05})
    app.client.enqueue("l:one", {"sleep": 0.05})
    asyncio.run(drain(app=app))
    low = [r for r in RUNS if r[0] == "l:low"]
    assert len(low) == 6 and most_at_once(low) <= 2
    starts = sorted(r[2] for r in low)
    assert starts[4] - starts[0] >= 0.9  # 4 per second: the fifth waits for the window
    other = next(r for r in RUNS if r[0] == "l:one")
    assert other[2] - starts[0] < 0.5  # the other queue was not held up


def test_a_held_back_task_cancelled_never_runs(bingo_app: Any) -> None:
    app = bingo_app(Limited())

    async def scenario() -> None:
        stop = asyncio.Event()
        from bingo_core.worker import Worker

        worker = Worker(app)
        runner = asyncio.create_task(worker.run(stop))
        first = app.client.enqueue("l:one", {"sleep": 0.5})
        held = app.client.enqueue("l:one", {"customer": "held", "sleep": 0})
        while app.inspector.stats(["default"])[0].throttled != 1:
            await asyncio.sleep(0.01)
        app.inspector.cancel(held.id, "default", by="test")
        while first.id in {r[1] for r in RUNS} or worker.active:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stop.set()
        await runner
        await app.aclose()

    asyncio.run(scenario())
    assert [r[1] for r in RUNS] == ["a"]
    task = app.inspector.task("default", app.inspector.tasks("default", "archived")[0].id)
    assert task.state == "archived" and "cancelled by test" in task.error
    assert app.inspector.stats(["default"])[0].throttled == 0


def test_held_back_counts_show_in_stats_problems_and_metrics(bingo_app: Any) -> None:
    app = bingo_app(Limited(), dashboard={"problems": {"throttled": "50ms"}})

    async def scenario() -> None:
        stop = asyncio.Event()
        from bingo_core.worker import Worker

        runner = asyncio.create_task(Worker(app).run(stop))
        for _ in range(4):
            app.client.enqueue("l:one", {"sleep": 1.0})
        while app.inspector.stats(["default"])[0].throttled != 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        stats = app.inspector.stats(["default"])[0]
        assert (stats.pending, stats.active, stats.throttled) == (0, 1, 3)
        (row,) = app.inspector.throttled()
        assert (row.queue, row.type, row.key, row.held) == ("default", "l:one", None, 3)
        assert row.waited >= 0.1
        found = [p for p in find_problems(app.inspector, app.settings) if p.kind == "throttled"]
        assert [(p.subject, p.severity) for p in found] == [("default", "warning")]
        assert "3 task(s) of l:one held back by its limits" in found[0].message
        stop.set()
        await runner
        await app.aclose()

    asyncio.run(scenario())
