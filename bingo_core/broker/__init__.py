"""The Redis data layer: key builders, Lua scripts and the brokers that run them."""

from __future__ import annotations

from .broker import CONNECTION_ERRORS, STATES, AsyncBroker, Broker, refusal
from .keys import Keys, QueueKeys
from .scripts import Prepared

__all__ = [
    "CONNECTION_ERRORS",
    "STATES",
    "AsyncBroker",
    "Broker",
    "Keys",
    "Prepared",
    "QueueKeys",
    "refusal",
]
