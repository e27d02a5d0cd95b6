"""The worker's event loop: uvloop when installed and chosen, asyncio's otherwise; the
setting ``worker.eventLoop`` is validated in one line; the GC threshold while it runs."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bingo_core import eventloop
from bingo_core.config import load_settings
from bingo_core.errors import ConfigError

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None
ROOT = Path(__file__).resolve().parents[2]


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_asyncio_choice_runs_the_standard_loop() -> None:
    assert eventloop.run(loop_module(), "asyncio").startswith("asyncio")
    assert eventloop.running == "asyncio (worker.eventLoop: asyncio)"


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed")
def test_auto_uses_uvloop_when_installed() -> None:
    assert eventloop.run(loop_module(), "auto").startswith("uvloop")
    assert eventloop.running.startswith("uvloop ")


def test_auto_without_uvloop_runs_the_standard_loop(tmp_path: Path) -> None:
    """A process where uvloop cannot be imported (``sys.modules['uvloop'] = None``, as when
    it is not installed) runs on asyncio's loop and says why; ``uvloop`` is one line."""
    script = textwrap.dedent(
        """
        import logging, sys
        sys.modules["uvloop"] = None
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        from bingo_core import eventloop
        from bingo_core.errors import ConfigError

        async def main():
            import asyncio
            return type(asyncio.get_running_loop()).__module__

        print(eventloop.run(main(), "auto"), "|", eventloop.running)
        try:
            eventloop.run(main(), "uvloop")
        except ConfigError as exc:
            print("error:", exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=True,
    )
    module, name = out.stdout.splitlines()[0].split(" | ")
    assert module.startswith("asyncio") and name == "asyncio (uvloop not installed)"
    assert out.stdout.splitlines()[1] == (
        "error: worker.eventLoop is uvloop but uvloop is not installed "
        "(pip install 'bingo-scheduler[uvloop]')"
    )


def test_setting_is_validated_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(None, env={}).worker.event_loop == "auto"
    settings = load_settings(None, env={"BINGO_WORKER__EVENTLOOP": "asyncio"})
    assert settings.worker.event_loop == "asyncio"
    with pytest.raises(ConfigError) as info:
        load_settings(None, env={}, overrides={"worker.eventLoop": "tokio"})
    message = str(info.value)
    assert "worker.eventLoop" in message and "tokio" in message and "\n" not in message


def test_gc_threshold_is_raised_while_the_loop_runs_then_restored() -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])
    try:

        async def threshold() -> int:
            return gc.get_threshold()[0]

        assert eventloop.run(threshold(), "asyncio") == eventloop.GC_THRESHOLD
        assert gc.get_threshold()[0] == 700
        gc.set_threshold(1234, *before[1:])  # an application's own: kept
        assert eventloop.run(threshold(), "asyncio") == 1234
    finally:
        gc.set_threshold(*before)
