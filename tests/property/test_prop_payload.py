"""Random payloads and options against task types' models, through ``Client.enqueue`` and
``Client.enqueue_many``, and then through a real worker.

Payloads are JSON-like values and what a Python caller may pass by mistake: bytes (UTF-8
or not), JSON text, NaN and infinities, huge integers, lone surrogates, sets, tuples,
datetimes, decimals, objects, model instances of the right and the wrong model, values
nested deeper than any serializer goes, mappings with keys that are not strings. Options
are every task option (and unknown ones) with near-valid and garbage values.

Properties: ``enqueue`` returns the task or raises a ``BingoError`` in one line, and
nothing is written when it raises; an accepted task's message is strict JSON (no NaN),
decodes, and its payload validates again against the model (what the worker does); a
refused ``enqueue_many`` writes nothing; a worker runs every good task enqueued beside the
random one, and the random one is never lost: it ran, or it is still in Redis.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Callable
from typing import Any, Literal

import pytest
from fuzz_support import FUZZ, NEAR_MISSES, VALUES, only_bingo_errors, run_worker_until
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.message import TaskMessage

RAN: list[str] = []


class Inner(BaseModel):
    x: int = 0


class Typed(BaseModel):
    i: int
    f: float = 0.0
    s: str = ""
    b: bool = False
    items: list[int] = []
    tags: dict[str, str] = {}
    when: dt.datetime | None = None
    choice: Literal["a", "b"] = "a"
    inner: Inner | None = None
    small: int = Field(default=0, ge=0, le=10)


class Strict(BaseModel):
    model_config = {"extra": "forbid", "strict": True}
    n: int = 0


class Other(BaseModel):
    i: str = "not the model"


async def record(ctx: bingo.TaskContext, payload: Any) -> None:
    RAN.append(ctx.task_id)


def record_sync(ctx: bingo.TaskContext, payload: Any) -> None:
    RAN.append(ctx.task_id)


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("p:typed", record, payload=Typed)
        register("p:open", record)
        register("p:strict", record_sync, payload=Strict)
        register("p:good", record, payload=Inner)


TYPES = ["p:typed", "p:open", "p:strict", "p:nosuch", ""]
#: Mostly types that exist.
SOME_TYPE = st.sampled_from([*TYPES[:3], *TYPES[:3], *TYPES])


class Deep(dict[str, Any]):
    """``{"i": 1, "items": [[[...1...]]]}`` nested ``depth`` lists deep (shown short)."""

    def __init__(self, depth: int) -> None:
        value: Any = 1
        for _ in range(depth):
            value = [value]
        super().__init__(i=1, items=value)
        self.depth = depth

    def __repr__(self) -> str:
        return f"Deep({self.depth})"


class Cyclic(dict[str, Any]):
    """A mapping that holds itself."""

    def __init__(self) -> None:
        super().__init__(i=1)
        self["inner"] = self

    def __repr__(self) -> str:
        return "Cyclic()"


class Unserializable:
    def __repr__(self) -> str:
        return "Unserializable()"


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
ODD = st.sampled_from(
    [
        b'{"i": 1}',
        b"\xff\xfe",
        '{"i": 1}',
        "{",
        "[1]",
        "null",
        "",
        "\ud800",
        {"i": "\ud800"},
        {"i": 1, "s": "\udfff"},
        {"i": math.nan},
        {"i": 1, "f": math.inf},
        {"i": 1, "f": math.nan},
        {"a": -math.inf},
        {"i": 2**200},
        {"i": 1, "items": {1, 2}},
        {"i": 1, "items": (1, 2)},
        {"i": 1, "when": dt.datetime(2026, 1, 1)},
        {"i": 1, "when": "9999-12-31T23:59:59Z"},
        {"i": 1, "when": "0001-01-01T00:00:00+14:00"},
        {"i": decimal.Decimal("1e999")},
        {"i": 1, "s": Unserializable()},
        {1: 2},
        {(1, 2): 3},
        {None: 1},
        Typed(i=3),
        Other(),
        Inner(),
        Deep(300),
        Deep(1200),
        Cyclic(),
        {"i": True},
        {"i": "1"},
        {"i": 1.5},
        {"n": "1"},
        {"n": 1, "extra": 2},
        [],
        [1],
        1,
        1.5,
        True,
        {"i": 1, "small": 11},
        {"i": 1, "choice": "c"},
        {"i": 1, "tags": {"a": 1}},
        {"i": 1, "inner": {"x": "y"}},
    ]
)
TYPED = st.fixed_dictionaries(
    {"i": st.integers()},
    optional={
        "f": st.floats(),
        "s": st.text(max_size=5),
        "items": st.lists(st.integers(), max_size=3),
        "small": st.integers(-2, 12),
        "choice": st.sampled_from(["a", "b", "c"]),
        "when": st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat),
        "tags": st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    },
)
#: Payloads fit for each type more often than not, then anything.
FITTING = {
    "p:typed": TYPED,
    "p:open": st.dictionaries(st.text(max_size=5), _JSONISH, max_size=4),
    "p:strict": st.fixed_dictionaries({}, optional={"n": st.integers(-(2**70), 2**70)}),
}
PAYLOADS = st.one_of(_JSONISH, ODD, TYPED)


def payload_for(task_type: str) -> st.SearchStrategy[Any]:
    fitting = FITTING.get(task_type)
    return PAYLOADS if fitting is None else st.one_of(fitting, fitting, PAYLOADS)


_PAST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_FUTURE = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
#: Values a caller may well pass for each option, some of them at or past the limits.
PLAUSIBLE: dict[str, list[Any]] = {
    "queue": ["default", "other", "nosuch", "a-b", "x" * 200, "x" * 201, "a{b}", ""],
    "max_retry": [0, 1, 3, -1, 2**63, 10**30, True, "3"],
    "timeout": [0, 0.001, 1, "10s", "1h", 1e300, -1, math.nan],
    "deadline": [_PAST, _FUTURE, "2030-01-01T00:00:00+00:00", 1e300, 0, -1, dt.datetime(1, 1, 1)],
    "unique": [1, "1h", 1e300, 0.0001, 0, 2**70],
    "task_id": ["x", "a b{c}", "\U0001f600", "x" * 200, "", "fixed"],
    "process_at": [_PAST, _FUTURE, 1e300, 0, -1e300, "2000-01-01T00:00:00Z"],
    "process_in": [0, 0.5, 1e300, "1h", "99999999999999999999s"],
    "retention": [0, 1, 1e20, 1e300, "90d", 2**64],
    "retry_backoff": [0, 0.1, 1e300, lambda n: 0.1, lambda n: -1.0, lambda n: 1 / 0],
    "idempotent": [True, False, 1, "yes"],
    "isolation": ["thread", "process", "fork"],
    "nosuch": [1],
    "misfire_grace": [1],
    "timezone": ["UTC"],
}
OPTION_NAMES = sorted(PLAUSIBLE)
GARBAGE = st.one_of(VALUES, st.sampled_from([math.inf, -math.inf, *NEAR_MISSES[:20]]))


@st.composite
def option_sets(draw: st.DrawFn, names: list[str] = OPTION_NAMES) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    return {
        name: draw(st.sampled_from(PLAUSIBLE[name]))
        if draw(st.integers(0, 9)) < 8
        else draw(GARBAGE)
        for name in chosen
    }


OPTIONS = st.one_of(st.just({}), option_sets())


@pytest.fixture
def app(bingo_app: Callable[..., App]) -> App:
    return bingo_app(Plugin(), worker={"queues": {"default": 1, "other": 1}, "lease": "2s"})


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"the message holds {name}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


def _check_stored(app: App, info: Any) -> None:
    """The task is in Redis, its message is strict JSON, decodes, and validates again."""
    raw = app.broker.redis.hget(f"bingo:{{{info.queue}}}:t:{info.id}", "msg")
    assert raw is not None, f"task {info.id} was accepted but is not in Redis"
    _strict_json(raw.decode())
    msg = TaskMessage.decode(raw)
    assert (msg.id, msg.type, msg.queue) == (info.id, info.type, info.queue)
    task_type = app.registry.get(info.type)
    with only_bingo_errors() as raised:
        task_type.validate_payload(msg.payload)
    assert not raised, f"accepted payload does not validate at the worker: {raised[0]}"
    found = app.inspector.find(info.id, info.queue)
    assert found.type == info.type


def _keys(app: App) -> set[bytes]:
    return set(app.broker.redis.keys("*"))


def _reset(app: App) -> None:
    """Every key deleted but the queue list: the client remembers the queues it listed
    there (a flushed list is a separate finding, see test_found_bugs.py)."""
    keep = b"bingo:queues"
    doomed = [k for k in app.broker.redis.keys("*") if k != keep]
    if doomed:
        app.broker.redis.delete(*doomed)


@settings(FUZZ, max_examples=250)
@given(case=SOME_TYPE.flatmap(lambda t: st.tuples(st.just(t), payload_for(t))), options=OPTIONS)
def test_enqueue_accepts_or_refuses_in_one_line(
    app: App, case: tuple[str, Any], options: dict[str, Any]
) -> None:
    task_type, payload = case
    _reset(app)
    before = _keys(app)
    with only_bingo_errors() as raised:
        info = app.client.enqueue(task_type, payload, **options)
    event(f"refused: {type(raised[0]).__name__}" if raised else "accepted")
    if raised:
        assert _keys(app) == before, f"refused, but wrote {_keys(app) - before}"
        return
    _check_stored(app, info)


@settings(FUZZ, max_examples=60)
@given(
    items=st.lists(
        st.sampled_from(TYPES[:3]).flatmap(
            lambda t: st.tuples(st.just(t), payload_for(t), OPTIONS)
        ),
        min_size=1,
        max_size=4,
    )
)
def test_enqueue_many_is_all_or_nothing(app: App, items: list[Any]) -> None:
    from bingo_core.errors import BulkEnqueueError

    _reset(app)
    before = _keys(app)
    with only_bingo_errors() as raised:
        ids = app.client.enqueue_many(items)
    if raised and not isinstance(raised[0], BulkEnqueueError):
        # Refused before anything is sent (a BulkEnqueueError means Redis refused some).
        assert _keys(app) == before, f"refused, but wrote {_keys(app) - before}"
        return
    if not raised:
        assert len(ids) == len(items)
        for task_id in ids:
            assert app.inspector.find(task_id) is not None


#: Options for the worker test: no process isolation (its handler would record the run in
#: another process).
WORKER_OPTIONS = st.one_of(st.just({}), option_sets([n for n in OPTION_NAMES if n != "isolation"]))


@settings(FUZZ, max_examples=25)
@given(
    case=st.sampled_from(TYPES[:3]).flatmap(lambda t: st.tuples(st.just(t), payload_for(t))),
    options=WORKER_OPTIONS,
)
@example(case=("p:typed", {"i": 1}), options={"retention": 1e20})
def test_worker_runs_good_tasks_and_loses_none(
    app: App, case: tuple[str, Any], options: dict[str, Any]
) -> None:
    task_type, payload = case
    _reset(app)
    RAN.clear()
    good = app.client.enqueue("p:good", {"x": 1})
    with only_bingo_errors() as raised:
        info = app.client.enqueue(task_type, payload, **options)
    after = app.client.enqueue("p:good", {"x": 2}, queue="other")
    random_id = None if raised else info.id
    event("refused" if raised else f"accepted, {'due' if not info.process_at else 'later'}")
    due = not raised and not info.process_at and info.queue in ("default", "other")

    def settled() -> bool:
        if good.id not in RAN or after.id not in RAN:
            return False
        return not due or random_id in RAN or _state(app, info) in ("archived", "retry")

    run_worker_until(app, settled, timeout=4.0)
    assert good.id in RAN and after.id in RAN, "a good task beside the random one did not run"
    if random_id is not None and random_id not in RAN:
        # Not run (yet): it must still be in Redis, in some state.
        assert _state(app, info) is not None, f"task {random_id} is lost"
    if due and random_id not in RAN:
        state = _state(app, info)
        assert state in ("archived", "retry"), f"due task {random_id} is {state}, not run"


def _state(app: App, info: Any) -> str | None:
    from bingo_core.errors import TaskNotFound

    try:
        return app.inspector.find(info.id, info.queue).state
    except TaskNotFound:
        return None
