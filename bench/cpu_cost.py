"""CPU per task on the hot paths: the Python process and the Redis server, in µs.

    .venv/bin/python bench/cpu_cost.py --runs 5

Single enqueue, bulk enqueue (``enqueue_many`` in calls of 1,000), processing (one
in-process worker, no-op async handler) and, last, single enqueues with ``depends_on`` (each
waiting for one pending task) on a private redis-server. CPU time, unlike wall
time, hardly moves with other load on a shared machine, so this is the figure to compare
before and after a change on a hot path: run it on both trees (``git worktree add`` the
old revision and run this file there with ``PYTHONPATH`` pointing at it) and compare the
minima. It prints the minimum and median of ``--runs`` runs. ``--tracing`` turns
``tracing.enabled`` on (the spans made, none exported: no tracer provider is set).

``--rate N`` measures instead what a user of ``enqueue_many`` sees: N no-op tasks enqueued
in calls of ``--batch`` (1,000) into a fresh redis-server with no worker, as tasks per
second of wall time, with the CPU µs per task of the process and of Redis beside it. Wall
time moves with other load on a shared machine: compare medians of interleaved runs.

    .venv/bin/python bench/cpu_cost.py --rate 100000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smoke
from harness import free_port

TASK = "bench:noop"
SMOKE = {"runs": 1, "single": 200, "bulk": 1000}


async def noop(ctx: Any, payload: Any) -> None:
    """The no-op task."""


def noop_sync(ctx: Any, payload: Any) -> None:
    """The no-op task as a sync handler (run in the worker's threads)."""


def handler(kind: str, url: str) -> Any:
    """The processed task's handler: ``noop``, ``noop-sync``, or ``io``/``io-sync``, an
    I/O body (one INCR per task through the handler's own client, as ``throughput.py
    --body io``)."""
    import redis
    import redis.asyncio

    if kind == "noop":
        return noop
    if kind == "noop-sync":
        return noop_sync
    if kind == "io-sync":
        client = redis.Redis.from_url(url)

        def io_sync(ctx: Any, payload: Any) -> None:
            client.incr("bench:count")

        return io_sync
    clients: dict[int, Any] = {}

    async def io(ctx: Any, payload: Any) -> None:
        own = clients.get(0)
        if own is None:
            own = clients[0] = redis.asyncio.Redis.from_url(url)
        await own.incr("bench:count")

    return io


def make_app(url: str, tracing: bool = False, kind: str = "noop") -> Any:
    import bingo_core as bingo
    from bingo_core.app import App

    class BenchPlugin:
        @bingo.hookimpl
        def bingo_register_tasks(self, register: Any) -> None:
            register(TASK, handler(kind, url))

    overrides = {"redis.url": url}
    if tracing:
        overrides["tracing.enabled"] = "true"
    return App(overrides=overrides, plugins=[BenchPlugin()], entry_points=False)


def _redis_server() -> tuple[subprocess.Popen[bytes], Any]:
    """A private redis-server on a free port, and a client that has reached it."""
    import redis

    port = free_port()
    folder = tempfile.mkdtemp(prefix="bingo-cpu-")
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    probe = redis.Redis(port=port)
    for _ in range(200):
        try:
            probe.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    return server, probe


def _redis_cpu(probe: Any) -> float:
    info = probe.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def rate_run(n: int, batch: int) -> tuple[float, float, float]:
    """Tasks/s (wall), process CPU µs and Redis CPU µs per task of ``enqueue_many`` of
    ``n`` no-op tasks in calls of ``batch``."""
    server, probe = _redis_server()
    try:
        port = probe.connection_pool.connection_kwargs["port"]
        app = make_app(f"redis://127.0.0.1:{port}/0")
        client = app.client
        client.enqueue_many([(TASK, {})] * 10)  # scripts loaded, queue known
        items = [(TASK, {})] * batch
        calls, rest = divmod(n, batch)
        start, cpu, rcpu = time.perf_counter(), time.process_time(), _redis_cpu(probe)
        for _ in range(calls):
            client.enqueue_many(items)
        if rest:
            client.enqueue_many(items[:rest])
        wall = time.perf_counter() - start
        out = (
            n / wall,
            (time.process_time() - cpu) / n * 1e6,
            (_redis_cpu(probe) - rcpu) / n * 1e6,
        )
        app.close()
        probe.close()
        return out
    finally:
        server.kill()
        server.wait()


def one_run(
    single: int, bulk: int, tracing: bool = False, kind: str = "noop", loop: str = ""
) -> dict[str, tuple[float, float]]:
    from bingo_core.worker import Worker

    server, probe = _redis_server()
    try:
        port = probe.connection_pool.connection_kwargs["port"]

        def redis_cpu() -> float:
            return _redis_cpu(probe)

        app = make_app(f"redis://127.0.0.1:{port}/0", tracing, kind)
        client = app.client
        client.enqueue(TASK, {})
        out: dict[str, tuple[float, float]] = {}
        cpu, rcpu = time.process_time(), redis_cpu()
        for _ in range(single):
            client.enqueue(TASK, {})
        out["single enqueue"] = (
            (time.process_time() - cpu) / single * 1e6,
            (redis_cpu() - rcpu) / single * 1e6,
        )
        cpu, rcpu = time.process_time(), redis_cpu()
        for _ in range(bulk // 1000):
            client.enqueue_many([(TASK, {})] * 1000)
        out["bulk enqueue"] = (
            (time.process_time() - cpu) / bulk * 1e6,
            (redis_cpu() - rcpu) / bulk * 1e6,
        )
        total = single + bulk + 1

        async def process() -> tuple[float, float]:
            worker = Worker(app)
            stop = asyncio.Event()
            runner = asyncio.create_task(worker.run(stop))
            while worker.processed < 1:
                await asyncio.sleep(0.001)
            start, cpu0, rcpu0 = worker.processed, time.process_time(), redis_cpu()
            while worker.processed < total:
                await asyncio.sleep(0.005)
            n = worker.processed - start
            result = ((time.process_time() - cpu0) / n * 1e6, (redis_cpu() - rcpu0) / n * 1e6)
            stop.set()
            await runner
            await app.aclose()
            return result

        if loop:
            from bingo_core.eventloop import run

            out["processing"] = run(process(), loop)
        else:
            out["processing"] = asyncio.run(process())
        first = client.enqueue(TASK, {})  # no worker now: it stays pending
        cpu, rcpu = time.process_time(), redis_cpu()
        for _ in range(single):
            client.enqueue(TASK, {}, depends_on=[first.id])
        out["depends_on enq."] = (
            (time.process_time() - cpu) / single * 1e6,
            (redis_cpu() - rcpu) / single * 1e6,
        )
        probe.close()
        return out
    finally:
        server.kill()
        server.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--single", type=int, default=4000, help="single enqueues per run")
    parser.add_argument("--bulk", type=int, default=40000, help="bulk-enqueued tasks per run")
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="tracing.enabled: spans through OpenTelemetry's API (the otel extra) with no "
        "tracer provider set, so the figures are Bingo's own cost of making them",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=0,
        metavar="N",
        help="measure enqueue_many's tasks/s instead: N tasks in calls of --batch",
    )
    parser.add_argument("--batch", type=int, default=1000, help="tasks per call of --rate")
    parser.add_argument(
        "--handler",
        choices=("noop", "noop-sync", "io", "io-sync"),
        default="noop",
        help="the processed task's handler: a no-op (async or sync), or an I/O body: one "
        "INCR per task through the handler's own client (default: noop)",
    )
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="",
        help="process on the worker's own loop choice (worker.eventLoop; its GC threshold "
        "too); default: a plain asyncio.run",
    )
    args = smoke.parse_args(parser, argv, SMOKE)
    if args.rate:
        if args.rate < 1 or args.batch < 1 or args.runs < 1:
            parser.error("--rate, --batch and --runs must be at least 1")
        rates = [rate_run(args.rate, args.batch) for _ in range(args.runs)]
        print(f"enqueue_many of {args.rate} tasks in calls of {args.batch}, {args.runs} runs")
        print(f"{'':16} {'min':>9} {'median':>9} {'max':>9}")
        for i, what in enumerate(("tasks/s (wall)", "python µs/task", "redis µs/task")):
            got = [r[i] for r in rates]
            print(f"{what:16} {min(got):9.1f} {statistics.median(got):9.1f} {max(got):9.1f}")
        return
    if args.runs < 1 or args.single < 1 or args.bulk < 1000:
        parser.error("--runs and --single must be at least 1, --bulk at least 1000")
    runs = [
        one_run(args.single, args.bulk, args.tracing, args.handler, args.loop)
        for _ in range(args.runs)
    ]
    print(f"CPU µs per task, {args.runs} runs (min / median)")
    print(f"{'path':16} {'python min':>11} {'median':>8} {'redis min':>10} {'median':>8}")
    for path in runs[0]:
        py = [r[path][0] for r in runs]
        rd = [r[path][1] for r in runs]
        print(
            f"{path:16} {min(py):11.1f} {statistics.median(py):8.1f} "
            f"{min(rd):10.1f} {statistics.median(rd):8.1f}"
        )


if __name__ == "__main__":
    main()
