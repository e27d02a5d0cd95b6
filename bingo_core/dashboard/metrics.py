"""``/metrics`` for Prometheus and ``/healthz``; neither needs a key.

The figures are read from Redis at scrape time by a custom collector, so every daemon
answers with the same numbers whichever one is scraped:

- queues: ``bingo_queue_tasks{queue,state}``, ``bingo_queue_latency_seconds`` (oldest
  pending task), ``bingo_queue_paused``, ``bingo_queue_processed_total`` and
  ``bingo_queue_failed_total`` (attempts, all days); ``bingo_workflows_total{queue,outcome}``
  (workflows ended: completed, failed, cancelled);
- task types: ``bingo_task_throttled{queue,type,key}`` (tasks held back by the type's
  limits; ``bingo_queue_tasks{state="throttled"}`` sums them per queue),
  ``bingo_task_processed_total{queue,type}``, ``bingo_task_failed_total`` and
  the ``bingo_task_duration_seconds`` histogram (the worker's per type statistics, buckets
  :data:`~bingo_core.broker.scripts.DURATION_BUCKETS`); ``bingo_batch_items{queue,type}``
  (items of a batched type waiting to be cut into a batch, all key values summed);
- the scheduler, from the entries the leader publishes (no history is read, so a scrape
  stays cheap with 10,000 entries): ``bingo_scheduler_entries{source}``,
  ``bingo_scheduler_fired_entries{source}`` (entries that fired at least once),
  ``bingo_scheduler_last_fire_timestamp_seconds``, ``bingo_scheduler_missed_ticks_total``
  (the entries' missed counters, summed), ``bingo_scheduler_fire_lateness_seconds`` (a
  gauge histogram of each entry's last fire: enqueued at minus due at),
  ``bingo_scheduler_leader`` and ``bingo_scheduler_leader_epoch`` (takeovers);
- the ``sys_crontab`` sync: ``bingo_sync_rows{state="good"|"bad"}``,
  ``bingo_sync_last_success_age_seconds``, ``bingo_sync_database_up``;
- servers: ``bingo_servers{status}``, ``bingo_worker_active_tasks``,
  ``bingo_worker_concurrency``;
- ``bingo_problems{kind}``: the problems found now (:func:`~bingo_core.problems.find_problems`),
  one sample per kind, 0 for kinds with none; and ``bingo_up`` (1 while Redis answers).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..broker import CONNECTION_ERRORS
from ..broker.scripts import DURATION_BUCKETS
from ..errors import BingoError
from ..problems import count_by_kind, find_problems
from ..records import STATES, EntryState, SyncStatus
from ..registry import source_kind
from ..workflows_view import outcomes

if TYPE_CHECKING:
    from ..config import Settings
    from ..inspector import Inspector

log = logging.getLogger("bingo.dashboard")
#: Bucket bounds of the fire lateness gauge histogram (seconds).
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0)


class BingoCollector:
    """Reads every figure from Redis when scraped (cached for ``cache`` seconds, so a
    burst of scrapes, or several Prometheus servers, cost one read: with 10,000 entries a
    read takes about 100 ms)."""

    def __init__(
        self, inspector: Callable[[], Inspector], settings: Settings, cache: float = 5.0
    ) -> None:
        self._inspector = inspector
        self._settings = settings
        self._cache = cache
        self._lock = threading.Lock()
        self._last: tuple[float, list[Metric]] = (0.0, [])

    def describe(self) -> list[Metric]:
        """Nothing up front: the collector is not run at registration."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every metric, read now (or within the cache time)."""
        with self._lock:
            at, metrics = self._last
            if time.monotonic() - at > self._cache or not metrics:
                metrics = self._read()
                self._last = (time.monotonic(), metrics)
        yield from metrics

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("bingo_up", "1 while Redis answers the dashboard")
        try:
            metrics = self._figures(self._inspector())
        except (BingoError, *CONNECTION_ERRORS) as exc:
            log.warning("metrics: Redis not readable: %s", exc)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *metrics]

    def _figures(self, inspector: Inspector) -> list[Metric]:
        now = time.time()
        out: list[Metric] = []
        rows = inspector.stats()
        tasks = GaugeMetricFamily(
            "bingo_queue_tasks", "Tasks per queue and state", labels=["queue", "state"]
        )
        latency = GaugeMetricFamily(
            "bingo_queue_latency_seconds", "Age of the oldest pending task", labels=["queue"]
        )
        paused = GaugeMetricFamily(
            "bingo_queue_paused", "1 while the queue is paused", labels=["queue"]
        )
        processed = CounterMetricFamily(
            "bingo_queue_processed", "Attempts processed (success or failure)", labels=["queue"]
        )
        failed = CounterMetricFamily("bingo_queue_failed", "Attempts that failed", labels=["queue"])
        for row in rows:
            q = row.queue
            for state in STATES:
                tasks.add_metric([q, state], row.count(state))
            tasks.add_metric([q, "throttled"], row.throttled)
            latency.add_metric([q], row.latency)
            paused.add_metric([q], 1 if row.paused else 0)
            processed.add_metric([q], row.processed)
            failed.add_metric([q], row.failed)
        out += [tasks, latency, paused, processed, failed]
        ended = CounterMetricFamily(
            "bingo_workflows", "Workflows ended, by outcome", labels=["queue", "outcome"]
        )
        bingo_rows = [r.queue for r in rows if r.layout != "asynq"]
        for q, counts in outcomes(inspector.broker, bingo_rows).items():
            for outcome, n in counts.items():
                ended.add_metric([q, outcome], n)
        out.append(ended)

        by_type_p = CounterMetricFamily(
            "bingo_task_processed", "Attempts per task type", labels=["queue", "type"]
        )
        by_type_f = CounterMetricFamily(
            "bingo_task_failed", "Failed attempts per task type", labels=["queue", "type"]
        )
        hist = HistogramMetricFamily(
            "bingo_task_duration_seconds",
            "Handler run time per task type",
            labels=["queue", "type"],
        )
        for stat in inspector.task_stats(None, [r.queue for r in rows]):
            labels = [stat.queue, stat.type]
            by_type_p.add_metric(labels, stat.processed)
            by_type_f.add_metric(labels, stat.failed)
            cumulative, buckets = 0, []
            for bound, count in zip(DURATION_BUCKETS, stat.buckets, strict=False):
                cumulative += count
                buckets.append((repr(float(bound)), cumulative))
            buckets.append(("+Inf", sum(stat.buckets)))
            hist.add_metric(labels, buckets, stat.duration_sum)
        out += [by_type_p, by_type_f, hist]
        held = GaugeMetricFamily(
            "bingo_task_throttled",
            "Tasks held back by their type's limits, per task type and limit_key value",
            labels=["queue", "type", "key"],
        )
        limited = [r.queue for r in rows if r.throttled]
        for t in inspector.throttled(limited) if limited else []:
            held.add_metric([t.queue, t.type, t.key or ""], t.held)
        out.append(held)
        batch = GaugeMetricFamily(
            "bingo_batch_items",
            "Items of batched task types waiting to be cut into a batch, per task type",
            labels=["queue", "type"],
        )
        waiting: dict[tuple[str, str], int] = {}
        for b in inspector.batches([r.queue for r in rows]) if rows else []:
            waiting[(b.queue, b.type)] = waiting.get((b.queue, b.type), 0) + b.items
        for (queue, task_type), n in sorted(waiting.items()):
            batch.add_metric([queue, task_type], n)
        out.append(batch)
        states = inspector.entry_states()
        out += self._scheduler(inspector, states, now)
        out += self._servers(inspector, now)
        problems = GaugeMetricFamily(
            "bingo_problems", "Problems found now, per kind", labels=["kind"]
        )
        found = find_problems(inspector, self._settings, now, entry_states=states)
        for kind, n in count_by_kind(found).items():
            problems.add_metric([kind], n)
        out.append(problems)
        return out

    def _scheduler(
        self, inspector: Inspector, states: list[EntryState], now: float
    ) -> list[Metric]:
        entries = GaugeMetricFamily(
            "bingo_scheduler_entries", "Published schedule entries", labels=["source"]
        )
        fired = GaugeMetricFamily(
            "bingo_scheduler_fired_entries", "Entries that fired at least once", labels=["source"]
        )
        missed = CounterMetricFamily(
            "bingo_scheduler_missed_ticks",
            "Ticks skipped as missed (summed over entries)",
            labels=["source"],
        )
        counts: dict[str, list[int]] = {}
        lateness: list[float] = []
        last_fire = 0.0
        for s in states:
            kind = source_kind(s.key) or "?"
            c = counts.setdefault(kind, [0, 0, 0])
            c[0] += 1
            c[2] += s.missed
            if s.last_tick is not None:
                c[1] += 1
                last_fire = max(last_fire, s.last_tick)
                if s.last_at is not None:
                    lateness.append(max(0.0, s.last_at - s.last_tick))
        for kind, (n, f, m) in sorted(counts.items()):
            entries.add_metric([kind], n)
            fired.add_metric([kind], f)
            missed.add_metric([kind], m)
        late = GaugeHistogramMetricFamily(
            "bingo_scheduler_fire_lateness_seconds",
            "Each entry's last fire: seconds between its due time and its enqueue",
        )
        buckets = [(repr(b), sum(1 for x in lateness if x <= b)) for b in LATENESS_BUCKETS]
        buckets.append(("+Inf", len(lateness)))
        late.add_metric([], buckets, sum(lateness))
        last = GaugeMetricFamily(
            "bingo_scheduler_last_fire_timestamp_seconds", "Due time of the latest fire (epoch)"
        )
        last.add_metric([], last_fire)
        leader = inspector.leader()
        lead = GaugeMetricFamily(
            "bingo_scheduler_leader", "1 while a daemon holds the leader lease"
        )
        lead.add_metric([], 1 if leader.id else 0)
        epoch = GaugeMetricFamily("bingo_scheduler_leader_epoch", "Leader lease takeovers so far")
        epoch.add_metric([], leader.epoch)
        sync = inspector.sync_status() or SyncStatus()
        rows = GaugeMetricFamily(
            "bingo_sync_rows", "sys_crontab rows as the last sync saw them", labels=["state"]
        )
        rows.add_metric(["good"], sync.active or 0)
        rows.add_metric(["bad"], len(sync.errors or {}))
        age = GaugeMetricFamily(
            "bingo_sync_last_success_age_seconds", "Seconds since the last successful sync"
        )
        success = sync.last_success
        age.add_metric([], now - success if success is not None else float("nan"))
        db = GaugeMetricFamily("bingo_sync_database_up", "1 while the sync reaches the database")
        db.add_metric([], 1 if sync.healthy else 0)
        return [entries, fired, missed, late, last, lead, epoch, rows, age, db]

    def _servers(self, inspector: Inspector, now: float) -> list[Metric]:
        servers = inspector.server_records(3600.0)
        count = GaugeMetricFamily("bingo_servers", "Servers by status", labels=["status"])
        by: dict[str, int] = {"live": 0, "dead": 0, "stopped": 0}
        active = concurrency = 0
        for s in servers:
            by[s.status] = by.get(s.status, 0) + 1
            if s.status == "live":
                active += s.active_count or 0
                concurrency += s.concurrency or 0
        for status, n in by.items():
            count.add_metric([status], n)
        act = GaugeMetricFamily("bingo_worker_active_tasks", "Tasks running on live workers")
        act.add_metric([], active)
        conc = GaugeMetricFamily("bingo_worker_concurrency", "Task slots of live workers")
        conc.add_metric([], concurrency)
        return [count, act, conc]


def routes(inspector: Callable[[], Inspector], settings: Settings) -> list[Route]:
    """``/metrics`` and ``/healthz`` (``settings``: the problems' thresholds)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BingoCollector(inspector, settings))

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        def check() -> dict[str, Any]:
            try:
                inspector().ping()
            except BingoError as exc:
                return {"status": "unavailable", "error": str(exc)}
            return {"status": "ok"}

        result = await run_in_threadpool(check)
        return JSONResponse(result, status_code=200 if result["status"] == "ok" else 503)

    return [
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
        Route("/healthz", healthz, methods=["GET", "HEAD"], name="healthz"),
    ]
