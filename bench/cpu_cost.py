"""CPU per task on the hot paths: the Python process and the Redis server, in µs.

    .venv/bin/python bench/cpu_cost.py --runs 5

Single enqueue, bulk enqueue (``enqueue_many`` in calls of 1,000) and processing (one
in-process worker, no-op async handler) on a private redis-server. CPU time, unlike wall
time, hardly moves with other load on a shared machine, so this is the figure to compare
before and after a change on a hot path: run it on both trees (``git worktree add`` the
old revision and run this file there with ``PYTHONPATH`` pointing at it) and compare the
minima. It prints the minimum and median of ``--runs`` runs.
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

from harness import free_port

TASK = "bench:noop"


async def noop(ctx: Any, payload: Any) -> None:
    """The no-op task."""


def make_app(url: str) -> Any:
    import bingo_core as bingo
    from bingo_core.app import App

    class BenchPlugin:
        @bingo.hookimpl
        def bingo_register_tasks(self, register: Any) -> None:
            register(TASK, noop)

    return App(overrides={"redis.url": url}, plugins=[BenchPlugin()], entry_points=False)


def one_run(single: int, bulk: int) -> dict[str, tuple[float, float]]:
    import redis

    from bingo_core.worker import Worker

    port = free_port()
    folder = tempfile.mkdtemp(prefix="bingo-cpu-")
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=port)
        for _ in range(200):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)

        def redis_cpu() -> float:
            info = probe.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        app = make_app(f"redis://127.0.0.1:{port}/0")
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

        out["processing"] = asyncio.run(process())
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
    args = parser.parse_args(argv)
    runs = [one_run(args.single, args.bulk) for _ in range(args.runs)]
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
