"""The scheduler as the daemon runs it: static entries, the ``sys_crontab`` sync, the
leader lease and the tick loop, with their state published in Redis.

Any number of daemons may run it on one Redis; only the holder of the lease fires, and
each ``(entry, fire time)`` is enqueued at most once (see :mod:`.ticker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from ..broker import CONNECTION_ERRORS
from ..broker.schedstate import SchedState
from ..registry import Registry, ScheduleEntry
from .leader import LeaderLease
from .ticker import Ticker

if TYPE_CHECKING:
    from ..app import App
    from ..config import Settings
    from ..store import Store
    from .entries import CompiledEntry
    from .sync import CrontabSync

log = logging.getLogger("bingo.scheduler")

#: How often the sync status is published (seconds) when nothing asks sooner.
STATUS_INTERVAL = 2.0


def make_daemon_id() -> str:
    """``hostname:pid:random``, unique per daemon process."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def static_entries(settings: Settings, registry: Registry) -> tuple[list[ScheduleEntry], list[str]]:
    """The plugins' entries and the config file's, with one error line per bad config entry."""
    from .entries import config_entries

    entries, errors = config_entries(settings.schedules)
    lines = [f"schedule {label!r} (config): {reason}" for label, reason in errors]
    return [*registry.schedules, *entries], lines


def compile_static(settings: Settings, registry: Registry) -> tuple[list[CompiledEntry], list[str]]:
    """Compile the static entries; return the good ones and one line per bad entry."""
    from .entries import compile_all

    entries, errors = static_entries(settings, registry)
    good, bad = compile_all(entries, registry, settings.server.timezone)
    return good, [*errors, *(line for _, line in bad)]


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
        self.bad_entries: list[str] = []
        self._status_task: asyncio.Task[None] | None = None
        self._sync_starter: asyncio.Task[None] | None = None
        self._published_sync: tuple[Any, ...] | None = None

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
        self._status_task = asyncio.get_running_loop().create_task(
            self._publish_status(), name="bingo-scheduler-status"
        )

    def _start_sync(self) -> None:
        from ..store import store_from_settings
        from .sync import CrontabSync

        try:
            self.store = store_from_settings(self.settings)
        except Exception as exc:  # a bad database URL must not stop the static entries
            log.error("sys_crontab sync disabled: %s", exc)
            return
        self.sync = CrontabSync(
            self.store,
            self.registry,
            self.ticker,
            default_tz=self.settings.server.timezone,
            interval=float(self.settings.scheduler.sync_interval),
        )
        self._sync_starter = asyncio.get_running_loop().create_task(
            self._create_table_then_sync(), name="bingo-crontab-init"
        )

    async def _create_table_then_sync(self) -> None:
        """Create ``sys_crontab`` on first start (off the loop), then start the sync.

        A database that is down now is no reason to wait: the sync logs it and keeps
        retrying, and ``bingo-scheduler db init`` creates the table as well.
        """
        assert self.store is not None and self.sync is not None
        try:
            if await asyncio.to_thread(self.store.init_schema):
                log.info("created table sys_crontab in %s", self.store.display_url)
        except Exception as exc:
            log.warning("could not create table sys_crontab yet: %s", exc)
        self.sync.start()

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

    @property
    def is_leader(self) -> bool:
        """Whether this daemon currently fires the schedules."""
        return self.lease.is_leader

    async def stop(self) -> None:
        """Stop the sync, the tick loop and the lease (released so another daemon takes
        over at once)."""
        if self._status_task is not None:
            self._status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status_task
            self._status_task = None
        if self._sync_starter is not None:
            self._sync_starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_starter
        if self.sync is not None:
            await self.sync.stop()
        await self.ticker.stop()
        await self.lease.stop()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
            self.store = None

    def sync_status(self) -> dict[str, Any]:
        """What is published for readers: the sync's status and this daemon's view."""
        status: dict[str, Any] = (
            self.sync.status()
            if self.sync is not None
            else {
                "db_ok": False,
                "db_error": "sync disabled",
                "errors": {},
            }
        )
        if self.sync is not None:
            status["rows"] = [r for r in self.sync.row_states() if r["state"] == "error"]
        status["daemon"] = self.daemon_id
        status["static_errors"] = list(self.bad_entries)
        status["published_at"] = time.time()
        return status

    async def _publish_status(self) -> None:
        """Publish the sync status while leading (it changes at most once per round)."""
        interval = min(STATUS_INTERVAL, float(self.settings.scheduler.sync_interval))
        while True:
            await asyncio.sleep(interval)
            self.ticker.wake()  # lets the ticker prune db entries once the sync has read
            if not self.lease.is_leader:
                self._published_sync = None
                continue
            status = self.sync_status()
            marker = (
                self.lease.token,
                status.get("last_sync"),
                status.get("db_ok"),
                json.dumps(status.get("errors"), sort_keys=True),
            )
            if marker == self._published_sync:
                continue
            try:
                await self.state.publish_sync(status)
                self._published_sync = marker
            except CONNECTION_ERRORS as exc:
                log.debug("sync status not published: %s", exc)
