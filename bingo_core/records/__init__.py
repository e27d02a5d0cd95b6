"""The read side's records: what the broker's reads, the inspector, the CLI and the
dashboard pass each other, as frozen dataclasses (one module per part: queues, the
dashboard's figures, tasks, servers, schedules, problems).

Each record gives its JSON (:meth:`Record.to_json`, the shape the CLI's ``--json`` and the
dashboard's API print) and its JSON schema (:meth:`Record.json_schema`, from which the
OpenAPI document is generated). This package imports nothing but the standard library, so
the CLI and the dashboard read records without loading Redis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import STATES, Many, Maybe, Move, Record, Shape, to_json, type_schema
    from .batches import Batched
    from .figures import (
        Daily,
        DailySeries,
        MemoryUsage,
        Overview,
        QueueOverview,
        RedisInfo,
        Sample,
        Totals,
        TypeStats,
    )
    from .problems import PROBLEM_KINDS, QUEUE_KINDS, SEVERITIES, Problem
    from .progress import TaskProgress
    from .queues import QueueStats, Throttled
    from .schedules import (
        EntryInfo,
        EntryState,
        HistoryItem,
        Leader,
        Lease,
        ScheduleEntry,
        SchedulePage,
        Schedules,
        SyncRow,
        SyncStatus,
    )
    from .servers import ActiveTask, ServerInfo, consumers, merge_processes, unserved
    from .tasks import (
        Failure,
        FailurePage,
        FetchResult,
        Leased,
        MoveResult,
        RecoverResult,
        SearchPage,
        SearchResult,
    )

#: The module of each name: a record loads with its module on first use (the CLI's
#: ``enqueue`` needs none of the read side's records).
_HOMES = {
    "STATES": ".base",
    "Batched": ".batches",
    "Many": ".base",
    "Maybe": ".base",
    "Record": ".base",
    "Shape": ".base",
    "to_json": ".base",
    "type_schema": ".base",
    "PROBLEM_KINDS": ".problems",
    "QUEUE_KINDS": ".problems",
    "SEVERITIES": ".problems",
    "Problem": ".problems",
    "TaskProgress": ".progress",
    "Daily": ".figures",
    "DailySeries": ".figures",
    "MemoryUsage": ".figures",
    "Overview": ".figures",
    "QueueOverview": ".figures",
    "QueueStats": ".queues",
    "RedisInfo": ".figures",
    "Sample": ".figures",
    "Throttled": ".queues",
    "Totals": ".figures",
    "TypeStats": ".figures",
    "EntryInfo": ".schedules",
    "EntryState": ".schedules",
    "HistoryItem": ".schedules",
    "Leader": ".schedules",
    "Lease": ".schedules",
    "ScheduleEntry": ".schedules",
    "SchedulePage": ".schedules",
    "Schedules": ".schedules",
    "SyncRow": ".schedules",
    "SyncStatus": ".schedules",
    "ActiveTask": ".servers",
    "ServerInfo": ".servers",
    "merge_processes": ".servers",
    "consumers": ".servers",
    "unserved": ".servers",
    "Failure": ".tasks",
    "FailurePage": ".tasks",
    "FetchResult": ".tasks",
    "Leased": ".tasks",
    "Move": ".base",
    "MoveResult": ".tasks",
    "RecoverResult": ".tasks",
    "SearchPage": ".tasks",
    "SearchResult": ".tasks",
}

__all__ = [
    "PROBLEM_KINDS",
    "QUEUE_KINDS",
    "SEVERITIES",
    "STATES",
    "ActiveTask",
    "Batched",
    "Daily",
    "DailySeries",
    "EntryInfo",
    "EntryState",
    "Failure",
    "FailurePage",
    "FetchResult",
    "HistoryItem",
    "Leader",
    "Lease",
    "Leased",
    "Many",
    "Maybe",
    "MemoryUsage",
    "Move",
    "MoveResult",
    "Overview",
    "Problem",
    "QueueOverview",
    "QueueStats",
    "Record",
    "RecoverResult",
    "RedisInfo",
    "Sample",
    "ScheduleEntry",
    "SchedulePage",
    "Schedules",
    "SearchPage",
    "SearchResult",
    "ServerInfo",
    "Shape",
    "SyncRow",
    "SyncStatus",
    "TaskProgress",
    "Throttled",
    "Totals",
    "TypeStats",
    "consumers",
    "merge_processes",
    "to_json",
    "type_schema",
    "unserved",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
