"""Fixtures of the property tests: a clean environment and a daemon that never starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_support import clean_environ


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run the CLI from ``tmp_path`` with no ``BINGO_*`` variable but the plugin allow-list
    (the test plugin package), and with the daemon replaced: an argument vector that
    parses to "run the daemon" is refused by the test instead of serving forever."""
    import bingo_core.daemon

    def no_daemon(app: object) -> int:
        raise AssertionError("the generated command line would start the daemon")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bingo_core.daemon, "run_daemon", no_daemon)
    with clean_environ():
        yield tmp_path
