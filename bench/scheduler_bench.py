"""Scheduler benchmark: CPU and fire lateness with 10,000 live entries.

One :class:`~bingo_core.scheduler.service.SchedulerService` (the daemon's scheduler, as
leader) runs in this process on a private ``redis-server``; Redis is pinned to CPU 0 and
this process to CPU 1. Two loads, interleaved run by run, Redis flushed before each:

- ``idle``: ``--entries`` entries that each fire once a day (spread over the day), plus
  ``--fast`` one-second entries (``* * * * * *``);
- ``busy``: ``--entries`` entries that each fire once a minute (spread over the 60
  seconds, so ``entries / 60`` enqueues a second), plus the same one-second entries.

Per run: ``arm s`` (start → leader with every entry published and scheduled), the
scheduler's CPU over the window as a share of one core, enqueues per second, and the
lateness of the one-second entries' ticks (enqueue done - tick, from the enqueue
history the leader keeps in Redis). The table shows medians over ``--runs``. A script
run by hand; it prints figures and asserts nothing.

    .venv/bin/python bench/scheduler_bench.py --runs 3 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
import smoke
from harness import RedisServer

from bingo_core.app import App
from bingo_core.config import Settings, load_settings
from bingo_core.plugins import PluginManager, hookimpl
from bingo_core.registry import Registry, TaskRegister
from bingo_core.scheduler.service import SchedulerService
from bingo_core.store import Store

TASK = "bench:noop"
HEADERS = ["load", "entries", "arm s", "CPU %", "enqueue/s", "p50 ms", "p99 ms", "max ms"]


def noop(ctx: Any, payload: dict[str, Any]) -> None:
    """Never run here: the bench has no worker."""


class BenchPlugin:
    """Registers the bench's task type."""

    @hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register(TASK, noop)


def schedules(load: str, entries: int, fast: int) -> list[dict[str, Any]]:
    out = []
    for i in range(entries):
        if load == "idle":  # once a day, spread over the day
            spec = f"{i % 60} {i // 60 % 60} {i // 3600 % 24} * * *"
        else:  # once a minute, spread over the seconds
            spec = f"{i % 60} * * * * *"
        out.append({"name": f"e{i}", "spec": spec, "type": TASK, "payload": {"i": i}})
    for i in range(fast):
        out.append({"name": f"fast{i}", "spec": "* * * * * *", "type": TASK, "payload": {}})
    return out


def settings_for(url: str, workdir: str, schedule: list[dict[str, Any]]) -> Settings:
    db = f"sqlite:///{workdir}/bench.db"
    with Store(db) as store:
        store.init_schema()
    settings = load_settings(
        None,
        env={},
        overrides={
            "redis.url": url,
            "database.url": db,
            "scheduler.leaderLease": "10s",
            "scheduler.historySize": "100",
        },
    )
    settings.schedules = schedule
    return settings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def lateness_of(item: Any) -> float | None:
    """The lateness (s) of one history item, None for a missed or refused tick."""
    value = item.get("lateness") if isinstance(item, dict) else getattr(item, "lateness", None)
    return None if value is None else float(value)


def tick_of(item: Any) -> float:
    return float(item["tick"] if isinstance(item, dict) else item.tick)


async def one_run(
    load: str, args: argparse.Namespace, url: str, registry: Registry, manager: PluginManager
) -> dict[str, float]:
    workdir = tempfile.mkdtemp(prefix="bench-sched-")
    settings = settings_for(url, workdir, schedules(load, args.entries, args.fast))
    app = App(settings, registry=registry, manager=manager)
    service = SchedulerService(app)
    started = time.perf_counter()
    await service.start()
    deadline = started + args.arm_timeout
    while not service.ticker.armed:
        if time.perf_counter() > deadline:
            await service.stop()
            await app.aclose()
            raise SystemExit(f"the scheduler did not arm within {args.arm_timeout:g}s")
        await asyncio.sleep(0.001)
    arm = time.perf_counter() - started
    await asyncio.sleep(args.warmup)
    cpu0, wall0, fired0 = time.process_time(), time.perf_counter(), service.ticker.fired
    window_start = time.time()
    await asyncio.sleep(args.seconds)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    fired = service.ticker.fired - fired0
    window_end = time.time()
    fast_keys = [c.key for c in service.ticker.entries() if c.entry.name.startswith("fast")]
    await service.stop()
    try:
        late = [
            value
            for key in fast_keys
            for item in app.inspector.schedule_history(key, 100)
            if (value := lateness_of(item)) is not None
            and window_start <= tick_of(item) < window_end
        ]
    finally:
        await app.aclose()
    nan = float("nan")
    return {
        "arm": arm,
        "cpu": 100 * cpu / wall,
        "rate": fired / wall,
        "late": len(late),
        "p50": 1000 * percentile(late, 0.50) if late else nan,
        "p99": 1000 * percentile(late, 0.99) if late else nan,
        "max": 1000 * max(late) if late else nan,
    }


SMOKE = {
    "entries": 300,
    "fast": 10,
    "seconds": 1.5,
    "warmup": 0.5,
    "runs": 1,
    "no_pin": True,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000, help="live entries (10000)")
    parser.add_argument("--fast", type=int, default=100, help="one-second entries (100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before it (2)")
    parser.add_argument("--runs", type=int, default=3, help="runs per load (3)")
    parser.add_argument("--loads", default="idle,busy", help="idle,busy")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to CPUs")
    parser.add_argument(
        "--arm-timeout", type=float, default=120.0, help="seconds the scheduler may take to arm"
    )
    args = smoke.parse_args(parser, argv, SMOKE)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    server = RedisServer(pin)
    if pin:
        os.sched_setaffinity(0, {1})
    manager = PluginManager()
    manager.add(BenchPlugin(), "bench")
    registry = manager.collect()
    loads = [x for x in args.loads.split(",") if x]
    unknown = sorted(set(loads) - {"idle", "busy"})
    if unknown or not loads:
        parser.error(f"--loads: unknown load {', '.join(unknown) or '(none)'} (idle, busy)")
    results: dict[str, list[dict[str, float]]] = {load: [] for load in loads}
    try:
        for run in range(args.runs):
            for load in loads[run % len(loads) :] + loads[: run % len(loads)]:
                client = redis.Redis.from_url(server.url)
                client.flushall()
                client.close()
                res = asyncio.run(one_run(load, args, server.url, registry, manager))
                results[load].append(res)
                print(f"run {run + 1} {load}: " + ", ".join(f"{k}={v:.3g}" for k, v in res.items()))
    finally:
        server.stop()
    print()
    print(
        f"{args.entries} entries + {args.fast} one-second entries, window {args.seconds:g}s, "
        f"median of {args.runs} run(s); "
        f"{'Redis on CPU 0, Python on CPU 1' if pin else 'no CPU pinning'}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    rows = []
    for load in loads:
        med = {k: statistics.median(r[k] for r in results[load]) for k in results[load][0]}
        rows.append(
            [
                load,
                str(args.entries + args.fast),
                f"{med['arm']:.2f}",
                f"{med['cpu']:.1f}",
                f"{med['rate']:.0f}",
                f"{med['p50']:.2f}",
                f"{med['p99']:.2f}",
                f"{med['max']:.2f}",
            ]
        )
    widths = [max(len(r[i]) for r in [HEADERS, *rows]) for i in range(len(HEADERS))]
    for row in [HEADERS, *rows]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    empty = [load for load in loads if not any(r["late"] for r in results[load])]
    if empty:
        print(f"no one-second entry fired within the window under load {', '.join(empty)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
