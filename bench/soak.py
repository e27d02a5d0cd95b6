"""Soak: a million no-op tasks through one daemon; does its memory stay flat?

    .venv/bin/python bench/soak.py                    # 1,000,000 tasks
    .venv/bin/python bench/soak.py --tasks 200000     # a shorter run

Starts a private redis-server on a free port and one ``bingo-scheduler`` daemon on a config
that points at it (its only plugin the bench's no-op task type, found through the
``bingo.plugins`` entry point like any plugin), then enqueues the tasks with
``Client.enqueue_many`` in batches while the daemon runs, holding the backlog near
``--backlog`` pending tasks. One batch in ``--retained-every`` is enqueued with
``retention``, so completed tasks are kept and expire all along the run.

Every ``--every`` seconds it samples the daemon's RSS (psutil if installed, else
``/proc/PID/status``), Redis ``used_memory`` and key count, the tasks processed and the
queue's pending and completed counts, and prints the samples as a table. The verdict
compares the last third of the samples taken while tasks were being enqueued (after the
first ``--retention`` + 2 seconds, while the retained tasks pile up to their steady
number) with the middle third: flat when each figure is within ``--tolerance`` percent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smoke
from harness import RedisServer

TASK = "bench:noop"
#: Redis keys the bench's task writes (not Bingo's keys).
COUNT, FIRST, LAST = "bench:count", "bench:first", "bench:last"
PLUGIN_NAME = "bench"
#: A smoke run is too short for a verdict: it exits 0 when every task was processed.
SMOKE = {
    "tasks": 2000,
    "batch": 200,
    "backlog": 600,
    "retained_every": 2,
    "retention": 1.0,
    "every": 0.25,
    "stall": 20.0,
    "no_pin": True,
}
PLUGIN = '''
"""The bench's no-op task type, loaded by the daemon through its bingo.plugins entry point.

Each worker process counts its tasks in memory; every 100 ms a background task adds the
new ones to bench:count and records the process's first start and last end (epoch
seconds) in the hashes bench:first and bench:last, so the handler itself touches nothing.
"""

import asyncio
import os
import time

import redis.asyncio

import bingo_core as bingo

STATE = {"n": 0, "flushed": 0, "first": None, "last": 0.0, "flusher": None}


async def _flush() -> None:
    client = redis.asyncio.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    pid = str(os.getpid())
    try:
        while True:
            await asyncio.sleep(0.1)
            n = STATE["n"]
            if n != STATE["flushed"]:
                pipe = client.pipeline(transaction=False)
                pipe.hsetnx("bench:first", pid, repr(STATE["first"]))
                pipe.hset("bench:last", pid, repr(STATE["last"]))
                pipe.incrby("bench:count", n - STATE["flushed"])
                await pipe.execute()
                STATE["flushed"] = n
    finally:
        await client.aclose()


async def noop(ctx, payload):
    """The no-op task: count it, note the time."""
    if STATE["first"] is None:
        STATE["first"] = time.time()
        STATE["flusher"] = asyncio.get_running_loop().create_task(_flush())
    STATE["n"] += 1
    STATE["last"] = time.time()


@bingo.hookimpl
def bingo_register_tasks(register):
    register("bench:noop", noop)
'''


def write_plugin(folder: Path) -> Path:
    """The no-op plugin as an installed distribution in ``folder`` (put it on PYTHONPATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bingo_bench_noop.py").write_text(PLUGIN)
    dist = folder / "bingo_bench_noop-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bingo-bench-noop\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[bingo.plugins]\n{PLUGIN_NAME} = bingo_bench_noop\n")
    return folder


def write_config(folder: Path, url: str, processes: int = 1) -> Path:
    """A daemon config on the private Redis, a SQLite store in ``folder``."""
    config = folder / "bingo-scheduler.yaml"
    database = folder / "bingo.db"
    config.write_text(
        textwrap.dedent(
            f"""\
            redis:
              url: "{url}"
            database:
              url: "sqlite:///{database}"
            log:
              level: info
            worker:
              processes: {processes}
            """
        )
    )
    return config


