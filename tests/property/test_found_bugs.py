"""One test per defect the property tests of this folder found, on its smallest input.

Each test names the file the defect is in and what a fix looks like; it fails until the
defect is fixed, and then keeps it fixed.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
from fuzz_support import check_error, check_outcome, leaked, only_bingo_errors, run_main, write_yaml
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.errors import ConfigError
from bingo_core.scheduler.cron import parse_spec

# -- config (bingo_core/config/) -------------------------------------------------------------


def test_unknown_key_holding_a_newline_is_named_on_one_line(tmp_path: Path) -> None:
    # loader._unknown shows the key as written: a YAML key "a\nb" makes the message two
    # lines. Show keys that are not printable words with repr().
    config = write_yaml(tmp_path / "bingo.yaml", {"server": {"a\nb": 1}})
    with pytest.raises(ConfigError) as raised:
        load_settings(config, env={})
    check_error(raised.value)


def test_url_password_with_a_space_is_masked_in_a_config_error(tmp_path: Path) -> None:
    # settings.mask_secrets stops at whitespace, so a URL password with a space (or a
    # quote) is shown whole when the URL is refused. Mask everything between "://" and the
    # last "@" of a value that fails validation.
    secret = "Zq pass 9"
    config = write_yaml(tmp_path / "bingo.yaml", {"redis": {"url": f"redis://:{secret}@h:x"}})
    with pytest.raises(ConfigError) as raised:
        load_settings(config, env={})
    assert not leaked([str(raised.value)], [secret]), str(raised.value)


@pytest.mark.parametrize(
    "plugins",
    [
        {"nosuchplugin": {"token": {"v": "Zq-nested-0009"}}},
        {"testplug": {"apiKey": {"primary": "Zq-nested-0009"}}},
    ],
)
def test_secret_nested_below_a_secret_key_is_masked_in_log_records(
    tmp_path: Path, plugins: dict[str, Any]
) -> None:
    # config/logging.secret_values asks is_secret_key() of each leaf's own last key: a
    # mapping under plugins.<name>.token (a plugin without a settings model keeps it as
    # given) is not collected, so log records show it. Collect every string below a
    # secret key (the dashboard's masked() already hides the whole value).
    from bingo_core.config.logging import SecretMask, secret_values

    settings = load_settings(write_yaml(tmp_path / "bingo.yaml", {"plugins": plugins}), env={})
    line = SecretMask(secret_values(settings)).mask(f"settings: {settings.plugins}")
    assert not leaked([line], ["Zq-nested-0009"]), line


def test_bad_value_under_a_key_holding_a_newline_is_named_on_one_line(tmp_path: Path) -> None:
    # loader.key_path joins the pydantic loc as written: worker.queues {"\n": null} gives
    # "config key worker.queues.\n: None is not valid". Show such parts with repr(), as
    # _unknown() now does for unknown keys.
    config = write_yaml(tmp_path / "bingo.yaml", {"worker": {"queues": {"\n": None}}})
    with pytest.raises(ConfigError) as raised:
        load_settings(config, env={})
    check_error(raised.value)


@pytest.mark.parametrize("zone", ["Asia", "America", "Etc"])
def test_time_zone_naming_a_folder_of_the_zone_database_is_a_config_error(
    tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str], zone: str
) -> None:
    # ServerSettings._zone catches ZoneInfoNotFoundError and ValueError, but ZoneInfo("Asia")
    # raises IsADirectoryError (tzdata's folder): load_settings raises it raw, and the
    # command line calls it "Redis is not reachable: IsADirectoryError ..." (exit 1).
    # Catch OSError there too (expected an IANA time zone).
    config = write_yaml(tmp_path / "bingo.yaml", {"server": {"timezone": zone}})
    with only_bingo_errors():
        load_settings(config, env={})
    result = run_main(capsys, ["-c", str(config), "cron", "next", "@daily"])
    check_outcome(result)
    assert result.code == 2, result


# -- cron specs (bingo_core/scheduler/cron.py) -----------------------------------------------


def test_every_next_fire_after_year_9999_is_a_cron_error() -> None:
    # CronSchedule.next_after builds a datetime past year 9999 for @every: ValueError.
    # Raise CronSpecError("no fire time before year 9999") as the cron fields do.
    schedule = parse_spec("@every 1s")
    with only_bingo_errors():
        schedule.next_after(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))


def test_every_with_an_interval_beyond_any_date_is_refused() -> None:
    # _every_seconds accepts 99999999999999999999s; next_after then raises OverflowError
    # (compile_row accepts such a sys_crontab row too). Refuse intervals whose next fire
    # is past the last year (say more than 1000 years) at parse time.
    with only_bingo_errors():
        parse_spec("@every 99999999999999999999s").next_after(datetime.now(UTC))


@pytest.mark.parametrize("spec", ["0 2 * * *", "@every 1s"])
@pytest.mark.parametrize("offset", [0, 5])
def test_next_fire_after_year_1_is_a_time_or_a_cron_error(spec: str, offset: int) -> None:
    # _Timeline._ensure scans the year before (year 0: date() raises ValueError), and
    # @every converts a negative timestamp below year 1. Start the search at the first
    # instant it can handle (or raise CronSpecError).
    after = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=offset)))
    with only_bingo_errors():
        parse_spec(spec).next_after(after)


def test_cron_next_after_year_9999_exits_2(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_main(capsys, ["cron", "next", "@every 1s", "--after", "9999-12-31T23:59:59+00:00"])
    check_outcome(result)


# -- the command line (bingo_core/cli/) -------------------------------------------------------


def _config(cli_env: Path, redis_url: str) -> str:
    return str(
        write_yaml(
            cli_env / "bingo.yaml",
            {"redis": {"url": redis_url}, "database": {"url": f"sqlite:///{cli_env / 'b.db'}"}},
        )
    )


@pytest.mark.parametrize("action", ["enable", "disable", "delete"])
def test_cron_row_id_beyond_64_bits_is_bad_input(
    cli_env: Path, redis_url: str, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    # cli/cron.py parses ID with type=int; SQLite then raises OverflowError (internal
    # error). Give ID a type that refuses ids outside 1..2**63-1 (exit 2).
    config = _config(cli_env, redis_url)
    assert run_main(capsys, ["-c", config, "db", "init"]).code == 0
    result = run_main(capsys, ["-c", config, "cron", action, "99999999999999999999"])
    check_outcome(result)
    assert result.code == 2, result


def test_argument_error_is_one_line_whatever_the_argument_holds(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # cli/main.py _Parser.error prints argparse's message raw: "unrecognized arguments:"
    # echoes the argument's newline (or \r, \x1e ...). Flatten it as _say() does.
    result = run_main(capsys, ["plugins", "x\ny"])
    check_outcome(result)


@pytest.mark.parametrize("option", ["--limit", "--offset"])
def test_tasks_list_page_beyond_redis_range_is_bad_input(
    cli_env: Path, redis_url: str, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    # cli/tasks.py passes --limit/--offset to LRANGE unchecked: exit 1 with Redis's
    # "value is not an integer or out of range" reported as a malformed key. Check the
    # range at parse time (limit 1..10000, offset >= 0; exit 2).
    config = _config(cli_env, redis_url)
    result = run_main(capsys, ["-c", config, "tasks", "list", option, "99999999999999999999"])
    check_outcome(result)
    assert result.code == 2, result


def test_queues_pause_refuses_an_empty_queue_name(
    cli_env: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # queues pause '' pauses a queue named '' (key bingo:{}:paused), a name enqueue and
    # worker.queues refuse. Validate the name as options.normalize does.
    result = run_main(capsys, ["-c", _config(cli_env, redis_url), "queues", "pause", ""])
    check_outcome(result)
    assert result.code == 2, result


# -- task options and payloads (bingo_core/options.py, bingo_core/registry.py) ---------------


class Numbers(BaseModel):
    i: int = 0
    f: float = 0.0


class StrictNumbers(BaseModel):
    model_config = {"extra": "forbid"}
    i: int = 0


RAN: list[str] = []


async def record(ctx: bingo.TaskContext, payload: Any) -> None:
    RAN.append(ctx.task_id)


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("f:numbers", record, payload=Numbers)
        register("f:open", record)
        register("f:strict", record, payload=StrictNumbers)


@pytest.fixture
def app(bingo_app: Callable[..., App]) -> App:
    return bingo_app(Plugin())


def _keys(app: App) -> set[bytes]:
    return set(app.broker.redis.keys("*"))


@pytest.mark.parametrize(
    "options",
    [
        # options._duration: 1e300 s passes; enqueue.lua's SET PX then fails (ResponseError).
        {"unique": 1e300},
        # options._instant: a naive year-1 time read in local time gives ValueError.
        {"deadline": "0001-01-01T00:00:00"},
        {"process_at": datetime(1, 1, 1)},
    ],
)
def test_options_beyond_what_redis_and_datetime_hold_are_option_errors(
    app: App, options: dict[str, Any]
) -> None:
    # Bound every duration (e.g. at 100 years) and catch OverflowError/ValueError when an
    # instant is converted, raising OptionError naming the option.
    with only_bingo_errors():
        app.client.enqueue("f:numbers", {}, **options)


def test_infinite_float_in_a_payload_is_refused_or_runs(app: App) -> None:
    # registry.TaskType.dump_payload: model_dump_json() writes inf/nan as null, so the
    # worker's validation fails and the task is archived without running. Refuse
    # non-finite floats at enqueue (PayloadError), e.g. re-validate the dumped JSON when it
    # contains "null".
    with only_bingo_errors() as raised:
        info = app.client.enqueue("f:numbers", {"f": math.inf})
    if raised:
        return
    from bingo_core.testing import drain

    RAN.clear()
    asyncio.run(drain(app=app, timeout=5))
    assert info.id in RAN, app.inspector.find(info.id).error if info.id not in RAN else ""


def test_nan_in_an_open_payload_is_not_written_as_json_nan(app: App) -> None:
    # registry.TaskType.dump_payload: to_json() writes NaN, which is not JSON (the
    # dashboard's JSON API and any other reader refuse the message). Refuse it
    # (PayloadError), as a model-less payload must be a JSON object.
    with only_bingo_errors() as raised:
        info = app.client.enqueue("f:open", {"a": math.nan})
    if raised:
        return
    raw = app.broker.redis.hget(f"bingo:{{{info.queue}}}:t:{info.id}", "msg")

    def refuse(name: str) -> Any:
        raise AssertionError(f"message holds {name}: {raw!r}")

    json.loads(raw, parse_constant=refuse)


@pytest.mark.parametrize("key", ["\n", "a\nb", "\r", "\u2028"])
def test_payload_error_naming_a_key_that_holds_a_newline_is_one_line(app: App, key: str) -> None:
    # registry.describe_validation_error joins the pydantic loc as written: a payload key
    # "\n" refused by a model (extra="forbid", or a field of that name) makes the message
    # two lines ("... does not match Strict: \n: Extra inputs are not permitted"). Show
    # loc parts that are not printable words with repr().
    with pytest.raises(Exception) as raised:
        app.client.enqueue("f:strict", {key: None})
    check_error(raised.value)


class Deep(dict[str, Any]):
    def __init__(self, depth: int) -> None:
        value: Any = 1
        for _ in range(depth):
            value = [value]
        super().__init__(i=value)

    def __repr__(self) -> str:
        return "Deep()"


@pytest.mark.parametrize("kind", ["deep", "cyclic"])
def test_deep_or_cyclic_payload_is_a_payload_error(app: App, kind: str) -> None:
    # registry.describe_validation_error shows the bad input with json.dumps(): a payload
    # nested 1200 deep raises RecursionError, one that holds itself ValueError. Show it with
    # a bounded reprlib.repr() (and catch what json.dumps raises).
    payload: dict[str, Any] = Deep(1200) if kind == "deep" else {}
    if kind == "cyclic":
        payload["i"] = payload
    with only_bingo_errors():
        app.client.enqueue("f:numbers", payload)


# -- Redis contents read by the inspector (bingo_core/message.py, broker/reader.py) ----------


@pytest.mark.parametrize(
    "fields",
    [
        {"msg": "{", "state": "pending", "retried": "nan"},  # int(float("nan"))
        {"msg": "{", "state": "pending", "retried": "inf"},  # int(float("inf"))
        {"msg": "{", "state": b"\xff"},  # _text() decodes UTF-8 strictly
        {"msg": "{", "state": "pending", "result": b"\x80"},
        {"msg": "{", "state": "pending", "error": b"\x80", "worker": b"\xfe"},
    ],
)
def test_inspector_reads_a_task_hash_holding_garbage(app: App, fields: dict[str, Any]) -> None:
    # TaskInfo.from_hash: int(_num(...)) of NaN/inf raises; _text() raises on bytes that
    # are not UTF-8. Treat non-finite numbers as missing and decode with errors="replace".
    client = redis.Redis.from_url(app.settings.redis.url)
    client.sadd("bingo:queues", "default")
    client.hset("bingo:{default}:t:g1", mapping=fields)
    client.lpush("bingo:{default}:pending", "g1")
    client.close()
    with only_bingo_errors():
        app.inspector.tasks("default", "pending")
    with only_bingo_errors():
        app.inspector.find("g1")


def test_inspector_lists_queues_when_a_name_is_not_utf8(app: App) -> None:
    # broker/reader.py Reader.queues decodes each member strictly (UnicodeDecodeError), so
    # stats, the CLI and the dashboard all fail on one bad member of bingo:queues. Skip
    # (or show escaped) names that are not UTF-8.
    client = redis.Redis.from_url(app.settings.redis.url)
    client.sadd("bingo:queues", "default", b"\x80")
    client.close()
    with only_bingo_errors():
        app.inspector.stats()


@pytest.mark.parametrize(
    ("fields", "state", "where"),
    [
        ({"enqueued_at": -1e300}, "pending", "pending"),
        ({"process_at": "1e300"}, "scheduled", "scheduled"),
    ],
)
@pytest.mark.parametrize("show", [False, True])
def test_tasks_list_and_show_print_a_time_no_calendar_holds(
    app: App,
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
    fields: dict[str, Any],
    state: str,
    where: str,
    show: bool,
) -> None:
    # cli/tasks.py _when() calls time.localtime(ts) unguarded: a task hash whose
    # enqueued_at or process_at is out of range (1e300) makes `tasks list` and `tasks show`
    # an internal error (OverflowError). Guard it as cli/cron_list.py's _when() does.
    message = {
        "id": "g1", "type": "f:numbers", "queue": "default", "payload": {}, "max_retry": 1,
        "timeout": 5.0, "deadline": None, "retention": 0.0, "retry_backoff": None,
        "idempotent": False, "isolation": "thread", "enqueued_at": 1.0,
    }  # fmt: skip
    extra = {k: v for k, v in fields.items() if k != "enqueued_at"}
    message.update({k: v for k, v in fields.items() if k == "enqueued_at"})
    client = redis.Redis.from_url(app.settings.redis.url)
    try:
        client.sadd("bingo:queues", "default")
        client.hset("bingo:{default}:t:g1", mapping={"msg": json.dumps(message), **extra})
        if where == "pending":
            client.lpush("bingo:{default}:pending", "g1")
        else:
            client.zadd(f"bingo:{{default}}:{where}", {"g1": 1e300})
    finally:
        client.close()
    config = str(write_yaml(cli_env / "bingo.yaml", {"redis": {"url": app.settings.redis.url}}))
    argv = ["tasks", "show", "g1"] if show else ["tasks", "list", "--state", state]
    check_outcome(run_main(capsys, ["-c", config, *argv]))


@pytest.mark.parametrize(
    "damage",
    [
        ("string", "bingo:{default}:t:g1"),  # the task key is not a hash
        ("string", "bingo:{default}:pending"),  # the state list is not a list
    ],
)
@pytest.mark.parametrize("bulk", [False, True])
@pytest.mark.parametrize("action", ["retry", "archive", "delete"])
def test_task_actions_on_a_key_of_the_wrong_type_raise_a_bingo_error(
    app: App, damage: tuple[str, str], bulk: bool, action: str
) -> None:
    # Inspector.act -> Broker.task_move: task_move.lua names the key ("WRONGTYPE key ...
    # holds a string ..."), but the broker raises it as redis' ResponseError, not as
    # MalformedKey; Inspector.act_many -> task_move_many.lua checks no type at all (HGET on
    # a string: Redis' bare WRONGTYPE, the whole batch fails, and a wrong-typed state key
    # fails it midway). Check the types in task_move_many.lua as task_move.lua does (one
    # code per id for a task key that is not a hash) and map WRONGTYPE to MalformedKey in
    # the broker.
    good = {"msg": json.dumps({"id": "g1", "type": "f:numbers", "queue": "default",
                               "payload": {}, "max_retry": 1}), "state": "archived"}  # fmt: skip
    client = redis.Redis.from_url(app.settings.redis.url)
    try:
        client.sadd("bingo:queues", "default")
        client.hset("bingo:{default}:t:g1", mapping=good)
        client.zadd("bingo:{default}:archived", {"g1": 1.0})
        client.delete(damage[1])
        client.set(damage[1], "junk")
    finally:
        client.close()
    with only_bingo_errors():
        if bulk:
            app.inspector.act_many(action, "default", ["g1", "nosuch"])
        else:
            app.inspector.act(action, "g1", "default")


# -- queues listed (bingo_core/broker/broker.py) ---------------------------------------------


def test_queue_deleted_by_another_process_is_listed_again_at_the_next_enqueue(app: App) -> None:
    # The broker remembers the queues it added to bingo:queues (_known_queues) for good:
    # after another process deletes the queue (queues delete --force) or Redis loses its
    # data, this producer's tasks land in a queue no inspector lists (stats, dashboard,
    # `tasks show ID` without --queue). Re-add it at least once a second, or SADD with
    # each enqueue call.
    first = app.client.enqueue("f:numbers", {}, queue="q1")
    other = App(app.settings, registry=app.registry, manager=app.manager)
    try:
        assert other.inspector.delete_queue("q1", force=True) == 1
    finally:
        other.close()
    time.sleep(1.1)  # the broker re-adds the queues it enqueues to at least once a second
    second = app.client.enqueue("f:numbers", {}, queue="q1")
    assert first.id != second.id
    assert app.inspector.find(second.id).queue == "q1"


# -- sys_crontab on MySQL (bingo_core/cli/cron_rows.py, store/engine.py) --------------------------


@pytest.mark.mysql
def test_cron_add_payload_larger_than_its_column_is_bad_input(
    cli_env: Path, redis_url: str, bingo_mysql_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # sys_crontab.payload is TEXT (65,535 bytes on MySQL): a larger payload fails with
    # "(1406) Data too long", reported as "database ... is not reachable" (exit 1).
    # Check its size in UTF-8 bytes with the other column limits (scheduler/rows.py) (exit 2).
    config = str(
        write_yaml(
            cli_env / "bingo.yaml",
            {"redis": {"url": redis_url}, "database": {"url": bingo_mysql_url}},
        )
    )
    assert run_main(capsys, ["-c", config, "db", "init"]).code == 0
    payload = json.dumps({"path": "p", "value": "x" * 70_000})
    result = run_main(
        capsys, ["-c", config, "cron", "add", "big", "test:record", "@daily", "--payload", payload]
    )
    check_outcome(result)
    assert result.code == 2, result


# -- completed-task expiry (bingo_core/broker/lua/recover.lua, worker/recoverer.py) ----------


def test_one_recovery_pass_expires_every_completed_task_due(app: App) -> None:
    # Found by bench/soak.py: recover.lua deletes at most 1,000 expired completed tasks per
    # queue and pass, and the recoverer passes once per worker.recoverInterval (1 s), so
    # above 1,000 retained completions a second the completed set (and Redis memory)
    # grows without end. Loop in the script (or in recover_once while a pass hit the
    # limit), or let Redis expire the hash (PEXPIREAT at ack) and trim the zset with one
    # ZREMRANGEBYSCORE.
    from bingo_core.testing import drain
    from bingo_core.worker import Worker

    app.client.enqueue_many([("f:numbers", {}, {"retention": 0.5})] * 2500)
    asyncio.run(drain(app=app, timeout=30))
    time.sleep(0.6)  # every one of them is past its retention now

    async def one_pass() -> None:
        try:
            await Worker(app).recoverer.recover_once()
        finally:
            await app.aclose()

    asyncio.run(one_pass())
    left = app.inspector.stats(["default"])[0].completed
    assert left == 0, f"{left} expired completed task(s) left after one recovery pass"


@pytest.mark.parametrize("field", [{"unique_key": 5}, {"unique_key": ["x"]}, {"source": [1]}])
def test_a_message_with_a_field_of_the_wrong_type_does_not_block_the_queue(
    app: App, field: dict[str, Any]
) -> None:
    # TaskMessage.decode checks id, type, queue, max_retry, isolation and the numbers, not
    # unique_key or source: a message with "unique_key": 5 runs, then scripts.ack builds
    # q.unique(5) -> TypeError, and the whole ack batch of the queue is "kept and retried"
    # for good: no task of that queue (the good one below included) completes again.
    # Check unique_key and source (str or null) in decode (MalformedTask: archived), and
    # build each ack item on its own so one bad item cannot hold the others.
    from fuzz_support import run_worker_until

    message = {
        "id": "bad", "type": "f:numbers", "queue": "default", "payload": {}, "max_retry": 1,
        "timeout": 5.0, "deadline": None, "retention": 0.0, "retry_backoff": None,
        "idempotent": False, "isolation": "thread", "enqueued_at": 1.0, **field,
    }  # fmt: skip
    client = redis.Redis.from_url(app.settings.redis.url)
    try:
        client.hset(
            "bingo:{default}:t:bad", mapping={"msg": json.dumps(message), "state": "pending"}
        )
        client.lpush("bingo:{default}:pending", "bad")
        good = app.client.enqueue("f:numbers", {}, retention=60)
        RAN.clear()

        def completed() -> bool:
            state = client.hget(f"bingo:{{default}}:t:{good.id}", "state")
            return good.id in RAN and state == b"completed"

        assert run_worker_until(app, completed, timeout=5.0), (
            f"the good task ran: {good.id in RAN}; its state: "
            f"{client.hget(f'bingo:{{default}}:t:{good.id}', 'state')!r}"
        )
    finally:
        client.close()
