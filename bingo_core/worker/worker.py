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
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..asynq.servers import ServerRecord
from ..batches import validate_items
from ..broker import CONNECTION_ERRORS, AsyncBroker
from ..config.logging import SecretMask, secret_values
from ..context import TaskContext
from ..errors import Crashed, MalformedTask, PayloadError, SkipRetry, TaskTimeout
from ..loops import (
    Faults,
    Guard,
    cancel_and_wait,
    is_wrong_type,
    one_line,
    redis_outage,
)
from ..message import TaskInfo, TaskMessage
from ..records import Leased
from ..registry import TaskType
from ..relay import RelayLoop
from .acks import Acks, result_json
from .asynq_recoverer import AsynqRecoverer, AsynqRecovererParams
from .heartbeat import Heartbeat, HeartbeatParams
from .hooks import WorkerHooks
from .ports import AsynqPort, BingoPort, Port
from .progress import ProgressWriter
from .recoverer import Recoverer, RecovererParams
from .runner import HandlerRunner
from .stats import StatsRecorder
from .turns import wait_turn

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("bingo.worker")
_UNSET: Any = object()
IDLE_BLOCK = 1.0  # longest BLPOP; bounds how late a paused queue's resume is noticed
ASYNQ_POLL = 0.25  # longest idle wait while serving Asynq queues (they have no wake-up)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def default_backoff(retried: int) -> float:
    """Exponential backoff with jitter, as Asynq: n^4 + 15 + rand(0..30)*(n+1) seconds."""
    return float(retried**4 + 15 + random.randint(0, 29) * (retried + 1))


def deadline_cut(ctx: TaskContext) -> str:
    """The reason of a task archived because its deadline passed while it ran."""
    when = ctx.deadline.isoformat(timespec="seconds") if ctx.deadline else "?"
    ran = ctx.duration or 0.0
    return f"deadline exceeded: stopped after {ran:.1f}s of running (deadline {when})"


@dataclass(slots=True)
class Running:
    queue: str
    ctx: TaskContext
    task: asyncio.Task[None] | None = None
    #: Its cancel was asked (``Inspector.cancel``): archived when its handler stops.
    cancel_requested: bool = False
    #: When its rate limits let its handler start (``time.time()``; 0: at once), and
    #: how late after that it may still start.
    start_at: float = 0.0
    slack: float = 0.0


