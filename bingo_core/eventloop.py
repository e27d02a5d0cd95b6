"""The event loop a worker or daemon runs on: uvloop when installed, else asyncio's.

``worker.eventLoop`` chooses: ``auto`` (the default: uvloop when it can be imported, the
standard loop otherwise), ``asyncio`` (always the standard loop) or ``uvloop`` (uvloop, and
a :class:`~bingo_core.errors.ConfigError` when it is not installed). uvloop comes with the
``uvloop`` extra (``pip install 'bingo-scheduler[uvloop]'``); nothing requires it.

The process's garbage collector is left as it is unless it still has CPython's default
first-generation threshold (700 allocations): then that becomes :data:`GC_THRESHOLD`, so a
collection runs a tenth as often. Each task allocates a few dozen short-lived objects
(its asyncio task, futures, the handler's client's buffers); at 700 the young-generation
collections cost about a fifth of a worker's CPU with a handler that sends one Redis
command. An application that set its own threshold keeps it; the old threshold is back
when the loop ends.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .errors import ConfigError

log = logging.getLogger("bingo.worker")

T = TypeVar("T")

#: The loop the last :func:`run` started, as the daemon's start line names it (``""``
#: before any): named there, after Redis answered, so a daemon that cannot start still
#: says so in one line.
running = ""

#: CPython's default first-generation threshold, and what a worker process uses instead.
GC_DEFAULT = 700
GC_THRESHOLD = 7000


def loop_factory(choice: str = "auto") -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    """The loop factory for ``choice`` and a name for the log line."""
    if choice != "asyncio":
        try:
            # lazy: an optional extra, imported only by a process that runs a loop
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise ConfigError(
                    "worker.eventLoop is uvloop but uvloop is not installed "
                    "(pip install 'bingo-scheduler[uvloop]')"
                ) from None
        else:
            return uvloop.new_event_loop, f"uvloop {uvloop.__version__}"
    why = "worker.eventLoop: asyncio" if choice == "asyncio" else "uvloop not installed"
    return asyncio.new_event_loop, f"asyncio ({why})"


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """``asyncio.run(main)`` on the loop ``choice`` names (its name in :data:`running`)."""
    global running
    try:
        factory, name = loop_factory(choice)
    except BaseException:
        main.close()
        raise
    running = name
    before = gc.get_threshold()
    if before[0] == GC_DEFAULT:
        gc.set_threshold(GC_THRESHOLD, *before[1:])
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    finally:
        gc.set_threshold(*before)
