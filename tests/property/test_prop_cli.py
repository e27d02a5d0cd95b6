"""Random argument vectors for the real command line.

Each example is a subcommand (every one but ``dashboard``, which serves until stopped)
with a random mix of its own options and arguments, near-valid values, garbage tokens and
options of other commands, run on a config whose Redis is the test session's private
server and whose database is a SQLite file, with secrets in ``server.key``,
``dashboard.readOnlyKey``, ``mysql.password`` and a plugin section. Redis holds a few
tasks and ``sys_crontab`` a few rows, so ids in the vectors sometimes exist.

Properties: exit 0, 1 or 2; no traceback; a failure is exactly one line on stderr; no
secret in stdout or stderr. Most examples run ``main(argv)`` in this process; a few run
the installed ``bingo-scheduler`` script as a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz_support import FUZZ, NEAR_MISSES, Outcome, check_outcome, run_main, write_yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

BIN = str(Path(sys.executable).with_name("bingo-scheduler"))
SECRETS = ["Zq-server-key-4711", "Zq-read-only-0815", "Zq-mysql-pw-2342", "Zq-api-key-1234"]
TASK_IDS = ["fixed-1", "fixed-2", "fixed-3"]
TYPES = ["test:typed", "test:record", "test:nosuch", "", "task:daily-report", "test:isolated"]
STATES = ["pending", "active", "scheduled", "retry", "archived", "completed", "dead", ""]
QUEUES = ["default", "other", "nosuch", "", "a{b}", "a:b", "a b", "\U0001f600", "-x"]
PAYLOADS = [
    '{"path": "/dev/null", "name": "n", "count": 1}',
    "{}",
    "[]",
    "null",
    "1",
    "{",
    '{"count": "x"}',
    '{"count": 1e400}',
    '{"count": NaN}',
    '"\\ud800"',
    "",
    "{}{}",
    '{"path": "/dev/null", "value": "v"}',
]
DURATIONS = [
    "0",
    "1",
    "10s",
    "1h30m",
    "-1",
    "nan",
    "inf",
    "1e400",
    "1e300",
    "1e20",
    "x",
    "",
    "5m",
    "0.001s",
    "99999999999999999999s",
]
INSTANTS = [
    "2030-01-01T00:00:00+00:00",
    "2030-01-01",
    "yesterday",
    "",
    "9999-12-31T23:59:59",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00",
    "2026-02-30T00:00:00",
    "1e10",
]
SPECS = [
    "0 2 * * *",
    "@every 1s",
    "@daily",
    "61 * * * *",
    "CRON_TZ=Mars/X 0 * * * *",
    "",
    "@every 99999999999999999999s",
    "* * * * * * *",
    "0 0 30 2 *",
    "@every -1s",
]
NUMBERS = ["0", "1", "2", "-1", "99999999999999999999", "x", "", "1.5", "1e3", "0x10"]

#: Per subcommand path: (positional slots, option -> value slot, flags).
COMMANDS: dict[tuple[str, ...], tuple[list[str], dict[str, str], list[str]]] = {
    ("enqueue",): (
        ["type"],
        {
            "--payload": "payload",
            "--queue": "queue",
            "--max-retry": "number",
            "--timeout": "duration",
            "--deadline": "instant",
            "--process-in": "duration",
            "--process-at": "instant",
            "--unique": "duration",
            "--task-id": "id",
            "--retention": "duration",
        },
        ["--json"],
    ),
    ("plugins",): ([], {}, ["--json"]),
    ("stats",): ([], {"--queue": "queue"}, ["--json"]),
    ("tasks", "list"): (
        [],
        {"--queue": "queue", "--state": "state", "--limit": "number", "--offset": "number"},
        ["--json"],
    ),
    ("tasks", "show"): (["id"], {"--queue": "queue"}, ["--json"]),
    ("tasks", "retry"): (["id", "id"], {"--queue": "queue", "--all": "state"}, ["--json"]),
    ("tasks", "delete"): (["id"], {"--queue": "queue", "--all": "state"}, ["--json"]),
    ("tasks", "archive"): (["id"], {"--queue": "queue", "--all": "state"}, ["--json"]),
    ("tasks", "cancel"): (["id"], {"--queue": "queue"}, ["--json"]),
    ("queues", "list"): ([], {}, ["--json"]),
    ("queues", "pause"): (["queue"], {}, ["--json"]),
    ("queues", "resume"): (["queue"], {}, ["--json"]),
    ("queues", "delete"): (["queue"], {}, ["--json", "--force"]),
    ("cron", "list"): ([], {"--history": "number"}, ["--json"]),
    ("cron", "next"): (
        ["spec"],
        {"--tz": "zone", "--after": "instant", "-n": "number"},
        ["--json"],
    ),
    ("cron", "add"): (["name", "type", "spec"], {"--payload": "payload"}, ["--json", "--disabled"]),
    ("cron", "enable"): (["number"], {}, ["--json"]),
    ("cron", "disable"): (["number"], {}, ["--json"]),
    ("cron", "delete"): (["number"], {}, ["--json"]),
    ("db", "init"): ([], {}, ["--json"]),
    ("check",): ([], {}, ["--json"]),
    ("plugin", "new"): (["name"], {"--dir": "dir", "--task-type": "type"}, ["--json"]),
}
SLOTS: dict[str, list[str]] = {
    "type": TYPES,
    "payload": PAYLOADS,
    "queue": QUEUES,
    "number": NUMBERS,
    "duration": DURATIONS,
    "instant": INSTANTS,
    "id": [*TASK_IDS, "nosuch", "", "x" * 300, "../../etc", "*"],
    "state": STATES,
    "spec": SPECS,
    "zone": ["UTC", "Asia/Shanghai", "Mars/Olympus", "", "../x"],
    "name": ["nightly", "disk-report", "Bad Name", "", "x" * 120, "-", "a/b", "\U0001f600"],
    "dir": ["plugins-out", "", "missing/deeper", "bingo.yaml"],
}
OTHER_OPTIONS = [
    "--json",
    "--force",
    "--all",
    "--payload",
    "-n",
    "--bogus",
    "-",
    "--",
    "-x",
    "--queue=",
    "--limit=-5",
    "--state=dead",
    "-h",
]
TOKENS = st.sampled_from(NEAR_MISSES) | st.text(max_size=10)


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    path = draw(st.sampled_from(sorted(COMMANDS)))
    positional, options, flags = COMMANDS[path]
    args: list[str] = []

    def value(slot: str) -> str:
        if draw(st.integers(0, 9)) < 7:
            return draw(st.sampled_from(SLOTS[slot]))
        return draw(TOKENS)

    for slot in positional:
        if draw(st.integers(0, 9)) < 8:
            args.append(value(slot))
    chosen = (
        draw(st.lists(st.sampled_from(sorted(options)), max_size=3, unique=True))
        if (options)
        else []
    )
    for option in chosen:
        args += [option, value(options[option])]
    args += draw(st.lists(st.sampled_from(flags), max_size=2, unique=True)) if flags else []
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        junk = draw(st.sampled_from(OTHER_OPTIONS) | TOKENS)
        args.insert(draw(st.integers(0, len(args))), junk)
    top: list[str] = []
    if draw(st.booleans()):
        top += draw(
            st.sampled_from(
                [
                    ["--set", "worker.concurrency=0"],
                    ["--set", "server.timezone=Mars/X"],
                    ["--set", "nosuch"],
                    ["--set", "redis.password=Zq-set-password-99"],
                    ["--no-worker"],
                    ["--set", "server.key="],
                    ["--set", "server.key=Zq-server-key-4711"],
                ]
            )
        )
    return [*top, *path, *args]


@pytest.fixture
def cli_config(cli_env: Path, redis_url: str) -> Path:
    """A config on the private Redis and a SQLite file, with secrets in it."""
    return write_yaml(
        cli_env / "bingo.yaml",
        {
            "server": {"key": SECRETS[0], "timezone": "Asia/Shanghai"},
            "redis": {"url": redis_url},
            "database": {"url": f"sqlite:///{cli_env / 'bingo.db'}"},
            "mysql": {"host": "127.0.0.1:1", "username": "bingo", "password": SECRETS[2]},
            "dashboard": {"readOnlyKey": SECRETS[1]},
            "plugins": {"testplug": {"apiKey": SECRETS[3]}},
        },
    )


@pytest.fixture
def seed(cli_config: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """``seed()``: a clean Redis with three tasks (one scheduled, one in queue ``other``);
    ``sys_crontab`` has one row from the first call on."""
    from bingo_core.app import App

    app = App(config=str(cli_config), overrides={})
    assert run_main(capsys, ["-c", str(cli_config), "db", "init"]).code == 0
    added = run_main(
        capsys,
        [
            "-c",
            str(cli_config),
            "cron",
            "add",
            "nightly",
            "test:typed",
            "0 2 * * *",
            "--payload",
            PAYLOADS[0],
        ],
    )
    assert added.code == 0, added
    payload = {"path": "/dev/null", "name": "n", "count": 1}
    options: list[dict[str, Any]] = [{}, {"process_in": 3600}, {"queue": "other"}]

    def run() -> None:
        app.broker.redis.flushall()
        for task_id, extra in zip(TASK_IDS, options, strict=True):
            app.client.enqueue("test:typed", payload, task_id=task_id, **extra)

    yield run
    app.close()


#: Secrets that must never show: the config's and the one --set gives.
ALL_SECRETS = [*SECRETS, "Zq-set-password-99"]


@settings(FUZZ, max_examples=300)
@given(argv=argvs())
def test_random_command_lines(
    cli_config: Path, seed: Any, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    seed()
    result = run_main(capsys, ["-c", str(cli_config), *argv])
    event(f"{' '.join(a for a in argv[:2] if a.isalpha())}: exit {result.code}")
    check_outcome(result, secrets=ALL_SECRETS, one_line=argv[-1:] != ["check"])


def _subprocess(argv: list[str], cwd: Path) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    env["BINGO_PLUGINS"] = "testplug"
    proc = subprocess.run(
        [BIN, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return Outcome(argv, proc.returncode, proc.stdout, proc.stderr)


def _printable(argv: list[str]) -> bool:
    return all("\x00" not in a for a in argv)


@settings(FUZZ, max_examples=4)
@given(argv=argvs().filter(_printable))
def test_random_command_lines_through_the_console_script(
    cli_config: Path, seed: Any, argv: list[str]
) -> None:
    seed()
    result = _subprocess(["-c", str(cli_config), *argv], cli_config.parent)
    check_outcome(result, secrets=ALL_SECRETS, one_line=argv[-1:] != ["check"])


@pytest.mark.parametrize(
    "argv",
    [
        ["enqueue", "test:typed", "--payload", "{"],
        ["tasks", "list", "--state", "dead"],
        ["--set", "nosuch", "stats"],
        ["stats", "--bogus"],
    ],
)
def test_known_bad_lines_through_the_console_script(
    cli_config: Path, seed: Any, argv: list[str]
) -> None:
    seed()
    result = _subprocess(["-c", str(cli_config), *argv], cli_config.parent)
    check_outcome(result, secrets=ALL_SECRETS)
    assert result.code == 2, result
