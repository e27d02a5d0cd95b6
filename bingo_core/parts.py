"""The parts of one Bingo process, built lazily from its settings: the settings, the
plugin manager and registry (with each plugin's settings bound), the Redis brokers, the
inspector and the database sessions.

:class:`~bingo_core.app.App` adds the clients on top; a
:class:`~bingo_core.client.Client` made without an app builds a :class:`Parts` of its own.
Every part's module is imported when the part is first built: the settings models
(pydantic, YAML) with the settings, the plugin manager and registry with the plugins, the
brokers (redis) with the brokers, the store (SQLAlchemy) with the database. So a command
pays for what it uses: ``--help`` for none of them, ``cron next`` for the settings, ``stats``
for the settings and Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Self
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from .broker import AsyncBroker, Broker
    from .config import Settings
    from .config.settings import RedisSettings
    from .inspector import Inspector
    from .plugins import PluginManager
    from .registry import Registry
    from .store import Sessions
    from .tracing import Tracing

#: Whether this process has said that it uses a Redis no config file named (once).
_told_defaults = False


class Parts:
    """Every part of one Bingo process but its clients, built lazily and closed together.

    :param settings: validated settings; when omitted they are loaded from ``config``
        (else ``$BINGO_CONFIG``, else ``config/bingo-scheduler.yaml``) and ``overrides``.
    :param registry: a registry built elsewhere (tests register plugins inline);
        otherwise the installed plugins (entry points ``bingo.plugins``) and ``plugins``.
    :param manager: the plugin manager that built ``registry``.
    :param args: the parsed command line, when the CLI built the app.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        config: str | None = None,
        overrides: Mapping[str, str] | None = None,
        registry: Registry | None = None,
        manager: PluginManager | None = None,
        plugins: Sequence[object] = (),
        entry_points: bool = True,
        args: argparse.Namespace | None = None,
    ) -> None:
        self.config_path = config
        self.overrides = dict(overrides or {})
        self.args = args if args is not None else argparse.Namespace()
        self._settings = settings
        self._registry = registry
        self._manager = manager
        self._extra_plugins = tuple(plugins)
        self._entry_points = entry_points
        self._async_broker: AsyncBroker | None = None
        self._task_type_hint: str | None = None
        #: The settings are loaded here (not given): a missing config file is told.
        self._loads_settings = settings is None

    @classmethod
    def for_client(
        cls, settings: Settings | None, redis_url: str | None, registry: Registry | None
    ) -> Self:
        """The parts of a client made without an app: ``redis_url``, when given, in place
        of the settings' ``redis.url``."""
        if settings is not None and redis_url:
            settings = settings.model_copy(deep=True)
            settings.redis.url = redis_url
            return cls(settings, registry=registry)
        if settings is None and redis_url:
            return cls(overrides={"redis.url": redis_url}, registry=registry)
        return cls(settings, registry=registry)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Self:
        """The parts the command line asks for (``-c FILE``, ``--set``)."""
        return cls(config=args.config, overrides=getattr(args, "overrides", None), args=args)

    # -- settings and plugins -------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        """The validated settings (loaded on first use)."""
        if self._settings is None:
            # lazy: the YAML loader and the settings models (see the module's note)
            from .config import load_settings

            self._settings = load_settings(self.config_path, overrides=self.overrides or None)
        return self._settings

    def expect_task_type(self, task_type: str) -> None:
        """This process needs the plugins for ``task_type`` only (``enqueue``): import just
        the plugins that registered it, as the plugin cache knows them, or every plugin when
        it does not (see :mod:`~bingo_core.plugins.discovery`). Call it before the plugins
        are first used."""
        self._task_type_hint = task_type

    @cached_property
    def _plugins(self) -> tuple[PluginManager, Registry]:
        # lazy: pluggy, the registry and the settings models (see the module's note)
        from .config import bind_plugin_settings
        from .plugins import PluginManager, load_plugins
        from .plugins.builtin import RedisIdempotency

        manager, registry = self._manager, self._registry

        def bind(manager: PluginManager, registry: Registry) -> dict[str, Any]:
            # Each plugin's plugins.<name> section, validated by its own model (defaults
            # when the file has none): ctx.settings, and register.settings for schedules.
            return bind_plugin_settings(
                self.settings, registry.settings_models, manager.installed_names()
            )

        if registry is None:
            manager, registry = load_plugins(
                *self._extra_plugins,
                entry_points=self._entry_points,
                bind=bind,
                for_task_type=self._task_type_hint,
            )
        else:
            if manager is None:
                manager = PluginManager()
            bind(manager, registry)
        builtin = manager.pm.get_plugin(RedisIdempotency.NAME)
        if builtin is not None and getattr(builtin, "app", None) is not self:
            manager.pm.unregister(builtin)  # a manager shared by an earlier app
            builtin = None
        if builtin is None:
            manager.add(RedisIdempotency(self), RedisIdempotency.NAME)
        return manager, registry

    @property
    def manager(self) -> PluginManager:
        """The pluggy manager with the installed plugins and the built-in ones."""
        return self._plugins[0]

    @property
    def registry(self) -> Registry:
        """Task types, schedules and settings models the plugins registered."""
        return self._plugins[1]

    def plugin_settings(self, plugin: str) -> Any:
        """The validated settings of ``plugin`` (None when it has neither model nor section)."""
        self._plugins  # noqa: B018 - binds the sections on first use
        return self.settings.plugin_settings.get(plugin)

    def server_timezone(self) -> str:
        """``server.timezone``; read alone (see :func:`~bingo_core.config.files.server_timezone`)
        while the settings are not loaded, so a command that needs only the zone (``cron
        next``) does not load the settings models."""
        if self._settings is None and self._loads_settings:
            # lazy: the file reader only (PyYAML), not the settings models
            from .config.files import server_timezone

            zone = server_timezone(self.config_path, self.overrides or None)
            if zone is not None:
                return zone
        return self.settings.server.timezone

    @cached_property
    def timezone(self) -> ZoneInfo:
        """The server's time zone (``server.timezone``)."""
        return ZoneInfo(self.settings.server.timezone)

    @cached_property
    def tracing(self) -> Tracing | None:
        """The spans of ``tracing.enabled``; None when it is off (then OpenTelemetry is
        never imported)."""
        if not self.settings.tracing.enabled:
            return None
        try:
            # lazy: OpenTelemetry (the otel extra) only when tracing is on
            from .tracing import Tracing
        except ImportError as exc:
            # lazy: the error classes, for this one line
            from .errors import ConfigError

            raise ConfigError(
                f"tracing.enabled is true but {exc.name or 'opentelemetry'} is not "
                "installed: pip install 'bingo-scheduler[otel]'"
            ) from None
        return Tracing()

    # -- Redis ----------------------------------------------------------------------------
    def _redis_settings(self) -> RedisSettings:
        """``settings.redis``; the first time a process uses a Redis that no config file
        named, one line on stderr says so (see :func:`defaults_note`)."""
        global _told_defaults
        settings = self.settings
        # lazy: a stat of the embedded server's socket, no Redis client
        from .broker.embedded import socket_settings

        embedded = socket_settings(settings.redis)
        if embedded is not None:
            settings.redis = embedded
        if self._loads_settings and not _told_defaults:
            # lazy: the YAML loader (see the module's note)
            from .config.loader import defaults_note

            note = defaults_note(settings)
            if note is not None:
                _told_defaults = True
                with contextlib.suppress(OSError, ValueError):
                    print(note, file=sys.stderr)
        return settings.redis

    @cached_property
    def broker(self) -> Broker:
        """The synchronous broker (client, CLI, inspector)."""
        # lazy: keeps redis out of the CLI's start-up (see the module's note)
        from .broker import Broker

        return Broker(
            self._redis_settings(),
            zone=self.timezone,
            asynq_queues=self.settings.asynq.queues,
            asynq_redis=self.settings.asynq.redis,
        )

    def async_broker(self) -> AsyncBroker:
        """The asyncio broker of this process (worker, scheduler), made on first use; it
        belongs to the event loop that first uses it."""
        if self._async_broker is None:
            # lazy: keeps redis out of the CLI's start-up (see the module's note)
            from .broker import AsyncBroker

            self._async_broker = AsyncBroker(
                self._redis_settings(), zone=self.timezone, asynq_redis=self.settings.asynq.redis
            )
        return self._async_broker

    @cached_property
    def inspector(self) -> Inspector:
        """Read and act on queues, tasks, schedules and servers."""
        # lazy: the inspector and its records (see the module's note)
        from .inspector import Inspector

        return Inspector(self.broker)

    # -- the database ---------------------------------------------------------------------
    @cached_property
    def db(self) -> Sessions:
        """``db()`` -> a SQLAlchemy session on the configured store (engine on first use)."""
        # lazy: keeps SQLAlchemy out of the CLI's start-up (see the module's note)
        from .store import Sessions

        return Sessions(self.settings)

    # -- closing --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the synchronous connections and the database engine."""
        if "broker" in self.__dict__:
            self.broker.close()
            del self.__dict__["broker"]
        self.__dict__.pop("inspector", None)
        if "db" in self.__dict__:
            self.db.close()

    async def aclose(self) -> None:
        """Close the asyncio broker (and everything :meth:`close` closes)."""
        if self._async_broker is not None:
            broker, self._async_broker = self._async_broker, None
            await broker.close()
        if "db" in self.__dict__:
            # lazy: a coroutine runs under asyncio; the CLI's commands do not load it
            import asyncio

            await asyncio.to_thread(self.db.close)
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
