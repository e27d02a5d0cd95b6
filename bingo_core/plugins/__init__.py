"""Plugins: the hook specifications and the pluggy manager that loads entry points."""

from __future__ import annotations

from .manager import ENTRY_POINT_GROUP, PluginInfo, PluginManager, hookimpl, load_plugins

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "PluginManager", "hookimpl", "load_plugins"]
