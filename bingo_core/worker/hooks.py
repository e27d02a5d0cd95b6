"""Calling plugin hooks from the worker: each implementation on its own, errors logged
with the plugin's name and never raised into the worker."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from ..loops import one_line
from ..plugins.manager import call_guarded

log = logging.getLogger("bingo.worker")


class WorkerHooks:
    """The lifecycle and idempotency hooks, resolved once at start."""

    def __init__(self, manager: Any | None) -> None:
        self._impls: dict[str, list[Any]] = {}
        if manager is None:
            return
        for name in (
            "bingo_task_started",
            "bingo_task_succeeded",
            "bingo_task_failed",
            "bingo_idempotency_check",
            "bingo_idempotency_mark",
        ):
            impls = getattr(manager.hook, name).get_hookimpls()
            if impls:
                # pluggy calls the last registered first; tryfirst/trylast are already
                # reflected in get_hookimpls() order.
                self._impls[name] = list(reversed(impls))

    def has(self, name: str) -> bool:
        return name in self._impls

    def notify(self, name: str, **kwargs: Any) -> None:
        """Call every implementation of a lifecycle hook; log and swallow their errors."""
        for impl in self._impls.get(name, ()):
            call_guarded(impl, name, kwargs)

    async def first(self, name: str, **kwargs: Any) -> Any:
        """Call a firstresult hook (awaiting awaitable results); stop at the first non-None.

        An implementation that raises is logged with its plugin's name (one line, the
        traceback at debug level) and counts as None: the next one is asked.
        """
        for impl in self._impls.get(name, ()):
            try:
                result = impl.function(**{a: kwargs[a] for a in impl.argnames})
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                log.error("plugin %s: %s failed: %s", impl.plugin_name, name, one_line(exc))
                log.debug("plugin %s: %s traceback", impl.plugin_name, name, exc_info=True)
                continue
            if result is not None:
                return result
        return None
