"""Every script in bench/ still runs: each is started with ``--smoke`` as a real
subprocess on this tree (a few hundred tasks, a private redis-server on a free port, no
CPU pinning) and must exit 0 having printed its table. The figures are never checked:
a benchmark is not a timed test.

The peer systems of bench/throughput.py come with the ``bench`` extra; a smoke run
leaves out those not installed and says so in one line, and this test checks that every
system is either measured or named in that line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.parallel_safe]

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
#: The systems bench/throughput.py compares Bingo with.
PEERS = {"arq", "celery", "rq", "rq-simple", "dramatiq", "taskiq", "huey", "saq"}
#: The MariaDB server of the mysql-marked tests (as tests/conftest.py reads it).
MARIADB_HOST = os.environ.get("BINGO_TEST_MYSQL_HOST", "127.0.0.1")
MARIADB_PORT = os.environ.get("BINGO_TEST_MYSQL_PORT", "3306")
#: Under pytest's own per-test timeout, so a hung script fails with its output shown.
LIMIT = 100


def smoke(script: str, *args: str, cwd: Path) -> str:
    """Run ``bench/<script> --smoke ARGS`` on this tree; its stdout when it exits 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    try:
        run = subprocess.run(
            [sys.executable, str(BENCH / script), "--smoke", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=LIMIT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} --smoke did not end within {LIMIT}s; output:\n{exc.stdout!r}")
    assert run.returncode == 0, (
        f"{script} --smoke exited {run.returncode}\n"
        f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    )
    return run.stdout


def row(stdout: str, pattern: str) -> None:
    """``stdout`` has a line matching ``pattern`` (from its start)."""
    assert re.search(pattern, stdout, re.MULTILINE), f"no line matching {pattern!r} in:\n{stdout}"


def test_throughput_measures_bingo_and_every_installed_peer(tmp_path: Path) -> None:
    out = smoke("throughput.py", cwd=tmp_path)
    row(out, r"^system\s+enqueue/s\s+bulk/s\s+process/s")
    versions = re.search(r"^versions: (.*)$", out, re.MULTILINE)
    assert versions, out
    measured = {item.split()[0] for item in versions.group(1).split(", ")}
    left_out = re.search(r"^smoke: leaving out (.*): not installed", out, re.MULTILINE)
    skipped = set(left_out.group(1).split(", ")) if left_out else set()
    assert {"bingo", "bingo-sync"} <= measured
    assert measured | skipped >= PEERS | {"bingo"}, out
    for system in measured:
        row(out, rf"^{re.escape(system)}(\s+[\d,.]+){{6}}\s+1/1$")


def test_throughput_io_body(tmp_path: Path) -> None:
    """``--body io``: every task INCRs the counter, async and sync Bingo handlers alike."""
    out = smoke("throughput.py", "--body", "io", "--systems", "bingo,bingo-sync", cwd=tmp_path)
    row(out, r"^handler body: io$")
    for system in ("bingo", "bingo-sync"):
        row(out, rf"^{re.escape(system)}(\s+[\d,.]+){{6}}\s+1/1$")
    # The body alone (no task system) is measured too, and each system's share of it.
    row(out, r"^the I/O body alone, no task system .*: async [\d,]+/s, sync [\d,]+/s$")
    row(out, r"^bingo\s+[\d,]+\s+\d+% \(async\)$")
    row(out, r"^bingo-sync\s+[\d,]+\s+\d+% \(sync\)$")


def test_cpu_cost(tmp_path: Path) -> None:
    out = smoke("cpu_cost.py", cwd=tmp_path)
    for path in ("single enqueue", "bulk enqueue", "processing"):
        row(out, rf"^{path}\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$")


def test_limits_bench(tmp_path: Path) -> None:
    out = smoke("limits_bench.py", cwd=tmp_path)
    for name in ("no limit", "concurrency_limit", "rate_limit"):
        row(out, rf"^{name}\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+$")
    row(out, r"^rate_limit=100/s, 2 worker processes, 150 tasks: [\d.]+/s achieved")


def test_wait_bench(tmp_path: Path) -> None:
    out = smoke("wait_bench.py", cwd=tmp_path)
    row(out, r"^p50 [\d.]+  p95 [\d.]+  max [\d.]+$")
    row(out, r"^process [\d.]+  redis [\d.]+  all answered [\d.]+$")


def test_workflow_bench(tmp_path: Path) -> None:
    out = smoke("workflow_bench.py", cwd=tmp_path)
    row(out, r"^ratio   wall [\d.]+  python\+redis CPU [\d.]+  \(chord / plain of each run")
    row(out, r"^p50 [\d.]+  max [\d.]+  \(PING p50")


def test_asynq_bench(tmp_path: Path) -> None:
    out = smoke("asynq_bench.py", cwd=tmp_path)
    for layout in ("bingo", "asynq"):
        row(out, rf"^{layout}\s+\d+\s+[\d.]+\s+[\d.]+$")
    row(out, r"^ratio asynq / bingo: [\d.]+$")


def test_pickup(tmp_path: Path) -> None:
    out = smoke("pickup.py", cwd=tmp_path)
    row(out, r"^run 1: ping [\d.]+ ms, pick-up p50 [\d.]+ ms .* commands/pick-up [\d.]+ \(")
    row(out, r"^ping ms\s+p50 ms\s+p99 ms\s+p50 RTT\s+p99 RTT\s+idle CPU %")
    row(out, r"^([\d.]+\s+){7}1/1$")


def test_processes(tmp_path: Path) -> None:
    out = smoke("processes.py", cwd=tmp_path)
    row(out, r"^free\s+1\s+[\d,]+\s+[\d,]+$")
    row(out, r"^free\s+2\s+[\d,]+\s+[\d,]+$")
    row(out, r"^free: 2 processes / 1 process = [\d.]+x$")


def test_soak(tmp_path: Path) -> None:
    out = smoke("soak.py", cwd=tmp_path)
    row(out, r"^\s+t s phase\s+processed")
    row(out, r"^\s+\d+ (enqueue|drain|after)\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d.]+")
    row(out, r"^processed 2,000 tasks in ")


def test_scheduler_bench(tmp_path: Path) -> None:
    out = smoke("scheduler_bench.py", cwd=tmp_path)
    row(out, r"^load\s+entries\s+arm s\s+CPU %\s+enqueue/s\s+p50 ms\s+p99 ms\s+max ms$")
    for load in ("idle", "busy"):
        row(out, rf"^{load}\s+310(\s+[\d.]+){{6}}$")


def test_sync_bench(tmp_path: Path) -> None:
    out = smoke(
        "sync_bench.py",
        "--mysql-host",
        MARIADB_HOST,
        "--mysql-port",
        MARIADB_PORT,
        cwd=tmp_path,
    )
    for database in ("sqlite", "mariadb"):
        for mode in ("fingerprint", "full read"):
            row(out, rf"^\s*{database}\s+{mode}\s+300\s+240(\s+[\d.]+){{4}}$")


def test_dashboard_bench(tmp_path: Path) -> None:
    out = smoke("dashboard_bench.py", cwd=tmp_path)
    row(out, r"^api\s+GET /queue/api/overview\s+[\d.]+\s+[\d.]+")
    row(out, r"^slowest p50 of pages and API calls: ")
    for daemon in ("worker, --no-dashboard", r"\+ dashboard, a tab", r"\+ dashboard, full reload"):
        row(out, rf"^{daemon}.*\s+[\d,]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$")


def test_cron_compat(tmp_path: Path) -> None:
    out = smoke("cron_compat/compare.py", cwd=tmp_path)
    if out.startswith("smoke: robfig's side left out"):
        row(out, r"^accepted\s+\d+$")
        row(out, r"^times wrong\s+0$")
    else:
        row(out, r"^300 specs compared")
        row(out, r"^unexplained\s+0$")