def bench_env(plugins: Path, url: str) -> dict[str, str]:
    """The environment of the daemon and of this process's client: only the bench plugin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    env["BINGO_PLUGINS"] = PLUGIN_NAME
    env["BENCH_REDIS_URL"] = url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugins), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Daemon:
    """One ``bingo-scheduler -c CONFIG`` process, its output in a log file."""

    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        exe = Path(sys.executable).with_name("bingo-scheduler")
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(exe), "-c", str(config)],
                env=env,
                cwd=config.parent,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        """SIGTERM (graceful), then SIGKILL of its process group after 30 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait()

    def tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (psutil if installed, else /proc/PID/status)."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.Process(pid).memory_info().rss)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pin_self(cpu: int) -> None:
    """Run this process (and what it starts) on one CPU, when the machine has it."""
    with contextlib.suppress(AttributeError, OSError):
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})


@dataclass
class Sample:
    at: float  # seconds since the daemon started
    phase: str  # "enqueue", "drain" or "after"
    processed: int
    rate: float  # tasks/s since the previous sample
    pending: int
    completed: int
    rss: int  # bytes
    used_memory: int  # bytes
    keys: int


class Sampler(threading.Thread):
    """Takes a :class:`Sample` every ``every`` seconds and prints it as a table row."""

    HEADER = (
        f"{'t s':>6} {'phase':<8} {'processed':>10} {'tasks/s':>8} {'pending':>8} "
        f"{'retained':>8} {'daemon RSS MB':>13} {'Redis MB':>9} {'keys':>9}"
    )

    def __init__(self, app: Any, raw: Any, daemon: Daemon, every: float) -> None:
        super().__init__(daemon=True)
        self.app, self.raw, self.proc, self.every = app, raw, daemon, every
        self.samples: list[Sample] = []
        self.phase = "enqueue"
        self.started = time.monotonic()
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def take(self) -> Sample:
        with self.lock:
            (stats,) = self.app.inspector.stats(["default"])
            memory = self.raw.info("memory")
            prev = self.samples[-1] if self.samples else None
            now = time.monotonic() - self.started
            processed = int(self.raw.get(COUNT) or 0)
            rate = 0.0
            if prev is not None and now > prev.at:
                rate = (processed - prev.processed) / (now - prev.at)
            sample = Sample(
                at=now,
                phase=self.phase,
                processed=processed,
                rate=rate,
                pending=stats.pending,
                completed=stats.completed,
                rss=rss_bytes(self.proc.pid) if self.proc.alive() else 0,
                used_memory=int(memory["used_memory"]),
                keys=int(self.raw.dbsize()),
            )
            self.samples.append(sample)
            print(
                f"{sample.at:6.0f} {sample.phase:<8} {sample.processed:>10,} "
                f"{sample.rate:>8,.0f} {sample.pending:>8,} {sample.completed:>8,} "
                f"{sample.rss / 2**20:>13.1f} {sample.used_memory / 2**20:>9.1f} "
                f"{sample.keys:>9,}",
                flush=True,
            )
            return sample

    def run(self) -> None:
        while not self.halt.wait(self.every):
            try:
                self.take()
            except Exception as exc:  # a sample that fails is reported, not fatal
                print(f"  sample failed: {type(exc).__name__}: {exc}", flush=True)


