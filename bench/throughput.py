"""Task-path benchmark: Bingo against arq, Celery, RQ, dramatiq, taskiq, huey and saq on
one Redis.

    .venv/bin/python bench/throughput.py --n 20000 --runs 3
    .venv/bin/python bench/throughput.py --only bingo
    .venv/bin/python bench/throughput.py --systems bingo,arq --n 5000 --runs 1

Prints the median of ``--runs`` runs per system (systems interleaved run by run) and the
ratio bingo ÷ each peer. What is measured and the worker command of each system are in
bench/README.md and bench/harness.py.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import smoke
from harness import SYSTEMS, Ceiling, Config, Failed, RedisServer, Result, Run

PACKAGES = {
    "bingo": "bingo-scheduler",
    "bingo-sync": "bingo-scheduler",
    "arq": "arq",
    "celery": "celery",
    "rq": "rq",
    "rq-simple": "rq",
    "dramatiq": "dramatiq",
    "taskiq": "taskiq-redis",
    "huey": "huey",
    "saq": "saq",
}

#: the modules a system's adapter needs (a smoke run leaves out a system missing one)
IMPORTS = {
    "bingo": ["bingo_core"],
    "bingo-sync": ["bingo_core"],
    "arq": ["arq"],
    "celery": ["celery"],
    "rq": ["rq"],
    "rq-simple": ["rq"],
    "dramatiq": ["dramatiq"],
    "taskiq": ["taskiq", "taskiq_redis"],
    "huey": ["huey"],
    "saq": ["saq"],
}

#: Systems whose handler is the asyncio body (``record_async``); the rest run ``record``.
ASYNC_BODY = {"bingo", "arq", "taskiq", "saq"}
#: With ``--body io``, the body alone is measured too (bench/peers/ceiling.py), each run.
CEILINGS = ("ceiling-async", "ceiling-sync")

SMOKE = {
    "n": 200,
    "runs": 1,
    "batch": 50,
    "probes": 5,
    "timeout": 120.0,
    "stall": 20.0,
    "no_pin": True,
}

#: column title, how to read a run, format, higher is better
METRICS: list[tuple[str, Callable[[Result], float], str, bool]] = [
    ("enqueue/s", lambda r: r.enqueue, "{:,.0f}", True),
    ("bulk/s", lambda r: r.bulk, "{:,.0f}", True),
    ("process/s", lambda r: r.process, "{:,.0f}", True),
    ("p50 ms", lambda r: r.percentile(50), "{:.2f}", False),
    ("p99 ms", lambda r: r.percentile(99), "{:.2f}", False),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="tasks per run (default 20000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per system (default 3)")
    parser.add_argument("--batch", type=int, default=1000, help="tasks per bulk call")
    parser.add_argument("--probes", type=int, default=200, help="latency probes per run")
    parser.add_argument(
        "--gap-ms",
        type=float,
        nargs=2,
        default=(50.0, 150.0),
        metavar=("MIN", "MAX"),
        help="random gap between probes (ms)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds one run of one system may take (default 1800)",
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=30.0,
        help="a worker that finishes no task for this long has failed",
    )
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help="comma-separated systems (default: all)"
    )
    parser.add_argument("--only", metavar="SYSTEM", help="run this one system only")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin Redis to CPU 0 and the Python side to CPU 1",
    )
    parser.add_argument(
        "--body",
        choices=["noop", "io"],
        default="noop",
        help="handler body: noop (one Redis command per 1,000 tasks, default) or io "
        "(one INCR per task through the handler's own client)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker logs")
    args = smoke.parse_args(parser, argv, SMOKE)
    chosen = [args.only] if args.only else [s.strip() for s in args.systems.split(",")]
    unknown = [s for s in chosen if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown system {unknown[0]!r}; expected one of {', '.join(SYSTEMS)}")
    if args.n < 2 or args.runs < 1 or args.batch < 1 or args.probes < 1:
        parser.error("--n must be at least 2; --runs, --batch and --probes at least 1")
    args.chosen = list(dict.fromkeys(chosen))
    if args.smoke:
        missing = [s for s in args.chosen if not installed(s)]
        if missing:
            print(
                f"smoke: leaving out {', '.join(missing)}: not installed "
                "(pip install -e '.[bench]' brings the peers)"
            )
            args.chosen = [s for s in args.chosen if s not in missing]
    return args


def installed(system: str) -> bool:
    """Whether every module ``system``'s adapter imports is installed."""
    return all(importlib.util.find_spec(name) is not None for name in IMPORTS[system])


def version(system: str) -> str:
    try:
        return importlib.metadata.version(PACKAGES[system])
    except importlib.metadata.PackageNotFoundError:
        return "?"


def median_of(results: list[Result], get: Callable[[Result], float]) -> float:
    return statistics.median(get(r) for r in results)


