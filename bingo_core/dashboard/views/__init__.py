"""The dashboard's pages and their JSON twins, one module per page.

Each module has ``endpoints()`` (its JSON API operations, described in the OpenAPI
document) and ``pages(dash)`` (its HTML routes and form posts), both built on the same
data functions.
"""

from __future__ import annotations

from . import (
    batches,
    crontab,
    enqueue,
    failures,
    overview,
    plugins,
    problems,
    redisinfo,
    schedules,
    servers,
    tasks,
    workflows,
)

#: Page modules, in navigation order.
MODULES = [
    overview,
    problems,
    batches,
    tasks,
    failures,
    workflows,
    schedules,
    crontab,
    enqueue,
    servers,
    plugins,
    redisinfo,
]

__all__ = ["MODULES"]
