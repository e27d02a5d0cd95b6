"""Every error a user can meet on the command line, through the real CLI.

Each case of :data:`CASES` runs ``bingo-scheduler`` as a process and asserts: the exit code
documented in ``bingo_core/cli/main.py``, exactly one line on stderr (none when stdout was
closed, a traceback only when ``--debug`` or ``BINGO_DEBUG`` asks for one), never
"Traceback" otherwise, and none of the configured secrets (:data:`SECRETS`: the Redis
password, a password inside the Redis URL, the MySQL password, ``server.key``, the SMTP
password of ``plugins.mail_notify``) in stdout, stderr or the log file.

The good config every case starts from points at a private redis-server that wants a
password (both the URL's user and ``redis.password`` are valid), a MySQL server that is
not there, and a log file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from bingo_core.testing import free_port

BIN = str(Path(sys.executable).with_name("bingo-scheduler"))

#: Every secret the configs hold; none may be printed or logged.
SECRETS = {
    "redis.password": "R3dis-Pass-A7",
    "redis.url": "Url-Pass-B8",
    "mysql.password": "MySql-Pass-C9",
    "server.key": "Server-Key-D0-long-enough",
    "plugins.mail_notify.password": "Smtp-Pass-E1",
    "a wrong redis.url password": "Wrong-Pass-F2",
}


def good_config(redis_port: int, log_path: Path) -> dict[str, Any]:
    return {
        "server": {"timezone": "UTC", "key": SECRETS["server.key"]},
        "redis": {
            "url": f"redis://bingo:{SECRETS['redis.url']}@127.0.0.1:{redis_port}/0",
            "password": SECRETS["redis.password"],
        },
        "mysql": {
            "host": "127.0.0.1:1",
            "username": "root",
            "password": SECRETS["mysql.password"],
            "database": "bingo",
        },
        "log": {"level": "info", "console": False, "path": str(log_path)},
        "plugins": {
            "mail_notify": {
                "host": "smtp.local",
                "username": "bingo",
                "password": SECRETS["plugins.mail_notify.password"],
            }
        },
    }


# -- what some cases plant in Redis first ---------------------------------------------------
def task_key_of_wrong_type(r: redis.Redis) -> None:
    r.sadd("bingo:queues", "default")
    r.set("bingo:{default}:t:X", "not a hash")
    r.lpush("bingo:{default}:pending", "X")


def pending_list_of_wrong_type(r: redis.Redis) -> None:
    r.sadd("bingo:queues", "default")
    r.set("bingo:{default}:pending", "not a list")


def a_queue(r: redis.Redis) -> None:
    r.sadd("bingo:queues", "default")


#: Run ``main()`` with one function replaced by one that raises: a bug the user meets.
PLANTED_BUG = """
import importlib, sys
module, _, name = sys.argv.pop(1).partition(":")
def broken(*args, **kwargs):
    raise RuntimeError("planted bug")