class Worker:
    """One worker process's task loop. ``await worker.run(stop_event)``."""

    def __init__(self, app: App, *, broker: AsyncBroker | None = None) -> None:
        settings = app.settings
        ws = settings.worker
        self.app = app
        self.settings = settings
        self.registry = app.registry
        #: What a task's stored error and result go through, as the log does: the
        #: configured secrets (the plugins' ones too: the registry has bound them).
        self.mask = SecretMask(secret_values(settings))
        self.broker = broker if broker is not None else app.async_broker()
        self.concurrency = ws.concurrency
        #: Bingo's own queues, and those kept in Asynq's layout (``asynq.queues``).
        self.bingo_queues: dict[str, int] = dict(ws.queues)
        self.asynq_queues: dict[str, int] = dict(settings.asynq.queues)
        #: Every queue served, with its weight (both layouts alike).
        self.queues: dict[str, int] = {**self.bingo_queues, **self.asynq_queues}
        #: worker.queueLimits, as fetch.lua takes them (concurrency, rate, period).
        self.queue_limits = {
            q: (lim.concurrency or 0, *lim.rate) for q, lim in ws.queue_limits.items()
        }
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
        tracing = app.tracing
        middleware = [*self.registry.middleware]
        if tracing is not None:  # the consumer span: outside every plugin's middleware
            middleware.insert(0, tracing.middleware)
        self.runner = HandlerRunner(self.concurrency, middleware, carry_context=tracing is not None)
        #: Redis not answering: one line for the whole daemon, shared by its loops.
        self.outage = redis_outage(self.broker)
        beat = HeartbeatParams(
            self.broker,
            self.id,
            self.lease,
            self.outage,
            self.active,
            frozenset(self.asynq_queues),
        )
        #: This worker's server id as Asynq's Inspector shows it (a UUID, as Go's).
        self.asynq_server_id = str(uuid.uuid4())
        self.heartbeat = Heartbeat(
            beat, self.status_json, self.cancel, self.asynq_record if self.asynq_queues else None
        )
        self.recoverer = Recoverer(
            RecovererParams(self.broker, self.bingo_queues, ws.recover_interval, self.outage)
        )
        #: Delivers what the queues' scripts tell other queues (workflows across queues).
        self.relay = RelayLoop(self.broker, list(self.bingo_queues), self.outage)
        self.stats = StatsRecorder(self.broker, self.outage)
        self.acks = Acks(self.broker, self.id, self.outage, frozenset(self.queue_limits))
        self.progress = ProgressWriter(self.broker, self.id)
        bingo = BingoPort(
            self.broker,
            self.acks,
            self.id,
            ws.archive_max_size,
            ws.archive_max_age,
            self.queue_limits,
        )
        self._ports: dict[str, Port] = dict.fromkeys(self.bingo_queues, bingo)
        self.asynq_recoverer: AsynqRecoverer | None = None
        self._asynq_port: AsynqPort | None = None
        if self.asynq_queues:
            ops = self.broker.asynq_ops
            theirs = self._asynq_port = AsynqPort(self.broker, self.registry, self.id, self.outage)
            self._ports.update(dict.fromkeys(self.asynq_queues, theirs))
            self.asynq_recoverer = AsynqRecoverer(
                AsynqRecovererParams(
                    ops, list(self.asynq_queues), ws.recover_interval, self.outage, default_backoff
                )
            )
        self._timezone = app.timezone
        self._plugin_cfg: dict[str, Any] = {}
        self._db = app.db
        self._slot = asyncio.Event()
        self._stopping = False
        self._fetcher: asyncio.Task[None] | None = None
        self._fetch_guard = Guard("fetch loop", log, self.outage)
        self._queue_faults = Faults(log, self._queue_fault, lambda q: f"queue {q}: fetching again")

    # -- lifecycle --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then shut down gracefully."""
        self.progress.bind()
        await self.broker.ping()
        await self.broker.load_scripts()  # not on the first task's path
        try:
            await self.broker.register_queues(self.bingo_queues)
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
        self.relay.start()
        if self.asynq_recoverer is not None:
            self.asynq_recoverer.start()
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
        for port in {id(p): p for p in self._ports.values()}.values():
            await port.stop()
        by_queue: dict[str, list[str]] = {}
        for task_id, r in left:
            by_queue.setdefault(r.queue, []).append(task_id)
        for queue, ids in by_queue.items():
            try:
                n = await self._ports[queue].requeue(queue, ids)
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
        if self._asynq_port is not None:
            with contextlib.suppress(Exception):  # the records expire on their own
                await self.broker.asynq_ops.withdraw(self.asynq_record().name)
        await self.recoverer.stop()
        await self.relay.stop()
        if self.asynq_recoverer is not None:
            await self.asynq_recoverer.stop()
        await self.stats.stop()
        with contextlib.suppress(Exception):  # its record expires on its own
            await self.broker.remove_server(self.id, self.status_json())
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
                popped, next_due, asked, drained = await self._fetch(free)
                if popped:
                    guard.ok()
                    if not drained:
                        continue
                    # Every queue gave less than asked: empty when fetched. Fetching again
                    # now would find nothing; the next enqueue's wake-up token ends the wait.
                wait = IDLE_BLOCK if next_due is None else min(IDLE_BLOCK, next_due - time.time())
                if self.asynq_queues:  # Asynq has no wake-up signal: poll as Go does
                    wait = min(wait, ASYNQ_POLL)
                failing = self._queue_faults.failing()
                ready = [q for q in self.bingo_queues if q not in failing]
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

    async def _fetch(self, free: int) -> tuple[int, float | None, bool, bool]:
        """Fetch from each queue in turn: ``(ids popped, next due time, asked Redis,
        drained)``; drained: every queue asked gave fewer ids than it was asked for.

        A queue whose fetch fails for any reason but Redis being unreachable (a key of
        the wrong type) is logged once naming the key, skipped until its backoff runs
        out, and its recovery logged once; the other queues go on.
        """
        got = popped = 0
        next_due: float | None = None
        asked = False
        drained = True
        until = time.time() + self.lease
        faults = self._queue_faults
        for queue in self._queue_order():
            if not faults.ready(queue):
                continue
            asked = True
            try:
                fetched = await self._ports[queue].fetch(queue, free - got, until)
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:
                faults.failed(queue, exc)
                continue
            faults.ok(queue)
            if fetched.popped >= free - got:
                drained = False
            if fetched.next_due is not None:
                t = fetched.next_due
                next_due = t if next_due is None else min(next_due, t)
            dropped: list[str] = []
            popped += fetched.popped
            for task_id, reason in fetched.unusable:
                self._unusable(queue, task_id, reason, dropped)
            for task in fetched.leased:
                self._start(queue, task)
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
        return popped, next_due, asked, drained

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

    def _start(self, queue: str, task: Leased) -> None:
        task_id = task.id
        ctx = TaskContext(
            task_id,
            "?",
            queue,
            task.retried,
            0,
            timezone=self._timezone,
            db=self._db,
            app=self.app,
        )
        ctx._progress = self.progress.report
        running = Running(queue, ctx, start_at=task.start_at, slack=task.slack)
        self.active[task_id] = running
        running.task = asyncio.create_task(self._execute(running, task.raw))

    # -- running ----------------------------------------------------------------------------
    async def _execute(self, r: Running, raw: bytes) -> None:
        ctx = r.ctx
        try:
            port = self._ports[r.queue]
            try:
                msg = port.decode(ctx.task_id, raw)
            except MalformedTask as exc:
                key = port.task_key(r.queue, ctx.task_id)
                await self._archive(r, f"malformed task: {exc} (key {key})")
                return
            ctx.type = msg.type
            ctx.max_retry = msg.max_retry
            if msg.headers:
                ctx.headers = dict(msg.headers)
            ctx.enqueued_at = msg.enqueued_at
            if msg.workflow is not None:
                ctx.workflow_id = msg.workflow
                if msg.parents:
                    ctx.parents = await port.results(r.queue, msg.parents)
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
                if tt.batch is None or tt.payload_model is None:
                    payload = tt.validate_payload(msg.payload)
                else:
                    payload = validate_items(tt.name, tt.payload_model, msg.payload)
            except PayloadError as exc:
                await self._archive(r, str(exc))  # a bad payload never becomes good
                return
            cfg = self._plugin_cfg.get(tt.plugin, _UNSET)
            if cfg is _UNSET:
                cfg = self._plugin_cfg[tt.plugin] = self.app.plugin_settings(tt.plugin)
            ctx.settings = cfg
            if r.start_at:  # the start time its rate limits gave it
                await wait_turn(port, r.queue, ctx.task_id, r.start_at, r.slack)
            timeout = msg.timeout or None
            deadline = msg.deadline
            by_deadline = False  # the deadline, not the timeout, bounds this attempt
            if deadline is not None:
                ctx.deadline = TaskContext.deadline_from(deadline)
                left = deadline - time.time()
                if left <= 0:
                    await self._archive(r, "deadline exceeded before the task started")
                    return
                by_deadline = timeout is None or left < timeout
                timeout = left if timeout is None else min(timeout, left)
            if msg.idempotent and await self._already_done(msg, ctx):
                self._ack(r.queue, ctx.task_id, msg, None)
                return
            self.hooks.notify("bingo_task_started", ctx=ctx)
            ctx.started_at = time.time()
            try:
                # The handler once; its last progress is written before the task moves on.
                try:
                    result = await self.runner.run(tt, ctx, payload, timeout, msg.isolation)
                finally:
                    if self.progress.reported(ctx.task_id):
                        await self.progress.finish(r.queue, ctx.task_id)
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
                who = await self.broker.cancel_asker(r.queue, ctx.task_id) or "a cancel request"
                await self._archive(r, f"cancelled by {who} while it ran")
                await self.broker.clear_cancel(r.queue, [ctx.task_id])
                return
            except Exception as exc:
                ctx.duration = time.time() - ctx.started_at
                if by_deadline and isinstance(exc, TaskTimeout):  # never retried (as Asynq)
                    await self._archive(r, deadline_cut(ctx), ctx=ctx, error=exc)
                    return
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
            self._ports[r.queue].forget(ctx.task_id)
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
        error = self.mask.mask(f"{type(exc).__name__}: {exc}")[:4000]
        if isinstance(exc, TaskTimeout):
            error = self.mask.mask(f"TaskTimeout: {exc}")
        if ctx.retry_count >= ctx.max_retry:
            await self._archive(
                r,
                f"{error} (retries exhausted: {ctx.retry_count}/{ctx.max_retry})",
                ctx=ctx,
                error=exc,
            )
            return
        if await self._cancelled_before_retry(r, error, exc):
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
        self.stats.observe(r.queue, ctx.type, ctx.duration or 0.0, False, error)
        self.hooks.notify("bingo_task_failed", ctx=ctx, error=exc, retrying=True)
        port = self._ports[r.queue]
        if not await port.retry(r.queue, ctx.task_id, time.time() + delay, error):
            log.warning("task %s: lease lost before its retry was recorded", ctx.task_id)

    async def _cancelled_before_retry(self, r: Running, error: str, exc: BaseException) -> bool:
        """A cancel asked while the attempt ran, not yet seen by the heartbeat: archive the
        task rather than retry it."""
        who = await self.broker.cancel_asker(r.queue, r.ctx.task_id)
        if not who:
            return False
        reason = f"cancelled by {who} while it ran (the attempt failed: {error})"
        await self._archive(r, reason, ctx=r.ctx, error=exc)
        await self.broker.clear_cancel(r.queue, [r.ctx.task_id])
        return True

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
        reason = self.mask.mask(reason)[:4000]
        self.stats.observe(r.queue, r.ctx.type, r.ctx.duration or 0.0, False, reason)
        if ctx is not None and error is not None:
            self.hooks.notify("bingo_task_failed", ctx=ctx, error=error, retrying=False)
        ok = await self._ports[r.queue].archive(r.queue, task_id, reason)
        if not ok:
            log.warning("task %s: lease lost before it was archived", task_id)

    def _ack(self, queue: str, task_id: str, msg: TaskMessage, result: Any) -> None:
        keep = msg.retention or msg.workflow is not None  # a step's result goes on
        kept = result_json(task_id, result, self.max_result_size) if keep else ""
        if kept:
            kept = self.mask.mask(kept)
        self._ports[queue].ack(queue, msg, kept)

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
            "name": self.settings.server.name,
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

    def asynq_record(self) -> ServerRecord:
        """This worker as Asynq's Inspector lists servers (its Asynq queues only)."""
        running = self._asynq_port.running(self.active) if self._asynq_port else []
        return ServerRecord(
            socket.gethostname(),
            os.getpid(),
            self.asynq_server_id,
            self.concurrency,
            self.asynq_queues,
            self.strict,
            self.started_at,
            running,
        )

    def status_json(self) -> str:
        return json.dumps(self.status(), default=str)
