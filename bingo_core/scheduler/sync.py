"""The dynamic task manager: ``sys_crontab`` rows -> scheduler entries.

Every ``interval`` seconds, and at once on :meth:`CrontabSync.trigger` (SIGUSR1), the sync
reads the table and applies only the differences to its target (the scheduler): new and
enabled rows are added, edited rows replaced, deleted or disabled rows removed. A row whose
(name, type, spec, payload, status) did not change since the last round is not validated
again. A bad row is skipped with its error kept in :attr:`CrontabSync.row_errors` and
logged once; it never stops the others. While the database is unreachable the last good
set keeps running.

A round first asks the store for the table's fingerprint (one aggregate query on MySQL,
``PRAGMA data_version`` on SQLite; see :mod:`bingo_core.store.fingerprint`). When it
equals the fingerprint taken before the last applied read, the round ends there: no row
is read, nothing is compared. A fingerprint can in theory miss a change (hash
collisions on MySQL; a replaced SQLite file), so every row is still read at least every
``full_read_every`` seconds, whatever the fingerprint says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ServiceUnavailable, UsageError
from ..loops import Guard, cancel_and_wait
from ..registry import Registry, row_source
from .entries import CompiledEntry
from .rows import ENABLED, compile_row
from .trouble import StoreTrouble

if TYPE_CHECKING:
    from ..store import Fingerprint, RowTuple, Store

log = logging.getLogger("bingo.sync")

#: What decides whether a row must be validated again.
RowSignature = tuple[str, str, str, str | None, int]
#: Default of ``full_read_every``: seconds after which a round reads every row even when
#: the table's fingerprint did not change (the safety net against a fingerprint collision).
FULL_READ_EVERY = 300.0


class EntryTarget(Protocol):
    """Where the sync applies its differences (the scheduler)."""

    def apply(
        self, added: list[CompiledEntry], changed: list[CompiledEntry], removed: list[str]
    ) -> None:
        """Add ``added``, replace ``changed`` (same key), remove the entries keyed ``removed``."""


@dataclass
class SyncResult:
    """What one sync round did (keys of the entries; errors by row id)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    duration: float = 0.0
    db_ok: bool = True
    #: Whether every row was read; False when the table's fingerprint showed no change.
    full_read: bool = False

    @property
    def changes(self) -> int:
        """How many entries were added, replaced or removed."""
        return len(self.added) + len(self.changed) + len(self.removed)


@dataclass(slots=True)
class _RowState:
    signature: RowSignature
    compiled: CompiledEntry | None  # None: disabled or invalid
    error: str | None


@dataclass(slots=True)
class _Read:
    fingerprint: Fingerprint | None  # taken before the rows
    rows: list[RowTuple] | None  # None: the fingerprint equals the applied one
    started: float  # time.monotonic() before the fingerprint


@dataclass
class _Plan:
    states: dict[int, _RowState]  # rows that are new or changed
    gone: list[int]  # row ids no longer in the table
    added: list[CompiledEntry]
    changed: list[CompiledEntry]
    removed: list[str]
    read: _Read
    rows: list[RowTuple]


