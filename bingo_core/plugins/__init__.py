"""Plugins: the hook specifications and the pluggy manager that loads entry points.

The names below load on first use, so ``bingo_core.plugins.marker`` (what a plugin module
needs) does not bring the manager, the registry and pydantic with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manager import ENTRY_POINT_GROUP, PluginInfo, PluginManager, load_plugins
    from .marker import hookimpl

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "PluginManager", "hookimpl", "load_plugins"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = ".marker" if name == "hookimpl" else ".manager"
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
