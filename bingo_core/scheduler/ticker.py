"""The tick loop: fire every due entry, on the leader only, each tick exactly once.

A heap holds each entry's next fire time; the loop sleeps until the earliest (no polling)
and enqueues every entry due at that instant in one batch. Each tick goes out through
:meth:`AsyncClient.enqueue_ticks`, which sets a dedupe key for its ``(entry, fire time)``
NX with the task, so a tick another daemon already enqueued is refused and never
enqueued twice.

When this daemon becomes leader (and whenever an entry is added), each entry resumes from
its cursor in Redis, the last tick a leader handled: the ticks since then that are within
the entry's ``misfire_grace`` are fired late, older ones are skipped and counted as missed.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..broker import CONNECTION_ERRORS
from ..broker.schedstate import Published, Record, SchedState
from ..building import Template
from ..loops import Faults, Guard, cancel_and_wait, one_line, redis_outage
from ..records import HistoryItem
from ..registry import row_id_of
from ..ticks import Tick, TickResult
from .flows import start_tick_workflows
from .leader import LeaderLease
from .timing import Walk, describe, fingerprint, iso, next_fire, walk

if TYPE_CHECKING:
    from ..client import AsyncClient
    from .entries import CompiledEntry

log = logging.getLogger("bingo.scheduler")

#: Shortest life of a tick's dedupe key (it must outlive the misfire grace).
MIN_DEDUPE_TTL = 3600.0
#: The loop wakes this long before a tick and builds its batch while the tick comes; the
#: batch is sent on the tick (:meth:`AsyncClient.enqueue_ticks`, ``not_before``).
EARLY = 0.005


@dataclass(slots=True)
class _Slot:
    compiled: CompiledEntry
    grace: float
    gen: int
    #: The entry's task options merged once (defaults < type < entry).
    template: Template
    next: float | None = None


class Ticker:
    """Holds the entries and fires them while :attr:`lease` says this daemon leads.

    :meth:`apply` (the sync's target interface) may be called at any time from the loop;
    the changes are published and scheduled by the loop task itself.
    """

    def __init__(
        self,
        client: AsyncClient,
        state: SchedState,
        lease: LeaderLease,
        *,
        default_grace: float = 60.0,
        history_size: int = 100,
        db_ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.client = client
        self.state = state
        self.lease = lease
        self.default_grace = default_grace
        self.history_size = history_size
        self.db_ready = db_ready
        #: Ticks enqueued by this daemon, ticks found already enqueued by another daemon,
        #: ticks skipped as missed, and the lateness (s) of recent enqueues.
        self.fired = 0
        self.deduped = 0
        self.missed = 0
        self.lateness: collections.deque[float] = collections.deque(maxlen=100_000)
        self._slots: dict[str, _Slot] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._gens = itertools.count(1)
        self._armed: int | None = None
        self._dirty: set[str] = set()
        self._removed: set[str] = set()
        self._db_pruned = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._guard = Guard("scheduler tick loop", log, redis_outage(state.broker))
        #: Entries whose ticks are refused (a broken target queue, a held unique lock):
        #: logged once per streak, not once per tick.
        self._refused = Faults(
            log,
            lambda key, exc: f"schedule {key}: tick not enqueued: {exc}",
            lambda key: f"schedule {key}: ticks enqueued again",
        )
        lease.listeners.append(self.wake)

    # -- the entries ----------------------------------------------------------------------
    def apply(
        self, added: list[CompiledEntry], changed: list[CompiledEntry], removed: list[str]
    ) -> None:
        """Add ``added``, replace ``changed`` (same key), remove the entries keyed ``removed``."""
        for key in removed:
            self._slots.pop(key, None)
            self._dirty.discard(key)
            self._removed.add(key)
        for compiled in (*added, *changed):
            grace = compiled.misfire_grace
            self._slots[compiled.key] = _Slot(
                compiled,
                self.default_grace if grace is None else float(grace),
                next(self._gens),
                Template.build(compiled.task_type, compiled.options),
            )
            self._dirty.add(compiled.key)
            self._removed.discard(compiled.key)
        self.wake()

    def entries(self) -> list[CompiledEntry]:
        """The entries this daemon holds (it fires them while it leads)."""
        return [s.compiled for s in self._slots.values()]

    def next_fires(self) -> dict[str, float | None]:
        """Each entry's next fire time while this daemon leads (empty otherwise)."""
        return {k: s.next for k, s in self._slots.items()} if self._armed is not None else {}

    @property
    def armed(self) -> bool:
        """Whether this daemon is firing (it leads and its entries are scheduled)."""
        return self._armed is not None

    def wake(self) -> None:
        """Make the loop look at its entries and the lease again."""
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the tick loop on the running loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name="bingo-scheduler-ticker"
            )

    async def stop(self) -> None:
        """Stop the tick loop (a batch being enqueued is cancelled with it)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._disarm()

    async def run(self) -> None:
        """Fire due ticks until cancelled; a failing round is logged once (Redis not
        answering: the daemon's one line), and the loop arms again from the cursors in
        Redis after a backoff."""
        guard = self._guard
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = guard.failed(exc)
                self.lease.key_renamed(exc)
                self._disarm(quiet=True)  # arm again, from the cursors in Redis
                await asyncio.sleep(delay)
            else:
                if self._armed is not None:  # a round that reached Redis
                    guard.ok()

    async def step(self) -> None:
        """One round: follow the lease, apply changes, fire what is due, or sleep."""
        self._wake.clear()
        lease = self.lease
        token = lease.token
        if token is None or not lease.is_leader:
            self._disarm(quiet=True)  # the lease says why
            await self._sleep(None if token is None else lease.ttl / 10)
            return
        if self._armed != token:
            await self._arm(token)
        elif self._dirty or self._removed or (not self._db_pruned and self.db_ready()):
            await self._refresh(token)
        if self._armed is None:
            return
        heap = self._heap
        if not heap:
            await self._sleep(None)
            return
        now = time.time()
        due = heap[0][0]
        if due <= now + EARLY:
            await self._fire_due(token, max(now, due))
        else:
            await self._sleep(due - EARLY - now)

    async def _sleep(self, delay: float | None) -> None:
        if self._wake.is_set():
            return
        if delay is None:
            await self._wake.wait()
            return
        handle = asyncio.get_running_loop().call_later(delay, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            handle.cancel()

    def _disarm(self, *, quiet: bool = False) -> None:
        if self._armed is not None:
            (log.debug if quiet else log.info)("scheduler: %s stops firing", self.state.daemon_id)
        self._armed = None
        self._heap.clear()
        for slot in self._slots.values():
            slot.next = None

    def _published(self, slot: _Slot) -> Published:
        compiled = slot.compiled
        info = describe(compiled, slot.grace)
        return Published(compiled.key, info, fingerprint(compiled))

    def _prunable(self, key: str) -> bool:
        return row_id_of(key) is None or self.db_ready()

    async def _arm(self, token: int) -> None:
        """Publish every entry, drop stale ones, resume each entry from its cursor."""
        self._disarm()
        keys = list(self._slots)
        entries = [self._published(self._slots[k]) for k in keys]
        self._dirty.clear()
        self._removed.clear()
        pruned_db = self.db_ready()
        stale = [k for k in await self._published_keys() - set(keys) if self._prunable(k)]
        if not await self.state.publish(token, entries, stale):
            self.lease.lost()
            return
        self._db_pruned = pruned_db
        self._armed = token
        log.info("scheduler: %s leads; firing %d entries", self.state.daemon_id, len(keys))
        await self._resume(token, keys)

    async def _refresh(self, token: int) -> None:
        """Publish the entries changed since the last round and schedule them."""
        dirty = [k for k in self._dirty if k in self._slots]
        removed = list(self._removed)
        self._dirty.clear()
        self._removed.clear()
        if not self._db_pruned and self.db_ready():
            self._db_pruned = True
            known = set(self._slots)
            removed += [
                k
                for k in await self._published_keys()
                if row_id_of(k) is not None and k not in known and k not in removed
            ]
        entries = [self._published(self._slots[k]) for k in dirty]
        if not await self.state.publish(token, entries, removed):
            self.lease.lost()
            self._disarm()
            return
        await self._resume(token, dirty)

    async def _resume(self, token: int, keys: Sequence[str]) -> None:
        """Schedule ``keys`` from their cursors: fire the ticks within the grace late,
        count older ones as missed."""
        try:
            cursors = await self.state.cursors(keys)
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:  # the cursors hash holds the wrong type: no catch-up
            log.warning(
                "scheduler: the cursors of %d entries could not be read (%s); they resume "
                "from now, without firing missed ticks",
                len(keys),
                one_line(exc),
            )
            cursors = [None] * len(keys)
        now = time.time()
        records: list[Record] = []
        late: list[tuple[_Slot, float]] = []
        for key, cursor in zip(keys, cursors, strict=True):
            slot = self._slots.get(key)
            if slot is None:
                continue
            w = walk(slot.compiled.schedule, cursor, now, slot.grace)
            late += ((slot, t) for t in w.due)
            slot.next = w.next
            if w.next is not None:
                heapq.heappush(self._heap, (w.next, next(self._seq), key, slot.gen))
            record = Record(key, next=w.next)
            if w.missed:
                self._count_missed(slot, w.missed, w.first_missed, w.last_missed, record)
            records.append(record)
        if not await self.state.record(token, records, self.history_size):
            self.lease.lost()
            self._disarm()
            return
        if late:
            log.info("scheduler: firing %d tick(s) missed while no leader fired them", len(late))
            await self._fire(token, late, [])

    async def _published_keys(self) -> set[str]:
        """The published entry keys; none when their set holds the wrong type (the next
        publish renames it aside and starts a new one)."""
        try:
            return await self.state.published_keys()
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:
            log.debug("scheduler: published entry keys not readable: %s", one_line(exc))
            return set()

    async def _enqueue(self, ticks: list[Tick]) -> list[TickResult]:
        """Enqueue ``ticks`` in one round trip, not before the latest of them; when that
        fails for another reason than Redis not answering (a target queue's keys hold the
        wrong type), queue by queue, so that only the ticks of the broken queue fail (each
        with the error)."""
        latest = max(t.fire_time for t in ticks)
        not_before = latest if latest > time.time() else None
        try:
            return await self.client.enqueue_ticks(ticks, not_before=not_before)
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:
            queues = sorted({_queue(t) for t in ticks})
            if len(queues) == 1:
                return [TickResult("", error=one_line(exc)) for _ in ticks]
        results: list[TickResult | None] = [None] * len(ticks)
        for queue in queues:
            idx = [i for i, t in enumerate(ticks) if _queue(t) == queue]
            try:
                part = await self.client.enqueue_ticks([ticks[i] for i in idx])
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:
                part = [TickResult("", error=one_line(exc)) for _ in idx]
            for i, result in zip(idx, part, strict=True):
                results[i] = result
        return [r if r is not None else TickResult("", error="not enqueued") for r in results]

    def _count_missed(
        self, slot: _Slot, count: int, first: float | None, last: float | None, record: Record
    ) -> None:
        key = slot.compiled.key
        log.warning(
            "schedule %s: %d tick(s) from %s to %s skipped as missed (older than "
            "misfire_grace %gs)",
            key,
            count,
            iso(first),
            iso(last),
            slot.grace,
        )
        self.missed += count
        record.missed += count
        record.cursor = last
        record.history = HistoryItem(missed=count, from_=first, to=last)

    async def _fire_due(self, token: int, now: float) -> None:
        heap = self._heap
        slots = self._slots
        batch: list[tuple[_Slot, float]] = []
        missed: dict[str, Walk] = {}
        later: list[tuple[_Slot, float, str, int]] = []
        while heap and heap[0][0] <= now:
            at, _, key, gen = heapq.heappop(heap)
            slot = slots.get(key)
            if slot is None or slot.gen != gen:
                continue
            schedule = slot.compiled.schedule
            if now - at > slot.grace:  # the loop was held up past the grace
                w = walk(schedule, at, now, slot.grace)
                w.missed += 1
                w.first_missed = at
                w.last_missed = w.last_missed or at
                missed[key] = w
                batch += ((slot, t) for t in w.due)
                slot.next = w.next
                if w.next is not None:
                    heapq.heappush(heap, (w.next, next(self._seq), key, gen))
            else:
                batch.append((slot, at))
                later.append((slot, at, key, gen))

        def advance() -> None:
            # The next fire times are computed once the tick is enqueued: off the path
            # that decides how late a tick is.
            for slot, at, key, gen in later:
                nxt = slot.next = next_fire(slot.compiled.schedule, at)
                if nxt is not None:
                    heapq.heappush(heap, (nxt, next(self._seq), key, gen))

        extra = []
        for key, w in missed.items():
            if w.missed:
                record = Record(key)
                self._count_missed(slots[key], w.missed, w.first_missed, w.last_missed, record)
                extra.append(record)
        await self._fire(token, batch, extra, advance)

    async def _fire(
        self,
        token: int,
        batch: Iterable[tuple[_Slot, float]],
        records: list[Record],
        advance: Callable[[], None] | None = None,
    ) -> None:
        """Enqueue one task per (entry, tick) in one batch, then start the workflow of
        each entry that starts one (each its own script call), then record what happened.

        ``advance`` (schedule the entries' next ticks) runs right after the enqueue.
        """
        if self.lease.token != token or not self.lease.is_leader:
            if advance is not None:
                advance()
            self._disarm()
            return
        batch = list(batch)
        items = [(slot, tick) for slot, tick in batch if slot.compiled.flow is None]
        ticks = [
            Tick(
                slot.template,
                slot.compiled.payload_json,
                slot.compiled.key,
                tick,
                max(slot.grace * 2, MIN_DEDUPE_TTL),
            )
            for slot, tick in items
        ]
        flows = [(slot, tick) for slot, tick in batch if slot.compiled.flow is not None]
        try:
            results = await self._enqueue(ticks) if ticks else []
            dones = [time.time()] * len(results)
            if flows:  # entries that start a workflow: one script call each, after
                starts = [(s.compiled.entry, t) for s, t in flows]
                results += await start_tick_workflows(self.client, starts)
                items += flows
                dones += [time.time()] * len(flows)
        finally:
            if advance is not None:
                advance()
        for (slot, tick), result, done in zip(items, results, dones, strict=True):
            key = slot.compiled.key
            record = Record(key, cursor=tick, next=slot.next)
            if result.error:
                self._refused.failed(key, RuntimeError(f"{iso(tick)}: {result.error}"))
                record.history = HistoryItem(tick=tick, error=result.error)
            else:
                self._refused.ok(key)
                lateness = done - tick
                record.last_tick, record.last_task, record.last_at = tick, result.task_id, done
                record.history = HistoryItem(
                    tick=tick,
                    task_id=result.task_id,
                    enqueued_at=done,
                    lateness=round(lateness, 6),
                    by_other=None if result.enqueued else True,
                )
                if result.enqueued:
                    self.fired += 1
                    self.lateness.append(lateness)
                else:
                    self.deduped += 1
            records.append(record)
        if not await self.state.record(token, records, self.history_size):
            self.lease.lost()
            self._disarm()


def _queue(tick: Tick) -> str:
    return tick.template.message.queue