def verdict(samples: list[Sample], tolerance: float, warm: float) -> tuple[bool, str]:
    """Compare the last third of the samples taken while enqueuing, after the first
    ``warm`` seconds (the retained set fills up for one retention), with the middle third."""
    steady = [s for s in samples if s.phase == "enqueue" and s.at >= warm]
    if len(steady) < 6:
        return False, (
            f"too few samples while enqueuing after the first {warm:g}s ({len(steady)}; "
            f"need 6): run longer or sample more often (--every)"
        )
    third = len(steady) // 3
    middle, last = steady[third : 2 * third], steady[-third:]
    parts, flat = [], True
    for name, read in (
        ("daemon RSS", lambda s: s.rss),
        ("Redis used_memory", lambda s: s.used_memory),
        ("keys", lambda s: s.keys),
    ):
        before = statistics.mean(read(s) for s in middle)
        after = statistics.mean(read(s) for s in last)
        change = (after - before) / before * 100 if before else 0.0
        flat = flat and abs(change) <= tolerance
        parts.append(f"{name} {change:+.1f}%")
    word = "flat" if flat else "NOT flat"
    return flat, (
        f"verdict: {word} (last third vs middle third of the {len(steady)} samples taken "
        f"while enqueuing after the first {warm:g}s, tolerance {tolerance:g}%): " + ", ".join(parts)
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000, help="tasks (default 1000000)")
    parser.add_argument("--batch", type=int, default=1000, help="tasks per enqueue_many call")
    parser.add_argument(
        "--backlog", type=int, default=50_000, help="enqueue while fewer are pending (50000)"
    )
    parser.add_argument(
        "--retained-every", type=int, default=10, help="one batch in N keeps its tasks (10)"
    )
    parser.add_argument(
        "--retention", type=float, default=5.0, help="seconds those tasks are kept (5)"
    )
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples (1)")
    parser.add_argument(
        "--tolerance", type=float, default=5.0, help="percent that still counts as flat (5)"
    )
    parser.add_argument(
        "--stall", type=float, default=60.0, help="seconds without progress that fail the run"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin Redis to CPU 0 and the rest to CPU 1"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the daemon's log")
    return smoke.parse_args(parser, argv, SMOKE)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin = not args.no_pin and (os.cpu_count() or 1) > 1
    server = RedisServer(pin=pin)
    if pin:
        pin_self(1)
    folder = Path(tempfile.mkdtemp(prefix="bingo-soak-"))
    env = bench_env(write_plugin(folder / "plugins"), server.url)
    os.environ.update({k: env[k] for k in ("BINGO_PLUGINS", "BENCH_REDIS_URL")})
    sys.path.insert(0, str(folder / "plugins"))
    for var in [v for v in os.environ if v.startswith("BINGO_") and v != "BINGO_PLUGINS"]:
        del os.environ[var]
    config = write_config(folder, server.url)

    import redis

    from bingo_core.app import App

    app = App(config=str(config))
    raw = redis.Redis.from_url(server.url)
    daemon = Daemon(config, env, folder / "daemon.log")
    sampler = Sampler(app, raw, daemon, args.every)
    print(
        f"soak: {args.tasks:,} no-op tasks through one daemon (pid {daemon.pid}), batches of "
        f"{args.batch:,}, backlog {args.backlog:,}, one batch in {args.retained_every} kept "
        f"{args.retention:g}s; Redis {server.url}{' pinned to CPU 0' if pin else ''}; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    print(Sampler.HEADER, flush=True)
    code = 1
    try:
        sampler.start()
        plain = [(TASK, {})] * args.batch
        kept = [(TASK, {}, {"retention": args.retention})] * args.batch
        sent = batch_no = 0
        while sent < args.tasks:
            if not daemon.alive():
                raise RuntimeError(f"the daemon exited: {daemon.tail()}")
            if app.inspector.stats(["default"])[0].pending >= args.backlog:
                time.sleep(0.02)
                continue
            size = min(args.batch, args.tasks - sent)
            items = kept if batch_no % args.retained_every == args.retained_every - 1 else plain
            app.client.enqueue_many(items[:size])
            sent += size
            batch_no += 1
        sampler.phase = "drain"
        last, moved = -1, time.monotonic()
        while (done := int(raw.get(COUNT) or 0)) < args.tasks:
            if not daemon.alive():
                raise RuntimeError(f"the daemon exited: {daemon.tail()}")
            if done != last:
                last, moved = done, time.monotonic()
            elif time.monotonic() - moved > args.stall:
                raise RuntimeError(f"stalled at {done:,} tasks for {args.stall:g}s")
            time.sleep(0.1)
        first = min(float(v) for v in raw.hvals(FIRST))
        end = max(float(v) for v in raw.hvals(LAST))
        sampler.phase = "after"
        time.sleep(args.retention + 2)  # the last retained tasks expire meanwhile
        sampler.halt.set()
        sampler.join()
        final = sampler.take()
        print(
            f"\nprocessed {args.tasks:,} tasks in {end - first:.1f}s "
            f"({args.tasks / (end - first):,.0f}/s from the first start to the last end); "
            f"{final.completed:,} retained task(s) left {args.retention + 2:g}s after the "
            f"last one, {final.keys:,} key(s) in Redis"
        )
        flat, line = verdict(sampler.samples, args.tolerance, args.retention + 2)
        peak = max(s.rss for s in sampler.samples)
        print(f"daemon RSS peak {peak / 2**20:.1f} MB, at the end {final.rss / 2**20:.1f} MB")
        print("smoke run: too short for a verdict" if args.smoke else line)
        code = 0 if flat or args.smoke else 3
    except (RuntimeError, KeyboardInterrupt) as exc:
        print(f"soak failed: {exc}", file=sys.stderr)
    finally:
        sampler.halt.set()
        exit_code = daemon.stop()
        print(f"daemon stopped (exit code {exit_code}); load average {os.getloadavg()[0]:.2f}")
        app.close()
        raw.close()
        server.stop()
        if args.keep_logs:
            print(f"daemon log: {daemon.log}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
