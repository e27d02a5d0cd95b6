"""``Client.wait``: how soon a waiter learns a task ended, and what idle waiters cost.

    .venv/bin/python bench/wait_bench.py --tasks 500 --idle 1000

On a private redis-server with one in-process worker (its own thread and event loop):

- latency: ``--tasks`` tasks, one after another, each waited for by ``Client.wait`` from
  before it ends (the handler sleeps 20 ms, then returns ``time.perf_counter()``); the
  figure is the time from the handler's return to ``wait``'s return, which takes in the
  worker's ack, the wake token, the waiter's BLPOP and its reading of the result;
- idle: ``--idle`` ``AsyncClient.wait`` calls on one scheduled task, blocked for 2 s: the
  CPU this process and Redis spend meanwhile, then how long until every waiter has its
  answer once the task is cancelled (each gets ``TaskFailed``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smoke
from harness import free_port

SMOKE = {"tasks": 50, "idle": 100}


async def timed(ctx: Any, payload: Any) -> float:
    await asyncio.sleep(0.02)
    return time.perf_counter()


def make_app(url: str) -> Any:
    import bingo_core as bingo
    from bingo_core.app import App

    class BenchPlugin:
        @bingo.hookimpl
        def bingo_register_tasks(self, register: Any) -> None:
            register("bench:timed", timed, retention=60)

    return App(overrides={"redis.url": url}, plugins=[BenchPlugin()], entry_points=False)


def start_worker(app: Any) -> tuple[threading.Thread, Any]:
    from bingo_core.worker import Worker

    loop = asyncio.new_event_loop()
    box: dict[str, asyncio.Event] = {}
    ready = threading.Event()

    async def main() -> None:
        box["stop"] = asyncio.Event()
        ready.set()
        await Worker(app).run(box["stop"])
        await app.aclose()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    ready.wait(10)
    return thread, lambda: loop.call_soon_threadsafe(box["stop"].set)


def run(tasks: int, idle: int) -> None:
    import redis

    import bingo_core as bingo
    from bingo_core import AsyncClient

    port = free_port()
    folder = tempfile.mkdtemp(prefix="bingo-wait-")
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
        url = f"redis://127.0.0.1:{port}/0"
        app = make_app(url)
        worker_app = make_app(url)
        thread, stop = start_worker(worker_app)
        client = app.client
        lat = []
        for _ in range(tasks):
            info = client.enqueue("bench:timed", {})
            ended = client.wait(info.id, timeout=10)
            lat.append((time.perf_counter() - ended) * 1000)
        lat.sort()
        print(f"latency after the handler returns, {tasks} tasks (ms)")
        print(
            f"p50 {statistics.median(lat):.2f}  p95 {lat[int(len(lat) * 0.95) - 1]:.2f}  "
            f"max {lat[-1]:.2f}"
        )

        def redis_cpu() -> float:
            info = probe.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        async def idle_waiters() -> tuple[float, float, float]:
            aclient = AsyncClient(app=app)
            info = await aclient.enqueue("bench:timed", {}, process_in=600)
            waits = [asyncio.create_task(aclient.wait(info.id, timeout=60)) for _ in range(idle)]
            while int(probe.hget(f"bingo:{{default}}:t:{info.id}", "waiters") or 0) < idle:
                await asyncio.sleep(0.05)
            cpu, rcpu = time.process_time(), redis_cpu()
            await asyncio.sleep(2.0)
            spent = (time.process_time() - cpu, redis_cpu() - rcpu)
            start = time.perf_counter()
            await asyncio.to_thread(app.inspector.cancel, info.id, by="the bench")
            answers = await asyncio.gather(*waits, return_exceptions=True)
            woke = time.perf_counter() - start
            assert all(isinstance(a, bingo.TaskFailed) for a in answers), answers[:3]
            await aclient.aclose()
            await app.aclose()
            return spent[0], spent[1], woke

        py, rd, woke = asyncio.run(idle_waiters())
        print(f"{idle} idle waiters for 2 s (ms CPU) and their wake-up (ms)")
        print(f"process {py * 1000:.1f}  redis {rd * 1000:.1f}  all answered {woke * 1000:.1f}")
        stop()
        thread.join(15)
        app.close()
        worker_app.close()
        probe.close()
    finally:
        server.kill()
        server.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=500, help="tasks waited for, one by one")
    parser.add_argument("--idle", type=int, default=1000, help="idle waiters on one task")
    args = smoke.parse_args(parser, argv, SMOKE)
    if args.tasks < 1 or args.idle < 1:
        parser.error("--tasks and --idle must be at least 1")
    run(args.tasks, args.idle)


if __name__ == "__main__":
    main()
