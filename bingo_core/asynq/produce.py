"""What an enqueue to a queue of ``asynq.queues`` writes: an Asynq ``TaskMessage`` with
the task's options in Asynq's fields, as the Go client would write it.

Options map as the Go client's do: ``task_id`` (else a random UUIDv4), ``max_retry``
(``retry``), ``timeout`` (whole seconds; left out when only a deadline is given, as Go
does), ``deadline`` (Unix s), ``retention``, ``unique`` (the lock
``asynq:{q}:unique:<type>:<md5 of the payload>``, TTL whole seconds up to process-at +
unique), ``process_at``/``process_in`` (the ``scheduled`` set, Unix s), ``headers``. The
type's own behaviour (``retry_backoff``, ``idempotent``, ``isolation``) has no field: a
Bingo worker takes it from the registered type, so given on one enqueue it is refused.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from ..broker.keys import AsynqKeys
from ..broker.scripts import AsynqPrepared
from ..errors import OptionError
from .wire import AsynqMessage

_KEYS = AsynqKeys()
#: Options the Go client has no field for: the registered type's own behaviour.
TYPE_ONLY = ("retry_backoff", "idempotent", "isolation")


def refuse_options(queue: str, task_type: str, given: Mapping[str, Any]) -> None:
    """Raise :class:`OptionError` for options of one enqueue that an Asynq task cannot
    carry (``given``: the options of the call, already normalized)."""
    where = f"task {task_type!r} to queue {queue!r} (an asynq.queues queue)"
    for name in TYPE_ONLY:
        if name in given:
            raise OptionError(
                f"{where}: option {name} has no field in an Asynq task; set it on the task "
                f"type (register(..., {name}=...)), which a Bingo worker applies"
            )


def check_template(queue: str, task_type: str, options: Mapping[str, Any]) -> None:
    """Raise :class:`OptionError` for merged options that have no Asynq form."""
    where = f"task {task_type!r} to queue {queue!r} (an asynq.queues queue)"
    if not options["timeout"] and options["deadline"] is None:
        raise OptionError(
            f"{where}: option timeout=0 (no limit) has no Asynq form: an Asynq task always "
            f"has a timeout or a deadline; give one"
        )
    if options["unique"] is not None and options["unique"] < 1:
        raise OptionError(f"{where}: option unique={options['unique']!r}: Asynq takes >= 1s")


def prepare(
    task_type: str,
    options: Mapping[str, Any],
    explicit: frozenset[str],
    payload: bytes,
    now: float,
) -> AsynqPrepared:
    """One Asynq task of ``task_type`` with merged ``options`` (``explicit``: the names
    set by the type or the call rather than defaulted)."""
    queue = options["queue"]
    task_id = options["task_id"] or str(uuid.uuid4())
    process_at = 0
    if options["process_at"] is not None:
        at = float(options["process_at"])
    elif options["process_in"]:
        at = now + float(options["process_in"])
    else:
        at = 0.0
    if at > now:
        process_at = int(at)
    deadline = options["deadline"]
    timeout = int(options["timeout"])
    if deadline is not None and "timeout" not in explicit:
        timeout = 0  # only a deadline: Go leaves the timeout out
    unique_key, unique_ttl = "", 0
    if options["unique"] is not None:
        digest = hashlib.md5(payload, usedforsecurity=False).hexdigest()
        unique_key = _KEYS.queue(queue).unique_lock(task_type, digest)
        unique_ttl = int(max(at, now) + float(options["unique"]) - now)
    msg = AsynqMessage(
        type=task_type,
        payload=payload,
        id=task_id,
        queue=queue,
        retry=int(options["max_retry"]),
        timeout=timeout,
        deadline=int(deadline) if deadline is not None else 0,
        unique_key=unique_key,
        retention=int(options["retention"]),
        headers=options.get("headers") or {},
    )
    return AsynqPrepared(queue, task_id, msg.encode(), process_at, unique_key, unique_ttl)
