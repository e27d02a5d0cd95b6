"""Every hook a Bingo plugin can implement.

Plugins implement these with ``@bingo_core.hookimpl`` in a module exposed under the
entry-point group ``bingo.plugins``. New arguments are only ever added at the end; pluggy
lets an implementation accept a subset of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ..config import Settings
    from ..context import TaskContext
    from ..message import TaskInfo
    from ..registry import MiddlewareRegister, ScheduleRegister, SettingsRegister, TaskRegister

hookspec = pluggy.HookspecMarker("bingo")


@hookspec
def bingo_register_tasks(register: TaskRegister) -> None:
    """Register task types. Called once per plugin when the daemon or CLI starts.

    :param register: call ``register(name, handler, *, payload=Model, **options)`` for
        each task type. ``handler(ctx, payload)`` may be ``async def`` (run on the event
        loop) or ``def`` (run in a thread). Options are the task options of DESIGN.md
        section 3 (``queue``, ``max_retry``, ``timeout``, ``unique``, ``retention``,
        ``retry_backoff``, ``idempotent``, ``isolation`` ...). Raises ``RegistrationError``
        naming the plugin for an invalid name, handler, model or option.
    """


@hookspec
def bingo_register_schedules(register: ScheduleRegister) -> None:
    """Register static cron schedules. Called once per plugin after every task type exists.

    :param register: call ``register(spec, type, *, payload=dict, name="", **options)``.
        ``spec`` is any cron form Bingo accepts; options are task options plus
        ``misfire_grace``. ``register(spec, flow, *, name="", on_failure=None,
        misfire_grace=..., timezone=...)`` with a ``bingo.step``/``chain``/``group``
        item starts that workflow on each tick, once per tick across daemons (its steps
        are checked like a payload). Entries are validated (spec, type, payload) after collection;
        a bad entry is reported by name and the rest fire. ``register.settings`` is the
        plugin's validated settings (bound before this hook runs), so schedules may
        depend on them.
    """


@hookspec
def bingo_register_middleware(register: MiddlewareRegister) -> None:
    """Register middleware around every handler call. Called once per plugin after its
    task types, in plugin load order.

    :param register: call ``register(middleware, *, name="")`` for each middleware.
        ``middleware(ctx, payload, call_next)`` is an ``async def``; ``await call_next()``
        runs the rest of the chain (then the handler: async on the loop, sync in a
        thread) and returns its result or raises its exception. The first registered is
        the outermost. Returning without calling ``call_next`` skips the handler: what it
        returns is the task's result. What it raises is the task's failure (retried as a
        handler's error; ``SkipRetry`` archives). Raises ``RegistrationError`` naming the
        plugin for a middleware that is not an ``async def`` taking three arguments.
    """


@hookspec
def bingo_register_settings(register: SettingsRegister) -> None:
    """Register a pydantic model for the plugin's ``plugins.<name>`` config section.

    :param register: call ``register(Model)``; the section is validated against it at
        start and handed to the plugin's handlers as ``ctx.settings``.
    """


@hookspec(firstresult=True)
def bingo_idempotency_check(task: TaskInfo) -> Any:
    """Ask whether an ``idempotent=True`` task already succeeded. Called before it runs.

    :param task: the task about to run (id, type, queue, payload).
    :return: ``True`` when it already ran and must not run again, ``False`` when it must
        run, ``None`` to let the next implementation answer. May return an awaitable.
        Stops at the first non-None result. The built-in implementation keeps done-markers
        in Redis.
    """


@hookspec(firstresult=True)
def bingo_idempotency_mark(task: TaskInfo) -> Any:
    """Record that an ``idempotent=True`` task succeeded. Called after its handler returns.

    :param task: the task that succeeded.
    :return: ``True`` once recorded, ``None`` to let the next implementation do it.
        May return an awaitable. Stops at the first non-None result.
    """


@hookspec
def bingo_task_started(ctx: TaskContext) -> None:
    """Called in the worker just before a handler runs. Errors are logged, never raised.

    :param ctx: the task's context.
    """


@hookspec
def bingo_task_succeeded(ctx: TaskContext) -> None:
    """Called in the worker after a handler returned. Errors are logged, never raised.

    :param ctx: the task's context.
    """


@hookspec
def bingo_task_failed(ctx: TaskContext, error: BaseException, retrying: bool) -> None:
    """Called in the worker after a handler raised or timed out.

    :param ctx: the task's context.
    :param error: the exception.
    :param retrying: ``True`` when the task will be retried, ``False`` when archived.
    """


@hookspec
def bingo_startup(settings: Settings) -> None:
    """Called once when a daemon process starts, before it fetches or fires anything.
    Each implementation is called on its own: one that raises is logged with its plugin's
    name and the daemon goes on.

    :param settings: the validated :class:`bingo_core.config.Settings`.
    """


@hookspec
def bingo_shutdown(settings: Settings) -> None:
    """Called once when a daemon process stops, after its workers finished. Each
    implementation is called on its own: one that raises is logged with its plugin's name.

    :param settings: the validated :class:`bingo_core.config.Settings`.
    """
