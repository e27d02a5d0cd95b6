"""A Bingo worker as Asynq's Inspector (asynqmon, ``asynq server ls``) sees a server: its
``ServerInfo`` and one ``WorkerInfo`` per running task, protobuf as Go writes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .wire import put_bytes, put_varint


@dataclass(frozen=True, slots=True)
class RunningTask:
    """One task a worker runs from an Asynq queue."""

    task_id: str
    task_type: str
    payload: bytes
    queue: str
    #: Unix s: when it started, and the instant its handler must end by.
    started: float
    deadline: float


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """What Asynq's Inspector lists of one server."""

    host: str
    pid: int
    server_id: str
    concurrency: int
    #: The Asynq queues served, with their weights.
    queues: Mapping[str, int]
    strict: bool
    started: float
    running: Sequence[RunningTask]

    @property
    def name(self) -> str:
        """``host:pid:server_id``, the hash tag of its record keys."""
        return f"{self.host}:{self.pid}:{self.server_id}"

    def server_info(self) -> bytes:
        """``ServerInfo``: 1 host, 2 pid, 3 server_id, 4 concurrency, 5 queues, 6 strict
        priority, 7 status, 8 start time, 9 active worker count."""
        out = bytearray()
        put_bytes(out, 1, self.host.encode())
        put_varint(out, 2, self.pid)
        put_bytes(out, 3, self.server_id.encode())
        put_varint(out, 4, self.concurrency)
        for name, weight in self.queues.items():
            entry = bytearray()
            put_bytes(entry, 1, name.encode())
            put_varint(entry, 2, weight)
            put_bytes(out, 5, bytes(entry))
        put_varint(out, 6, int(self.strict))
        put_bytes(out, 7, b"active")
        put_bytes(out, 8, timestamp(self.started))
        put_varint(out, 9, len(self.running))
        return bytes(out)

    def worker_info(self, task: RunningTask) -> bytes:
        """``WorkerInfo``: 1 host, 2 pid, 3 server_id, 4 task id, 5 type, 6 payload,
        7 queue, 8 start time, 9 deadline."""
        out = bytearray()
        put_bytes(out, 1, self.host.encode())
        put_varint(out, 2, self.pid)
        put_bytes(out, 3, self.server_id.encode())
        put_bytes(out, 4, task.task_id.encode())
        put_bytes(out, 5, task.task_type.encode())
        put_bytes(out, 6, task.payload)
        put_bytes(out, 7, task.queue.encode())
        put_bytes(out, 8, timestamp(task.started))
        put_bytes(out, 9, timestamp(task.deadline))
        return bytes(out)


def timestamp(moment: float) -> bytes:
    """``google.protobuf.Timestamp``: 1 seconds, 2 nanos."""
    out = bytearray()
    seconds = int(moment)
    put_varint(out, 1, seconds)
    put_varint(out, 2, round((moment - seconds) * 1e9) % 1_000_000_000)
    return bytes(out)
