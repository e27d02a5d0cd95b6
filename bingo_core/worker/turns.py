"""Waiting for a rate-limited task's start time.

``fetch.lua`` gives each rate-limited task a start time, its rate limits' spacing
(period / N) after the one before, and the worker starts the handler then. A process
that comes to it later than half the spacing (it stalled: a busy CPU, a long callback)
would start it close to the starts given after it, so it asks ``late_start.lua`` for a
new time, the next free one, and waits again.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ports import Port

#: Spacings finer than twice this are not checked: the event loop's timers are no finer.
FINEST = 0.001
#: New start times asked for one task, at most (then it starts).
TRIES = 3


async def wait_turn(port: Port, queue: str, task_id: str, start_at: float, slack: float) -> None:
    """Sleep until ``start_at`` (``time.time()``); when it is more than ``slack`` s past
    by then, ask for a new start time and wait for that one."""
    for _ in range(TRIES):
        wait = start_at - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if slack < FINEST or time.time() - start_at <= slack:
            return
        start_at = await port.late_start(queue, task_id)
        if not start_at:
            return
