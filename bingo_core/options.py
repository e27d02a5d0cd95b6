"""Task options, declared once: :data:`TABLE` gives each option's name, type, default,
parser, help text and the places it may be set. Everything else is derived from it at
import time: the defaults (:data:`DEFAULTS`), the option fields of the task message
(:data:`MESSAGE_DEFAULTS`), the flags of ``bingo-scheduler enqueue`` and the fields of the
dashboard's enqueue form (:data:`CLI_OPTIONS`), and the option table of
``docs/plugins.md`` (:func:`markdown_table`; ``make docs`` rewrites it in place).

Places: ``type`` (a task type's default, ``register(..., max_retry=3)``), ``enqueue``
(``Client.enqueue``, ``ctx.enqueue``, ``enqueue_many``, the JSON API), ``schedule`` (a
schedule entry: plugin or YAML) and ``cli`` (a flag of ``bingo-scheduler enqueue`` and a
field of the dashboard's enqueue form; always also ``enqueue``).

Adding an option is a row here, the code that uses it and its test (``make docs`` then
regenerates the docs' table). A task type's own setting (a rate limit, a batch) is set
on ``type`` only and read with :meth:`~bingo_core.registry.TaskType.option`; a per-task
one that the worker needs is marked ``message`` and gets its field in
:class:`~bingo_core.message.TaskMessage`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from .durations import parse_duration
from .errors import OptionError

TYPE, ENQUEUE, SCHEDULE, CLI = "type", "enqueue", "schedule", "cli"
EVERYWHERE = frozenset({TYPE, ENQUEUE, SCHEDULE, CLI})
_PLACE_DOC = ((TYPE, "type"), (ENQUEUE, "enqueue"), (SCHEDULE, "schedule"), (CLI, "CLI"))
#: Why a task option cannot be set at a place (a general line for the other places).
_REFUSED_AT = {
    TYPE: "is per task and cannot be a default",
    SCHEDULE: "cannot be set on a schedule (each tick is a new task)",
}

#: The longest duration an option takes (100 years): Redis TTLs and dates hold it.
MAX_DURATION = 100 * 366 * 86400.0

RetryBackoff = float | Callable[[int], float] | None


# -- parsers: (option name, value that is not None) -> the canonical value ---------------


def _duration(name: str, value: Any) -> float:
    """Seconds (a number or a Go duration such as ``90s``, ``1h30m``); ``0`` allowed."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise OptionError(f"option {name}={value!r}: {exc}") from None
    if math.isnan(seconds) or math.isinf(seconds):
        raise OptionError(f"option {name}={value!r}: expected a positive duration")
    if seconds > MAX_DURATION:
        raise OptionError(f"option {name}={value!r}: expected at most 100 years")
    return seconds


def _positive_duration(name: str, value: Any) -> float:
    seconds = _duration(name, value)
    if seconds == 0:
        raise OptionError(f"option {name}={value!r}: expected a positive duration")
    return seconds


