"""The plugin manager: loads ``bingo.plugins`` entry points and collects registrations."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from ..errors import PluginLoadError
from ..registry import Registry, ScheduleRegister, SettingsRegister, TaskRegister
from . import hookspecs

log = logging.getLogger("bingo.plugins")

ENTRY_POINT_GROUP = "bingo.plugins"
#: Comma-separated plugin names; when set, only these entry points are loaded.
ALLOW_ENV = "BINGO_PLUGINS"
hookimpl = pluggy.HookimplMarker("bingo")


@dataclass
class PluginInfo:
    """What ``bingo-scheduler plugins`` shows for one plugin."""

    name: str
    version: str = ""
    distribution: str = ""
    module: str = ""
    hooks: list[str] = field(default_factory=list)
    task_types: list[str] = field(default_factory=list)
    error: str = ""


class PluginManager:
    """Bingo's pluggy manager.

    ``load()`` imports every entry point of the group (or those named in ``BINGO_PLUGINS``);
    a plugin that fails to import or to register is recorded in ``failures`` and left out,
    and the rest keep working.
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("bingo")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[PluginLoadError] = []

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``manager.hook.bingo_task_started(...)``)."""
        return self.pm.hook

    def add(self, plugin: object, name: str | None = None, *, version: str = "") -> str:
        """Register a plugin object or module directly (built-ins and tests)."""
        plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            self.pm.register(plugin, name=plugin_name)
        except Exception as exc:  # pluggy validates hookimpl signatures here
            self._fail(plugin_name, f"invalid hook implementation: {exc}")
            return plugin_name
        self.infos[plugin_name] = PluginInfo(
            name=plugin_name,
            version=version,
            module=getattr(plugin, "__name__", type(plugin).__module__),
            hooks=sorted(
                h.name for h in self.pm.get_hookcallers(plugin) or [] if h.name.startswith("bingo_")
            ),
        )
        return plugin_name

    def installed_names(self) -> list[str]:
        """Every plugin this manager knows of: the installed entry points of the group
        (loaded or not) and the plugins registered directly."""
        names = [ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
        return [*names, *(n for n in self.infos if n not in names)]

    def notify(self, hook_name: str, **kwargs: Any) -> list[str]:
        """Call every implementation of a notification hook (``bingo_startup``,
        ``bingo_shutdown``, the task lifecycle hooks) on its own: one that raises is logged
        with its plugin's name and the rest still run. Returns the failing plugins' names."""
        failed = []
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
            if not call_guarded(impl, hook_name, kwargs):
                failed.append(impl.plugin_name)
        return failed

    def load(self, entry_points: Iterable[metadata.EntryPoint] | None = None) -> None:
        """Import and register the plugins exposed under ``bingo.plugins``."""
        allow_raw = os.environ.get(ALLOW_ENV, "").strip()
        allow = {n.strip() for n in allow_raw.split(",") if n.strip()} if allow_raw else None
        eps = (
            entry_points
            if entry_points is not None
            else metadata.entry_points(group=ENTRY_POINT_GROUP)
        )
        for ep in sorted(eps, key=lambda e: e.name):
            if allow is not None and ep.name not in allow:
                continue
            if ep.name in self.infos:
                continue
            dist = getattr(ep, "dist", None)
            try:
                module = ep.load()
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._fail(ep.name, f"failed to import {ep.value}: {type(exc).__name__}: {exc}")
                continue
            name = self.add(module, ep.name, version=dist.version if dist else "")
            if name in self.infos and dist is not None:
                self.infos[name].distribution = dist.name

    def _fail(self, name: str, reason: str) -> None:
        error = PluginLoadError(name, reason)
        self.failures.append(error)
        info = self.infos.setdefault(name, PluginInfo(name=name))
        info.error = reason
        log.error("plugin %s is broken and was not loaded: %s", name, reason)
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)

    def collect(self, bind: Callable[[Registry], Mapping[str, Any]] | None = None) -> Registry:
        """Call every plugin's register hooks, each separately, and return the registry.

        Settings models and task types come first; then ``bind(registry)`` (when given)
        validates each plugin's settings, which each plugin's ``bingo_register_schedules``
        sees as ``register.settings``. A plugin whose hook raises is reported and
        everything it registered is dropped.
        """
        registry = Registry()
        for name in list(self.infos):
            plugin = self.pm.get_plugin(name)
            if plugin is None:
                continue
            for hook_name, make in (
                ("bingo_register_settings", SettingsRegister),
                ("bingo_register_tasks", TaskRegister),
            ):
                if not self._call_register(registry, name, plugin, hook_name, make):
                    break
        bound = bind(registry) if bind is not None else {}

        def schedules(reg: Registry, name: str) -> ScheduleRegister:
            return ScheduleRegister(reg, name, bound.get(name))

        for name in list(self.infos):
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                self._call_register(registry, name, plugin, "bingo_register_schedules", schedules)
        return registry

    def _call_register(
        self,
        registry: Registry,
        name: str,
        plugin: object,
        hook_name: str,
        make: Callable[[Registry, str], Any],
    ) -> bool:
        impls = [
            impl
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls()
            if impl.plugin is plugin
        ]
        for impl in impls:
            register = make(registry, name)
            before = (
                dict(registry.tasks),
                list(registry.schedules),
                dict(registry.settings_models),
            )
            try:
                impl.function(register)
            except Exception as exc:
                registry.tasks, registry.schedules, registry.settings_models = before
                for task_name in [t for t, tt in registry.tasks.items() if tt.plugin == name]:
                    del registry.tasks[task_name]
                registry.schedules = [s for s in registry.schedules if s.source != f"plugin:{name}"]
                registry.settings_models.pop(name, None)
                self._fail(name, f"{hook_name} failed: {type(exc).__name__}: {exc}")
                return False
            if isinstance(register, TaskRegister):
                self.infos[name].task_types.extend(register.added)
        return True


def call_guarded(impl: Any, hook_name: str, kwargs: dict[str, Any]) -> bool:
    """Call one hook implementation with the arguments it accepts; log (with the plugin's
    name, one line; the traceback at debug level) and swallow what it raises. Returns
    whether it succeeded."""
    try:
        impl.function(**{a: kwargs[a] for a in impl.argnames})
    except Exception as exc:
        log.error(
            "plugin %s: %s failed: %s: %s", impl.plugin_name, hook_name, type(exc).__name__, exc
        )
        log.debug("plugin %s: %s traceback", impl.plugin_name, hook_name, exc_info=True)
        return False
    return True


def load_plugins(
    *extra: object,
    entry_points: bool = True,
    bind: Callable[[PluginManager, Registry], Mapping[str, Any]] | None = None,
) -> tuple[PluginManager, Registry]:
    """Build a manager with the installed plugins (and ``extra`` objects); collect them.
    ``bind(manager, registry)`` validates the plugins' settings before their schedules
    are registered (see :meth:`PluginManager.collect`)."""
    manager = PluginManager()
    if entry_points:
        manager.load()
    for obj in extra:
        manager.add(obj)
    if bind is None:
        return manager, manager.collect()
    return manager, manager.collect(lambda registry: bind(manager, registry))
