"""Idle pick-up: how soon an idle Bingo worker starts a task, against the Redis round trip.

One run, on a private redis-server (pinned to CPU 0, this process and the worker to CPU 1,
as bench/throughput.py does):

1. start the bench worker (``python -m bingo_worker``, bench/peers/bingo_worker.py) and
   wait until it ran a first task (so it is idle, its scripts loaded);
2. ``idle``: leave it idle ``--idle`` seconds; its CPU (utime + stime from
   ``/proc/PID/stat``) over that window ÷ the window is the idle CPU, and the Redis
   commands it sent then (``INFO commandstats``, before and after) are its background;
3. ``probes``: send ``--probes`` tasks at random gaps (``--gap-ms``, open loop), each
   carrying ``time.time()`` taken just before its ``Client.enqueue`` call, the handler
   pushing ``now - that`` (bench/peers/common.py); just before each probe, one ``PING``
   timed on the enqueuing client's own connection;
4. commands per pick-up: ``--counted`` more probes (no ``PING``) under ``MONITOR``,
   which also watched the idle window; the commands clients sent in the probe window (not
   those run inside scripts; the bench's reads and the handler's own ``RPUSH`` left out),
   less the idle window's background scaled to its length, ÷ probes (enqueue side and
   worker side together). The timed probes run before ``MONITOR`` starts.

It prints the PING round trip p50, the pick-up p50/p99 in ms and in round trips (each ÷
the PING p50), the idle CPU and the commands per pick-up by name. ``--runs`` repeats it
(a fresh worker each run) and prints the medians.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import harness
import redis
from harness import Config, Failed, RedisServer, Result, Run
from smoke import parse_args

common = harness.common  # bench/peers/common.py, on sys.path once harness is imported

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (and none of its children), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Monitor(threading.Thread):
    """Redis ``MONITOR`` in a thread: the commands clients send (never those a script
    runs inside), each as ``(phase, client, name)``; the bench's own connection and the
    handler's ``RPUSH`` of its latency left out."""

    STOP = "pickup-monitor-stop"

    def __init__(self, url: str, shas: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.shas = shas
        self.phase = ""
        self.seen: list[tuple[str, str, str]] = []
        self.ready = threading.Event()

    def run(self) -> None:
        with self.client.monitor() as m:
            self.ready.set()
            while True:
                cmd = m.next_command()
                text = cmd["command"]
                if text.endswith(self.STOP):
                    return
                if cmd["client_type"] == "lua" or common.LATENCY in text:
                    continue
                words = text.split()
                if not words or words[0].upper() in ("INFO", "MONITOR"):
                    continue
                name = words[0].lower()
                if name == "evalsha" and len(words) > 1:
                    name = f"evalsha {self.shas.get(words[1], words[1][:8])}"
                elif name == "script" and len(words) > 1:
                    name = f"script {words[1].lower()}"
                self.seen.append(
                    (self.phase, f"{cmd['client_address']}:{cmd['client_port']}", name)
                )

    def stop(self, bench: redis.Redis) -> None:
        bench.echo(self.STOP)
        self.join(10)
        self.client.close()

    def count(self, phase: str, skip: set[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for p, client, name in self.seen:
            if p == phase and client not in skip:
                out[name] = out.get(name, 0) + 1
        return out


def script_shas() -> dict[str, str]:
    """The SHA1 of each of Bingo's scripts -> its name."""
    from bingo_core.broker import scripts

    return {hashlib.sha1(src.encode()).hexdigest(): name for name, src in scripts.SOURCES.items()}


class PickupRun(Run):
    """One run: a worker, an idle window, the timed probes, then the counted ones."""

    def __init__(self, cfg: Config, run_no: int, idle: float, counted: int) -> None:
        super().__init__("bingo", cfg, run_no)
        self.idle = idle
        self.counted = counted
        self.pings: list[float] = []
        self.idle_cpu = 0.0
        self.per_pickup: dict[str, float] = {}
        self.background: dict[str, int] = {}

    def _probes(self, n: int, ping: Any) -> list[float]:
        lo, hi = self.cfg.gap_ms
        for _ in range(n):
            if ping is not None:
                t = time.perf_counter()
                ping()
                self.pings.append(time.perf_counter() - t)
            self.adapter.probe()
            time.sleep(random.uniform(lo, hi) / 1000)
        return [self._wait_list(common.LATENCY, "collecting probes", 10.0) for _ in range(n)]

    def _measure(self) -> Result:
        cfg, res = self.cfg, Result()
        self.redis.flushall()
        self.adapter = harness.load_adapter("bingo")
        self.adapter.open()
        self._start_worker()
        self.adapter.probe()  # the first task: the worker is up and has run a handler
        self._wait_list(common.LATENCY, "starting the worker", 30.0)
        time.sleep(0.5)  # let it settle into its idle wait
        assert self.proc is not None
        own = {str(self.redis.client_info()["addr"])}  # the bench's reads

        # The timed probes, with nothing else watching Redis.
        ping = self.adapter.client.broker.redis.ping
        res.latencies = self._probes(cfg.probes, ping)

        # The idle window (CPU, background commands), then the counted probes.
        monitor = Monitor(cfg.url, script_shas())
        monitor.start()
        monitor.ready.wait(10)
        time.sleep(0.2)
        monitor.phase = "idle"
        cpu0, t0 = cpu_seconds(self.proc.pid), time.monotonic()
        time.sleep(self.idle)
        cpu1, t1 = cpu_seconds(self.proc.pid), time.monotonic()
        self.idle_cpu = (cpu1 - cpu0) / (t1 - t0)
        monitor.phase = "probes"
        self._probes(self.counted, None)
        t2 = time.monotonic()
        monitor.phase = ""
        monitor.stop(self.redis)
        self.background = monitor.count("idle", own)
        scale = (t2 - t1) / (t1 - t0)
        counted = monitor.count("probes", own)
        for name in set(counted) | set(self.background):
            n = counted.get(name, 0) - self.background.get(name, 0) * scale
            if abs(n) / self.counted >= 0.05:
                self.per_pickup[name] = n / self.counted
        return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, nargs=2, default=(20.0, 60.0))
    parser.add_argument("--idle", type=float, default=30.0, help="idle window, seconds")
    parser.add_argument("--counted", type=int, default=50, help="probes under MONITOR")
    parser.add_argument("--no-pin", action="store_true")
    args = parse_args(
        parser,
        argv,
        {
            "runs": 1,
            "probes": 20,
            "idle": 1.0,
            "counted": 10,
            "gap_ms": (5.0, 10.0),
            "no_pin": True,
        },
    )
    pin = not args.no_pin
    if pin:
        os.sched_setaffinity(0, {1})
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    server = RedisServer(pin)
    os.environ.pop("BINGO_CONFIG", None)
    os.environ["BENCH_REDIS_URL"] = server.url  # the adapter's client and the worker's
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"pickup-{os.getpid()}"
    logs.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[float, float, float, float, dict[str, float]]] = []
    try:
        for run_no in range(1, args.runs + 1):
            cfg = Config(server.url, 0, 1, args.probes, tuple(args.gap_ms), 600, 30, logs)
            run = PickupRun(cfg, run_no, args.idle, args.counted)
            try:
                res = run.measure()
            except Failed as exc:
                print(f"run {run_no}: failed: {exc}")
                continue
            rtt = statistics.median(run.pings) * 1000
            p50, p99 = res.percentile(50), res.percentile(99)
            total = sum(run.per_pickup.values())
            shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(run.per_pickup.items()))
            print(
                f"run {run_no}: ping {rtt:.3f} ms, pick-up p50 {p50:.3f} ms "
                f"({p50 / rtt:.1f} RTT), p99 {p99:.3f} ms ({p99 / rtt:.1f} RTT), "
                f"idle CPU {run.idle_cpu * 100:.2f} %, commands/pick-up {total:.2f} ({shown})"
            )
            print(f"  idle background over {args.idle:.0f} s: {run.background}")
            rows.append((rtt, p50, p99, run.idle_cpu, run.per_pickup))
    finally:
        server.stop()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not rows:
        return 1
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    cmds = statistics.median(sum(r[4].values()) for r in rows)
    print("ping ms  p50 ms  p99 ms  p50 RTT  p99 RTT  idle CPU %  commands/pick-up  runs")
    print(
        f"{med[0]:.3f}  {med[1]:.3f}  {med[2]:.3f}  {med[1] / med[0]:.1f}  "
        f"{med[2] / med[0]:.1f}  {med[3] * 100:.2f}  {cmds:.2f}  {len(rows)}/{args.runs}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
