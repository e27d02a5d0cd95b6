"""The plugin manager: loads ``bingo.plugins`` entry points and collects registrations."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from ..errors import PluginLoadError, TaskTypeConflict
from ..registry import (
    MiddlewareRegister,
    Registry,
    ScheduleRegister,
    SettingsRegister,
    TaskRegister,
)
from . import discovery, hookspecs
from .discovery import ENTRY_POINT_GROUP
from .marker import PROJECT

if TYPE_CHECKING:
    from importlib import metadata

log = logging.getLogger("bingo.plugins")

__all__ = ["ALLOW_ENV", "ENTRY_POINT_GROUP", "PluginInfo", "PluginManager", "load_plugins"]

#: Comma-separated plugin names; when set, only these entry points are loaded.
ALLOW_ENV = "BINGO_PLUGINS"


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
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[PluginLoadError] = []
        #: The installed plugins, once :meth:`load` or :meth:`installed_names` asked.
        self._installed: discovery.Installed | None = None

    def installed(self) -> discovery.Installed:
        """The installed ``bingo.plugins`` entry points (see :mod:`.discovery`)."""
        if self._installed is None:
            self._installed = discovery.installed()
        return self._installed

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
        names = [ep.name for ep in self.installed().entries]
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

    def load(
        self,
        entry_points: Iterable[metadata.EntryPoint | discovery.PluginEntry] | None = None,
        *,
        only: Collection[str] | None = None,
    ) -> None:
        """Import and register the plugins exposed under ``bingo.plugins`` (``only``: just
        those of these names)."""
        allow_raw = os.environ.get(ALLOW_ENV, "").strip()
        allow = {n.strip() for n in allow_raw.split(",") if n.strip()} if allow_raw else None
        eps = entry_points if entry_points is not None else self.installed().entries
        for ep in sorted(eps, key=lambda e: e.name):
            if allow is not None and ep.name not in allow:
                continue
            if only is not None and ep.name not in only:
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

        Settings models, task types and middleware come first; then ``bind(registry)`` (when given)
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
                ("bingo_register_middleware", MiddlewareRegister),
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
                list(registry.middleware),
            )
            try:
                impl.function(register)
            except Exception as exc:
                (
                    registry.tasks,
                    registry.schedules,
                    registry.settings_models,
                    registry.middleware,
                ) = before
                registry.drop_plugin(name)
                if isinstance(exc, TaskTypeConflict):
                    self._conflict(registry, exc)
                else:
                    self._fail(name, f"{hook_name} failed: {type(exc).__name__}: {exc}")
                return False
            if isinstance(register, TaskRegister):
                self.infos[name].task_types.extend(register.added)
        return True

    def _conflict(self, registry: Registry, exc: TaskTypeConflict) -> None:
        """Fail every plugin that registers the task type (each named, each dropped
        whole): which one loaded first must never decide who handles a type."""
        registry.conflicts[exc.task_type] = list(exc.plugins)
        for name in dict.fromkeys(exc.plugins):
            if self.pm.get_plugin(name) is None:
                continue  # failed already (an earlier conflict)
            registry.drop_plugin(name)
            if name in self.infos:
                self.infos[name].task_types.clear()
            self._fail(name, str(exc))


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
    for_task_type: str | None = None,
) -> tuple[PluginManager, Registry]:
    """Build a manager with the installed plugins (and ``extra`` objects); collect them.
    ``bind(manager, registry)`` validates the plugins' settings before their schedules
    are registered (see :meth:`PluginManager.collect`).

    ``for_task_type``: the caller needs only that task type (``enqueue``): when the
    discovery cache names the plugins that register it, only those are imported; when it
    does not, or they no longer register it, every plugin is. After every plugin was
    loaded, the cache is written with the task types each registered.
    """
    if entry_points and for_task_type is not None:
        manager = PluginManager()
        providers = manager.installed().providers(for_task_type)
        if providers is not None:
            registry = _build(manager, extra, bind, only=providers)
            if for_task_type in registry.tasks or for_task_type in registry.conflicts:
                return manager, registry
    manager = PluginManager()
    registry = _build(manager, extra, bind, entry_points=entry_points)
    if entry_points:
        installed = manager.installed()
        names = {entry.name for entry in installed.entries}
        known = {
            name: tuple(info.task_types)
            for name, info in manager.infos.items()
            if not info.error and name in names
        }
        if not installed.cached or dict(installed.task_types) != known:
            discovery.remember(installed.entries, known)
    return manager, registry


def _build(
    manager: PluginManager,
    extra: Iterable[object],
    bind: Callable[[PluginManager, Registry], Mapping[str, Any]] | None,
    *,
    entry_points: bool = True,
    only: Collection[str] | None = None,
) -> Registry:
    if entry_points:
        manager.load(only=only)
    for obj in extra:
        manager.add(obj)
    if bind is None:
        return manager.collect()
    return manager.collect(lambda registry: bind(manager, registry))
