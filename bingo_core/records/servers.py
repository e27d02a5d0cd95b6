"""Records of the servers' heartbeats."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from .base import Record


@dataclass(frozen=True, slots=True)
class ActiveTask(Record):
    """A task a worker holds: id, queue, type, when it started and for how long it has
    run (s; None when not known), and its dashboard page."""

    OMIT_NONE = frozenset({"url"})

    id: str
    queue: str
    type: str
    started_at: float | None = None
    running: float | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ServerInfo(Record):
    """A daemon or worker process, from its heartbeat record: what a worker publishes
    (queues, concurrency, counts, active tasks), the roles of a process, its status (live,
    dead: heartbeat stopped, stopped: shut down), heartbeat expiry and age."""

    OMIT_NONE = frozenset(
        {
            "name",
            "host",
            "pid",
            "queues",
            "strict",
            "concurrency",
            "started_at",
            "processed",
            "failed",
            "active_count",
            "at",
        }
    )

    id: str
    #: ``server.name`` of the daemon the process belongs to.
    name: str | None = None
    host: str | None = None
    pid: int | None = None
    queues: dict[str, int] | list[str] | None = None
    strict: bool | None = None
    concurrency: int | None = None
    started_at: float | None = None
    processed: int | None = None
    failed: int | None = None
    active_count: int | None = None
    at: float | None = None
    roles: list[str] = field(default_factory=list)
    active: list[ActiveTask] = field(default_factory=list)
    status: str = "live"
    expires: float | None = None
    heartbeat_age: float | None = None

    @property
    def is_worker(self) -> bool:
        """Whether the record is a worker's (it runs tasks)."""
        return self.concurrency is not None

    def seen(self, now: float, leader: str | None, started: dict[str, float]) -> ServerInfo:
        """The record as the servers page shows it at ``now``: its heartbeat's age, its
        roles (``scheduler leader`` when its ``host:pid`` is ``leader``'s) and how long
        each active task has run (``started``: task id -> started at). A stopped server
        holds no task: the active tasks of its last record are left out."""
        roles = list(self.roles or (["worker"] if self.is_worker else []))
        if leader and f"{self.host}:{self.pid}" == leader and "scheduler leader" not in roles:
            roles.append("scheduler leader")
        active = []
        for task in self.active:
            begun = started.get(task.id)
            running = now - begun if begun is not None and self.status == "live" else None
            active.append(dataclasses.replace(task, started_at=begun, running=running))
        age = now - self.at if self.at is not None else None
        count = self.active_count
        if self.status == "stopped":
            active = []
            count = None if count is None else 0
        return dataclasses.replace(
            self, heartbeat_age=age, roles=roles, active=active, active_count=count
        )

    @property
    def queue_names(self) -> list[str]:
        """The queues the worker fetches from."""
        return [str(q) for q in self.queues or ()]


def consumers(servers: Iterable[ServerInfo]) -> dict[str, int]:
    """Queue -> how many of ``servers`` (live workers' heartbeats) fetch from it."""
    out: dict[str, int] = {}
    for server in servers:
        for q in server.queue_names:
            out[q] = out.get(q, 0) + 1
    return out


def unserved(servers: Iterable[ServerInfo], queues: Iterable[str]) -> list[str]:
    """Those of ``queues`` that none of ``servers`` consumes (empty when no worker at all
    is known either, so a lone client is not warned about every queue)."""
    served = consumers(servers)
    if not served:
        return []
    return [q for q in queues if q not in served]


def merge_processes(servers: list[ServerInfo]) -> list[ServerInfo]:
    """One row per process: a record that only names roles (a dashboard's own, written by
    its sampler) is folded into the worker record of the same live host and pid."""
    workers = {
        (s.host, s.pid): i for i, s in enumerate(servers) if s.is_worker and s.status == "live"
    }
    out = list(servers)
    folded = set()
    for i, server in enumerate(servers):
        main = workers.get((server.host, server.pid))
        if not server.is_worker and main is not None and server.status == "live":
            roles = out[main].roles
            roles = roles + [r for r in server.roles if r not in roles]
            out[main] = dataclasses.replace(out[main], roles=roles)
            folded.add(i)
    return [s for i, s in enumerate(out) if i not in folded]