setattr(importlib.import_module(module), name, broken)
from bingo_core.cli.main import main
sys.exit(main(sys.argv[1:]))
"""

TYPED_BAD = '{"count": "x", "name": "a", "path": "p"}'
RECORD = '{"path": "/tmp/never-written", "value": "v"}'
DOWN = {"url": f"redis://bingo:{SECRETS['redis.url']}@127.0.0.1:1/0"}


@dataclass(frozen=True)
class Case:
    """One thing a user does, and what they must see."""

    name: str
    args: tuple[str, ...]
    #: The exit code (bingo_core/cli/main.py: 0 done, 1 service/data/internal, 2 bad
    #: input, 141 stdout closed).
    code: int
    #: A part of the one stderr line ("" when stderr stays empty).
    says: str
    #: Sections replaced in the good config (a key's value None deletes the key).
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Keys planted in Redis before the command runs.
    setup: Callable[[redis.Redis], None] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    #: Run with stdout already closed (``... | head`` once head has exited).
    closed_stdout: bool = False
    #: ``module:function`` replaced by one that raises (an internal error).
    bug: str = ""
    #: A traceback is asked for (``--debug`` or ``BINGO_DEBUG=1``).
    traceback: bool = False
    #: A part of stdout, for the cases that succeed.
    prints: str = ""


CASES = [
    # -- bad input: exit 2 ------------------------------------------------------------------
    Case("bad config key", ("stats",), 2, "redis.hots", config={"redis": {"hots": "x"}}),
    Case(
        "bad config value", ("--set", "worker.concurrency=many", "stats"), 2, "worker.concurrency"
    ),
    Case("bad --set", ("--set", "nodot", "stats"), 2, "expected SECTION.KEY=VALUE"),
    Case("unknown argument", ("tasks", "list", "--frobnicate"), 2, "unrecognized arguments"),
    Case("bad cron spec", ("cron", "next", "61 * * * *"), 2, "minute 61 is out of range"),
    Case(
        "payload failing its model",
        ("enqueue", "test:typed", "--payload", TYPED_BAD),
        2,
        "count",
    ),
    Case("payload not JSON", ("enqueue", "test:record", "--payload", "{nope"), 2, "not valid JSON"),
    Case(
        "unknown task type",
        ("enqueue", "test:nope", "--payload", "{}"),
        2,
        "unknown task type 'test:nope'",
    ),
    Case(
        "task type of a broken plugin",
        ("enqueue", "test:record", "--payload", RECORD),
        2,
        "broken plugin(s): broken_import",
        env={"BINGO_PLUGINS": "broken_import"},
    ),
    Case(
        "tasks retry --all with a bad state",
        ("tasks", "retry", "--queue", "default", "--all", "bogus"),
        2,
        "unknown state",
    ),
    Case(
        "tasks delete --all with a bad state",
        ("tasks", "delete", "--queue", "default", "--all", "bogus"),
        2,
        "unknown state",
    ),
    Case(
        "tasks archive --all with a bad state",
        ("tasks", "archive", "--queue", "default", "--all", "bogus"),
        2,
        "unknown state",
    ),
    Case("tasks retry --all without --queue", ("tasks", "retry", "--all", "retry"), 2, "--queue"),
    Case("no such task", ("tasks", "show", "NOPE"), 2, "no task 'NOPE'", setup=a_queue),
    # -- a service missing: exit 1 ----------------------------------------------------------
    Case("unreachable Redis", ("stats",), 1, "Redis at 127.0.0.1:1", config={"redis": DOWN}),
    Case(
        "unreachable Redis (host form)",
        ("enqueue", "test:record", "--payload", RECORD),
        1,
        "Redis at 127.0.0.1:1",
        config={"redis": {"url": None, "host": "127.0.0.1:1"}},
    ),
    Case("unreachable Redis, the daemon", (), 1, "Redis at 127.0.0.1:1", config={"redis": DOWN}),
    Case(
        "wrong Redis password",
        ("stats",),
        1,
        "refused the login: wrong password, or the user is unknown or disabled",
        config={"redis": {"url": f"redis://bingo:{SECRETS['a wrong redis.url password']}@{{}}"}},
    ),
    Case(
        "Sentinel unreachable",
        ("stats",),
        1,
        "sentinel",
        config={
            "redis": {
                "url": None,
                "sentinel": {"masterName": "mymaster", "hosts": ["127.0.0.1:1"]},
            }
        },
    ),
    Case("unreachable database", ("db", "init"), 1, "database at mysql+pymysql://root:***@"),
    # -- keys of the wrong type in Redis ----------------------------------------------------
    Case(
        "tasks list with a task key of the wrong type",
        ("tasks", "list"),
        0,
        "",
        setup=task_key_of_wrong_type,
        prints="malformed: key bingo:{default}:t:X is not a hash",
    ),
    Case(
        "tasks show with a task key of the wrong type",
        ("tasks", "show", "X"),
        0,
        "",
        setup=task_key_of_wrong_type,
        prints="malformed: key bingo:{default}:t:X is not a hash",
    ),
    Case(
        "tasks delete with a task key of the wrong type",
        ("tasks", "delete", "X"),
        0,
        "",
        setup=task_key_of_wrong_type,
        prints="delete: X (default)",
    ),
    Case(
        "tasks archive with a task key of the wrong type",
        ("tasks", "archive", "X"),
        0,
        "",
        setup=task_key_of_wrong_type,
        prints="archive: X (default)",
    ),
    Case(
        "tasks retry with a task key of the wrong type",
        ("tasks", "retry", "X"),
        1,
        "bingo:{default}:t:X holds a string, not a task hash: it cannot run",
        setup=task_key_of_wrong_type,
    ),
    Case(
        "tasks list with a pending list of the wrong type",
        ("tasks", "list"),
        1,
        "bingo:{default}:pending",
        setup=pending_list_of_wrong_type,
    ),
    # -- output to a closed pipe: quiet, exit 141 -------------------------------------------
    Case("cron list --json | head", ("cron", "list", "--json"), 141, "", closed_stdout=True),
    Case("plugins --json | head", ("plugins", "--json"), 141, "", closed_stdout=True),
    # -- a bug: one line, the traceback only when asked -------------------------------------
    Case(
        "internal error",
        ("stats",),
        1,
        "internal error: RuntimeError: planted bug; run with --debug for the traceback",
        bug="bingo_core.cli.stats:run",
    ),
    Case(
        "internal error with --debug",
        ("stats", "--debug"),
        1,
        "internal error: RuntimeError: planted bug",
        bug="bingo_core.cli.stats:run",
        traceback=True,
    ),
    Case(
        "internal error with BINGO_DEBUG=1",
        ("stats",),
        1,
        "internal error: RuntimeError: planted bug",
        bug="bingo_core.cli.stats:run",
        env={"BINGO_DEBUG": "1"},
        traceback=True,
    ),
]


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[int]:
    """A private redis-server that wants a password: ``redis.password`` for the default
    user, the URL's for user ``bingo``."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    folder = tempfile.mkdtemp(prefix="bingo-redis-locked-")
    # fmt: off
    proc = subprocess.Popen(
        [
            exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", folder, "--loglevel", "warning",
            "--requirepass", SECRETS["redis.password"],
            "--user", "bingo", "on", f">{SECRETS['redis.url']}", "~*", "&*", "+@all",
        ],
        stdout=subprocess.DEVNULL,
    )
    # fmt: on
    client = redis.Redis(port=port, password=SECRETS["redis.password"])
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the password-protected redis-server did not start")
            time.sleep(0.02)
    client.close()
    yield port
    proc.kill()
    proc.wait()
    shutil.rmtree(folder, ignore_errors=True)


