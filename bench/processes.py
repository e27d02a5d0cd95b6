"""Worker processes: a daemon's processing rate with ``worker.processes: 1`` and ``2``.

    .venv/bin/python bench/processes.py --n 200000 --runs 3

Each run, on a freshly flushed private redis-server: pause the queue, enqueue ``--n``
no-op tasks with ``Client.enqueue_many``, start ``bingo-scheduler -c CONFIG`` with
``worker.processes: P`` (the daemon runs P worker processes: itself and P-1 worker-only
children), wait until P workers heartbeat, resume the queue and wait for the last task.
The rate is N ÷ (end of the last task - start of the first), both taken with
``time.time()`` inside the handlers, as in bench/throughput.py; each worker process
counts its tasks in memory and adds them to a Redis counter every 100 ms (the no-op
plugin is bench/soak.py's, loaded through the ``bingo.plugins`` entry point).

Two CPU layouts, interleaved run by run with the process counts: ``pinned`` (Redis on
CPU 0, the daemon and its children on CPU 1, as the other benches pin) and ``free`` (no
pinning: the kernel spreads the worker processes and Redis over the machine's CPUs). The
table shows each run, the median, and the ratio of 2 processes to 1 per layout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smoke
from harness import RedisServer
from soak import (
    COUNT,
    FIRST,
    LAST,
    TASK,
    Daemon,
    bench_env,
    write_config,
    write_plugin,
)

LAYOUTS = ("pinned", "free")
SMOKE = {"n": 300, "runs": 1, "batch": 100, "layouts": "free"}


class Failed(Exception):
    """A run that did not finish; the message says why."""


def one_run(layout: str, processes: int, n: int, batch: int, folder: Path) -> float:
    """One measured run; returns tasks per second."""
    import redis

    from bingo_core.app import App

    pinned = layout == "pinned" and (os.cpu_count() or 1) > 1
    server = RedisServer(pin=pinned)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{layout}-{processes}-", dir=folder))
    env = bench_env(folder / "plugins", server.url)
    os.environ.update({k: env[k] for k in ("BINGO_PLUGINS", "BENCH_REDIS_URL")})
    config = write_config(run_dir, server.url, processes)
    app = App(config=str(config))
    raw = redis.Redis.from_url(server.url)
    daemon: Daemon | None = None
    all_cpus = set(range(os.cpu_count() or 1))
    try:
        app.inspector.pause("default")
        for size in [batch] * (n // batch) + ([n % batch] if n % batch else []):
            app.client.enqueue_many([(TASK, {})] * size)
        # The daemon's tree runs on CPU 1 in the pinned layout, anywhere in the free one.
        os.sched_setaffinity(0, {1} if pinned else all_cpus)
        try:
            daemon = Daemon(config, env, run_dir / "daemon.log")
        finally:
            os.sched_setaffinity(0, all_cpus)
        deadline = time.monotonic() + 60
        while len(app.inspector.servers()) < processes:
            if not daemon.alive():
                raise Failed(f"the daemon exited: {daemon.tail(3)}")
            if time.monotonic() > deadline:
                raise Failed(f"{processes} workers did not all heartbeat within 60s")
            time.sleep(0.05)
        app.inspector.resume("default")
        last, moved = -1, time.monotonic()
        while (done := int(raw.get(COUNT) or 0)) < n:
            if not daemon.alive():
                raise Failed(f"the daemon exited: {daemon.tail(3)}")
            if done != last:
                last, moved = done, time.monotonic()
            elif time.monotonic() - moved > 30:
                raise Failed(f"stalled at {done:,}/{n:,} tasks")
            time.sleep(0.05)
        firsts = [float(v) for v in raw.hvals(FIRST)]
        ends = [float(v) for v in raw.hvals(LAST)]
        if len(firsts) != processes:
            raise Failed(f"{len(firsts)} worker process(es) ran tasks, expected {processes}")
        return n / (max(ends) - min(firsts))
    finally:
        if daemon is not None:
            daemon.stop()
        app.close()
        raw.close()
        server.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="tasks per run (200000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration (3)")
    parser.add_argument("--batch", type=int, default=1000, help="tasks per enqueue_many call")
    parser.add_argument(
        "--layouts", default=",".join(LAYOUTS), help="pinned, free or both (default: both)"
    )
    return smoke.parse_args(parser, argv, SMOKE)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown:
        print(f"unknown layout(s): {', '.join(unknown)} (known: {', '.join(LAYOUTS)})")
        return 2
    if (os.cpu_count() or 1) < 2 and "pinned" in layouts:
        layouts.remove("pinned")
    folder = Path(tempfile.mkdtemp(prefix="bingo-processes-"))
    write_plugin(folder / "plugins")
    sys.path.insert(0, str(folder / "plugins"))
    for var in [v for v in os.environ if v.startswith("BINGO_")]:
        del os.environ[var]
    configs = [(layout, p) for layout in layouts for p in (1, 2)]
    rates: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    print(
        f"{args.n:,} no-op tasks per run, {args.runs} run(s) each, {os.cpu_count()} CPU(s); "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    try:
        for run in range(args.runs):
            order = configs[run % len(configs) :] + configs[: run % len(configs)]
            for layout, processes in order:
                try:
                    rate = one_run(layout, processes, args.n, args.batch, folder)
                except Failed as exc:
                    print(f"  run {run + 1} {layout} processes={processes}: failed: {exc}")
                    continue
                rates[(layout, processes)].append(rate)
                print(
                    f"  run {run + 1} {layout:<6} processes={processes}: {rate:,.0f} tasks/s",
                    flush=True,
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{'layout':<8} {'processes':>9} {'median tasks/s':>15}   runs")
    medians: dict[tuple[str, int], float] = {}
    for layout, processes in configs:
        got = rates[(layout, processes)]
        if got:
            medians[(layout, processes)] = statistics.median(got)
        shown = f"{medians[(layout, processes)]:,.0f}" if got else "failed"
        runs = ", ".join(f"{r:,.0f}" for r in got)
        print(f"{layout:<8} {processes:>9} {shown:>15}   {runs}")
    print()
    for layout in layouts:
        one, two = medians.get((layout, 1)), medians.get((layout, 2))
        if one and two:
            print(f"{layout}: 2 processes / 1 process = {two / one:.2f}x")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0 if all(rates.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
