"""A plugin with limited task types, installed for real daemon processes: a folder with
the module and a ``dist-info`` naming it under the ``bingo.plugins`` entry points, put on
the daemons' ``PYTHONPATH``. Each handler records its own start and end times (and pid) in
Redis, so the tests judge the limits from what the handlers saw."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import redis

NAME = "limits_test_plugin"
STARTS = "limits:starts"
ENDS = "limits:ends"

SOURCE = """
import json
import os
import time

import redis
from pydantic import BaseModel

import bingo_core as bingo

_clients = {}


def _redis(url):
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url)
    return client


class Work(BaseModel):
    url: str
    sleep: float = 0.0
    customer: str = "a"
    n: int = 0


def work(ctx, payload):
    record = {"id": ctx.task_id, "type": ctx.type, "queue": ctx.queue, "n": payload.n,
              "customer": payload.customer, "pid": os.getpid(), "start": time.time()}
    _redis(payload.url).rpush("limits:starts", json.dumps(record))
    time.sleep(payload.sleep)
    record["end"] = time.time()
    _redis(payload.url).rpush("limits:ends", json.dumps(record))


@bingo.hookimpl
def bingo_register_tasks(register):
    register("lim:conc", work, payload=Work, concurrency_limit=2)
    register("lim:rate", work, payload=Work, rate_limit="10/s")
    register("lim:fast", work, payload=Work, rate_limit="50/s")
    register("lim:one", work, payload=Work, concurrency_limit=1, max_retry=5)
    register("lim:key", work, payload=Work, concurrency_limit=1, limit_key="customer")
    register("lim:free", work, payload=Work)
"""


def install(folder: Path) -> dict[str, str]:
    """Write the plugin under ``folder``; return the environment a daemon needs to load
    it (and only it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{NAME}.py").write_text(SOURCE)
    info = folder / f"{NAME}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {NAME}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[bingo.plugins]\n{NAME} = {NAME}\n")
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "BINGO_PLUGINS": NAME}


def load(folder: Path) -> ModuleType:
    """Import the installed plugin in this process (to enqueue its types)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    sys.modules.pop(NAME, None)
    return importlib.import_module(NAME)


def records(r: redis.Redis, key: str) -> list[dict[str, Any]]:
    """The start or end records the handlers wrote."""
    return [json.loads(x) for x in r.lrange(key, 0, -1)]


def most_at_once(done: list[dict[str, Any]]) -> int:
    """The most handlers that ran at one instant, from their own start and end times (an
    end at the same instant as a start counts first)."""
    events = sorted([(d["start"], 1) for d in done] + [(d["end"], -1) for d in done])
    running = top = 0
    for _, step in events:
        running += step
        top = max(top, running)
    return top


def most_in_window(starts: list[float], period: float) -> int:
    """The most starts in any window ``[t, t + period)``."""
    times = sorted(starts)
    top = 0
    j = 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + period:
            j += 1
        top = max(top, j - i)
    return top
