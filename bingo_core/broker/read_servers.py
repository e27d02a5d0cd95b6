"""The read side's server reads: the live servers' heartbeat records, and every server
seen in the last hour (live, dead or stopped)."""

from __future__ import annotations

import time
from typing import Any

from ..records import ActiveTask, ServerInfo
from .keys import SEEN_KEEP
from .read_base import ReadBase, json_object, text


class ServerReads(ReadBase):
    """Reads of the servers' heartbeats (see :class:`~.reader.Reader`)."""

    def servers(self) -> list[ServerInfo]:
        """The live servers' heartbeat records (expired ones are dropped)."""
        pipe = self._pipe()
        pipe.zrangebyscore(self.keys.servers, time.time(), "+inf")
        (ids,) = self._run(pipe, self.keys.servers)
        if not ids:
            return []
        pipe = self._pipe()
        pipe.mget([self.keys.server(text(i)) for i in ids])
        (raw,) = self._run(pipe, self.keys.servers)
        out = []
        for item in raw:
            data = json_object(item)
            if data is not None:
                out.append(decode_server(data, str(data.get("id", ""))))
        return out

    def server_records(self, keep: float = SEEN_KEEP, limit: int = 1000) -> list[ServerInfo]:
        """Every server with a heartbeat in the last ``keep`` seconds, live or not, with
        its ``status`` (``live``; ``dead`` when its heartbeat stopped; ``stopped`` when it
        said goodbye) and ``expires`` (its heartbeat's expiry, epoch s)."""
        now = time.time()
        pipe = self._pipe()
        pipe.zrange(self.keys.servers, 0, limit - 1, desc=True, withscores=True)
        pipe.hgetall(self.keys.servers_seen)
        listed, seen = self._run(pipe, self.keys.servers)
        expiry = {text(i): float(score) for i, score in listed}
        ids = [i for i, score in expiry.items() if score >= now - keep]
        live: dict[str, dict[str, Any]] = {}
        if ids:
            pipe = self._pipe()
            pipe.mget([self.keys.server(i) for i in ids])
            (raw,) = self._run(pipe, self.keys.servers)
            for server_id, item in zip(ids, raw, strict=True):
                data = json_object(item)
                if data is not None:
                    live[server_id] = data
        kept = {text(k): json_object(v) for k, v in seen.items()}
        out = []
        for server_id in sorted(set(ids) | {k for k, v in kept.items() if v is not None}):
            record = live.get(server_id) or kept.get(server_id) or {"id": server_id}
            expires = expiry.get(server_id)
            if expires is not None:  # a worker: its heartbeat is in the servers zset
                status = "live" if expires >= now and server_id in live else "dead"
            elif _is_number(record.get("expires")):  # a record kept by itself
                expires = float(record["expires"])
                status = "live" if expires >= now else "dead"
            else:  # a worker that shut down and removed its heartbeat
                status = "stopped"
            last = float(record["at"]) if _is_number(record.get("at")) else expires
            if status != "live" and (last is None or last < now - keep):
                continue
            out.append(decode_server(record, server_id, status, expires))
        return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _opt_num(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _opt_int(value: Any) -> int | None:
    return int(value) if _is_number(value) else None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _queues(value: Any) -> dict[str, int] | list[str] | None:
    if isinstance(value, dict):
        return {str(k): int(v) if _is_number(v) else 0 for k, v in value.items()}
    if isinstance(value, list):
        return [str(q) for q in value]
    return None


def _active(value: Any) -> list[ActiveTask]:
    out = []
    for task in value if isinstance(value, list) else ():
        if isinstance(task, dict):
            out.append(
                ActiveTask(str(task.get("id")), str(task.get("queue")), str(task.get("type")))
            )
    return out


def decode_server(
    data: dict[str, Any],
    server_id: str,
    status: str = "live",
    expires: float | None = None,
) -> ServerInfo:
    """A server's heartbeat record (JSON object) as a :class:`ServerInfo`; values of the
    wrong type are left out."""
    roles = data.get("roles")
    return ServerInfo(
        id=server_id,
        name=_opt_str(data.get("name")),
        host=_opt_str(data.get("host")),
        pid=_opt_int(data.get("pid")),
        queues=_queues(data.get("queues")),
        strict=data["strict"] if isinstance(data.get("strict"), bool) else None,
        concurrency=_opt_int(data.get("concurrency")),
        started_at=_opt_num(data.get("started_at")),
        processed=_opt_int(data.get("processed")),
        failed=_opt_int(data.get("failed")),
        active_count=_opt_int(data.get("active_count")),
        at=_opt_num(data.get("at")),
        roles=[str(r) for r in roles] if isinstance(roles, list) else [],
        active=_active(data.get("active")),
        status=status,
        expires=expires if expires is not None else _opt_num(data.get("expires")),
    )
