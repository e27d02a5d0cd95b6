"""The dashboard's cost: page and API latency on a big Redis, the daemon's RSS with and
without it, and the worker's throughput while a page refreshes every second.

    .venv/bin/python bench/dashboard_bench.py                     # defaults below
    .venv/bin/python bench/dashboard_bench.py --tasks 100000 --entries 10000 --n 20000 --runs 3

1. **Latency.** A private Redis holds ``--tasks`` tasks across every state (39 % pending,
   1 % active, 15 % scheduled, 15 % retry, 20 % archived, 10 % completed), ``--entries``
   published schedule entries (each with a last fire), five worker heartbeats with 100
   active tasks each, and ``--rows`` (1,000) ``sys_crontab`` rows in a SQLite file. A real daemon
   (this file's ``--daemon`` mode: :func:`bingo_core.daemon.run_daemon` with a no-op task
   type, the worker and scheduler off) serves the dashboard on uvicorn; every page and
   every read of the JSON API is asked ``--requests`` times over one keep-alive
   connection, and p50 / p95 are printed. The bounded search (it looks at up to 2,000
   tasks) and ``/metrics`` (it reads every entry's fire state) are listed apart.
2. **Throughput and RSS.** ``--n`` no-op tasks are queued, then a daemon with its worker
   is started: ``off`` with ``--no-dashboard``; ``tab`` with the dashboard while a tab
   shows the overview set to refresh every second (its JSON twin each second, its three
   charts every 10 s, as the page's script does); ``reload`` with the overview page, its
   JSON twin and its three charts loaded every second. The poller is a process of its own
   on Redis's CPU, away from the daemon's. Processing rate = N / (end of the last task -
   start of the first, taken in the handler). The daemon's RSS and peak RSS (``VmRSS``,
   ``VmHWM``) are read before it is stopped. The cases are interleaved, ``--runs`` times
   each, and medians reported.

Redis is pinned to CPU 0 (``taskset -c 0``) and this process and the daemons to CPU 1, as
STYLE.md asks (``--no-pin`` to skip). Seeding writes a few states (retry, completed)
straight into Redis: no public call puts a task there without a worker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))

import smoke  # noqa: E402 - bench/ is put on sys.path above
from harness import RedisServer, free_port  # noqa: E402

KEY = "bench-dashboard-key-0123456789"
TASK = "bench:noop"
SMOKE = {
    "tasks": 500,
    "entries": 50,
    "rows": 20,
    "requests": 1,
    "metrics": 1,
    "n": 300,
    "runs": 1,
    "no_pin": True,
}

# -- the daemon side (``--daemon CONFIG``) --------------------------------------------------


class BenchPlugin:
    """The no-op task type of bench/peers (it counts itself, as in bench/throughput.py)."""

    def bingo_register_tasks(self, register: Any) -> None:
        from common import record_async

        async def noop(ctx: Any, payload: dict[str, Any]) -> None:
            await record_async(payload.get("ts"))

        register(TASK, noop)


def make_app(config: str, args: list[str] | None = None) -> Any:
    import bingo_core as bingo
    from bingo_core.app import App
    from bingo_core.cli.main import build_parser

    bingo.hookimpl(BenchPlugin.bingo_register_tasks)
    parsed = build_parser().parse_args(["-c", config, *(args or [])])
    parsed.overrides = {}
    return App(config=config, plugins=[BenchPlugin()], entry_points=False, args=parsed)


def daemon_main(config: str, extra: list[str]) -> None:
    """Run the real daemon with the bench's task type."""
    from bingo_core.daemon import run_daemon

    sys.exit(run_daemon(make_app(config, extra)))


# -- seeding -------------------------------------------------------------------------------

