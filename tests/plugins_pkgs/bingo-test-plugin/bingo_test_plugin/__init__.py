"""Task types for Bingo's end-to-end tests (entry point ``testplug``).

Every handler records its effect where a test in another process can see it: it appends
one line to the file named by the payload's ``path`` (or pushes to the Redis list named in
the payload). Give each task its own path when counting lines.

- ``test:record`` (async; path, value): appends ``value``.
- ``test:sleep`` (async; path, seconds, value): sleeps, then appends ``value``.
- ``test:sync-sleep`` (def; path, seconds, value): sleeps in 10 ms steps, then appends
  ``value``; once ``ctx.cancelled`` is set it appends ``cancelled:<value>`` and raises.
- ``test:fail`` (async; path, value, fail_times): appends ``value`` on every attempt and
  raises ``RuntimeError`` while the file has at most ``fail_times`` lines.
- ``test:skip`` (async; path, value): appends ``value``, raises ``SkipRetry("no point")``.
- ``test:idempotent`` (async, ``idempotent=True``; path, value): appends ``value``.
- ``test:typed`` (async; path, name, count: int): appends ``<name>:<count>``.
- ``test:isolated`` (def, ``isolation="process"``; path, seconds, value): sleeps, then
  appends ``<value>:<pid>``.
- ``test:redis-record`` (def; url, key, value): ``RPUSH key value`` on the Redis at ``url``.
- ``test:batch-record`` (def, batched by ``group``: at most 25 items, grace 0.3 s, max_wait
  2 s; url, key, group, value, seconds): ``RPUSH key:starts <batch task id>``, sleeps
  ``seconds`` (the first item's), then ``RPUSH key "<batch task id> <value>"`` for every
  item of the batch, in one command.

Every type retries fast (``retry_backoff=0.1``); ``test:fail`` has ``max_retry=2``.

When the environment variable ``BINGO_TEST_HOOK_LOG`` names a file, the lifecycle hooks
append ``started|succeeded|failed <type> <task id>`` lines to it (``failed`` lines end with
``retrying=<bool> <error class>``), and ``startup`` / ``shutdown`` lines.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

import bingo_core as bingo

if TYPE_CHECKING:
    from bingo_core.registry import TaskRegister

HOOK_LOG_ENV = "BINGO_TEST_HOOK_LOG"
FAST_RETRY = 0.1


class RecordPayload(BaseModel):
    """Where to append and what."""

    path: str
    value: str


class SleepPayload(RecordPayload):
    """Sleep ``seconds`` before appending."""

    seconds: float = Field(ge=0)


class FailPayload(RecordPayload):
    """Fail the first ``fail_times`` attempts."""

    fail_times: int = Field(ge=0)


class TypedPayload(BaseModel):
    """A payload with typed fields, to test validation."""

    path: str
    name: str
    count: int


class RedisPayload(BaseModel):
    """Push ``value`` to the list ``key`` on the Redis at ``url``."""

    url: str
    key: str
    value: str


def append_line(path: str, line: str) -> int:
    """Append ``line`` to ``path``; return how many lines the file has afterwards."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    with target.open(encoding="utf-8") as fh:
        return sum(1 for _ in fh)


async def handle_record(ctx: bingo.TaskContext, payload: RecordPayload) -> None:
    """Append the value."""
    append_line(payload.path, payload.value)


async def handle_sleep(ctx: bingo.TaskContext, payload: SleepPayload) -> None:
    """Sleep on the event loop, then append the value."""
    await asyncio.sleep(payload.seconds)
    append_line(payload.path, payload.value)


def handle_sync_sleep(ctx: bingo.TaskContext, payload: SleepPayload) -> None:
    """Sleep in a thread, watching ``ctx.cancelled``, then append the value."""
    end = time.monotonic() + payload.seconds
    while (left := end - time.monotonic()) > 0:
        if ctx.cancelled:
            append_line(payload.path, f"cancelled:{payload.value}")
            ctx.raise_if_cancelled()
        time.sleep(min(0.01, left))
    append_line(payload.path, payload.value)


async def handle_fail(ctx: bingo.TaskContext, payload: FailPayload) -> None:
    """Append the value; raise while the file has no more than ``fail_times`` lines."""
    attempts = append_line(payload.path, payload.value)
    if attempts <= payload.fail_times:
        raise RuntimeError(f"planned failure {attempts} of {payload.fail_times}")


async def handle_skip(ctx: bingo.TaskContext, payload: RecordPayload) -> None:
    """Append the value, then give up for good."""
    append_line(payload.path, payload.value)
    raise bingo.SkipRetry("no point")


async def handle_idempotent(ctx: bingo.TaskContext, payload: RecordPayload) -> None:
    """Append the value (registered with ``idempotent=True``)."""
    append_line(payload.path, payload.value)


