"""The dashboard's pages and their JSON twins, one module per page.

Each module has ``endpoints()`` (its JSON API operations, described in the OpenAPI
document) and ``pages(dash)`` (its HTML routes and form posts), both built on the same
data functions.
"""

from __future__ import annotations

from . import crontab, enqueue, overview, plugins, redisinfo, schedules, servers, tasks

#: Page modules, in navigation order.
MODULES = [overview, tasks, schedules, crontab, enqueue, servers, plugins, redisinfo]

__all__ = ["MODULES"]
