"""Problems: what is wrong now (``GET /api/problems``); the overview page shows them.
Beside them, the tasks held back by limits (``GET /api/throttled``), per queue, task type
and ``limit_key`` value: what a ``throttled`` problem is about."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from ...problems import find_problems
from ...records import Problem, Throttled
from ..web import Dash, Endpoint


def problems(dash: Dash, args: dict[str, Any]) -> list[Problem]:
    """Every problem found now, the critical ones first."""
    return find_problems(dash.inspector, dash.settings)


def throttled(dash: Dash, args: dict[str, Any]) -> list[Throttled]:
    """The tasks held back by their type's limits."""
    return dash.inspector.throttled()


def endpoints() -> list[Endpoint]:
    """The problems' JSON API."""
    return [
        Endpoint(
            "GET",
            "/throttled",
            throttled,
            "Tasks held back by their type's concurrency_limit or rate_limit: per queue, "
            "task type and limit_key value, how many and how long the first has waited",
            tag="problems",
            response=list[Throttled],
        ),
        Endpoint(
            "GET",
            "/problems",
            problems,
            "What is wrong now: each problem's kind, severity, subject, message and since",
            tag="problems",
            response=list[Problem],
        ),
    ]


def pages(dash: Dash) -> list[Route]:
    """No page of its own: the overview leads with the problems."""
    return []