def print_tables(
    systems: list[str], results: dict[str, list[Result]], failures: dict[str, list[str]], runs: int
) -> None:
    width = max(len(s) for s in systems) + 2
    head = f"{'system':<{width}}" + "".join(f"{t:>12}" for t, *_ in METRICS)
    print(head + f"{'startup s':>11}  runs")
    print("-" * (len(head) + 17))
    for system in systems:
        ok = results[system]
        if not ok:
            print(f"{system:<{width}}failed: {failures[system][-1]}")
            continue
        cells = "".join(f"{fmt.format(median_of(ok, get)):>12}" for _, get, fmt, _ in METRICS)
        startup = f"{median_of(ok, lambda r: r.startup):>11.2f}"
        print(f"{system:<{width}}{cells}{startup}  {len(ok)}/{runs}")
    for system in systems:
        if results[system] and failures[system]:
            print(f"  {system}: {len(failures[system])} run(s) failed: {failures[system][-1]}")

    peers = [s for s in systems if not s.startswith("bingo") and results[s]]
    for mine_name in [s for s in systems if s.startswith("bingo") and results[s]]:
        if not peers:
            return
        print()
        print(
            f"{mine_name} ÷ peer (rates: above 1 = bingo faster; latencies: below 1 = bingo faster)"
        )
        print(f"{'peer':<{width}}" + "".join(f"{t:>12}" for t, *_ in METRICS))
        for peer in peers:
            cells = ""
            for _, get, _, _ in METRICS:
                mine, theirs = median_of(results[mine_name], get), median_of(results[peer], get)
                cells += f"{(mine / theirs if theirs else float('nan')):>11.3g}x"
            print(f"{peer:<{width}}{cells}")


def print_ceiling(systems: list[str], results: dict[str, list[Result]]) -> None:
    """Each system's processing rate as a share of its body's rate with no system at all."""
    rate = {c: median_of(results[c], lambda r: r.process) for c in CEILINGS if results.get(c)}
    if not rate:
        return
    print()
    print(
        "the I/O body alone, no task system (bench/peers/ceiling.py): "
        + ", ".join(f"{c.removeprefix('ceiling-')} {v:,.0f}/s" for c, v in rate.items())
    )
    print(f"{'system':<14}{'process/s':>12}  of its body")
    for system in systems:
        body = "ceiling-async" if system in ASYNC_BODY else "ceiling-sync"
        if not results[system] or body not in rate:
            continue
        mine = median_of(results[system], lambda r: r.process)
        share = f"{mine / rate[body]:>5.0%} ({body.removeprefix('ceiling-')})"
        print(f"{system:<14}{mine:>12,.0f}  {share}")


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit code 1 when every run of some system failed."""
    args = parse_args(argv)
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    server = RedisServer(pin)
    if pin:
        os.sched_setaffinity(0, {1})  # the enqueuer and, inherited, every worker process
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    os.chdir(logs)  # no project config file is picked up by any system
    os.environ.pop("BINGO_CONFIG", None)
    os.environ["BENCH_REDIS_URL"] = server.url
    cfg = Config(
        server.url,
        args.n,
        args.batch,
        args.probes,
        tuple(args.gap_ms),
        args.timeout,
        args.stall,
        logs,
        args.body,
    )
    systems = args.chosen
    print(
        f"N={args.n} tasks/run (half single enqueue calls, half bulk in batches of "
        f"{args.batch}), {args.runs} run(s), {args.probes} latency probes/run, "
        f"{'Redis on CPU 0, Python on CPU 1' if pin else 'no CPU pinning'}"
    )
    print(f"handler body: {args.body}")
    print("versions: " + ", ".join(f"{s} {version(s)}" for s in systems))
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    jobs = systems + (list(CEILINGS) if args.body == "io" else [])
    results: dict[str, list[Result]] = {s: [] for s in jobs}
    failures: dict[str, list[str]] = {s: [] for s in jobs}
    try:
        for run_no in range(1, args.runs + 1):
            shift = (run_no - 1) % len(jobs)
            for system in jobs[shift:] + jobs[:shift]:
                print(f"run {run_no}/{args.runs} {system} ...", file=sys.stderr, flush=True)
                try:
                    if system in CEILINGS:
                        kind = system.removeprefix("ceiling-")
                        res = Ceiling(kind, cfg, run_no).measure()
                    else:
                        res = Run(system, cfg, run_no).measure()
                except Failed as exc:
                    failures[system].append(str(exc))
                    print(f"  {system} failed: {exc}", file=sys.stderr, flush=True)
                    continue
                results[system].append(res)
                if system in CEILINGS:
                    print(f"  {system}: {res.process:,.0f}/s", file=sys.stderr, flush=True)
                    continue
                print(
                    f"  {system}: enqueue {res.enqueue:,.0f}/s bulk {res.bulk:,.0f}/s "
                    f"process {res.process:,.0f}/s p50 {res.percentile(50):.2f} ms "
                    f"p99 {res.percentile(99):.2f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        server.stop()
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print()
    print_tables(systems, results, failures, args.runs)
    print_ceiling(systems, results)
    if args.keep_logs:
        print(f"\nworker logs: {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)
    return 1 if any(not results[s] for s in systems) else 0


if __name__ == "__main__":
    sys.exit(main())
