"""A plugin whose ``bingo_register_tasks`` fails half-way: the loader must drop what it
registered, report it by name and go on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bingo_core as bingo

if TYPE_CHECKING:
    from bingo_core.registry import TaskRegister

#: Registered before the failure; must not survive in the registry.
HALF_REGISTERED = "broken:half-registered"


async def handle(ctx: bingo.TaskContext, payload: dict[str, Any]) -> None:
    """Never runs: the plugin fails to register."""


@bingo.hookimpl
def bingo_register_tasks(register: TaskRegister) -> None:
    """Register one task type, then fail."""
    register(HALF_REGISTERED, handle)
    raise ValueError("bad registration")
