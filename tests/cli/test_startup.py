"""The command line starts like a small tool: each command imports what it uses and no
more. Guarded by the modules a command leaves in ``sys.modules`` (run in a subprocess
through ``main``), never by timing: the libraries it must not load, and a ceiling on the
count that a new eager import of a large library would pass.

The plugin discovery cache (``bingo_core.plugins.discovery``) is what lets ``enqueue``
import only the plugin that registers its type; its tests are here too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).with_name("bingo-scheduler")
PROBE = """\
import sys
from bingo_core.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("MODULES " + " ".join(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""
#: Libraries no quick command needs (the daemon, the dashboard, a task's body use them).
HEAVY = {"sqlalchemy", "starlette", "uvicorn", "jinja2", "pymysql", "prometheus_client"}


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    return {**env, "XDG_CACHE_HOME": str(cache)}


def _modules(cwd: Path, cache: Path, *args: str) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=_env(cache),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run
    line = next(x for x in run.stderr.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


def _own(modules: set[str]) -> int:
    """How many modules a command loaded, leaving out the OpenTelemetry SDK's metrics,
    which redis-py imports whenever they are installed (the test extra installs the SDK; a
    user's install has none)."""
    return len({m for m in modules if not m.startswith("opentelemetry")})


def _top(modules: set[str]) -> set[str]:
    return {m.partition(".")[0] for m in modules}


def _cli(cwd: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], cwd=cwd, env=_env(cache), capture_output=True, text=True, timeout=60
    )


def test_help_loads_no_library(tmp_path: Path) -> None:
    modules = _modules(tmp_path, tmp_path / "cache", "--help")
    assert not _top(modules) & {"redis", "pydantic", "yaml", "croniter", "pluggy", "asyncio"}
    assert not _top(modules) & HEAVY
    assert "importlib.metadata" not in modules
    assert len(modules) < 200, len(modules)


def test_cron_next_reads_the_zone_without_the_settings_models(tmp_path: Path) -> None:
    config = tmp_path / "bingo.yaml"
    config.write_text("server: {timezone: Asia/Shanghai}\nredis: {host: 'nowhere:1'}\n")
    modules = _modules(tmp_path, tmp_path / "cache", "-c", str(config), "cron", "next", "@daily")
    assert not _top(modules) & ({"redis", "pydantic", "pluggy", "asyncio"} | HEAVY)
    assert len(modules) < 260, len(modules)
    out = _cli(tmp_path, tmp_path / "cache", "-c", str(config), "cron", "next", "0 2 * * *")
    assert out.stdout.splitlines()[0].endswith("T02:00:00+08:00"), out


def test_a_bad_zone_is_still_the_settings_error(tmp_path: Path) -> None:
    config = tmp_path / "bingo.yaml"
    config.write_text("server: {timezone: Mars/Olympus}\n")
    out = _cli(tmp_path, tmp_path / "cache", "-c", str(config), "cron", "next", "@daily")
    assert out.returncode == 2
    assert out.stderr.startswith("error: config key server.timezone: 'Mars/Olympus' is not valid")


@pytest.mark.parametrize("command", [["stats"], ["tasks", "list"]])
def test_reads_load_no_plugin(tmp_path: Path, redis_url: str, command: list[str]) -> None:
    modules = _modules(tmp_path, tmp_path / "cache", "--set", f"redis.url={redis_url}", *command)
    assert not _top(modules) & ({"pluggy", "croniter"} | HEAVY)
    assert not {m for m in modules if m.startswith(("bingo_plugin", "bingo_test"))}
    assert "bingo_core.broker.async_broker" not in modules
    # The records of the other reads load with the first read that makes one.
    other = {f"bingo_core.records.{m}" for m in ("schedules", "tasks", "problems", "figures")}
    assert not modules & other, modules & other
    # Only the command's own module and parser: not the other commands'.
    assert not {m for m in modules if m.startswith("bingo_core.cli.")} - {
        "bingo_core.cli.main",
        "bingo_core.cli.common",
        f"bingo_core.cli.{command[0]}",
    }
    assert _own(modules) < 430, _own(modules)


def test_enqueue_imports_only_the_plugin_of_its_type(tmp_path: Path, redis_url: str) -> None:
    cache = tmp_path / "cache"
    args = ["--set", f"redis.url={redis_url}", "enqueue", "task:daily-stats"]
    # The first command loads every plugin and writes the cache; the next one uses it.
    first = _modules(tmp_path, cache, *args)
    assert "bingo_test_plugin" in first
    files = list((cache / "bingo-scheduler").glob("plugins-*.json"))
    assert len(files) == 1
    cached = {p["name"]: p["task_types"] for p in json.loads(files[0].read_text())["plugins"]}
    assert cached["daily_stats"] == ["task:daily-stats"]
    assert cached["broken_import"] is None  # broken: nothing known
    modules = _modules(tmp_path, cache, *args)
    assert "bingo_plugin_daily_stats" in modules
    loaded = _top(modules) & ({"bingo_test_plugin", "bingo_plugin_mail_notify"} | HEAVY)
    assert not loaded
    # The warning about a queue no worker consumes reads the heartbeats alone: not the
    # inspector, the rest of the read side or its records.
    read_side = {"bingo_core.inspector", "bingo_core.broker.reader", "bingo_core.records.queues"}
    assert not modules & read_side, modules & read_side
    assert _own(modules) < 465, _own(modules)


def test_broken_plugins_read_the_same_with_and_without_the_cache(
    tmp_path: Path, redis_url: str
) -> None:
    cache = tmp_path / "cache"
    runs = [_cli(tmp_path, cache, "--set", f"redis.url={redis_url}", "plugins") for _ in "12"]
    assert runs[0].stdout == runs[1].stdout and "BROKEN" in runs[0].stdout
    assert list((cache / "bingo-scheduler").glob("plugins-*.json"))
    unknown = _cli(tmp_path, cache, "--set", f"redis.url={redis_url}", "enqueue", "task:nope")
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "error: unknown task type 'task:nope': no installed plugin registers it (broken "
        "plugin(s): broken_import, broken_register; see 'bingo-scheduler plugins')\n"
    )


def test_a_stale_cache_falls_back_to_every_plugin(tmp_path: Path, redis_url: str) -> None:
    cache = tmp_path / "cache"
    base = ["--set", f"redis.url={redis_url}"]
    assert _cli(tmp_path, cache, *base, "plugins").returncode == 0
    [file] = (cache / "bingo-scheduler").glob("plugins-*.json")
    data = json.loads(file.read_text())
    for plugin in data["plugins"]:  # the cache says mail_notify registers test:record
        if plugin["name"] == "testplug":
            plugin["task_types"] = []
        if plugin["name"] == "mail_notify":
            plugin["task_types"] = ["test:record"]
    file.write_text(json.dumps(data))
    payload = '{"path": "/dev/null", "value": "x"}'
    run = _cli(tmp_path, cache, *base, "enqueue", "test:record", "--payload", payload)
    assert run.returncode == 0, run
    assert len(run.stdout.strip()) == 32


def test_installing_a_distribution_makes_the_cache_stale(tmp_path: Path) -> None:
    code = (
        "import sys; from bingo_core.plugins import discovery as d\n"
        "before = d.distributions_key()\n"
        "import pathlib; p = pathlib.Path(sys.argv[1]); (p / 'x_y-1.0.dist-info').mkdir()\n"
        "print(before != d.distributions_key())\n"
    )
    site = tmp_path / "site"
    site.mkdir()
    env = {**_env(tmp_path), "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(site)], env=env, capture_output=True, text=True
    )
    assert out.stdout == "True\n", out


def test_the_command_is_told_before_parsing() -> None:
    from bingo_core.cli.main import command_named

    assert command_named(["-c", "stats", "tasks", "list"]) == "tasks"  # -c's value skipped
    assert command_named(["--set", "a.b=c", "--debug", "cron", "next"]) == "cron"
    assert command_named(["-cfile.yaml", "plugin", "new", "x"]) == "plugin"
    for words in (["--help"], [], ["nope"], ["--", "stats"], ["--conf", "f.yaml", "stats"]):
        assert command_named(words) is None  # the full parser says what is wrong


GC_PROBE = """\
import gc, sys
from bingo_core.cli.main import main
runs = []
gc.callbacks.append(lambda phase, info: runs.append(1) if phase == "start" else None)
given = sys.argv[1] == "given"
sys.argv[1:2] = []
code = main(sys.argv[1:]) if given else main()
print(f"GC {len(runs)} {gc.isenabled()} {gc.get_freeze_count() > 0}", file=sys.stderr)
"""


def _gc(cwd: Path, *args: str) -> tuple[int, bool, bool]:
    run = subprocess.run(
        [sys.executable, "-c", GC_PROBE, *args],
        cwd=cwd,
        env=_env(cwd / "cache"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(x for x in run.stderr.splitlines() if x.startswith("GC "))
    runs, enabled, frozen = line.split()[1:]
    return int(runs), enabled == "True", frozen == "True"


def test_a_quick_command_runs_without_the_collector(tmp_path: Path, redis_url: str) -> None:
    base = ["--set", f"redis.url={redis_url}"]
    # In-process: no collection while it runs, the collector on again after, nothing frozen.
    assert _gc(tmp_path, "given", *base, "stats") == (0, True, False)
    # As the program (no argv given): what it made is frozen for the exit.
    assert _gc(tmp_path, "program", *base, "tasks", "list") == (0, True, True)


def test_a_lasting_command_runs_with_the_collector(tmp_path: Path, redis_url: str) -> None:
    base = ["--set", f"redis.url={redis_url}"]
    runs, enabled, _ = _gc(tmp_path, "given", *base, "tasks", "wait", "0" * 32, "--timeout", "0")
    assert runs > 0 and enabled


QUICK_PROBE = """\
import os, sys
from bingo_core.cli.main import main
code = main(sys.argv[1:])
print(f"AFTER {code} {os.environ.get('PYDANTIC_DISABLE_PLUGINS')}", file=sys.stderr)
"""


def test_a_quick_command_turns_pydantic_plugins_back_on(tmp_path: Path, redis_url: str) -> None:
    # A quick command runs without pydantic's plugins; after it they are on again (a
    # program that called main goes on as before).
    run = subprocess.run(
        [sys.executable, "-c", QUICK_PROBE, "--set", f"redis.url={redis_url}", "stats"],
        cwd=tmp_path,
        env={k: v for k, v in _env(tmp_path / "cache").items() if not k.startswith("PYDANTIC_")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [x for x in run.stderr.splitlines() if x.startswith("AFTER ")]
    assert lines == ["AFTER 0 None"], run
