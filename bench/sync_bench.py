"""Sync benchmark: one ``sys_crontab`` sync round over 10,000 rows and 10,000 live entries.

For each database (a SQLite file in a temporary folder; a fresh database on the MariaDB
server at ``--mysql-host``, user root without a password, dropped at the end) the script
inserts ``--rows`` rows (every fifth disabled, every seventh without payload), then for
each mode, interleaved run by run:

- ``fingerprint``: the sync as shipped (a round asks for the table's fingerprint first and
  reads the rows only when it changed);
- ``full read``: the same sync with ``full_read_every=0``, which reads and compares every
  row each round (the behaviour before the fingerprint).

One run of one mode: a new :class:`~bingo_core.scheduler.sync.CrontabSync` with a
recording target; the first round (every row read, validated and compiled; the target
receives every entry) is timed as ``first ms``; then ``--quiet`` rounds with no change
(``quiet p50``, ``quiet p99``, nearest rank over all runs); then ``--changed-rounds``
rounds each after ``--changed`` rows were edited (payload, through a separate driver
connection, not timed), ``changed p50``. A round is timed around ``sync_once()``.

The process pins itself to CPU 1 (``os.sched_setaffinity``, as ``taskset -c 1``); the
MariaDB server is the system's, not pinned. A script run by hand; it prints figures and
asserts nothing.

    .venv/bin/python bench/sync_bench.py --runs 3
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pymysql
import smoke

from bingo_core.registry import Registry, TaskRegister
from bingo_core.scheduler.entries import CompiledEntry
from bingo_core.scheduler.sync import CrontabSync
from bingo_core.store import Store

TASK = "bench:noop"
MODES = {"fingerprint": 300.0, "full read": 0.0}
HEADERS = ["database", "mode", "rows", "active", "first ms", "quiet p50", "quiet p99"]
INSERT = "INSERT INTO sys_crontab (name, type, spec, payload, status) VALUES (%s, %s, %s, %s, %s)"
UPDATE = "UPDATE sys_crontab SET payload = %s WHERE id = %s"
SMOKE = {"rows": 300, "quiet": 5, "changed": 10, "changed_rounds": 2, "runs": 1, "no_pin": True}


def noop(ctx: Any, payload: dict[str, Any]) -> None:
    """Never run here: the bench has no worker."""


class RecordingTarget:
    """Keeps the entries it is told about, like the scheduler would."""

    def __init__(self) -> None:
        self.entries: dict[str, CompiledEntry] = {}

    def apply(
        self, added: list[CompiledEntry], changed: list[CompiledEntry], removed: list[str]
    ) -> None:
        for key in removed:
            del self.entries[key]
        for compiled in [*added, *changed]:
            self.entries[compiled.key] = compiled


class Raw:
    """A driver connection outside the Store, as another process editing the table."""

    def __init__(self, url: str, host: str, port: int, database: str) -> None:
        self.sqlite = url.startswith("sqlite")
        self.conn: Any
        if self.sqlite:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        else:
            self.conn = pymysql.connect(
                host=host, port=port, user="root", password="", database=database, autocommit=True
            )

    def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        if self.sqlite:
            self.conn.execute("BEGIN")
            self.conn.executemany(sql.replace("%s", "?"), params)
            self.conn.execute("COMMIT")
        else:
            with self.conn.cursor() as cur:
                cur.executemany(sql, params)

    def close(self) -> None:
        self.conn.close()


def make_registry() -> Registry:
    registry = Registry()
    TaskRegister(registry, "bench")(TASK, noop)
    return registry


def seed(raw: Raw, rows: int) -> None:
    params = [
        (
            f"job-{i}",
            TASK,
            f"{i % 60} {i // 60 % 24} * * *",
            None if i % 7 == 0 else f'{{"i": {i}, "note": "nightly export"}}',
            0 if i % 5 == 0 else 1,
        )
        for i in range(rows)
    ]
    for start in range(0, rows, 1000):
        raw.many(INSERT, params[start : start + 1000])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def timed(sync: CrontabSync) -> float:
    started = time.perf_counter()
    sync.sync_once()
    return 1000 * (time.perf_counter() - started)


def one_run(
    store: Store, raw: Raw, full_read_every: float, args: argparse.Namespace, tag: str
) -> dict[str, Any]:
    target = RecordingTarget()
    sync = CrontabSync(
        store,
        make_registry(),
        target,
        default_tz="UTC",
        interval=10,
        full_read_every=full_read_every,
    )
    first = timed(sync)
    active = len(target.entries)
    quiet = [timed(sync) for _ in range(args.quiet)]
    ids = [row["id"] for row in sync.row_states()]
    changed = []
    for n in range(args.changed_rounds):
        picked = random.sample(ids, min(args.changed, len(ids)))
        raw.many(UPDATE, [(f'{{"i": {i}, "edit": "{tag}-{n}"}}', i) for i in picked])
        changed.append(timed(sync))
    return {
        "first": first,
        "quiet": quiet,
        "changed": changed,
        "active": active,
        "rows": len(ids),
        "full_reads": sync.status()["full_reads"],
        "rounds": sync.status()["rounds"],
    }


def bench_database(name: str, url: str, raw: Raw, args: argparse.Namespace) -> list[list[str]]:
    with Store(url) as store:
        store.init_schema()
        seed(raw, args.rows)
        results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        modes = list(MODES)
        for run in range(args.runs):
            for mode in modes[run % 2 :] + modes[: run % 2]:
                res = one_run(store, raw, MODES[mode], args, f"{mode}-{run}")
                results[mode].append(res)
                print(
                    f"{name} run {run + 1} {mode}: first {res['first']:.1f} ms, "
                    f"quiet p50 {statistics.median(res['quiet']):.2f} ms, changed p50 "
                    f"{statistics.median(res['changed']):.1f} ms, "
                    f"{res['full_reads']}/{res['rounds']} rounds read every row",
                    flush=True,
                )
    rows = []
    for mode in modes:
        runs = results[mode]
        quiet = [t for r in runs for t in r["quiet"]]
        changed = [t for r in runs for t in r["changed"]]
        rows.append(
            [
                name,
                mode,
                str(runs[0]["rows"]),
                str(runs[0]["active"]),
                f"{statistics.median(r['first'] for r in runs):.1f}",
                f"{statistics.median(quiet):.2f}",
                f"{percentile(quiet, 0.99):.2f}",
                f"{statistics.median(changed):.1f}",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="sys_crontab rows (10000)")
    parser.add_argument("--quiet", type=int, default=50, help="rounds with no change (50)")
    parser.add_argument("--changed", type=int, default=100, help="rows edited a round (100)")
    parser.add_argument("--changed-rounds", type=int, default=10, help="such rounds (10)")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (3)")
    parser.add_argument("--databases", default="sqlite,mariadb", help="sqlite,mariadb")
    parser.add_argument("--mysql-host", default="127.0.0.1", help="MariaDB host (127.0.0.1)")
    parser.add_argument("--mysql-port", type=int, default=3306, help="MariaDB port (3306)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to CPU 1")
    args = smoke.parse_args(parser, argv, SMOKE)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {1})
    random.seed(1)
    load_before = os.getloadavg()[0]
    databases = [x for x in args.databases.split(",") if x]
    table: list[list[str]] = []
    for name in databases:
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="bench-sync-") as folder:
                url = f"sqlite:///{Path(folder) / 'bingo.db'}"
                raw = Raw(url, "", 0, "")
                try:
                    table += bench_database(name, url, raw, args)
                finally:
                    raw.close()
        elif name == "mariadb":
            table += bench_mariadb(args)
        else:
            parser.error(f"--databases: unknown database {name!r} (sqlite, mariadb)")
    print()
    print(
        f"{args.rows} rows; {args.quiet} quiet and {args.changed_rounds} rounds of "
        f"{args.changed} changed rows per run, {args.runs} run(s) per mode; times in ms; "
        f"{'this process pinned to CPU 1 (taskset -c 1)' if pin else 'no CPU pinning'}; "
        f"load average {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    headers = [*HEADERS, f"{args.changed} changed p50"]
    widths = [max(len(r[i]) for r in [headers, *table]) for i in range(len(headers))]
    for row in [headers, *table]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    for name in databases:
        mine = {r[1]: r for r in table if r[0] == name}
        if len(mine) == 2:
            quiet = float(mine["full read"][5]) / float(mine["fingerprint"][5])
            changed = float(mine["full read"][7]) / float(mine["fingerprint"][7])
            print(
                f"{name}: full read / fingerprint, p50: quiet round {quiet:.3g}, "
                f"changed round {changed:.3g} (above 1: the fingerprint is faster)"
            )


def bench_mariadb(args: argparse.Namespace) -> list[list[str]]:
    database = f"bingo_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = pymysql.connect(
            host=args.mysql_host, port=args.mysql_port, user="root", password=""
        )
    except pymysql.err.OperationalError as exc:
        raise SystemExit(
            f"MariaDB at {args.mysql_host}:{args.mysql_port} is not reachable ({exc.args[-1]}); "
            "--databases sqlite leaves it out"
        ) from None
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        url = f"mysql+pymysql://root:@{args.mysql_host}:{args.mysql_port}/{database}"
        raw = Raw(url, args.mysql_host, args.mysql_port, database)
        try:
            return bench_database("mariadb", url, raw, args)
        finally:
            raw.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()


if __name__ == "__main__":
    main()
