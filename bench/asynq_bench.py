"""Processing from a queue of ``asynq.queues`` (Asynq's layout, protobuf messages) against
Bingo's own layout, on the same worker: tasks/s and Python CPU µs per task.

    .venv/bin/python bench/asynq_bench.py --n 20000 --runs 5

Each run enqueues ``--n`` no-op tasks (``enqueue_many``) into one queue, then one
in-process worker (serving both queues, default concurrency) processes them; the time
and the CPU are taken from the worker's first finished task to its last. The two layouts
are interleaved run by run on one private redis-server, pinned to CPU 0 with this process
on CPU 1 (``--no-pin`` to leave both free). It prints the medians (tasks/s, CPU µs per
task of this process and of Redis) and the ratio asynq ÷ bingo of tasks/s (the goal: at
least 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smoke
from harness import RedisServer

TASK = "bench:noop"
QUEUES = {"bingo": "mine", "asynq": "legacy"}
SMOKE = {"runs": 1, "n": 300, "pin": False}


async def noop(ctx: Any, payload: Any) -> None:
    """The no-op task."""


def make_app(url: str) -> Any:
    import bingo_core as bingo
    from bingo_core.app import App

    class BenchPlugin:
        @bingo.hookimpl
        def bingo_register_tasks(self, register: Any) -> None:
            register(TASK, noop)

    return App(
        overrides={
            "redis.url": url,
            "worker.queues.mine": "1",
            "asynq.queues.legacy": "1",
            "log.level": "warning",
        },
        plugins=[BenchPlugin()],
        entry_points=False,
    )


def one_run(url: str, layout: str, n: int) -> tuple[float, float, float]:
    """Tasks/s, and the CPU µs per task of this process and of Redis, of processing
    ``n`` tasks of ``layout``."""
    import redis

    from bingo_core.worker import Worker

    probe = redis.Redis.from_url(url)

    def redis_cpu() -> float:
        info = probe.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    app = make_app(url)
    app.client.enqueue_many([(TASK, {"i": i}, {"queue": QUEUES[layout]}) for i in range(n)])

    async def process() -> tuple[float, float, float]:
        worker = Worker(app)
        stop = asyncio.Event()
        runner = asyncio.create_task(worker.run(stop))
        while worker.processed < 1:
            await asyncio.sleep(0.001)
        start, wall, cpu = worker.processed, time.perf_counter(), time.process_time()
        rcpu = redis_cpu()
        while worker.processed < n:
            await asyncio.sleep(0.002)
        done = worker.processed - start
        rate = done / (time.perf_counter() - wall)
        per_task = (time.process_time() - cpu) / done * 1e6
        redis_per_task = (redis_cpu() - rcpu) / done * 1e6
        stop.set()
        await runner
        await app.aclose()
        return rate, per_task, redis_per_task

    try:
        return asyncio.run(process())
    finally:
        app.close()
        probe.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=20000, help="tasks per run")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    args = smoke.parse_args(parser, argv, SMOKE)
    if args.runs < 1 or args.n < 10:
        parser.error("--runs must be at least 1 and --n at least 10")
    server = RedisServer(args.pin)
    if args.pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    figures: dict[str, list[tuple[float, float, float]]] = {"bingo": [], "asynq": []}
    try:
        for i in range(args.runs):
            order = ("bingo", "asynq") if i % 2 == 0 else ("asynq", "bingo")
            for layout in order:
                figures[layout].append(one_run(server.url, layout, args.n))
    finally:
        server.stop()
    print(f"processing {args.n} no-op tasks, {args.runs} run(s), medians")
    print(f"{'layout':8} {'tasks/s':>9} {'cpu µs/task':>12} {'redis µs/task':>14}")
    rates = {}
    for layout, runs in figures.items():
        rates[layout] = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        rcpu = statistics.median(r[2] for r in runs)
        print(f"{layout:8} {rates[layout]:9.0f} {cpu:12.1f} {rcpu:14.1f}")
    print(f"ratio asynq / bingo: {rates['asynq'] / rates['bingo']:.2f}")


if __name__ == "__main__":
    main()