class CrontabSync:
    """Keeps the scheduler's ``db:<id>`` entries in step with the ``sys_crontab`` table.

    Use :meth:`sync_once` from plain code, or :meth:`start` / :meth:`stop` on a running
    asyncio loop (the database is read in a worker thread; the target is applied on the
    loop). :meth:`trigger` runs a round at once and is safe from a signal handler.

    ``full_read_every`` (seconds) bounds how long the table's fingerprint alone may decide
    that nothing changed; 0 reads every row every round.
    """

    def __init__(
        self,
        store: Store,
        registry: Registry,
        target: EntryTarget,
        *,
        default_tz: str | tzinfo | None,
        interval: float = 10.0,
        full_read_every: float = FULL_READ_EVERY,
    ) -> None:
        self.store = store
        self.registry = registry
        self.target = target
        self.default_tz = default_tz
        self.interval = interval
        self.full_read_every = full_read_every
        #: Current validation error of each bad row, by row id.
        self.row_errors: dict[int, str] = {}
        self._state: dict[int, _RowState] = {}
        self._last_rows: list[RowTuple] = []  # the table as last applied
        self._fingerprint: Fingerprint | None = None  # taken before the last applied read
        self._last_full: float | None = None  # time.monotonic() of that read
        self._full_reads = 0
        self._last_full_read: float | None = None  # epoch seconds, for status()
        self._db_ok = True
        self._db_error: str | None = None
        self._last_sync: float | None = None
        self._last_ok: float | None = None
        self._last_duration = 0.0
        self._rounds = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The database's health: its errors are logged once, then at most once a minute.
        self.trouble = StoreTrouble()
        self._guard = Guard("sys_crontab sync", log)

    # -- one round -----------------------------------------------------------------------

    def sync_once(self) -> SyncResult:
        """Read the table and apply the differences; blocking (not while :meth:`run` runs)."""
        started = time.perf_counter()
        read = self._fetch()
        if read is None:
            return self._finish(SyncResult(db_ok=False), started)
        if read.rows is None:
            return self._finish(self._unchanged(), started)
        return self._finish(self._commit(self._plan(read, read.rows)), started)

    async def sync_once_async(self) -> SyncResult:
        """:meth:`sync_once` for a running loop: read and validate in a thread, apply here."""
        started = time.perf_counter()
        read = await asyncio.to_thread(self._fetch)
        if read is None:
            return self._finish(SyncResult(db_ok=False), started)
        if read.rows is None:
            return self._finish(self._unchanged(), started)
        plan = await asyncio.to_thread(self._plan, read, read.rows)
        return self._finish(self._commit(plan), started)

    def _fetch(self) -> _Read | None:
        # The fingerprint is taken before the rows: a write between the two shows in the
        # next round's fingerprint, so it costs a second full read but is never missed.
        started = time.monotonic()
        try:
            fingerprint = self.store.fingerprint() if self.full_read_every > 0 else None
            rows = None if self._is_unchanged(fingerprint, started) else self.store.scan()
        except ServiceUnavailable as exc:
            self.db_failed(str(exc))
            return None
        self._db_ok = True
        self._db_error = None
        self.trouble.ok(f"database reachable again: {self.store.display_url}")
        return _Read(fingerprint, rows, started)

    def db_failed(self, reason: str) -> None:
        """The database could not be used (``reason``: one line): logged once, then at
        most once a minute while it lasts; the running entries keep firing."""
        self._db_ok = False
        self._db_error = reason
        self.trouble.failed(
            reason,
            f"keeping the last {self.active_count} dynamic entries running (the "
            f"sys_crontab sync retries every {self.interval:g}s)",
        )

    def _is_unchanged(self, fingerprint: Fingerprint | None, now: float) -> bool:
        return (
            fingerprint is not None
            and fingerprint == self._fingerprint
            and self._last_full is not None
            and now - self._last_full < self.full_read_every
        )

    def _unchanged(self) -> SyncResult:
        self._rounds += 1
        self._last_ok = time.time()
        return SyncResult(errors=dict(self.row_errors))

    def _plan(self, read: _Read, rows: list[RowTuple]) -> _Plan:
        plan = _Plan(states={}, gone=[], added=[], changed=[], removed=[], read=read, rows=rows)
        if rows == self._last_rows:  # nothing changed: one comparison in C
            return plan
        state = self._state
        seen: set[int] = set()
        for row in rows:
            row_id = row[0]
            signature: RowSignature = row[1:]
            seen.add(row_id)
            previous = state.get(row_id)
            if previous is not None and previous.signature == signature:
                continue
            compiled, error = self._evaluate(row_id, signature)
            plan.states[row_id] = _RowState(signature, compiled, error)
            old = previous.compiled if previous is not None else None
            if compiled is None:
                if old is not None:
                    plan.removed.append(old.key)
            elif old is None:
                plan.added.append(compiled)
            elif old.key != compiled.key:  # renamed: the entry's identity changed
                plan.removed.append(old.key)
                plan.added.append(compiled)
            else:
                plan.changed.append(compiled)
        for row_id, previous in state.items():
            if row_id not in seen:
                plan.gone.append(row_id)
                if previous.compiled is not None:
                    plan.removed.append(previous.compiled.key)
        return plan

    def _evaluate(
        self, row_id: int, signature: RowSignature
    ) -> tuple[CompiledEntry | None, str | None]:
        name, task_type, spec, payload, status = signature
        if status != ENABLED:
            return None, None
        try:
            compiled = compile_row(
                row_id, name, task_type, spec, payload, self.registry, self.default_tz
            )
        except UsageError as exc:
            return None, str(exc)
        except Exception as exc:  # a bug must not stop the other rows
            log.debug("sys_crontab row %d failed to compile", row_id, exc_info=True)
            return None, f"schedule {name!r} ({row_source(row_id)}): {type(exc).__name__}: {exc}"
        return compiled, None

    def _commit(self, plan: _Plan) -> SyncResult:
        if plan.added or plan.changed or plan.removed:
            # Applied first: if the target refuses, the same differences are retried next round.
            self.target.apply(plan.added, plan.changed, plan.removed)
        self._last_rows = plan.rows
        self._fingerprint = plan.read.fingerprint
        self._last_full = plan.read.started
        self._full_reads += 1
        self._last_full_read = time.time()
        for row_id in plan.gone:
            del self._state[row_id]
            if self.row_errors.pop(row_id, None) is not None:
                log.info("sys_crontab row %d was deleted; its error is cleared", row_id)
        for row_id, new in plan.states.items():
            self._state[row_id] = new
            name = new.signature[0]
            before = self.row_errors.get(row_id)
            if new.error is not None:
                if new.error != before:
                    log.error("sys_crontab row %d skipped: %s", row_id, new.error)
                self.row_errors[row_id] = new.error
            elif before is not None:
                del self.row_errors[row_id]
                state = "is valid again" if new.compiled is not None else "is disabled"
                log.info("sys_crontab row %d %r %s", row_id, name, state)
        self._rounds += 1
        self._last_ok = time.time()
        return SyncResult(
            added=[c.key for c in plan.added],
            changed=[c.key for c in plan.changed],
            removed=list(plan.removed),
            errors=dict(self.row_errors),
            full_read=True,
        )

    def _finish(self, result: SyncResult, started: float) -> SyncResult:
        result.duration = time.perf_counter() - started
        self._last_sync = time.time()
        self._last_duration = result.duration
        if result.changes:
            log.info(
                "sys_crontab: %d added, %d changed, %d removed (%.3fs)",
                len(result.added),
                len(result.changed),
                len(result.removed),
                result.duration,
            )
        return result

    # -- what the dashboard and the CLI show ------------------------------------------------

    @property
    def db_ok(self) -> bool:
        """Whether the last read of the table succeeded."""
        return self._db_ok

    @property
    def active_count(self) -> int:
        """How many rows currently run as scheduler entries."""
        return sum(1 for s in self._state.values() if s.compiled is not None)

    def entries(self) -> list[CompiledEntry]:
        """The entries currently applied, by row id."""
        return [s.compiled for _, s in sorted(self._state.items()) if s.compiled is not None]

    def row_states(self) -> list[dict[str, Any]]:
        """Each known row with its state: ``active``, ``disabled`` or ``error``."""
        out = []
        for row_id, s in sorted(self._state.items()):
            name, task_type, spec, _payload, status = s.signature
            state = "active" if s.compiled else ("error" if s.error else "disabled")
            out.append(
                {
                    "id": row_id,
                    "name": name,
                    "type": task_type,
                    "spec": spec,
                    "status": status,
                    "state": state,
                    "error": s.error,
                    "key": s.compiled.key if s.compiled else None,
                }
            )
        return out

    def status(self) -> dict[str, Any]:
        """Last sync time (epoch s), its duration, row/active counts, errors and db health.

        ``rounds`` counts the successful rounds, ``full_reads`` those that read every row
        (the others found the table's fingerprint unchanged); ``last_full_read`` is the
        epoch time of the last of those.
        """
        return {
            "last_sync": self._last_sync,
            "last_success": self._last_ok,
            "duration": self._last_duration,
            "interval": self.interval,
            "rounds": self._rounds,
            "full_reads": self._full_reads,
            "last_full_read": self._last_full_read,
            "rows": len(self._state),
            "active": self.active_count,
            "errors": {str(k): v for k, v in sorted(self.row_errors.items())},
            "db_ok": self._db_ok,
            "db_error": self._db_error,
            "database": self.store.display_url,
        }

    # -- the background loop ------------------------------------------------------------------

    def start(self) -> None:
        """Start the sync loop as a task on the running asyncio loop (first round at once)."""
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self.run(), name="bingo-crontab-sync")

    async def stop(self) -> None:
        """Stop the loop and wait for it to end."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def trigger(self) -> None:
        """Run a round now (safe from a signal handler or another thread)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(wake.set)

    async def run(self) -> None:
        """Sync every ``interval`` seconds, or sooner when triggered, until cancelled."""
        if self._wake is None:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
        wake = self._wake
        guard = self._guard
        while True:
            wake.clear()
            delay = self.interval
            try:
                await self.sync_once_async()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: logged once, retried sooner, then as usual
                delay = min(self.interval, guard.failed(exc))
            else:
                guard.ok()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)
