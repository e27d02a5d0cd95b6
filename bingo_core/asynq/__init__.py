"""Asynq wire compatibility: queues kept in the Redis layout of the Go library Asynq
(``asynq:{q}:...`` keys, protobuf task messages), so Go producers, Go workers and Asynq's
tools share them with Bingo. The message codec is :mod:`.wire`; what an enqueue writes is
:mod:`.produce`; the Redis side is in :mod:`bingo_core.broker` (``asynq_*.lua``)."""

from __future__ import annotations

from .wire import AsynqMessage

__all__ = ["AsynqMessage"]
