"""``Client.wait`` and ``AsyncClient.wait``: block until a task ends, then return its
result or raise.

The broker side (:mod:`.broker.waits`) gives where the task stands and blocks on its wake
list; this module turns that into the answer: the kept result of a completed task (None
when its type keeps none), :class:`TaskFailed` for an archived one, :class:`TaskNotFound`
for an id no queue knows (or a task deleted while waited for), :class:`WaitTimeout` (a
``TimeoutError``) when ``timeout`` passes first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .broker.waits import AsyncWaits, Stand, Waits
from .errors import TaskFailed, TaskNotFound, UsageError, WaitTimeout

if TYPE_CHECKING:
    from .broker import Broker
    from .message import TaskInfo

#: What ``tasks wait`` and the docs say about a task whose result is not kept.
NOT_KEPT = (
    "a finished task is kept, with its result, only when its type or enqueue sets "
    "retention; wait for it before it ends, or set retention"
)


class Ended(Exception):
    """Internal: the task ended; ``result`` is the answer (only raised inside here)."""

    def __init__(self, result: Any) -> None:
        self.result = result


def check_timeout(timeout: float | None) -> float | None:
    """The timeout in seconds (None: no limit); one line for a bad one."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout != timeout:
        raise UsageError(f"wait: timeout must be a number of seconds or None, got {timeout!r}")
    if timeout < 0:
        raise UsageError(f"wait: timeout must not be negative, got {timeout!r}")
    return float(timeout)


def settle(task_id: str, queue: str, stand: Stand) -> None:
    """Raise :class:`Ended` (with the result) or :class:`TaskFailed` /
    :class:`TaskNotFound` when the task ended; return when it has not."""
    if stand.state == "completed":
        raise Ended(json.loads(stand.result) if stand.result else None)
    if stand.state == "archived":
        raise TaskFailed(task_id, queue, stand.error)
    if stand.state == "gone":
        if stand.result == "c":
            raise Ended(None)
        if stand.result == "d":
            raise TaskNotFound(f"task {task_id!r} (queue {queue!r}) was deleted while waited for")
        raise TaskNotFound(f"no task {task_id!r} in queue {queue!r} ({NOT_KEPT})")


def after(token: str, stand: Stand) -> Stand:
    """Where the task stands after a wait that popped ``token``: a task gone with no token
    left ended as the popped token says."""
    if stand.state == "gone" and not stand.result and token:
        return Stand("gone", token, "")
    return stand


def _missing(task_id: str, queues: list[str]) -> TaskNotFound:
    where = f"queue {queues[0]!r}" if len(queues) == 1 else "any queue"
    return TaskNotFound(f"no task {task_id!r} in {where} ({NOT_KEPT})")


def _late(task_id: str, timeout: float | None) -> WaitTimeout:
    return WaitTimeout(f"task {task_id} did not end within {timeout:g} s (it goes on)")


def wait(waits: Waits, queues: Iterable[str], task_id: str, timeout: float | None) -> Any:
    """Block until ``task_id`` (in the first of ``queues`` that knows it) ends."""
    limit = check_timeout(timeout)
    deadline = None if limit is None else time.monotonic() + limit
    order = list(queues)
    try:
        queue, stand = "", Stand("gone", "", "")
        for queue in order:
            stand = waits.begin(queue, task_id)
            if stand.state != "gone" or stand.result:
                break
        else:
            raise _missing(task_id, order or ["default"])
        while True:
            settle(task_id, queue, stand)
            left = 3600.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise _late(task_id, limit)
            got = waits.token(queue, task_id, left)
            stand = after(got, waits.begin(queue, task_id))
    except Ended as end:
        return end.result


async def wait_async(
    waits: AsyncWaits, queues: Iterable[str], task_id: str, timeout: float | None
) -> Any:
    """The asyncio twin of :func:`wait`."""
    limit = check_timeout(timeout)
    deadline = None if limit is None else time.monotonic() + limit
    order = list(queues)
    try:
        queue, stand = "", Stand("gone", "", "")
        for queue in order:
            stand = await waits.begin(queue, task_id)
            if stand.state != "gone" or stand.result:
                break
        else:
            raise _missing(task_id, order or ["default"])
        while True:
            settle(task_id, queue, stand)
            left = 3600.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise _late(task_id, limit)
            got = await waits.token(queue, task_id, left)
            stand = after(got, await waits.begin(queue, task_id))
    except Ended as end:
        return end.result


def find_task(broker: Broker, task_id: str, queue: str | None) -> TaskInfo:
    """The task as stored now, in ``queue`` or the first queue that knows it (what
    ``Client.info`` gives); :class:`TaskNotFound` when none does."""
    reader = broker.reader
    for q in [queue] if queue else reader.queues():
        found = reader.get_task(q, task_id, missing_ok=True)
        if found is not None:
            return found
    where = f"queue {queue!r}" if queue else "any queue"
    raise TaskNotFound(f"no task {task_id!r} in {where} ({NOT_KEPT})")
