"""Batch items held (``register(..., batch=Batch(...))``): per queue, task type and key value."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Record


@dataclass(frozen=True, slots=True)
class Batched(Record):
    """The items of one batch group waiting to be cut into a batch task: per queue, task
    type and value of the type's batch key (``""`` for a type batched without a key)."""

    queue: str
    type: str
    key: str
    #: How many items are held.
    items: int
    #: How long the oldest of them has waited (seconds).
    waited: float
    #: In how many seconds the batch is due (grace or max_wait; 0 when due now).
    due_in: float
