"""The Redis data layer: the only code that talks to Redis (see the modules' notes).

The names below load on first use, each with its module: a command that reads through
the synchronous :class:`Broker` does not load the asyncio broker, the dashboard's store
or the scheduler's state.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .async_broker import AsyncBroker
    from .broker import Broker, refusal
    from .connection import CONNECTION_ERRORS
    from .dashboard import DashboardStore
    from .keys import Keys, QueueKeys
    from .reader import STATES
    from .scripts import Prepared

_HOMES = {
    "AsyncBroker": ".async_broker",
    "Broker": ".broker",
    "refusal": ".broker",
    "CONNECTION_ERRORS": ".connection",
    "DashboardStore": ".dashboard",
    "Keys": ".keys",
    "QueueKeys": ".keys",
    "STATES": ".reader",
    "Prepared": ".scripts",
}
__all__ = [
    "CONNECTION_ERRORS",
    "STATES",
    "AsyncBroker",
    "Broker",
    "DashboardStore",
    "Keys",
    "Prepared",
    "QueueKeys",
    "refusal",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
