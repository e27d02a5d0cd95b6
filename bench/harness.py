"""The measuring side of the bench: a private Redis, and one measured run of one system.

One run of a system, all on a freshly flushed Redis:

1. enqueue ``n // 2`` tasks with single enqueue calls, then the rest with the system's bulk
   call (``batch`` a call); each half is timed on its own;
2. start the system's worker (its own CLI, one process where it would fork more) and wait
   until the handler that makes the count reach ``n`` reports; processing rate is ``n``
   divided by the time from the first task's start to the last task's end, both taken by
   the handlers themselves in the worker;
3. with the worker now idle, send ``probes`` latency tasks at random intervals (open
   loop), each carrying its enqueue time; the handler pushes ``now - enqueued``;
4. stop the worker (SIGTERM, then SIGKILL of its process group after 10 s).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import redis

PEERS = Path(__file__).resolve().parent / "peers"
sys.path.insert(0, str(PEERS))

import common  # noqa: E402 - lives in bench/peers, put on sys.path just above
from ceiling import CeilingAdapter  # noqa: E402 - bench/peers too

#: name -> (module in bench/peers, adapter class)
SYSTEMS: dict[str, tuple[str, str]] = {
    "bingo": ("bingo_worker", "BingoAdapter"),
    "bingo-sync": ("bingo_worker", "BingoSyncAdapter"),
    "arq": ("arq_worker", "ArqAdapter"),
    "celery": ("celery_worker", "CeleryAdapter"),
    "rq": ("rq_worker", "RqAdapter"),
    "rq-simple": ("rq_worker", "RqSimpleAdapter"),
    "dramatiq": ("dramatiq_worker", "DramatiqAdapter"),
    "taskiq": ("taskiq_worker", "TaskiqAdapter"),
    "huey": ("huey_worker", "HueyAdapter"),
    "saq": ("saq_worker", "SaqAdapter"),
}


class Failed(Exception):
    """A system failed or hung; the message is the reason shown in the table."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server on a free port, pinned to CPU 0 when ``pin`` is set."""

    def __init__(self, pin: bool) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            sys.exit("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        argv = [
            exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            "--loglevel",
            "warning",
        ]
        if pin:
            argv = ["taskset", "-c", "0", *argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    sys.exit(f"private redis-server on port {self.port} did not start")
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Config:
    """What every run of every system is given."""

    url: str
    n: int
    batch: int
    probes: int
    gap_ms: tuple[float, float]
    timeout: float
    stall: float
    logs: Path
    #: "noop" (one Redis command per 1,000 tasks) or "io" (one INCR per task)
    body: str = "noop"


@dataclass
class Result:
    """One run's figures (rates in tasks/s, latencies in ms, startup in s)."""

    enqueue: float = 0.0
    bulk: float = 0.0
    process: float = 0.0
    startup: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the pick-up latencies, in ms."""
        ordered = sorted(self.latencies)
        rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
        return ordered[rank - 1] * 1000


def load_adapter(name: str) -> Any:
    """An adapter instance for system ``name``; :class:`Failed` when it cannot be imported."""
    module_name, cls = SYSTEMS[name]
    try:
        module = __import__(module_name)
    except Exception as exc:
        raise Failed(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    return getattr(module, cls)()


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Failed("timed out (--timeout)")


def last_line(path: Path) -> str:
    """The last non-empty line of a worker log, for failure messages."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1][:200] if lines else ""


def worker_argv(adapter: Any, url: str) -> list[str]:
    """The worker command with its program resolved in this interpreter's bin/."""
    argv = [part.replace("{url}", url) for part in adapter.worker]
    if argv[0] == "python":
        argv[0] = sys.executable
    else:
        argv[0] = str(Path(sys.executable).parent / argv[0])
    return argv


class Run:
    """One measured run of one system (see the module docstring)."""

    def __init__(self, name: str, cfg: Config, run_no: int) -> None:
        self.name = name
        self.cfg = cfg
        self.log = cfg.logs / f"{name}-run{run_no}.log"
        self.redis = redis.Redis.from_url(cfg.url)
        self.proc: subprocess.Popen[bytes] | None = None
        self.adapter: Any = None

    def measure(self) -> Result:
        """The run's figures; raises :class:`Failed` with the reason."""
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, self.cfg.timeout)
        try:
            return self._measure()
        except Failed as exc:
            tail = last_line(self.log) if self.proc is not None else ""
            raise Failed(f"{exc}" + (f" (worker log: {tail})" if tail else "")) from None
        except Exception as exc:
            raise Failed(f"{type(exc).__name__}: {exc}"[:300]) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._cleanup()  # under its own alarm, so before the old handler is back
            signal.signal(signal.SIGALRM, old)

    def _measure(self) -> Result:
        cfg, res = self.cfg, Result()
        self.redis.flushall()
        self.adapter = load_adapter(self.name)
        self.adapter.open()
        single = cfg.n // 2
        t0 = time.perf_counter()
        self.adapter.enqueue_one(single)
        t1 = time.perf_counter()
        self.adapter.enqueue_bulk(cfg.n - single, cfg.batch)
        t2 = time.perf_counter()
        res.enqueue = single / (t1 - t0)
        res.bulk = (cfg.n - single) / (t2 - t1)

        spawned = time.time()
        res.startup = self._process(res, "draining the queue") - spawned

        time.sleep(0.5)  # let the worker settle into its idle wait
        # Open loop: probes go out at random times, not each after the previous answer,
        # which would phase-lock them to a polling worker's cycle.
        lo, hi = cfg.gap_ms
        for _ in range(cfg.probes):
            self.adapter.probe()
            time.sleep(random.uniform(lo, hi) / 1000)
        for _ in range(cfg.probes):
            res.latencies.append(self._wait_list(common.LATENCY, "collecting probes", 10.0))
        return res

    def _process(self, res: Result, what: str) -> float:
        """Start the worker, wait until the count reaches ``n`` and set ``res.process``;
        returns the time the first task started."""
        self._start_worker()
        done = self._wait_list(common.DONE, what)
        first = float(self.redis.get(common.FIRST) or 0)
        count = int(self.redis.get(common.COUNT) or 0)
        if count != self.cfg.n:
            raise Failed(f"handlers counted {count} tasks, expected {self.cfg.n}")
        res.process = self.cfg.n / (done - first)
        return first

    def _start_worker(self) -> None:
        env = dict(os.environ)
        env.pop("BINGO_CONFIG", None)
        env.update(
            BENCH_REDIS_URL=self.cfg.url,
            BENCH_N=str(self.cfg.n),
            PYTHONPATH=os.pathsep.join(filter(None, [str(PEERS), env.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
            BENCH_FORKING="1" if getattr(self.adapter, "forking", False) else "0",
            BENCH_BODY=self.cfg.body,
        )
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                worker_argv(self.adapter, self.cfg.url),
                cwd=self.cfg.logs,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_list(self, key: str, what: str, limit: float | None = None) -> float:
        """Pop one float from list ``key``, checking on the worker every half second.

        Without ``limit``, waits while the task counter moves: a worker that handles no
        task for ``cfg.stall`` seconds has stalled.
        """
        deadline = time.monotonic() + limit if limit else None
        count, moved = -1, time.monotonic()
        while True:
            item = self.redis.blpop([key], timeout=0.5)
            if item is not None:
                return float(item[1])
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise Failed(f"worker exited with code {self.proc.returncode} while {what}")
            now = time.monotonic()
            if deadline is not None and now > deadline:
                raise Failed(f"no answer within {limit:.0f}s while {what}")
            if deadline is None:
                seen = int(self.redis.get(common.COUNT) or 0)
                if seen != count:
                    count, moved = seen, now
                elif now - moved > self.cfg.stall:
                    raise Failed(
                        f"stalled at {count}/{self.cfg.n} tasks while {what}: "
                        f"none done in {self.cfg.stall:.0f}s"
                    )

    def _cleanup(self) -> None:
        if self.proc is not None:
            self._stop_worker(self.proc)  # bounded by its own waits, never interrupted
        signal.setitimer(signal.ITIMER_REAL, 15)
        try:
            if self.adapter is not None:
                self.adapter.close()
        except Exception as exc:
            print(f"  {self.name}: cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.redis.close()

    @staticmethod
    def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # children left behind (pool, horses)
        proc.wait()


class Ceiling(Run):
    """One run of the I/O body alone (``bench/peers/ceiling.py``): no enqueue, no probes;
    the rate is read as a worker's is."""

    def __init__(self, kind: str, cfg: Config, run_no: int) -> None:
        super().__init__(f"ceiling-{kind}", cfg, run_no)
        self.kind = kind

    def _measure(self) -> Result:
        res = Result()
        self.redis.flushall()
        self.adapter = CeilingAdapter(self.kind)
        self._process(res, "calling the body")
        return res