_MOVE = """
-- KEYS[1] scheduled, KEYS[2] target zset, KEYS[3] task prefix; ARGV[1] state, ARGV[2] n,
-- ARGV[3] now, ARGV[4] error
local ids = redis.call("ZRANGE", KEYS[1], 0, tonumber(ARGV[2]) - 1)
for _, id in ipairs(ids) do
  redis.call("ZREM", KEYS[1], id)
  redis.call("ZADD", KEYS[2], ARGV[3], id)
  local fields = {"state", ARGV[1]}
  if ARGV[4] ~= "" then
    fields = {"state", ARGV[1], "error", ARGV[4], "failed_at", ARGV[3], "retried", "3"}
  elseif ARGV[1] == "completed" then
    fields = {"state", ARGV[1], "completed_at", ARGV[3], "result", '{"rows":3}'}
  end
  redis.call("HSET", KEYS[3] .. id, unpack(fields))
end
return #ids
"""


def seed(app: Any, tasks: int, entries: int, rows: int) -> dict[str, Any]:
    """Tasks in every state, schedule entries, heartbeats and sys_crontab rows."""
    import asyncio

    import redis

    from bingo_core.broker.schedstate import Published, Record, SchedState
    from bingo_core.records import EntryInfo, HistoryItem

    client = app.client
    q = app.broker.keys.queue("default")
    pending = int(tasks * 0.40)
    later = tasks - pending
    started = time.perf_counter()
    items: list[Any] = [(TASK, {"i": i, "user": f"user-{i}"}) for i in range(pending)]
    items += [(TASK, {"i": i, "user": f"user-{i}"}, {"process_in": 86400}) for i in range(later)]
    for start in range(0, len(items), 20000):
        client.enqueue_many(items[start : start + 20000])
    r = redis.Redis.from_url(app.settings.redis.url)
    move = r.register_script(_MOVE)
    now = time.time()
    move(
        keys=[q.scheduled, q.retry, q.task_prefix],
        args=["retry", int(tasks * 0.15), now + 60, "TimeoutError: took too long"],
    )
    move(
        keys=[q.scheduled, q.archived, q.task_prefix],
        args=["archived", int(tasks * 0.20), now, "RuntimeError: boom"],
    )
    move(
        keys=[q.scheduled, q.completed, q.task_prefix],
        args=["completed", int(tasks * 0.10), now + 3600, ""],
    )

    async def publish() -> list[str]:
        broker = app.async_broker()
        try:
            fetched = await broker.fetch("default", tasks // 100, time.time() + 86400, "bench:1:w")
            active = [t.id for t in fetched.leased]
            state = SchedState(broker, "bench-leader:1:aa")
            ok, token = await state.acquire(3600)
            assert ok
            published = [
                Published(
                    f"db:{i}|entry {i:05d}",
                    EntryInfo(
                        name=f"entry {i:05d}",
                        source=f"db:{i}",
                        spec=f"{i % 60} * * * *",
                        timezone="UTC",
                        type=TASK,
                        queue="default",
                        misfire_grace=60.0,
                    ),
                    "fp",
                )
                for i in range(entries)
            ]
            await state.publish(token, published, [])
            records = [
                Record(
                    p.key,
                    cursor=now - 60,
                    next=now + 3540,
                    last_tick=now - 60,
                    last_task=active[0],
                    last_at=now - 59.99,
                    history=HistoryItem(
                        tick=now - 60, task_id=active[0], enqueued_at=now - 59.99, lateness=0.01
                    ),
                )
                for p in published
            ]
            for start in range(0, len(records), 500):
                await state.record(token, records[start : start + 500], 100)
            for s in range(5):
                info = {
                    "id": f"host-{s}:{100 + s}:aa",
                    "host": f"host-{s}",
                    "pid": 100 + s,
                    "queues": {"default": 1},
                    "concurrency": 100,
                    "started_at": now - 600,
                    "processed": 0,
                    "failed": 0,
                    "active": [
                        {"id": t, "queue": "default", "type": TASK}
                        for t in active[s * 100 : (s + 1) * 100]
                    ],
                    "active_count": 100,
                    "at": now,
                }
                await broker.heartbeat(info["id"], json.dumps(info), 3600)
            return active
        finally:
            await broker.close()
            app._async_broker = None

    active = asyncio.run(publish())
    from bingo_core.store import store_from_settings

    with store_from_settings(app.settings) as store:
        store.init_schema()
        for i in range(rows):
            store.add(f"row {i}", TASK, f"{i % 60} 2 * * *", '{"i": 1}', 1)
    r.close()
    return {
        "seconds": time.perf_counter() - started,
        "active": active,
        "archived": app.inspector.tasks("default", "archived", limit=1)[0].id,
    }


# -- measuring -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, round(q * len(ordered)))
    return ordered[min(len(ordered), rank) - 1]


def wait_http(http: Any, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http.get(path).status_code < 500:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"the dashboard did not answer {path} within {timeout}s")
        time.sleep(0.1)


def start_daemon(
    config: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--daemon", str(config), *extra]
    return subprocess.Popen(
        argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def latency(
    base: str, seeded: dict[str, Any], requests: int, scrapes: int
) -> list[tuple[str, str, float, float]]:
    import httpx

    active = seeded["active"][0]
    archived = seeded["archived"]
    key = "db:5|entry 00005"
    gets = [
        ("page", "/queue"),
        ("page", "/queue/queues/default?state=pending"),
        ("page", "/queue/queues/default?state=archived&offset=10000"),
        ("page", f"/queue/queues/default/tasks/{archived}"),
        ("page", "/queue/schedules"),
        ("page", "/queue/schedules?offset=9950"),
        ("page", f"/queue/schedules/entry?key={key}"),
        ("page", "/queue/crontab"),
        ("page", "/queue/enqueue"),
        ("page", "/queue/servers"),
        ("page", "/queue/plugins"),
        ("page", "/queue/redis"),
        ("chart", "/queue/charts/daily.svg?days=30"),
        ("chart", "/queue/charts/sizes.svg"),
        ("api", "/queue/api/overview"),
        ("api", "/queue/api/queues/default"),
        ("api", "/queue/api/queues/default/tasks?state=pending"),
        ("api", "/queue/api/queues/default/tasks?state=retry&offset=5000"),
        ("api", f"/queue/api/queues/default/tasks/{active}"),
        ("api", f"/queue/api/queues/default/tasks?q={archived}&where=id"),
        ("api", "/queue/api/daily?days=30"),
        ("api", "/queue/api/samples"),
        ("api", "/queue/api/task-stats"),
        ("api", "/queue/api/schedules"),
        ("api", "/queue/api/schedules?q=entry%2009"),
        ("api", f"/queue/api/schedules/entry?key={key}"),
        ("api", "/queue/api/crontab"),
        ("api", "/queue/api/crontab/7"),
        ("api", "/queue/api/task-types"),
        ("api", "/queue/api/servers"),
        ("api", "/queue/api/plugins"),
        ("api", "/queue/api/redis"),
        ("api", "/queue/api/session"),
        ("api", "/queue/api/openapi.json"),
        ("search", "/queue/api/queues/default/tasks?state=archived&q=user-99999&where=payload"),
        ("search", "/queue/api/queues/default/tasks?state=archived&q=nothing&where=error"),
        ("public", "/healthz"),
    ]
    posts = [
        ("api", "/queue/api/crontab/check", {"name": "n", "type": TASK, "spec": "0 2 * * *"}),
        ("api", "/queue/api/enqueue", {"type": TASK, "payload": {}, "check": True}),
    ]
    out = []
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        wait_http(http, "/healthz")
        for kind, path, *body in [*gets, *posts]:
            times = []
            for i in range(requests + 3):
                t0 = time.perf_counter()
                r = http.post(path, json=body[0]) if body else http.get(path)
                elapsed = (time.perf_counter() - t0) * 1000
                if r.status_code >= 400:
                    sys.exit(f"{path}: HTTP {r.status_code}: {r.text[:300]}")
                if i >= 3:
                    times.append(elapsed)
            out.append(
                (
                    kind,
                    ("POST " if body else "GET ") + path,
                    percentile(times, 0.5),
                    percentile(times, 0.95),
                )
            )
        # /metrics: the collector caches 5 s; every scrape after the first waits that out
        times = []
        for i in range(scrapes):
            if i:
                time.sleep(5.1)
            t0 = time.perf_counter()
            http.get("/metrics")
            times.append((time.perf_counter() - t0) * 1000)
        out.append(
            ("metrics", "GET /metrics (uncached)", percentile(times, 0.5), percentile(times, 0.95))
        )
    return out


def poller_main(base: str, mode: str) -> None:
    """A browser tab on the overview until SIGTERM (``--poll BASE MODE``): ``tab`` is what
    the page's script does when set to refresh every second (the overview's JSON twin each
    second, the three charts every 10 s); ``reload`` loads the page, its JSON twin and the
    three charts every second."""
    import httpx

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    charts = ["/queue/charts/daily.svg?days=7", "/queue/charts/daily.svg?days=30"]
    charts.append("/queue/charts/sizes.svg")
    headers = {"Authorization": f"Bearer {KEY}"}
    tick = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        while not stop.is_set():
            t0 = time.monotonic()
            with contextlib.suppress(Exception):
                if mode == "reload" or tick == 0:
                    http.get("/queue")
                http.get("/queue/api/overview")
                if mode == "reload" or tick % 10 == 0:
                    for chart in charts:
                        http.get(chart)
            tick += 1
            stop.wait(max(0.0, 1.0 - (time.monotonic() - t0)))


def throughput_run(
    config: Path, url: str, n: int, mode: str, base: str, pin: bool
) -> dict[str, float]:
    """One run: ``mode`` is ``off`` (--no-dashboard), ``tab`` or ``reload`` (see
    :func:`poller_main`; the poller runs on Redis's CPU, away from the daemon's)."""
    import redis
    from common import DONE, FIRST

    r = redis.Redis.from_url(url)
    r.flushall()
    app = make_app(str(config))
    app.client.enqueue_many([(TASK, {}) for _ in range(n)])
    app.close()
    extra = ["--no-dashboard"] if mode == "off" else []
    env = {"BENCH_REDIS_URL": url, "BENCH_N": str(n)}
    proc = start_daemon(config, *extra, "--no-scheduler", env=env)
    poll = None
    if mode != "off":
        argv = [sys.executable, str(Path(__file__).resolve()), "--poll", base, mode]
        poll = subprocess.Popen(["taskset", "-c", "0", *argv] if pin else argv)
    try:
        deadline = time.monotonic() + 600
        while not r.llen(DONE):
            if proc.poll() is not None:
                said = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                sys.exit(f"the daemon exited: {said}")
            if time.monotonic() > deadline:
                sys.exit("the worker did not finish within 600 s")
            time.sleep(0.05)
        first = float(r.get(FIRST) or 0)
        last = float(r.lindex(DONE, 0) or 0)
        current, peak = rss(proc.pid)
    finally:
        if poll is not None:
            poll.terminate()
            poll.wait(10)
        stop_daemon(proc)
        r.close()
    return {"rate": n / max(1e-9, last - first), "rss": current, "peak": peak}


def config_file(tmp: Path, url: str, port: int) -> Path:
    path = tmp / "bingo.yaml"
    path.write_text(
        json.dumps(
            {
                "server": {"addr": f"127.0.0.1:{port}", "key": KEY, "timezone": "UTC"},
                "redis": {"url": url},
                "database": {"url": f"sqlite:///{tmp / 'bingo.db'}"},
                "feature": {"queueDash": True},
                "log": {"console": True, "path": "", "level": "warning"},
                "scheduler": {"enabled": False},
                "worker": {"concurrency": 50},
            }
        )
    )
    return path


def report_latency(
    config: Path, base: str, seeded: dict[str, Any], requests: int, scrapes: int
) -> None:
    """Part 1: every page and API read against a dashboard-only daemon."""
    proc = start_daemon(config, "--no-worker", "--no-scheduler")
    try:
        rows = latency(base, seeded, requests, scrapes)
        served_rss = rss(proc.pid)
    finally:
        stop_daemon(proc)
    print(f"\nlatency over HTTP (uvicorn, one keep-alive connection), {requests} requests each, ms")
    print(f"{'kind':8} {'request':72} {'p50':>7} {'p95':>7}")
    for kind, path, p50, p95 in rows:
        flag = "" if kind == "metrics" or p50 < 50 else "  > 50 ms"
        print(f"{kind:8} {path[:72]:72} {p50:7.1f} {p95:7.1f}{flag}")
    checked = [r for r in rows if r[0] != "metrics"]
    worst = max(checked, key=lambda r: r[2])
    print(f"slowest p50 of pages and API calls: {worst[2]:.1f} ms ({worst[1]})")
    print(
        f"dashboard-only daemon after those requests: RSS {served_rss[0]:.1f} MB "
        f"(peak {served_rss[1]:.1f} MB)"
    )


MODES = {
    "off": "worker, --no-dashboard",
    "tab": "+ dashboard, a tab polling every 1 s",
    "reload": "+ dashboard, full reload every 1 s",
}


def report_throughput(config: Path, url: str, base: str, n: int, runs: int, pin: bool) -> None:
    """Part 2: the worker without the dashboard and with it, interleaved."""
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for run in range(runs):
        for mode, name in MODES.items():
            out = throughput_run(config, url, n, mode, base, pin)
            results[mode].append(out)
            print(
                f"run {run + 1} {name:38}: {out['rate']:9,.0f} tasks/s, "
                f"RSS {out['rss']:.1f} MB (peak {out['peak']:.1f})"
            )
    print(f"\nthroughput, {n:,} no-op tasks, median of {runs}")
    print(f"{'daemon':38} {'process/s':>10} {'ratio':>6} {'RSS MB':>8} {'peak MB':>8}")
    med = {}
    for mode, name in MODES.items():
        rs = results[mode]
        med[mode] = {k: statistics.median(x[k] for x in rs) for k in ("rate", "rss", "peak")}
        m = med[mode]
        ratio = m["rate"] / med["off"]["rate"]
        print(f"{name:38} {m['rate']:10,.0f} {ratio:6.2f} {m['rss']:8.1f} {m['peak']:8.1f}")
    added = med["tab"]["rss"] - med["off"]["rss"]
    peak = med["reload"]["peak"] - med["off"]["peak"]
    print(f"RSS the dashboard adds: {added:+.1f} MB (peak with full reloads {peak:+.1f} MB)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1000, help="sys_crontab rows")
    parser.add_argument("--requests", type=int, default=40, help="per page / API call")
    parser.add_argument("--n", type=int, default=50_000, help="no-op tasks per throughput run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--metrics", type=int, default=5, help="uncached /metrics scrapes")
    parser.add_argument("--skip", choices=("latency", "throughput"), help="leave one part out")
    parser.add_argument("--daemon", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--poll", nargs=2, metavar=("BASE", "MODE"), help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args(argv)
    if args.daemon:
        daemon_main(args.daemon, extra)
        return
    if args.poll:
        poller_main(*args.poll)
        return
    args = smoke.parse_args(parser, argv, SMOKE)
    if args.tasks < 100 and args.skip != "latency":
        parser.error("--tasks must be at least 100 (the pages asked for need an active task)")
    if (args.entries < 6 or args.rows < 8) and args.skip != "latency":
        parser.error("--entries must be at least 6 and --rows 8 (pages ask for entry 5, row 7)")
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1
    if pin:
        os.sched_setaffinity(0, {1})  # this process and, inherited, the daemons
    print(f"load average at start: {os.getloadavg()}")
    server = RedisServer(pin)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmpdir:
            tmp = Path(tmpdir)
            url = f"redis://127.0.0.1:{server.port}/0"
            port = free_port()
            config = config_file(tmp, url, port)
            base = f"http://127.0.0.1:{port}"
            if args.skip != "latency":
                app = make_app(str(config))
                seeded = seed(app, args.tasks, args.entries, args.rows)
                counts = app.inspector.stats(["default"])[0]
                app.close()
                states = ("pending", "active", "scheduled", "retry", "archived", "completed")
                print(
                    f"seeded in {seeded['seconds']:.1f}s: "
                    + ", ".join(f"{s} {counts.count(s):,}" for s in states)
                    + f"; {args.entries:,} schedule entries; {args.rows:,} sys_crontab rows"
                )
                report_latency(config, base, seeded, args.requests, args.metrics)
            if args.skip != "throughput":
                report_throughput(config, url, base, args.n, args.runs, pin)
    finally:
        server.stop()
        print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
