"""With no config file, the CLI and ``Client()`` say once on stderr that they use the
built-in defaults, naming the Redis they use; commands that need no Redis say nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = Path(sys.executable).with_name("bingo-scheduler")
NOTE = (
    "note: no config file (none given with -c or $BINGO_CONFIG, and no "
    "config/bingo-scheduler.yaml here): using the built-in defaults and Redis at "
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    return {**env, **extra}


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=60
    )


def test_the_cli_names_the_redis_it_uses(tmp_path: Path, redis_url: str) -> None:
    address = redis_url.removeprefix("redis://").removesuffix("/0")
    stats = _run(tmp_path, "stats", BINGO_REDIS__URL=redis_url)
    assert stats.returncode == 0, stats
    assert stats.stderr == f"{NOTE}{address} (from environment variable BINGO_REDIS__URL)\n"
    assert stats.stdout == "no queues yet\n"
    # The built-in Redis, named before anything is sent to it (a bad option: exit 2).
    bad = _run(tmp_path, "enqueue", "task:daily-stats", "--max-retry=-1")
    assert bad.returncode == 2, bad
    note, error = bad.stderr.splitlines()
    assert note == f"{NOTE}127.0.0.1:6379" and error.startswith("error: task 'task:daily-stats'")


def test_no_note_with_a_config_file_or_without_redis(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "config" / "bingo-scheduler.yaml"
    config.parent.mkdir()
    config.write_text(f'redis: {{url: "{redis_url}"}}\n')
    with_file = _run(tmp_path, "stats")
    assert (with_file.returncode, with_file.stderr) == (0, ""), with_file
    bare = tmp_path / "bare"
    bare.mkdir()
    for args in (["--help"], ["cron", "next", "@daily", "-n", "1"], ["plugin", "new", "my_thing"]):
        run = _run(bare, *args)
        assert run.returncode == 0, run
        assert "note:" not in run.stderr, (args, run.stderr)
    explicit = _run(bare, "--set", f"redis.url={redis_url}", "stats")
    assert (explicit.returncode, explicit.stderr) == (0, ""), explicit


def test_the_client_says_it_once(tmp_path: Path, redis_url: str) -> None:
    code = (
        "from bingo_core import Client\n"
        "for _ in range(2):\n"
        "    with Client() as client:\n"
        "        client.app.inspector.ping()\n"
        f"with Client(redis_url={redis_url!r}) as client:\n"
        "    client.app.inspector.ping()\n"
    )
    address = redis_url.removeprefix("redis://").removesuffix("/0")
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(BINGO_REDIS__URL=redis_url, BINGO_PLUGINS=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run
    notes = [line for line in run.stderr.splitlines() if line.startswith("note:")]
    assert notes == [f"{NOTE}{address} (from environment variable BINGO_REDIS__URL)"]
