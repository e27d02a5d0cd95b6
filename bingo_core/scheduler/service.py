"""The scheduler as the daemon runs it: static entries, the ``sys_crontab`` sync, the
leader lease and the tick loop, with their state published in Redis.

Any number of daemons may run it on one Redis; only the holder of the lease fires, and
each ``(entry, fire time)`` is enqueued at most once (see :mod:`.ticker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from ..broker.schedstate import SchedState
from ..errors import BingoError, Crashed
from ..loops import Idle, SurvivingLoop, cancel_and_wait, one_line, redis_outage
from ..records import SyncRow, SyncStatus
from ..store import Store, store_from_settings
from .entries import compile_static
from .leader import LeaderLease
from .sync import CrontabSync
from .ticker import Ticker
from .trouble import StoreTrouble

if TYPE_CHECKING:
    from ..app import App
    from .entries import CompiledEntry

log = logging.getLogger("bingo.scheduler")

#: How often the sync status is published (seconds) when nothing asks sooner.
STATUS_INTERVAL = 2.0
#: How often the daemon looks whether each of the scheduler's loops still runs (seconds).
WATCH_EVERY = 1.0


def one_line_error(exc: BaseException) -> str:
    """A store error as one line: Bingo's own errors as they are (they name the thing),
    anything else with its type."""
    if isinstance(exc, BingoError):
        return " ".join(str(exc).split())
    return one_line(exc)


def make_daemon_id() -> str:
    """``hostname:pid:random``, unique per daemon process."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class SchedulerService:
    """Runs the scheduler inside a daemon: ``await start()``, ``trigger_sync()``,
    ``await stop()``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = settings = app.settings
        self.registry = app.registry
        self.broker = broker = app.async_broker()
        cfg = settings.scheduler
        self.daemon_id = make_daemon_id()
        self.state = SchedState(broker, self.daemon_id)
        self.client = app.async_client()
        self.lease = LeaderLease(self.state, float(cfg.leader_lease))
        self.ticker = Ticker(
            self.client,
            self.state,
            self.lease,
            default_grace=float(cfg.misfire_grace),
            history_size=int(cfg.history_size),
            db_ready=self._db_ready,
        )
        self.sync: CrontabSync | None = None
        self.store: Store | None = None
        #: The database's health, from the first attempt to open it on.
        self.store_trouble = StoreTrouble()
        self._store_error: str | None = None
        self.bad_entries: list[str] = []
        self._sync_starter: asyncio.Task[None] | None = None
        self._published_sync: tuple[Any, ...] | None = None
        interval = min(STATUS_INTERVAL, float(cfg.sync_interval))
        self._status = SurvivingLoop(
            "scheduler status publisher",
            functools.partial(self._publish_status, interval),
            log,
            redis_outage(broker),
            task_name="bingo-scheduler-status",
        )

    def _db_ready(self) -> bool:
        sync = self.sync
        return sync is not None and sync.status().get("last_success") is not None

    async def start(self) -> None:
        """Compile the static entries (each bad one is logged), start the lease, the tick
        loop and the ``sys_crontab`` sync."""
        good, self.bad_entries = compile_static(self.settings, self.registry)
        for line in self.bad_entries:
            log.error("%s; it will not fire (the other entries do)", line)
        self.ticker.apply(good, [], [])
        log.info(
            "scheduler %s: %d static entries; leader lease %gs",
            self.daemon_id,
            len(good),
            self.lease.ttl,
        )
        self.lease.start()
        self.ticker.start()
        self._start_sync()
        self._status.start()

    def _start_sync(self) -> None:
        self._sync_starter = asyncio.get_running_loop().create_task(
            self._open_store_then_sync(), name="bingo-crontab-init"
        )

    async def _open_store_then_sync(self) -> None:
        """Open the store, create ``sys_crontab`` on first start, then start the sync.

        A store that cannot be used (its driver is missing, access is denied, the database
        does not exist, the server is down) is one line now and again at most once a
        minute until it works; the static entries fire meanwhile. ``bingo-scheduler db
        init`` creates the table as well.
        """
        interval = float(self.settings.scheduler.sync_interval)
        trouble = self.store_trouble
        consequence = (
            "the static entries fire; the sys_crontab sync starts once the database can "
            f"be used (retrying every {interval:g}s)"
        )
        while self.store is None:
            try:
                self.store = await asyncio.to_thread(store_from_settings, self.settings)
            except Exception as exc:
                self._store_error = one_line_error(exc)
                trouble.failed(f"sys_crontab sync: {self._store_error}", consequence)
                await asyncio.sleep(interval)
        self._store_error = None
        sync = self.sync = CrontabSync(
            self.store,
            self.registry,
            self.ticker,
            default_tz=self.settings.server.timezone,
            interval=interval,
        )
        sync.trouble = trouble  # one voice for the database, from start to recovery
        try:
            if await asyncio.to_thread(self.store.init_schema):
                log.info("created table sys_crontab in %s", self.store.display_url)
        except Exception as exc:
            sync.db_failed(one_line_error(exc))
        sync.start()

    def trigger_sync(self) -> None:
        """Run a ``sys_crontab`` sync round now (safe from a signal handler)."""
        if self.sync is not None:
            log.info("sys_crontab sync requested")
            self.sync.trigger()

    def apply(
        self, added: list[CompiledEntry], changed: list[CompiledEntry], removed: list[str]
    ) -> None:
        """Add, replace and remove entries (the sync's target interface)."""
        self.ticker.apply(added, changed, removed)

    async def watch(self, stop: asyncio.Event) -> None:
        """Return when ``stop`` is set; raise :class:`~bingo_core.errors.Crashed` when one
        of the scheduler's loops ends first (they survive their own errors: a bug)."""
        while not stop.is_set():
            loops = {
                "the scheduler lease loop": self.lease._task,
                "the scheduler tick loop": self.ticker._task,
                "the scheduler status publisher": self._status.task,
                "the sys_crontab sync": self.sync._task if self.sync is not None else None,
            }
            for name, task in loops.items():
                if task is not None and task.done():
                    exc = None if task.cancelled() else task.exception()
                    why = one_line(exc) if exc is not None else "it returned"
                    raise Crashed(f"{name} stopped: {why}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=WATCH_EVERY)

    @property
    def is_leader(self) -> bool:
        """Whether this daemon currently fires the schedules."""
        return self.lease.is_leader

    async def stop(self) -> None:
        """Stop the sync, the tick loop and the lease (released so another daemon takes
        over at once)."""
        await self._status.stop()
        await cancel_and_wait(self._sync_starter)
        if self.sync is not None:
            await self.sync.stop()
        await self.ticker.stop()
        await self.lease.stop()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
            self.store = None

    def sync_status(self) -> SyncStatus:
        """What is published for readers: the sync's status and this daemon's view."""
        now = time.time()
        static = list(self.bad_entries)
        if self.sync is None:
            return SyncStatus(
                db_ok=False,
                db_error=self._store_error or "sys_crontab sync starting",
                errors={},
                daemon=self.daemon_id,
                static_errors=static,
                published_at=now,
            )
        bad = [SyncRow(**r) for r in self.sync.row_states() if r["state"] == "error"]
        return dataclasses.replace(
            SyncStatus(**self.sync.status()),
            rows=bad,
            daemon=self.daemon_id,
            static_errors=static,
            published_at=now,
        )

    async def _publish_status(self, interval: float) -> float:
        """Publish the sync status while leading (it changes at most once per round);
        returns the seconds until the next time."""
        self.ticker.wake()  # lets the ticker prune db entries once the sync has read
        if not self.lease.is_leader:
            self._published_sync = None
            return Idle(interval)
        status = self.sync_status()
        marker = (
            self.lease.token,
            status.last_sync,
            status.db_ok,
            status.db_error,
            json.dumps(status.errors, sort_keys=True),
        )
        if marker == self._published_sync:
            return Idle(interval)
        await self.state.publish_sync(status)
        self._published_sync = marker
        return interval
