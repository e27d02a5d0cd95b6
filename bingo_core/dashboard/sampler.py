"""The sampler: every 10 s, one sample of every queue's sizes in Redis (the dashboard's
last-hour chart, so no Prometheus is needed), the leader's "since", the record of a process
that runs no worker (workers keep their own with each heartbeat), and the dropping of
server records older than an hour. Every daemon runs one; Redis keeps one sample per
interval however many write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..broker import CONNECTION_ERRORS
from ..loops import cancel_and_wait

if TYPE_CHECKING:
    from ..broker import AsyncBroker

log = logging.getLogger("bingo.dashboard")

#: Seconds between samples.
INTERVAL = 10.0
#: Samples kept: one hour.
KEEP = 360


class Sampler:
    """``start()`` / ``stop()`` around a loop calling :meth:`sample_once` every ``interval``.

    ``roles`` (e.g. ``["dashboard"]``) are published as this process's own server record,
    so the servers page shows a process that runs no worker.
    """

    def __init__(
        self,
        broker: AsyncBroker,
        *,
        interval: float = INTERVAL,
        roles: Sequence[str] = (),
        name: str | None = None,
    ) -> None:
        self.broker = broker
        #: ``server.name`` of the process, shown with its record.
        self.name = name
        self.interval = interval
        self.roles = list(roles)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = f"{self.host}:{self.pid}:{'+'.join(self.roles) or 'sampler'}"
        self.started_at = time.time()
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling on the running loop (the first sample at once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="bingo-sampler")

    async def stop(self) -> None:
        """Stop sampling and withdraw this process's own record."""
        task, self._task = self._task, None
        # redis-py's asyncio client may drop a cancellation that arrives while it connects
        # (the first sample is taken at once): cancel again until the loop has ended.
        await cancel_and_wait(task)
        if self.roles:
            with contextlib.suppress(*CONNECTION_ERRORS):
                await self.broker.forget_server(self.id)

    async def sample_once(self) -> bool:
        """Take one sample; True when it was written (not taken already by another)."""
        now = time.time()
        sizes = await self.broker.queue_sizes()
        sample = json.dumps({"t": round(now, 3), "q": sizes}, separators=(",", ":"))
        wrote = await self.broker.record_sample(sample, now, self.interval * 0.9, KEEP)
        await self.broker.note_leader(now)
        own = {}
        if self.roles:
            own[self.id] = json.dumps(
                {
                    "id": self.id,
                    "name": self.name,
                    "host": self.host,
                    "pid": self.pid,
                    "roles": self.roles,
                    "started_at": self.started_at,
                    "at": now,
                    "expires": now + 3 * self.interval,
                }
            )
        await self.broker.keep_servers(now, own)
        self.samples += wrote
        return wrote

    async def _loop(self) -> None:
        while True:
            try:
                await self.sample_once()
            except CONNECTION_ERRORS as exc:
                log.debug("sample not taken: %s", exc)
            except Exception:  # the sampler must never stop the daemon
                log.warning("sample not taken", exc_info=True)
            await asyncio.sleep(self.interval)
