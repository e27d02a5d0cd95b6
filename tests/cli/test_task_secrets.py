"""A plugin's ``SecretStr`` setting in what a task leaves behind, with a real daemon: its
error (``tasks show``, the API's record) and its result are masked as the log is."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import Daemon, cli, wait_until, write_config

pytestmark = pytest.mark.slow

#: The setting's value; its name (``webhook``) sounds like no secret: only its type says so.
SECRET = "hush-hush-7391"

PLUGIN = '''
from pydantic import BaseModel, SecretStr

from bingo_core.plugins import hookimpl
from bingo_core import SkipRetry


class HookSettings(BaseModel):
    webhook: SecretStr


def _url(ctx):
    return "https://hooks.example/" + ctx.settings.webhook.get_secret_value()


def handle_fail(ctx, payload):
    """Fail, naming the secret."""
    raise SkipRetry("could not post to " + _url(ctx))


def handle_echo(ctx, payload):
    """Return the secret."""
    return {"posted_to": _url(ctx)}


@hookimpl
def bingo_register_settings(register):
    register(HookSettings)


@hookimpl
def bingo_register_tasks(register):
    register("hook:fail", handle_fail, max_retry=0)
    register("hook:echo", handle_echo)
'''


def _plugin(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "plugins"
    dist = folder / "bingo_hook_plug-0.1.dist-info"
    dist.mkdir(parents=True)
    (folder / "bingo_hook_plug.py").write_text(textwrap.dedent(PLUGIN))
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bingo-hook-plug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[bingo.plugins]\nhook_plug = bingo_hook_plug\n")
    paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths), "BINGO_PLUGINS": "hook_plug"}


def _show(cfg: Path, task_id: str, env: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(cli(cfg, "tasks", "show", task_id, "--json", env=env).stdout))


def test_a_plugin_secret_is_masked_in_the_stored_error_and_result(
    tmp_path: Path, redis_url: str
) -> None:
    env = _plugin(tmp_path)
    cfg = write_config(
        tmp_path / "bingo.yaml", redis_url, plugins={"hook_plug": {"webhook": SECRET}}
    )
    daemon = Daemon(cfg, env=env)
    try:
        daemon.wait_for("worker ready")
        failed = cli(cfg, "enqueue", "hook:fail", env=env).stdout.strip()
        echoed = cli(cfg, "enqueue", "hook:echo", "--retention", "1h", env=env).stdout.strip()
        wait_until(lambda: _show(cfg, failed, env)["state"] == "archived", 20, "task archived")
        wait_until(lambda: _show(cfg, echoed, env)["state"] == "completed", 20, "task done")
        error = _show(cfg, failed, env)["error"]
        assert error.startswith("SkipRetry: could not post to https://hooks.example/***"), error
        result = _show(cfg, echoed, env)["result"]
        assert result == {"posted_to": "https://hooks.example/***"}
        plain = cli(cfg, "tasks", "show", failed, env=env).stdout
        assert "hooks.example/***" in plain
        assert daemon.stop() == 0
        assert "hooks.example/***" in daemon.log
        for text in (error, json.dumps(result), plain, daemon.log):
            assert SECRET not in text
    finally:
        daemon.close()
