"""Hard isolation: run a plain ``def`` handler in its own process, killed at its timeout.

Chosen per task type with ``isolation="process"``. The handler and payload model are sent
by reference (they must be importable module-level names, as plugin handlers are).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import traceback
from multiprocessing.connection import Connection
from typing import Any

from ..context import TaskContext
from ..errors import SkipRetry, TaskTimeout
from ..registry import TaskType


class IsolatedTaskError(Exception):
    """A handler raised in its isolated process; the message carries its error."""


def _child(handler: Any, model: Any, payload_json: str, ctx: TaskContext, conn: Connection) -> None:
    try:
        payload = model.model_validate_json(payload_json) if model is not None else None
        if payload is None:
            payload = json.loads(payload_json)
        result = handler(ctx, payload)
    except SkipRetry as exc:
        conn.send(("skip", str(exc)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))
    else:
        try:
            conn.send(("ok", result))
        except Exception:  # a result that cannot cross the pipe is dropped, not an error
            conn.send(("ok", None))
    finally:
        conn.close()


async def run_isolated(tt: TaskType, ctx: TaskContext, payload: Any, timeout: float | None) -> Any:
    """Run ``tt``'s handler in a fresh process; kill it when ``timeout`` passes. Returns
    the handler's result."""
    mp = multiprocessing.get_context("forkserver")
    receiver, sender = mp.Pipe(duplex=False)
    proc = mp.Process(
        target=_child,
        args=(tt.handler, tt.payload_model, tt.dump_payload(payload), ctx, sender),
        daemon=True,
        name=f"bingo-isolated-{ctx.task_id}",
    )
    await asyncio.to_thread(proc.start)
    sender.close()
    try:
        try:
            await asyncio.to_thread(proc.join, timeout or None)
        except asyncio.CancelledError:  # cancelled (shutdown, or asked from the dashboard)
            proc.kill()
            raise
        if proc.is_alive():
            proc.kill()
            await asyncio.to_thread(proc.join)
            ctx.cancel()
            raise TaskTimeout(f"timed out after {timeout:g}s (isolated process killed)")
        kind, text = receiver.recv() if receiver.poll() else ("error", "")
    finally:
        receiver.close()
    if kind == "skip":
        raise SkipRetry(text)
    if kind == "error":
        raise IsolatedTaskError(text or f"isolated process exited with code {proc.exitcode}")
    return text
