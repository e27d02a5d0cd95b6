"""Every error Bingo raises on purpose.

Each error a user can meet names the thing that is wrong (key, plugin, task type, row id)
and what was expected. The CLI maps :class:`UsageError` subclasses to exit code 2 and
:class:`ServiceUnavailable` to exit code 1.
"""

from __future__ import annotations


class BingoError(Exception):
    """Base class of all of Bingo's own errors."""


class UsageError(BingoError):
    """Bad input from the user: a config value, a payload, a spec, an option (exit 2)."""


class ConfigError(UsageError):
    """A configuration key has an invalid value or is unknown."""


class RegistrationError(UsageError, ValueError):
    """A plugin registered something invalid (names the plugin)."""


class PluginLoadError(BingoError):
    """A plugin could not be imported or failed while registering."""

    def __init__(self, plugin: str, reason: str) -> None:
        super().__init__(f"plugin {plugin!r}: {reason}")
        self.plugin = plugin
        self.reason = reason


class UnknownTaskType(UsageError):
    """No plugin registered this task type."""

    def __init__(self, task_type: str, hint: str = "") -> None:
        text = f"unknown task type {task_type!r}: no installed plugin registers it"
        super().__init__(f"{text} ({hint})" if hint else text)
        self.task_type = task_type


class TaskTypeConflict(UnknownTaskType, RegistrationError):
    """Two or more plugins register the same task type: each of them is left out, so the
    type is served by none (never silently by whichever loaded first)."""

    def __init__(self, task_type: str, plugins: list[str]) -> None:
        names = [f"plugin {p!r}" for p in plugins]
        named = ", ".join(names[:-1]) + " and " + names[-1]
        which = f"both {named}; neither is" if len(names) == 2 else f"{named}; none is"
        UsageError.__init__(
            self, f"task type {task_type!r} is registered by {which} loaded (uninstall one)"
        )
        self.task_type = task_type
        self.plugins = plugins


class PayloadError(UsageError):
    """A payload does not match the model of its task type."""


class OptionError(UsageError):
    """A task option has an unknown name or an invalid value."""


class CronSpecError(UsageError):
    """A cron spec or time zone is not valid."""


class DuplicateTaskError(UsageError):
    """A task with this id already exists in the queue."""


class UniqueTaskError(UsageError):
    """An identical task (type + payload) holds the unique lock in this queue."""


class DependencyError(UsageError):
    """A ``depends_on`` id names no task of the task's queue."""


class BulkEnqueueError(UsageError):
    """Some tasks of an ``enqueue_many`` call were refused; the others were enqueued."""

    def __init__(self, ids: list[str], refused: dict[int, str]) -> None:
        first = next(iter(refused.items()))
        super().__init__(
            f"{len(refused)} of {len(ids)} task(s) refused (item {first[0]}: {first[1]})"
        )
        self.ids = ids
        self.refused = refused


class TaskNotFound(UsageError):
    """No task with this id in this queue."""


class TaskFailed(BingoError):
    """The task waited for (``Client.wait``, ``tasks wait``) was archived: its retries
    were used up, it was cancelled or archived by hand. ``error`` is its last error."""

    def __init__(self, task_id: str, queue: str, error: str) -> None:
        first = error.strip().splitlines()[0] if error.strip() else "no error recorded"
        if task_id.startswith("wf-"):  # a workflow id (Client.enqueue_workflow)
            super().__init__(f"workflow {task_id} (queue {queue}) failed: {first}")
        else:
            super().__init__(f"task {task_id} (queue {queue}) was archived: {first}")
        self.task_id = task_id
        self.queue = queue
        self.error = error


class WaitTimeout(BingoError, TimeoutError):
    """The task waited for did not end within the timeout given (it goes on)."""


class EntryNotFound(UsageError):
    """No schedule entry has the key given (``cron run``, the dashboard's "run now")."""


class ServiceUnavailable(BingoError):
    """A service Bingo needs (Redis, the database) does not answer, or refuses what it
    was given (``state``: "refused the login", say) (exit 1)."""

    def __init__(
        self,
        service: str,
        address: str,
        reason: str,
        hint: str = "",
        *,
        state: str = "is not reachable",
    ) -> None:
        text = f"{service} at {address} {state}: {reason}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
        self.service = service
        self.address = address


class SkipRetry(BingoError):
    """Raised by a handler to archive its task at once, without further retries."""


class TaskTimeout(BingoError):
    """A handler ran past its task's timeout or deadline."""


class MiddlewareError(BingoError):
    """A middleware raised something that is not an ``Exception`` (``SystemExit``): the
    task's failure, never the worker's."""


class MalformedTask(BingoError):
    """A message in Redis could not be decoded."""


class MalformedKey(BingoError):
    """A key in Redis holds the wrong type or data (names the key); never fatal."""


class QueueNotEmpty(UsageError):
    """A queue that still holds tasks cannot be deleted without ``force``."""


class Crashed(BingoError):
    """A part of the daemon stopped when nothing asked it to (exit 1, one line saying which
    and why). Every background loop survives its own errors, so this means a bug.

    ``logged``: the line is already on the console (the daemon logged it).
    """

    def __init__(self, message: str, *, logged: bool = False) -> None:
        super().__init__(message)
        self.logged = logged
