"""What limits cost, and how well a rate limit holds across worker processes.

    .venv/bin/python bench/limits_bench.py --n 20000 --runs 3 --rate-tasks 2000

1. Processing: one in-process worker (as ``cpu_cost.py``) drains ``--n`` no-op tasks of a
   type with no limit, then of one with a ``concurrency_limit`` that never binds, then of
   one with a ``rate_limit`` that never binds, interleaved ``--runs`` times; it prints
   tasks per second (median) and CPU µs per task of the Python process and of Redis, and
   each limited type's throughput as a ratio of the unlimited one's.
2. A rate limit across processes: ``--procs`` worker processes drain ``--rate-tasks`` tasks
   of a type limited to ``--rate``/s; the handlers record their start times, and it prints
   the rate achieved (starts per second over the whole seconds from the first start to
   the last), its error against the limit, and the most starts in any one-second window.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis  # here, not in the handler: its first start is not late

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smoke
from harness import free_port

SMOKE = {"runs": 1, "n": 300, "rate_tasks": 150, "procs": 2}
TYPES = {"no limit": "bench:free", "concurrency_limit": "bench:conc", "rate_limit": "bench:rate"}
STARTS = "bench:starts"
_recorder: Any = None


async def noop(ctx: Any, payload: Any) -> None:
    """The no-op task."""


async def record(ctx: Any, payload: Any) -> None:
    """Record the start time (the rate run)."""
    global _recorder
    if _recorder is None:
        _recorder = aioredis.Redis.from_url(payload["url"])
    await _recorder.rpush(STARTS, repr(time.time()))


def make_app(url: str, rate: int = 100, **overrides: str) -> Any:
    import bingo_core as bingo
    from bingo_core.app import App

    class BenchPlugin:
        @bingo.hookimpl
        def bingo_register_tasks(self, register: Any) -> None:
            register("bench:free", noop)
            register("bench:conc", noop, concurrency_limit=1_000_000)
            register("bench:rate", noop, rate_limit="1000000/s")
            register("bench:limited", record, rate_limit=f"{rate}/s")

    return App(
        overrides={"redis.url": url, **overrides}, plugins=[BenchPlugin()], entry_points=False
    )


class Server:
    """A private redis-server on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        folder = tempfile.mkdtemp(prefix="bingo-limits-bench-")
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"),
                *("--dir", folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis

        self.client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)

    def cpu(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def close(self) -> None:
        self.client.close()
        self.proc.kill()
        self.proc.wait()


def drain_one(server: Server, task_type: str, n: int) -> tuple[float, float, float]:
    """(tasks/s, Python CPU µs per task, Redis CPU µs per task) for ``n`` tasks."""
    from bingo_core.worker import Worker

    server.client.flushall()
    app = make_app(server.url)
    for start in range(0, n, 1000):
        app.client.enqueue_many([(task_type, {})] * min(1000, n - start))

    async def run() -> tuple[float, float, float]:
        worker = Worker(app)
        stop = asyncio.Event()
        runner = asyncio.create_task(worker.run(stop))
        wall, cpu, rcpu = time.perf_counter(), time.process_time(), server.cpu()
        while worker.processed < n:
            await asyncio.sleep(0.005)
        out = (
            n / (time.perf_counter() - wall),
            (time.process_time() - cpu) / n * 1e6,
            (server.cpu() - rcpu) / n * 1e6,
        )
        stop.set()
        await runner
        await app.aclose()
        return out

    try:
        return asyncio.run(run())
    finally:
        app.close()


def worker_process(url: str, rate: int) -> None:
    """One worker process of the rate run; stops on SIGTERM."""
    from bingo_core.worker import Worker

    app = make_app(url, rate, **{"worker.concurrency": "20"})

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await Worker(app).run(stop)
        await app.aclose()

    asyncio.run(run())
    app.close()


def rate_run(server: Server, tasks: int, procs: int, rate: int) -> tuple[float, float, int]:
    """(achieved rate /s, error %, most starts in a 1 s window)."""
    server.client.flushall()
    mp = multiprocessing.get_context("spawn")
    workers = [mp.Process(target=worker_process, args=(server.url, rate)) for _ in range(procs)]
    for w in workers:
        w.start()
    app = make_app(server.url, rate)
    try:
        time.sleep(1.5)  # the workers start and go idle
        app.client.enqueue_many([("bench:limited", {"url": server.url})] * tasks)
        deadline = time.monotonic() + tasks / rate * 3 + 30
        while server.client.llen(STARTS) < tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        starts = sorted(float(x) for x in server.client.lrange(STARTS, 0, -1))
    finally:
        app.close()
        for w in workers:
            if w.pid is not None:
                os.kill(w.pid, signal.SIGTERM)
        for w in workers:
            w.join(30)
    # Starts per second over the whole periods from the first start (the last period's
    # burst would count a period's worth of starts in no time).
    whole = max(1, int(starts[-1] - starts[0])) if starts else 1
    achieved = sum(t < starts[0] + whole for t in starts) / whole if starts else 0.0
    top, j = 0, 0
    for i, t in enumerate(starts):
        while j < len(starts) and starts[j] < t + 1.0:
            j += 1
        top = max(top, j - i)
    return achieved, (achieved - rate) / rate * 100, top


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=20000, help="tasks per processing run")
    parser.add_argument("--rate-tasks", type=int, default=2000, help="tasks of the rate run")
    parser.add_argument("--rate", type=int, default=100, help="the rate limit (per second)")
    parser.add_argument("--procs", type=int, default=4, help="worker processes of the rate run")
    args = smoke.parse_args(parser, argv, SMOKE)
    if min(args.runs, args.n, args.rate_tasks, args.rate, args.procs) < 1:
        parser.error("every count must be at least 1")
    server = Server()
    try:
        figures: dict[str, list[tuple[float, float, float]]] = {k: [] for k in TYPES}
        for _ in range(args.runs):
            for name, task_type in TYPES.items():
                figures[name].append(drain_one(server, task_type, args.n))
        base = statistics.median(f[0] for f in figures["no limit"])
        print(f"processing {args.n} no-op tasks, one worker, {args.runs} run(s) (median)")
        print(f"{'type':18} {'tasks/s':>9} {'ratio':>6} {'python µs':>10} {'redis µs':>9}")
        for name, rows in figures.items():
            rate = statistics.median(r[0] for r in rows)
            py = statistics.median(r[1] for r in rows)
            rd = statistics.median(r[2] for r in rows)
            print(f"{name:18} {rate:9.0f} {rate / base:6.2f} {py:10.1f} {rd:9.1f}")
        achieved, error, top = rate_run(server, args.rate_tasks, args.procs, args.rate)
        print(
            f"\nrate_limit={args.rate}/s, {args.procs} worker processes, {args.rate_tasks} tasks: "
            f"{achieved:.1f}/s achieved ({error:+.1f} %), at most {top} starts in any 1 s window"
        )
    finally:
        server.close()


if __name__ == "__main__":
    main()
