"""Sweeping the staged parts of cross-queue workflows whose record never appeared.

A workflow over several queues is written one ``wf_enqueue`` call per queue, the other
queues' parts first and the home (which keeps the record) last. Each part is *staged*:
its first steps wait for the workflow id, which the home's call opens through the relay,
and the id sits in ``P:{q}:workflows:staged`` scored by a deadline. A client (or a
scheduler leader) dying between the calls leaves parts that would wait forever; past
the deadline :func:`sweep` asks the home (``wf_void.lua``) whether the record exists,
voiding the id when it does not (a home call still under way is then refused), and
deletes the part (``wf_unstage.lua``) with one log line. Bounded work: at most
:data:`BATCH` due ids per queue and pass, read from the index, never a scan of keys.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from . import scripts
from .base import _s
from .relays import AsyncBroker, Broker

log = logging.getLogger("bingo.worker")
#: Due ids handled per queue and pass.
BATCH = 100
#: How long a voided workflow id stays refused (seconds).
VOID_KEEP = 86400


def _line(queue: str, wf: str, home: str, n: int) -> str:
    return (
        f"queue {queue}: deleted {n} staged step(s) of workflow {wf}: its record never "
        f"appeared in queue {home} (the process writing it stopped between its queues)"
    )


def sweep(broker: Broker, queues: Iterable[str], now: float | None = None) -> int:
    """Delete the staged parts of ``queues`` past their deadline whose record does not
    exist; returns how many steps were deleted."""
    when = time.time() if now is None else now
    deleted = 0
    for queue in queues:
        q = broker.q(queue)
        for raw in broker.redis.zrangebyscore(q.workflows_staged, "-inf", when, 0, BATCH):
            wf = _s(raw)
            home = _s(broker.redis.hget(q.workflows_away, wf) or b"")
            if home and int(broker._call(scripts.wf_void(broker.q(home), wf, VOID_KEEP))):
                broker.redis.zrem(q.workflows_staged, wf)  # opened: the relay delivers it
                continue
            n = int(broker._call(scripts.wf_unstage(q, wf)))
            if n >= 0:
                log.warning(_line(queue, wf, home or "?", n))
                deleted += n
    return deleted


async def sweep_async(broker: AsyncBroker, queues: Iterable[str], now: float | None = None) -> int:
    """:func:`sweep` on the asyncio broker."""
    when = time.time() if now is None else now
    deleted = 0
    redis: Any = broker.redis
    for queue in queues:
        q = broker.q(queue)
        for raw in await redis.zrangebyscore(q.workflows_staged, "-inf", when, 0, BATCH):
            wf = _s(raw)
            home = _s(await redis.hget(q.workflows_away, wf) or b"")
            if home and int(await broker.run(scripts.wf_void(broker.q(home), wf, VOID_KEEP))):
                await redis.zrem(q.workflows_staged, wf)
                continue
            n = int(await broker.run(scripts.wf_unstage(q, wf)))
            if n >= 0:
                log.warning(_line(queue, wf, home or "?", n))
                deleted += n
    return deleted