async def handle_typed(ctx: bingo.TaskContext, payload: TypedPayload) -> None:
    """Append ``name:count``."""
    append_line(payload.path, f"{payload.name}:{payload.count}")


def handle_isolated(ctx: bingo.TaskContext, payload: SleepPayload) -> None:
    """Sleep, then append ``value:pid`` (registered with ``isolation="process"``)."""
    time.sleep(payload.seconds)
    append_line(payload.path, f"{payload.value}:{os.getpid()}")


def handle_redis_record(ctx: bingo.TaskContext, payload: RedisPayload) -> None:
    """Push the value to a Redis list."""
    import redis

    client = redis.Redis.from_url(payload.url)
    try:
        client.rpush(payload.key, payload.value)
    finally:
        client.close()


class BatchItemPayload(RedisPayload):
    """One item of a batch: its group and how long the batch's handler sleeps."""

    group: str
    seconds: float = Field(default=0.0, ge=0)


def handle_batch_record(ctx: bingo.TaskContext, items: list[BatchItemPayload]) -> None:
    """Sleep, then push ``<batch id> <value>`` of every item to a Redis list."""
    import redis

    client = redis.Redis.from_url(items[0].url)
    try:
        client.rpush(items[0].key + ":starts", ctx.task_id)
        time.sleep(items[0].seconds)
        client.rpush(items[0].key, *(f"{ctx.task_id} {i.value}" for i in items))
    finally:
        client.close()


@bingo.hookimpl
def bingo_register_tasks(register: TaskRegister) -> None:
    """Register the ``test:*`` task types."""
    register(
        "test:record", handle_record, payload=RecordPayload, max_retry=3, retry_backoff=FAST_RETRY
    )
    register(
        "test:sleep", handle_sleep, payload=SleepPayload, max_retry=3, retry_backoff=FAST_RETRY
    )
    register(
        "test:sync-sleep",
        handle_sync_sleep,
        payload=SleepPayload,
        max_retry=3,
        retry_backoff=FAST_RETRY,
    )
    register("test:fail", handle_fail, payload=FailPayload, max_retry=2, retry_backoff=FAST_RETRY)
    register("test:skip", handle_skip, payload=RecordPayload, max_retry=5, retry_backoff=FAST_RETRY)
    register(
        "test:idempotent",
        handle_idempotent,
        payload=RecordPayload,
        idempotent=True,
        max_retry=3,
        retry_backoff=FAST_RETRY,
    )
    register(
        "test:typed", handle_typed, payload=TypedPayload, max_retry=3, retry_backoff=FAST_RETRY
    )
    register(
        "test:isolated",
        handle_isolated,
        payload=SleepPayload,
        isolation="process",
        max_retry=3,
        retry_backoff=FAST_RETRY,
    )
    register(
        "test:redis-record",
        handle_redis_record,
        payload=RedisPayload,
        max_retry=3,
        retry_backoff=FAST_RETRY,
    )
    register(
        "test:batch-record",
        handle_batch_record,
        payload=BatchItemPayload,
        batch=bingo.Batch(key="group", max_size=25, max_wait="2s", grace="300ms"),
        max_retry=50,
        retry_backoff=FAST_RETRY,
    )


def _hook_log(line: str) -> None:
    path = os.environ.get(HOOK_LOG_ENV)
    if path:
        append_line(path, line)


@bingo.hookimpl
def bingo_task_started(ctx: bingo.TaskContext) -> None:
    """Record ``started <type> <id>`` when ``BINGO_TEST_HOOK_LOG`` is set."""
    _hook_log(f"started {ctx.type} {ctx.task_id}")


@bingo.hookimpl
def bingo_task_succeeded(ctx: bingo.TaskContext) -> None:
    """Record ``succeeded <type> <id>`` when ``BINGO_TEST_HOOK_LOG`` is set."""
    _hook_log(f"succeeded {ctx.type} {ctx.task_id}")


@bingo.hookimpl
def bingo_task_failed(ctx: bingo.TaskContext, error: BaseException, retrying: bool) -> None:
    """Record ``failed <type> <id> retrying=<bool> <error class>``."""
    _hook_log(f"failed {ctx.type} {ctx.task_id} retrying={retrying} {type(error).__name__}")


@bingo.hookimpl
def bingo_startup(settings: Any) -> None:
    """Record ``startup`` when ``BINGO_TEST_HOOK_LOG`` is set."""
    _hook_log("startup")


@bingo.hookimpl
def bingo_shutdown(settings: Any) -> None:
    """Record ``shutdown`` when ``BINGO_TEST_HOOK_LOG`` is set."""
    _hook_log("shutdown")