def _merge(base: dict[str, Any], changes: Mapping[str, Mapping[str, Any]], port: int) -> None:
    for section, values in changes.items():
        target = base.setdefault(section, {})
        for key, value in values.items():
            if value is None:
                target.pop(key, None)
            elif isinstance(value, str) and value.endswith("@{}"):
                target[key] = value.replace("{}", f"127.0.0.1:{port}/0")
            else:
                target[key] = value


def run(case: Case, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    env.update(case.env)
    if case.bug:
        cmd = [sys.executable, "-c", PLANTED_BUG, case.bug, "-c", str(config), *case.args]
    else:
        cmd = [BIN, "-c", str(config), *case.args]
    if not case.closed_stdout:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=60, env=env, cwd=config.parent
        )
    read, write = os.pipe()
    os.close(read)  # whoever read the output is gone
    try:
        proc = subprocess.run(
            cmd, stdout=write, stderr=subprocess.PIPE, text=True, timeout=60, env=env
        )
    finally:
        os.close(write)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", proc.stderr)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_one_line_and_the_documented_exit_code(
    case: Case, locked_redis: int, tmp_path: Path
) -> None:
    client = redis.Redis(port=locked_redis, password=SECRETS["redis.password"])
    client.flushall()
    if case.setup is not None:
        case.setup(client)
    client.close()
    log = tmp_path / "bingo.log"
    data = good_config(locked_redis, log)
    _merge(data, case.config, locked_redis)
    config = tmp_path / "bingo.yaml"
    config.write_text(json.dumps(data))  # JSON is YAML

    proc = run(case, config)

    lines = proc.stderr.splitlines()
    assert proc.returncode == case.code, proc.stderr
    if case.traceback:
        assert "Traceback" in proc.stderr and case.says in lines[-1], proc.stderr
    elif case.says:
        assert len(lines) == 1 and case.says in lines[0], proc.stderr
        assert lines[0].startswith(("error: ", "bingo-scheduler: error: ")), proc.stderr
    else:
        assert lines == [], proc.stderr
    if not case.traceback:
        assert "Traceback" not in proc.stderr + proc.stdout
    assert case.prints in proc.stdout
    logged = log.read_text() if log.exists() else ""
    for what, secret in SECRETS.items():
        for where, text in (("stdout", proc.stdout), ("stderr", proc.stderr), ("log", logged)):
            assert secret not in text, f"{what} shown in {where}: {text}"


def test_every_case_has_its_own_name() -> None:
    assert len({c.name for c in CASES}) == len(CASES)
