"""What both brokers share: the connection, the registered scripts, the queue keys and
the enqueue calls (grouped per queue, in chunks) with their reply codes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from ..errors import DependencyError, DuplicateTaskError, UniqueTaskError, UsageError
from . import scripts
from .keys import AsynqKeys, Keys, QueueKeys
from .scripts import AsynqPrepared, Call, EnqueueCode, Prepared

if TYPE_CHECKING:
    from ..config.settings import RedisSettings

ENQUEUE_REFUSALS = {
    scripts.EXISTS: "a task with this id already exists",
    scripts.UNIQUE_HELD: "an identical task holds the unique lock",
}


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def refusal(code: EnqueueCode, prepared: Prepared | AsynqPrepared) -> UsageError:
    """The error for an enqueue script code other than 1."""
    if code == scripts.EXISTS:
        return DuplicateTaskError(
            f"task id {prepared.id!r} already exists in queue {prepared.queue!r}"
        )
    if isinstance(code, scripts.MissingDependency):
        return DependencyError(
            f"depends_on: no task {str(code)!r} in queue {code.queue or prepared.queue!r} "
            "(a dependency must exist; one of another queue is given as the TaskInfo its "
            "enqueue returned)"
        )
    if isinstance(code, str):
        return UniqueTaskError(
            f"task refused: this scheduler tick was already enqueued as task {code} "
            f"in queue {prepared.queue!r}"
        )
    return UniqueTaskError(
        f"task refused: {ENQUEUE_REFUSALS.get(code, f'code {code}')} in queue {prepared.queue!r}"
    )


class BrokerBase:
    """The state both brokers share (see :class:`~.broker.Broker`)."""

    def __init__(
        self,
        cfg: RedisSettings,
        client: Any,
        zone: tzinfo | None = None,
        asynq_client: Any = None,
        asynq_cfg: RedisSettings | None = None,
    ) -> None:
        self.cfg = cfg
        #: The zone whose dates name the daily counters (the server's; UTC when None).
        self.zone = zone
        self.keys = Keys(cfg.prefix)
        #: Asynq's keys, for the queues of ``asynq.queues``.
        self.asynq = AsynqKeys()
        self.redis = client
        self._scripts = {name: client.register_script(src) for name, src in scripts.SOURCES.items()}
        #: The Redis of those queues (``asynq.redis``; else the same client) and its
        #: settings, with the scripts that run there.
        self.asynq_redis = client if asynq_client is None else asynq_client
        self.asynq_cfg = cfg if asynq_cfg is None else asynq_cfg
        self._asynq_scripts = (
            self._scripts
            if asynq_client is None
            else {
                name: asynq_client.register_script(src)
                for name, src in scripts.SOURCES.items()
                if name.startswith("asynq_")
            }
        )
        # Queues this broker added to P:queues lately; forgotten every second, so a queue
        # another process deleted (or a Redis that lost its data) is listed again.
        self._known_queues: set[str] = set()
        self._known_until = 0.0

    def q(self, queue: str) -> QueueKeys:
        return self.keys.queue(queue)

    def _recall_queues(self, now: float) -> set[str]:
        if now >= self._known_until:
            self._known_queues.clear()
            self._known_until = now + 1.0
        return self._known_queues

    def _enqueue_calls(
        self, tasks: Sequence[Prepared]
    ) -> tuple[list[tuple[list[int], Call]], list[str]]:
        """Group tasks per queue (a queue's batch items apart), in chunks; also the
        queues not yet in ``P:queues``."""
        by_queue: dict[tuple[str, bool], list[int]] = {}
        for i, t in enumerate(tasks):
            by_queue.setdefault((t.queue, t.batch is not None), []).append(i)
        now = time.time()
        calls = []
        for (queue, _), idx in by_queue.items():
            q = self.q(queue)
            for start in range(0, len(idx), scripts.CHUNK):
                part = idx[start : start + scripts.CHUNK]
                calls.append((part, scripts.enqueue(q, [tasks[i] for i in part], now)))
        known = self._recall_queues(now)
        return calls, list(dict.fromkeys(q for q, _ in by_queue if q not in known))

    def _asynq_calls(self, tasks: Sequence[AsynqPrepared]) -> list[tuple[list[int], Call]]:
        """Group Asynq tasks per queue, in chunks of :data:`~.scripts.CHUNK`."""
        by_queue: dict[str, list[int]] = {}
        for i, t in enumerate(tasks):
            by_queue.setdefault(t.queue, []).append(i)
        now_ns = time.time_ns()
        calls = []
        for queue, idx in by_queue.items():
            q = self.asynq.queue(queue)
            for start in range(0, len(idx), scripts.CHUNK):
                part = idx[start : start + scripts.CHUNK]
                calls.append((part, scripts.asynq_enqueue(q, [tasks[i] for i in part], now_ns)))
        return calls

    @staticmethod
    def _codes(
        n: int, calls: list[tuple[list[int], Call]], results: list[Any]
    ) -> list[EnqueueCode]:
        codes: list[EnqueueCode] = [0] * n
        for (idx, call), result in zip(calls, results, strict=True):
            for i, code in zip(idx, scripts.enqueue_codes(call, result), strict=True):
                codes[i] = code
        return codes
