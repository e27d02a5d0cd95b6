"""Batch items held (``GET /api/batches``): per queue, task type and batch key value, how
many wait to be cut into a batch task; the overview shows them in a table of its own."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from ...records import Batched
from ..web import Dash, Endpoint


def batches(dash: Dash, args: dict[str, Any]) -> list[Batched]:
    """The batch items held, per queue, task type and key value."""
    return dash.inspector.batches()


def endpoints() -> list[Endpoint]:
    """The batches' JSON API."""
    return [
        Endpoint(
            "GET",
            "/batches",
            batches,
            "Items of batched task types waiting to be cut into a batch: per queue, task "
            "type and batch key value, how many, how long the oldest has waited and when "
            "the batch is due",
            tag="queues",
            response=list[Batched],
        ),
    ]


def pages(dash: Dash) -> list[Route]:
    """No page of its own: the overview shows the table."""
    return []
