"""The worker: leases tasks from Redis, runs their handlers, acks, retries, archives.

No polling: an idle worker blocks on the queues' wake-up lists (BLPOP), woken by the
enqueue script; its block timeout is the time to the next scheduled or retry task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticSerializationError, to_json

from ..broker import CONNECTION_ERRORS, AsyncBroker
from ..context import TaskContext
from ..errors import Crashed, MalformedTask, PayloadError, SkipRetry, TaskTimeout
from ..loops import (
    FIRST_DELAY,
    Faults,
    Guard,
    cancel_and_wait,
    is_connection_error,
    is_wrong_type,
    one_line,
    redis_outage,
)
from ..message import TaskInfo, TaskMessage
from ..registry import TaskType
from .heartbeat import Heartbeat
from .hooks import WorkerHooks
from .recoverer import Recoverer
from .runner import HandlerRunner
from .stats import StatsRecorder

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("bingo.worker")
_UNSET: Any = object()
IDLE_BLOCK = 1.0  # longest BLPOP; bounds how late a paused queue's resume is noticed
#: Attempts at writing the last acks while shutting down before giving up on them.
SHUTDOWN_ACK_ATTEMPTS = 3


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def default_backoff(retried: int) -> float:
    """Exponential backoff with jitter, as Asynq: n^4 + 15 + rand(0..30)*(n+1) seconds."""
    return float(retried**4 + 15 + random.randint(0, 29) * (retried + 1))


@dataclass(slots=True)
class Running:
    queue: str
    ctx: TaskContext
    task: asyncio.Task[None] | None = None
    #: Its cancel was asked (the dashboard): archived when its handler stops.
    cancel_requested: bool = False


class Worker:
    """One worker process's task loop. ``await worker.run(stop_event)``."""

    def __init__(self, app: App, *, broker: AsyncBroker | None = None) -> None:
        settings = app.settings
        ws = settings.worker
        self.app = app
        self.settings = settings
        self.registry = app.registry
        self.broker = broker if broker is not None else app.async_broker()
        self.concurrency = ws.concurrency
        self.queues: dict[str, int] = dict(ws.queues)
        self.strict = ws.strict_priority
        self.lease = ws.lease
        self.shutdown_timeout = ws.shutdown_timeout
        self.archive_max_size = ws.archive_max_size
        self.archive_max_age = ws.archive_max_age
        self.max_result_size = ws.max_result_size
        self.id = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.active: dict[str, Running] = {}
        self.processed = 0
        self.failed = 0
        self.started_at = time.time()
        self.hooks = WorkerHooks(app.manager)
        self.runner = HandlerRunner(self.concurrency)
        #: Redis not answering: one line for the whole daemon, shared by its loops.
        self.outage = redis_outage(self.broker)
        self.heartbeat = Heartbeat(self)
        self.recoverer = Recoverer(self)
        self.stats = StatsRecorder(self.broker, self.outage)
        self._timezone = app.timezone
        self._plugin_cfg: dict[str, Any] = {}
        self._db = app.db
        self._acks: dict[str, list[tuple[str, float, str, str]]] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._slot = asyncio.Event()
        self._stopping = False
        self._fetcher: asyncio.Task[None] | None = None
        self._fetch_guard = Guard("fetch loop", log, self.outage)
        self._ack_guard = Guard("ack flush", log, self.outage)
        self._queue_faults = Faults(log, self._queue_fault, lambda q: f"queue {q}: fetching again")
        self._ack_faults = Faults(
            log,
            lambda q, exc: f"queue {q}: ack failed: {one_line(exc)}; kept and retried",
            lambda q: f"queue {q}: acks written again",
        )

    # -- lifecycle --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then shut down gracefully."""
        await self.broker.ping()
        try:
            await self.broker.register_queues(self.queues)
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:  # the queue set holds the wrong type: the queues still work
            log.error(
                "could not add the queues to %s: %s; they work, but `queues list` and the "
                "dashboard may not show them",
                self.broker.keys.queues,
                one_line(exc),
            )
        self.heartbeat.start()
        self.recoverer.start()
        self.stats.start()
        self._fetcher = asyncio.create_task(self._fetch_loop(), name="bingo-fetch")
        log.info(
            "worker ready: id=%s queues=%s concurrency=%d",
            self.id,
            ",".join(self.queues),
            self.concurrency,
        )
        stopper = asyncio.create_task(stop.wait())
        fetcher = self._fetcher
        await asyncio.wait({stopper, fetcher}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        crash: BaseException | None = None
        if fetcher.done() and not stop.is_set():
            # Cannot happen short of a bug: the loop handles every exception itself.
            crash = (None if fetcher.cancelled() else fetcher.exception()) or RuntimeError(
                "it returned"
            )
        await self.shutdown()
        if crash is not None:
            raise Crashed(f"the worker's fetch loop stopped: {one_line(crash)}") from crash

    async def shutdown(self) -> None:
        """Stop fetching, let active tasks finish up to ``shutdownTimeout``, requeue the rest."""
        self._stopping = True
        await cancel_and_wait(self._fetcher)
        running = [r.task for r in self.active.values() if r.task is not None]
        if running:
            log.info(
                "shutdown: waiting up to %.1fs for %d active task(s)",
                self.shutdown_timeout,
                len(running),
            )
            await asyncio.wait(running, timeout=self.shutdown_timeout or None)
        left = list(self.active.items())
        for _, r in left:
            r.ctx.cancel()
        await cancel_and_wait(*(r.task for _, r in left))
        # A flush backing off: take over its acks now.
        await cancel_and_wait(self._flushing)
        await self._flush_acks()
        by_queue: dict[str, list[str]] = {}
        for task_id, r in left:
            by_queue.setdefault(r.queue, []).append(task_id)
        for queue, ids in by_queue.items():
            try:
                n = await self.broker.requeue(queue, ids, self.id)
                log.info("shutdown: requeued %d unfinished task(s) to the head of %s", n, queue)
            except Exception as exc:
                log.error(
                    "shutdown: could not requeue %d task(s) of queue %s (%s); they return "
                    "when their lease expires",
                    len(ids),
                    queue,
                    one_line(exc),
                )
        await self.heartbeat.stop()
        await self.recoverer.stop()
        await self.stats.stop()
        with contextlib.suppress(Exception):  # its record expires on its own
            await self.broker.remove_server(self.id)
        self.runner.close()
        log.info("worker stopped: processed=%d failed=%d", self.processed, self.failed)

    # -- fetching ---------------------------------------------------------------------------
    def _queue_order(self) -> list[str]:
        if len(self.queues) == 1:
            return list(self.queues)
        if self.strict:
            return sorted(self.queues, key=lambda q: -self.queues[q])
        # Weighted: a random order where a queue comes first in proportion to its weight.
        return sorted(
            self.queues, key=lambda q: random.random() ** (1.0 / self.queues[q]), reverse=True
        )

    async def _fetch_loop(self) -> None:
        """Lease tasks while slots are free; block on the queues' wake-up lists when idle.

        Nothing ends it but :meth:`shutdown`: Redis not answering is one line for the
        daemon (the shared :class:`~bingo_core.loops.Outage`), any other failure one line
        for this loop, each retried with backoff; a queue whose keys hold the wrong type
        is skipped on its own (see :meth:`_fetch`).
        """
        guard = self._fetch_guard
        while not self._stopping:
            free = self.concurrency - len(self.active)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            try:
                popped, next_due, asked = await self._fetch(free)
                if popped:
                    guard.ok()
                    continue
                wait = IDLE_BLOCK if next_due is None else min(IDLE_BLOCK, next_due - time.time())
                ready = [q for q in self.queues if q not in self._queue_faults.failing()]
                if wait > 0.001:
                    if ready:
                        await self.broker.wait_for_work(ready, wait)
                        asked = True
                    else:
                        await asyncio.sleep(wait)
                if asked:
                    guard.ok()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await asyncio.sleep(guard.failed(exc))

    async def _fetch(self, free: int) -> tuple[int, float | None, bool]:
        """Fetch from each queue in turn: ``(ids popped, next due time, asked Redis)``.

        A queue whose fetch fails for any reason but Redis being unreachable (a key of
        the wrong type) is logged once naming the key, skipped until its backoff runs
        out, and its recovery logged once; the other queues go on.
        """
        got = popped = 0
        next_due: float | None = None
        asked = False
        until = time.time() + self.lease
        faults = self._queue_faults
        for queue in self._queue_order():
            if not faults.ready(queue):
                continue
            asked = True
            try:
                due, items = await self.broker.fetch(queue, free - got, until, self.id)
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:
                faults.failed(queue, exc)
                continue
            faults.ok(queue)
            if due and due != "paused":
                t = float(due)
                next_due = t if next_due is None else min(next_due, t)
            dropped: list[str] = []
            popped += len(items) // 3
            for i in range(0, len(items), 3):
                task_id = _text(items[i])
                retried = int(items[i + 2])
                if retried < 0:  # not leased: the script says why
                    self._unusable(queue, task_id, _text(items[i + 1]), dropped)
                    continue
                self._start(queue, task_id, items[i + 1], retried)
                got += 1
            if dropped:
                shown = ", ".join(dropped[:5]) + (", ..." if len(dropped) > 5 else "")
                log.warning(
                    "queue %s: %d pending id(s) had no task record and were dropped from the "
                    "queue: %s",
                    queue,
                    len(dropped),
                    shown,
                )
            if got >= free:
                break
        return popped, next_due, asked

    def _unusable(self, queue: str, task_id: str, reason: str, dropped: list[str]) -> None:
        """Report a pending id the fetch script could not lease (one line per id, or one
        line per fetch for ids with no task record)."""
        if reason.startswith("no task record"):
            dropped.append(task_id)
            return
        self.failed += 1
        log.error("queue %s: task %s archived without running: %s", queue, task_id, reason)

    def _queue_fault(self, queue: str, exc: BaseException) -> str:
        what = one_line(exc)
        if is_wrong_type(exc) and " key " not in what:
            what += f" (one of the keys {self.broker.q(queue).base}:*)"
        return (
            f"queue {queue}: fetch failed: {what}; this queue is skipped (retried with "
            f"backoff) until it is fixed, the other queues go on"
        )

    def _start(self, queue: str, task_id: str, raw: bytes, retried: int) -> None:
        ctx = TaskContext(
            task_id, "?", queue, retried, 0, timezone=self._timezone, db=self._db, app=self.app
        )
        running = Running(queue, ctx)
        self.active[task_id] = running
        running.task = asyncio.create_task(self._execute(running, raw))

    # -- running ----------------------------------------------------------------------------
    async def _execute(self, r: Running, raw: bytes) -> None:
        ctx = r.ctx
        try:
            try:
                msg = TaskMessage.decode(raw)
            except MalformedTask as exc:
                key = self.broker.q(r.queue).task(ctx.task_id)
                await self._archive(r, f"malformed task: {exc} (key {key})")
                return
            ctx.type = msg.type
            ctx.max_retry = msg.max_retry
            ctx.enqueued_at = msg.enqueued_at
            tt = self.registry.tasks.get(msg.type)
            if tt is None:
                await self._fail(
                    r,
                    msg,
                    None,
                    RuntimeError(
                        f"unknown task type {msg.type!r}: "
                        f"no plugin on worker {self.id} registers it"
                    ),
                )
                return
            try:
                payload = tt.validate_payload(msg.payload)
            except PayloadError as exc:
                await self._archive(r, str(exc))  # a bad payload never becomes good
                return
            cfg = self._plugin_cfg.get(tt.plugin, _UNSET)
            if cfg is _UNSET:
                cfg = self._plugin_cfg[tt.plugin] = self.app.plugin_settings(tt.plugin)
            ctx.settings = cfg
            timeout = msg.timeout or None
            deadline = msg.deadline
            if deadline is not None:
                ctx.deadline = TaskContext.deadline_from(deadline)
                left = deadline - time.time()
                if left <= 0:
                    await self._archive(r, "deadline exceeded before the task started")
                    return
                timeout = left if timeout is None else min(timeout, left)
            if msg.idempotent and await self._already_done(msg, ctx):
                self._ack(r.queue, ctx.task_id, msg, None)
                return
            self.hooks.notify("bingo_task_started", ctx=ctx)
            ctx.started_at = time.time()
            try:
                result = await self.runner.run(tt, ctx, payload, timeout, msg.isolation)
            except SkipRetry as exc:
                ctx.duration = time.time() - ctx.started_at
                await self._archive(r, f"SkipRetry: {exc}", ctx=ctx, error=exc)
                return
            except asyncio.CancelledError:
                if not r.cancel_requested or self._stopping:
                    raise
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                ctx.duration = time.time() - ctx.started_at
                await self._archive(r, "cancelled: asked from the dashboard while it ran")
                await self.broker.clear_cancel(r.queue, [ctx.task_id])
                return
            except Exception as exc:
                ctx.duration = time.time() - ctx.started_at
                await self._fail(r, msg, tt, exc)
                return
            ctx.duration = time.time() - ctx.started_at
            if msg.idempotent:
                await self._mark_done(msg, ctx)
            self.processed += 1
            self._ack(r.queue, ctx.task_id, msg, result)
            self.stats.observe(r.queue, msg.type, ctx.duration, True)
            self.hooks.notify("bingo_task_succeeded", ctx=ctx)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        except CONNECTION_ERRORS as exc:
            # The outage is one line for the daemon; the task returns when its lease ends.
            self.outage.failed(exc)
            log.debug(
                "task %s: Redis unreachable (%s); it returns when its lease expires",
                ctx.task_id,
                exc,
            )
        except Exception as exc:  # never let one task's bookkeeping escape unseen
            log.error(
                "task %s (%s): %s; it returns to its queue when its lease expires",
                ctx.task_id,
                ctx.type,
                one_line(exc),
            )
            log.debug("task %s failed in the worker", ctx.task_id, exc_info=exc)
        finally:
            if self.active.pop(ctx.task_id, None) is not None:
                self._slot.set()

    async def _already_done(self, msg: TaskMessage, ctx: TaskContext) -> bool:
        info = TaskInfo.from_message(msg, "active", ctx.retry_count)
        done = await self.hooks.first("bingo_idempotency_check", task=info)
        if done:
            log.info(
                "task %s (%s) already succeeded before; not running it again", ctx.task_id, ctx.type
            )
        return bool(done)

    async def _mark_done(self, msg: TaskMessage, ctx: TaskContext) -> None:
        info = TaskInfo.from_message(msg, "active", ctx.retry_count)
        await self.hooks.first("bingo_idempotency_mark", task=info)  # errors are logged

    def _retry_delay(self, msg: TaskMessage, tt: TaskType | None, retried: int) -> float:
        backoff: Any = msg.retry_backoff
        if backoff is None and tt is not None:
            backoff = tt.option("retry_backoff")
        if backoff is None:
            return default_backoff(retried)
        if callable(backoff):
            try:
                return max(0.0, float(backoff(retried)))
            except Exception as exc:
                log.error(
                    "retry_backoff of %s failed: %s; using the default", msg.type, one_line(exc)
                )
                return default_backoff(retried)
        return max(0.0, float(backoff))

    async def _fail(
        self, r: Running, msg: TaskMessage, tt: TaskType | None, exc: BaseException
    ) -> None:
        ctx = r.ctx
        error = f"{type(exc).__name__}: {exc}"[:4000]
        if isinstance(exc, TaskTimeout):
            error = f"TaskTimeout: {exc}"
        if ctx.retry_count >= ctx.max_retry:
            await self._archive(
                r,
                f"{error} (retries exhausted: {ctx.retry_count}/{ctx.max_retry})",
                ctx=ctx,
                error=exc,
            )
            return
        delay = self._retry_delay(msg, tt, ctx.retry_count)
        self.failed += 1
        log.warning(
            "task %s (%s) failed, attempt %d of %d: %s; retrying in %.1fs",
            ctx.task_id,
            ctx.type,
            ctx.retry_count + 1,
            ctx.max_retry + 1,
            error,
            delay,
        )
        self.stats.observe(r.queue, ctx.type, ctx.duration or 0.0, False)
        self.hooks.notify("bingo_task_failed", ctx=ctx, error=exc, retrying=True)
        if not await self.broker.retry(r.queue, ctx.task_id, self.id, time.time() + delay, error):
            log.warning("task %s: lease lost before its retry was recorded", ctx.task_id)

    async def _archive(
        self,
        r: Running,
        reason: str,
        *,
        ctx: TaskContext | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.failed += 1
        task_id = r.ctx.task_id
        log.error("task %s (%s) archived: %s", task_id, r.ctx.type, reason)
        self.stats.observe(r.queue, r.ctx.type, r.ctx.duration or 0.0, False)
        if ctx is not None and error is not None:
            self.hooks.notify("bingo_task_failed", ctx=ctx, error=error, retrying=False)
        ok = await self.broker.archive(
            r.queue, task_id, self.id, reason[:4000], self.archive_max_size, self.archive_max_age
        )
        if not ok:
            log.warning("task %s: lease lost before it was archived", task_id)

    def _result_json(self, task_id: str, result: Any) -> str:
        """The result as JSON to keep with the task, or "" (none, too large, not JSON)."""
        if result is None:
            return ""
        try:
            text = to_json(result).decode()
        except (PydanticSerializationError, ValueError, TypeError) as exc:
            log.warning("task %s: result dropped: not JSON-serialisable (%s)", task_id, exc)
            return ""
        if len(text) > self.max_result_size:
            log.warning(
                "task %s: result dropped: %d bytes of JSON, over worker.maxResultSize (%d)",
                task_id,
                len(text),
                self.max_result_size,
            )
            return ""
        return text

    # -- acks, batched: every completion of one loop iteration goes in one script call ------
    def _ack(self, queue: str, task_id: str, msg: TaskMessage, result: Any) -> None:
        result_json = self._result_json(task_id, result) if msg.retention else ""
        item = (task_id, msg.retention, msg.unique_key or "", result_json)
        self._acks.setdefault(queue, []).append(item)
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush_acks())

    async def _flush_acks(self) -> None:
        """Write the gathered acks, one script call per queue. Acks that fail are kept
        and retried: Redis not answering with backoff (the daemon's one line), a queue
        whose keys hold the wrong type on its own (one line naming the key)."""
        attempts = 0
        try:
            while self._acks:
                batch, self._acks = self._acks, {}
                delay: float | None = None
                for queue, items in batch.items():
                    if not self._ack_faults.ready(queue):
                        self._acks.setdefault(queue, []).extend(items)
                        continue
                    try:
                        lost = await self.broker.ack(queue, items, self.id)
                    except BaseException as exc:
                        self._acks.setdefault(queue, []).extend(items)
                        if not isinstance(exc, Exception):
                            raise
                        if is_connection_error(exc):
                            delay = self._ack_guard.failed(exc)
                        else:
                            self._ack_faults.failed(queue, exc)
                        continue
                    self._ack_guard.ok()
                    self._ack_faults.ok(queue)
                    if lost:
                        log.warning(
                            "%d task(s) finished after their lease expired (they may "
                            "run again): %s",
                            len(lost),
                            ", ".join(lost[:5]),
                        )
                if not self._acks:
                    break
                attempts += 1
                if self._stopping and attempts >= SHUTDOWN_ACK_ATTEMPTS:
                    left = sum(len(v) for v in self._acks.values())
                    log.error(
                        "shutdown: %d finished task(s) could not be acked; they run again "
                        "once their lease expires",
                        left,
                    )
                    self._acks.clear()
                    return
                if delay is None:
                    delay = self._ack_faults.next_retry() or FIRST_DELAY
                await asyncio.sleep(delay)
        finally:
            self._flushing = None

    def cancel(self, task_id: str) -> bool:
        """Stop the handler of an active task whose cancel was asked: an async handler is
        cancelled, a sync one sees ``ctx.cancelled`` (its thread is abandoned), an isolated
        one is killed; the task is then archived. Returns whether it was running here."""
        r = self.active.get(task_id)
        if r is None or r.cancel_requested or r.ctx.started_at is None:
            return False
        r.cancel_requested = True
        r.ctx.cancel()
        log.info("task %s (%s): cancel asked; stopping its handler", task_id, r.ctx.type)
        if r.task is not None:
            r.task.cancel()
        return True

    def status(self) -> dict[str, Any]:
        """What the heartbeat publishes about this worker."""
        return {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": self.queues,
            "strict": self.strict,
            "concurrency": self.concurrency,
            "started_at": self.started_at,
            "processed": self.processed,
            "failed": self.failed,
            "active": [
                {"id": tid, "queue": r.queue, "type": r.ctx.type}
                for tid, r in list(self.active.items())[:100]
            ],
            "active_count": len(self.active),
            "at": time.time(),
        }

    def status_json(self) -> str:
        return json.dumps(self.status(), default=str)
