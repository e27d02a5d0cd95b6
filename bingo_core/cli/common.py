"""What every subcommand shares: loading config and plugins, output, errors."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..config import Settings, load_settings
from ..plugins import PluginManager, load_plugins
from ..registry import Registry


@dataclass
class App:
    """Lazily built pieces a subcommand may need."""

    args: argparse.Namespace

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.args.config, overrides=getattr(self.args, "overrides", None))

    @cached_property
    def _plugins(self) -> tuple[PluginManager, Registry]:
        manager, registry = load_plugins()
        # Validate each plugin's own settings section (plugins.<name>).
        self.settings.bind_plugin_settings(registry.settings_models)
        return manager, registry

    @property
    def manager(self) -> PluginManager:
        return self._plugins[0]

    @property
    def registry(self) -> Registry:
        return self._plugins[1]


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(rows: list[list[Any]], headers: list[str]) -> None:
    """Print a plain aligned table."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
