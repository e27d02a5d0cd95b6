"""Workflows: what a step costs against a plain task, a wide chord against as many plain
tasks, and how soon ``Client.wait`` on a workflow answers after its last step.

    .venv/bin/python bench/workflow_bench.py --members 1000 --rounds 200 --runs 5

On a private redis-server with one in-process worker (its own thread and event loop, as
bench/wait_bench.py):

- plain: ``--members`` + 2 tasks of a no-op type in one ``enqueue_many``, run until the
  queue's processed counter has counted them all;
- chord: ``chain(step, group(--members steps), step)`` of the same type in one
  ``enqueue_workflow``, waited for with ``Client.wait``;
  plain and chord alternate ``--runs`` times; each row gives the medians of the wall
  time and the CPU of this process (client and worker) and of Redis (``INFO cpu``), per
  task, and the ratio line the medians of each run's chord ÷ plain;
- spread: the chord with its members alternating between two queues and its last step
  in the second (every edge across queues goes through the relay, see "Across queues" in
  docs/architecture.md; the worker serves both queues);
- wait: ``--rounds`` workflows ``chain(step, step)`` one after another, the last step
  returning ``time.perf_counter()``: the time from its return to ``wait``'s return; then
  the same with the last step in the second queue.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smoke
from harness import free_port
from wait_bench import start_worker

SMOKE = {"members": 50, "rounds": 20, "runs": 2}


def noop(ctx: Any, payload: Any) -> None:
    return None


def stamp(ctx: Any, payload: Any) -> float:
    return time.perf_counter()


def make_app(url: str) -> Any:
    import bingo_core as bingo
    from bingo_core.app import App

    class BenchPlugin:
        @bingo.hookimpl
        def bingo_register_tasks(self, register: Any) -> None:
            register("bench:noop", noop)
            register("bench:stamp", stamp)

    queues = '{"default": 1, "other": 1}'
    return App(
        overrides={"redis.url": url, "worker.queues": queues},
        plugins=[BenchPlugin()],
        entry_points=False,
    )


def run(members: int, rounds: int, runs: int) -> None:
    import redis

    import bingo_core as bingo

    port = free_port()
    folder = tempfile.mkdtemp(prefix="bingo-wf-bench-")
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

        def redis_cpu() -> float:
            info = probe.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        def processed() -> int:
            return int(probe.get("bingo:{default}:processed") or 0)

        def measure(body: Any) -> tuple[float, float, float]:
            wall, cpu, rcpu = time.perf_counter(), time.process_time(), redis_cpu()
            body()
            return (
                time.perf_counter() - wall,
                time.process_time() - cpu,
                redis_cpu() - rcpu,
            )

        n = members + 2

        def plain() -> None:
            start = processed()
            client.enqueue_many([("bench:noop", None)] * n)
            while processed() < start + n:
                time.sleep(0.002)

        def chord() -> None:
            flow = bingo.chain(
                bingo.step("bench:noop"),
                bingo.group(bingo.step("bench:noop") for _ in range(members)),
                bingo.step("bench:noop"),
            )
            wf = client.enqueue_workflow(flow)
            client.wait(wf.id, timeout=600)

        def spread() -> None:
            queues = ("default", "other")
            flow = bingo.chain(
                bingo.step("bench:noop"),
                bingo.group(bingo.step("bench:noop", queue=queues[i % 2]) for i in range(members)),
                bingo.step("bench:noop", queue="other"),
            )
            wf = client.enqueue_workflow(flow)
            client.wait(wf.id, timeout=600)

        plain()  # warm up: scripts loaded, connections open
        chord()
        # plain and chord alternate, --runs times: each run's ratio is of two measures
        # taken side by side (the machine's load moves between runs)
        rows: dict[str, list[tuple[float, float, float]]] = {"plain": [], "chord": []}
        ratios: list[tuple[float, float]] = []
        for _ in range(runs):
            p, c = measure(plain), measure(chord)
            rows["plain"].append(p)
            rows["chord"].append(c)
            ratios.append((c[0] / p[0], (c[1] + c[2]) / max(p[1] + p[2], 1e-9)))
        rows["spread"] = [measure(spread)]
        print(f"{n} tasks: plain vs chain(step, group({members}), step), medians of {runs} runs")
        print(f"{'':8}{'wall s':>9}{'py ms/task':>12}{'redis ms/task':>15}")
        for name, got in rows.items():
            wall, cpu, rcpu = (statistics.median(m[i] for m in got) for i in range(3))
            print(f"{name:8}{wall:9.3f}{cpu * 1000 / n:12.3f}{rcpu * 1000 / n:15.3f}")
        walls = sorted(r[0] for r in ratios)
        cpus = sorted(r[1] for r in ratios)
        print(
            f"ratio   wall {statistics.median(walls):.2f}  python+redis CPU "
            f"{statistics.median(cpus):.2f}  (chord / plain of each run; runs: wall "
            + " ".join(f"{r:.2f}" for r in walls)
            + ", CPU "
            + " ".join(f"{r:.2f}" for r in cpus)
            + ")"
        )

        pings = []
        for _ in range(50):
            t = time.perf_counter()
            probe.ping()
            pings.append((time.perf_counter() - t) * 1000)
        ping = statistics.median(pings)
        for where in ("default", "other"):
            lat = []
            for _ in range(rounds):
                wf = client.enqueue_workflow(
                    bingo.chain(bingo.step("bench:noop"), bingo.step("bench:stamp", queue=where))
                )
                ended = client.wait(wf.id, timeout=10)
                lat.append((time.perf_counter() - ended) * 1000)
            lat.sort()
            print(
                f"wait on a workflow after its last step (queue {where}) returns, "
                f"{rounds} workflows (ms)"
            )
            print(
                f"p50 {statistics.median(lat):.2f}  max {lat[-1]:.2f}  "
                f"(PING p50 {ping:.3f}: p50 = {statistics.median(lat) / ping:.1f} round trips)"
            )
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
    parser.add_argument("--members", type=int, default=1000, help="members of the group")
    parser.add_argument("--rounds", type=int, default=200, help="workflows waited for")
    parser.add_argument("--runs", type=int, default=5, help="plain and chord runs, alternated")
    args = smoke.parse_args(parser, argv, SMOKE)
    if args.members < 1 or args.rounds < 1 or args.runs < 1:
        parser.error("--members, --rounds and --runs must be at least 1")
    run(args.members, args.rounds, args.runs)


if __name__ == "__main__":
    main()