def _instant(name: str, value: Any, zone: tzinfo | None = None) -> float:
    """A datetime, an ISO-8601 string or epoch seconds -> epoch seconds. A time without an
    offset is read in ``zone`` (``server.timezone``, which the clients pass), else in the
    machine's local time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise OptionError(f"option {name}={value!r}: expected a finite epoch time")
        return float(value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise OptionError(
                f"option {name}={value!r}: expected an ISO-8601 time such as "
                "2026-01-31T02:00:00+08:00"
            ) from None
    else:
        raise OptionError(f"option {name}={value!r}: expected a datetime or ISO-8601 string")
    try:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone) if zone is not None else moment.astimezone()
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        raise OptionError(f"option {name}={value!r}: the time is out of range") from None


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise OptionError(f"option {name}={value!r}: expected a non-empty string")
    return value


def _queue(name: str, value: Any) -> str:
    if any(c in _text(name, value) for c in "{}: \t\n"):
        raise OptionError(f"option {name}={value!r}: must not contain braces, colons or spaces")
    return str(value)


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OptionError(f"option {name}={value!r}: expected a whole number >= 0")
    return value


def _whole_text(name: str, text: str) -> Any:
    """A whole number typed on the command line or in a form (refused by :func:`_whole`
    when it is not one)."""
    try:
        return int(text.strip())
    except ValueError:
        return text


def _json_text(name: str, text: str) -> Any:
    """A JSON value typed on the command line or in a form (text that is not JSON is left
    for the option's parser to refuse)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


#: The most bytes a task's headers may take (keys and values, UTF-8).
MAX_HEADERS_SIZE = 8192


def _headers(name: str, value: Any) -> dict[str, str]:
    """A mapping of non-empty string keys to string values, at most
    :data:`MAX_HEADERS_SIZE` bytes in all."""
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise OptionError(
            f"option {name}={value!r}: expected a mapping of non-empty strings to strings"
        )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > MAX_HEADERS_SIZE:
        raise OptionError(
            f"option {name}: {size} bytes of keys and values, over {MAX_HEADERS_SIZE}"
        )
    return dict(value)


def _backoff(name: str, value: Any) -> RetryBackoff:
    return value if callable(value) else _duration(name, value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise OptionError(f"option {name}={value!r}: expected true or false")
    return value


#: Rate limit periods: the unit after the slash -> seconds.
RATE_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> tuple[int, float]:
    """``"10/s"`` -> ``(10, 1.0)``: tasks started per period (``/s``, ``/m``, ``/h``);
    raises :class:`ValueError` with the reason."""
    count, slash, unit = text.strip().partition("/")
    period = RATE_PERIODS.get(unit.strip())
    if not slash or period is None:
        raise ValueError("expected N/s, N/m or N/h, e.g. 10/s")
    if not count.strip().isdigit() or not count.strip().isascii() or int(count) < 1:
        raise ValueError("expected a whole number of tasks >= 1 before the slash")
    return int(count), period


def _rate(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise OptionError(f'option {name}={value!r}: expected a string such as "10/s"')
    try:
        count, period = parse_rate(value)
    except ValueError as exc:
        raise OptionError(f"option {name}={value!r}: {exc}") from None
    unit = next(u for u, p in RATE_PERIODS.items() if p == period)
    return f"{count}/{unit}"


def _at_least_one(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"option {name}={value!r}: expected a whole number >= 1")
    return value


def _field_name(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise OptionError(f"option {name}={value!r}: expected the name of a payload field")
    return value


class QueuedId(str):
    """A task id known with its queue (from a :class:`TaskInfo`): a dependency in
    another queue than the task's is released through the relay (``lua/_relay.lua``)."""

    queue: str

    def __new__(cls, task_id: str, queue: str) -> QueuedId:
        made = super().__new__(cls, task_id)
        made.queue = queue
        return made


def _task_ids(name: str, value: Any) -> tuple[str, ...] | None:
    """Task ids (strings, or what has a string ``id``: a :class:`TaskInfo`, whose
    ``queue`` is kept: :class:`QueuedId`), each once."""
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise OptionError(f"option {name}={value!r}: expected a list of task ids")
    ids: dict[str, None] = {}
    for item in value:
        task_id = item if isinstance(item, str) else getattr(item, "id", None)
        if not isinstance(task_id, str) or not task_id or "," in task_id or len(task_id) > 200:
            raise OptionError(f"option {name}: {item!r} is not a task id")
        queue = getattr(item, "queue", None)
        if isinstance(queue, str) and queue and not isinstance(item, str):
            task_id = QueuedId(task_id, queue)
        ids[task_id] = None
    return tuple(ids) or None


def _ids_text(name: str, text: str) -> Any:
    """Task ids typed on the command line or in a form, comma-separated."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _isolation(name: str, value: Any) -> str:
    if value not in ("thread", "process"):
        raise OptionError(f"option {name}={value!r}: expected 'thread' or 'process'")
    return str(value)


@dataclass(frozen=True, slots=True)
class Option:
    """One task option: everything the code, the CLI, the form and the docs know of it."""

    name: str
    #: The type as the docs show it.
    kind: str
    default: Any
    #: ``(name, value) -> canonical value``; raises :class:`OptionError` with one line.
    parse: Callable[[str, Any], Any]
    #: One short line: the CLI flag's help and the form field's hint.
    help: str
    #: The meaning, in the docs' table (markdown).
    doc: str
    #: A Python example for the docs (``name=value``).
    example: str
    #: Where it may be set: a subset of ``{TYPE, ENQUEUE, SCHEDULE, CLI}``.
    places: frozenset[str]
    #: The default as the docs show it; empty: derived from ``default``.
    default_doc: str = ""
    #: None is refused (the option always has a value).
    required: bool = False
    #: An option field of every task message (the worker reads it from there).
    message: bool = False
    #: The CLI flag's metavar.
    metavar: str = "S"
    #: ``(name, text) -> value`` for text typed on the command line or in the form,
    #: before ``parse``; None: the text as it is.
    from_text: Callable[[str, str], Any] | None = None

    @property
    def flag(self) -> str:
        """The CLI flag, e.g. ``--max-retry``."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any, zone: tzinfo | None = None) -> Any:
        """The canonical form of ``value`` (an instant without an offset read in ``zone``);
        raises :class:`OptionError`."""
        if value is None:
            if self.required:
                raise OptionError(f"option {self.name}=None: a value is required")
            return None
        if zone is not None and self.parse is _instant:
            return _instant(self.name, value, zone)
        return self.parse(self.name, value)

    def text_value(self, text: str) -> Any:
        """The value of ``text`` typed on the command line or in the form (not yet parsed)."""
        return text if self.from_text is None else self.from_text(self.name, text)


_CODE = frozenset({TYPE, ENQUEUE, SCHEDULE})

#: Every option, in the order of the message fields and the docs. Positional: name, type
#: (as the docs show it), default, parser.
TABLE: tuple[Option, ...] = (
    Option(
        "queue", "string", "default", _queue, places=EVERYWHERE, required=True, message=True,
        help="queue name", metavar="Q",
        doc="the queue it goes to; workers serve the queues of `worker.queues`",
        example='queue="reports"',
    ),
    Option(
        "max_retry", "int >= 0", 25, _whole, places=EVERYWHERE, required=True, message=True,
        help="retries before archiving", metavar="N", from_text=_whole_text,
        doc="retries after the first attempt; then the task is archived with its last error",
        example="max_retry=5",
    ),
    Option(
        "timeout", "duration", 1800.0, _duration, places=EVERYWHERE, required=True,
        message=True, default_doc="`1800` (30 min)",
        help="how long one attempt may run, e.g. 30s, 5m; 0 = none",
        doc="how long one attempt may run (`0`: no limit); an `async` handler is cancelled, "
        "a sync one sees `ctx.cancelled`",
        example="timeout=30",
    ),
    Option(
        "deadline", "instant", None, _instant, places=EVERYWHERE, message=True,
        help="done by this ISO-8601 time (no offset: server.timezone)", metavar="ISO",
        doc="when the task must be done by; an attempt is cut at it and a task past it is "
        "archived",
        example='deadline="2026-02-01T06:00:00+08:00"',
    ),
    Option(
        "unique", "duration > 0", None, _positive_duration, places=EVERYWHERE,
        help="refuse an identical task for this long, e.g. 1h",
        doc="TTL of a lock on type + payload in the queue: an identical task is refused "
        "(`UniqueTaskError`) while it is held; released when the task succeeds",
        example='unique="1h"',
    ),
    Option(
        "task_id", "string", None, _text, places=frozenset({ENQUEUE, CLI}),
        default_doc="generated", help="custom task id (a duplicate is refused)", metavar="ID",
        doc="a custom id; a task with the same id in the queue is refused "
        "(`DuplicateTaskError`) while it exists; per enqueue only",
        example='task_id=f"{ctx.task_id}-mail"',
    ),
    Option(
        "process_at", "instant", None, _instant, places=frozenset({ENQUEUE, CLI}),
        default_doc="now", help="run at this ISO-8601 time (no offset: server.timezone)",
        metavar="ISO",
        doc="run it at that instant; per enqueue only",
        example="process_at=datetime(2026, 2, 1, 2, tzinfo=tz)",
    ),
    Option(
        "process_in", "duration", None, _duration, places=frozenset({ENQUEUE, SCHEDULE, CLI}),
        default_doc="now", help="run after this delay, e.g. 10m",
        doc="run it after this delay (on a schedule entry: each tick's task waits)",
        example='process_in="10m"',
    ),
    Option(
        "headers", "mapping of strings", None, _headers, places=frozenset({ENQUEUE, CLI}),
        default_doc="none", help='headers carried with the task, a JSON object: {"k": "v"}',
        metavar="JSON", from_text=_json_text,
        doc="string headers carried with the task (at most 8 KiB): `ctx.headers` in the "
        "handler, passed on by `ctx.enqueue`; `tracing` puts the W3C trace context here",
        example='headers={"tenant": "acme"}',
    ),
    Option(
        "depends_on", "list of task ids", None, _task_ids, places=frozenset({ENQUEUE, CLI}),
        default_doc="none", help="run after these tasks (ids, comma-separated) completed",
        metavar="IDS", from_text=_ids_text,
        doc="the task waits (holding no slot) until every task listed has completed, and is "
        "archived, naming it, when one of them is archived, cancelled or deleted; each must "
        "exist (a completed one counts while it is retained); an id names a task of the "
        "same queue, a `TaskInfo` (what enqueue returns) one of any queue; per enqueue only",
        example="depends_on=[extract.id]",
    ),
    Option(
        "retention", "duration", 0.0, _duration, places=EVERYWHERE, required=True,
        message=True, help="keep the completed task this long, e.g. 1d",
        doc="keep the completed task (and its result) this long; `0` deletes it on success",
        example='retention="24h"',
    ),
    Option(
        "retry_backoff", "duration or function", None, _backoff, places=_CODE, message=True,
        default_doc="exponential with jitter (as Asynq)", help="seconds before a retry",
        doc="seconds before a retry, or a function of the retry count (a function only as "
        "the task type's default: it cannot travel in the task's message)",
        example="retry_backoff=lambda n: 2**n",
    ),
    Option(
        "idempotent", "bool", False, _flag, places=_CODE, required=True, message=True,
        help="ask the idempotency hooks before running",
        doc="ask the `bingo_idempotency_*` hooks before running, so a task re-delivered "
        "after it succeeded does not run again",
        example="idempotent=True",
    ),
    Option(
        "isolation", '`"thread"` or `"process"`', "thread", _isolation, places=_CODE,
        required=True, message=True, help="thread or process",
        doc='`"process"` runs a plain `def` handler in a child process killed at its timeout',
        example='isolation="process"',
    ),
    Option(
        "rate_limit", '`"N/s"`, `"N/m"` or `"N/h"`', None, _rate, places=frozenset({TYPE}),
        help="tasks of the type started per period, across every worker",
        doc="at most N tasks of the type start per second, minute or hour, across every "
        "worker and daemon on the Redis (per value of `limit_key` when set): starts are "
        "spaced evenly, one every period / N; a task over it is held back, not failed, "
        "and starts at its turn",
        example='rate_limit="10/s"',
    ),
    Option(
        "concurrency_limit", "int >= 1", None, _at_least_one, places=frozenset({TYPE}),
        help="tasks of the type running at once, across every worker",
        doc="at most N tasks of the type run at once across every worker (per value of "
        "`limit_key` when set); a task over it is held back, not failed, and starts when "
        "one ends (a killed worker's slot comes back within `worker.lease`)",
        example="concurrency_limit=3",
    ),
    Option(
        "limit_key", "payload field name", None, _field_name, places=frozenset({TYPE}),
        help="the payload field whose values get their own limits",
        doc="the limits apply per value of this payload field (one customer's burst does "
        "not hold back another's); needs `rate_limit` or `concurrency_limit` and a payload "
        "model with that field",
        example='limit_key="customer_id"',
    ),
    Option(
        "misfire_grace", "duration", None, _duration, places=frozenset({SCHEDULE}),
        default_doc="`scheduler.misfireGrace` (60 s)", help="fire a missed tick this late",
        doc="a tick missed by less than this (during a leader takeover) still fires; older "
        "ticks are skipped and counted as missed",
        example='misfire_grace="5m"',
    ),
    Option(
        "timezone", "zone name", None, _text, places=frozenset({SCHEDULE}),
        default_doc="`server.timezone`", help="the zone the spec is read in",
        doc="the zone the cron spec is read in (a `CRON_TZ=` prefix wins)",
        example='timezone="Europe/Berlin"',
    ),
    Option(
        "name", "string", None, _text, places=frozenset({SCHEDULE}),
        default_doc="`TYPE@SPEC`", help="the entry's name",
        doc="the entry's name, shown in `cron list` and on the dashboard",
        example='name="weekday standup"',
    ),
)  # fmt: skip

BY_NAME: dict[str, Option] = {o.name: o for o in TABLE}
#: Task options (a schedule entry's own options excluded) -> default.
DEFAULTS: dict[str, Any] = {o.name: o.default for o in TABLE if o.places & {TYPE, ENQUEUE}}
OPTION_NAMES = frozenset(DEFAULTS)
#: Options that only make sense on one enqueue, never as a task type's default.
PER_TASK_ONLY = frozenset(n for n in OPTION_NAMES if TYPE not in BY_NAME[n].places)
#: Options a schedule entry adds on top of the task options.
SCHEDULE_OPTIONS = frozenset(o.name for o in TABLE if o.name not in OPTION_NAMES)
#: The option fields of every task message, in their order, with their defaults.
MESSAGE_DEFAULTS: dict[str, Any] = {o.name: o.default for o in TABLE if o.message}
#: The options of ``bingo-scheduler enqueue`` and of the dashboard's enqueue form.
CLI_OPTIONS: tuple[Option, ...] = tuple(o for o in TABLE if CLI in o.places)
#: Place -> the options that may be set there (one lookup per option at each call).
_ALLOWED: dict[str, dict[str, Option]] = {
    place: {o.name: o for o in TABLE if place in o.places} for place in EVERYWHERE
}


def normalize(
    options: Mapping[str, Any],
    *,
    where: str,
    place: str = ENQUEUE,
    zone: tzinfo | None = None,
) -> dict[str, Any]:
    """Validate option names and values for ``place``; return them in canonical form.

    Durations become float seconds, instants become epoch seconds (one without an offset
    read in ``zone``: ``server.timezone``). ``where`` names the place the options came
    from (a plugin, a task type, the command line) in errors.
    """
    allowed = _ALLOWED[place]
    out: dict[str, Any] = {}
    for name, value in options.items():
        option = allowed.get(name)
        if option is None:
            raise OptionError(f"{where}: {_not_here(name, place)}")
        try:
            out[name] = checked = option.check(value, zone)
        except OptionError as exc:
            raise OptionError(f"{where}: {exc}") from None
        if place != TYPE and callable(checked):
            raise OptionError(
                f"{where}: option {name}: a function is only allowed as the task type's "
                f"default, given at registration (register(..., {name}=...)); it cannot "
                "travel in the task's message"
            )
    if out.get("process_at") is not None and out.get("process_in") is not None:
        raise OptionError(f"{where}: give process_at or process_in, not both")
    return out


def _not_here(name: str, place: str) -> str:
    option = BY_NAME.get(name)
    if option is None:
        known = ", ".join(sorted(_ALLOWED[place]))
        return f"unknown option {name!r} (known: {known})"
    if option.places == {SCHEDULE}:
        return f"option {name!r} is for schedule entries only"
    if place in _REFUSED_AT:
        return f"option {name!r} {_REFUSED_AT[place]}"
    where = ", ".join(text for p, text in _PLACE_DOC if p in option.places)
    return f"option {name!r} cannot be set here (it is set on: {where})"


def type_defaults(options: Mapping[str, Any]) -> dict[str, Any]:
    """A task type's defaults for every option it may set, JSON-ready (a function is
    shown by its name)."""
    out = {}
    for name in _ALLOWED[TYPE]:
        value = options.get(name, DEFAULTS[name])
        out[name] = getattr(value, "__qualname__", value) if callable(value) else value
    return out


# -- the docs' table ---------------------------------------------------------------------


def _default_doc(option: Option) -> str:
    if option.default_doc:
        return option.default_doc
    value = option.default
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`" if value is not None else "none"


def markdown_table() -> str:
    """The option table of ``docs/plugins.md``, one row per option of :data:`TABLE`."""
    rows = [
        "| option | type | default | set on | meaning | example |",
        "|---|---|---|---|---|---|",
    ]
    for o in TABLE:
        where = ", ".join(text for place, text in _PLACE_DOC if place in o.places)
        rows.append(
            f"| `{o.name}` | {o.kind} | {_default_doc(o)} | {where} | {o.doc} | `{o.example}` |"
        )
    return "\n".join(rows) + "\n"


#: The lines around the generated table in ``docs/plugins.md``.
DOC_BEGIN = "<!-- option table: generated from bingo_core/options.py; edit it there -->\n"
DOC_END = "<!-- end of the generated option table -->\n"


def with_table(text: str) -> str:
    """``text`` (the docs page) with its generated option table replaced by the current one."""
    head, found, rest = text.partition(DOC_BEGIN)
    _, found_end, tail = rest.partition(DOC_END)
    if not (found and found_end):
        raise ValueError("the page has no generated option table (its marker lines are missing)")
    return head + DOC_BEGIN + markdown_table() + DOC_END + tail
