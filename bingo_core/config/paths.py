"""Where the configuration is looked for: standard library only, so the command line can
name it in ``--help`` without loading the settings models."""

from __future__ import annotations

from pathlib import Path

#: The file used when no path is given and ``$BINGO_CONFIG`` is not set.
DEFAULT_CONFIG_PATH = Path("config") / "bingo-scheduler.yaml"
