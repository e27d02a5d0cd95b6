"""The composition root: one :class:`App` builds every part of a Bingo process.

Settings, the plugin manager and registry (with each plugin's settings bound), the Redis
brokers, the inspector, the client and the database sessions are built here, once, on
first use; the CLI, the daemon, :class:`~bingo_core.client.Client` and
:mod:`bingo_core.testing` all start from an ``App``. Nothing else constructs them from
settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from .broker import AsyncBroker, Broker
    from .client import AsyncClient, Client
    from .config import Settings
    from .inspector import Inspector
    from .plugins import PluginManager
    from .registry import Registry
    from .store import Sessions


class App:
    """Every part of one Bingo process, built lazily and closed together.

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

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> App:
        """The app the command line asks for (``-c FILE``, ``--set``)."""
        return cls(config=args.config, overrides=getattr(args, "overrides", None), args=args)

    # -- settings and plugins -------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        """The validated settings (loaded on first use)."""
        if self._settings is None:
            from .config import load_settings

            self._settings = load_settings(self.config_path, overrides=self.overrides or None)
        return self._settings

    @cached_property
    def _plugins(self) -> tuple[PluginManager, Registry]:
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
                *self._extra_plugins, entry_points=self._entry_points, bind=bind
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

    @cached_property
    def timezone(self) -> ZoneInfo:
        """The server's time zone (``server.timezone``)."""
        return ZoneInfo(self.settings.server.timezone)

    # -- Redis ----------------------------------------------------------------------------
    @cached_property
    def broker(self) -> Broker:
        """The synchronous broker (client, CLI, inspector)."""
        from .broker import Broker

        return Broker(self.settings.redis, zone=self.timezone)

    def async_broker(self) -> AsyncBroker:
        """The asyncio broker of this process (worker, scheduler), made on first use; it
        belongs to the event loop that first uses it."""
        if self._async_broker is None:
            from .broker import AsyncBroker

            self._async_broker = AsyncBroker(self.settings.redis, zone=self.timezone)
        return self._async_broker

    @cached_property
    def inspector(self) -> Inspector:
        """Read and act on queues, tasks, schedules and servers."""
        from .inspector import Inspector

        return Inspector(self.broker)

    @cached_property
    def client(self) -> Client:
        """A synchronous :class:`~bingo_core.client.Client` on this app."""
        from .client import Client

        return Client(app=self)

    def async_client(self) -> AsyncClient:
        """An asyncio client on :meth:`async_broker`."""
        from .client import AsyncClient

        return AsyncClient(app=self)

    # -- the database ---------------------------------------------------------------------
    @cached_property
    def db(self) -> Sessions:
        """``db()`` -> a SQLAlchemy session on the configured store (engine on first use)."""
        from .store import Sessions

        return Sessions(self.settings)

    # -- closing --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the synchronous connections and the database engine."""
        if "broker" in self.__dict__:
            self.broker.close()
            del self.__dict__["broker"]
        self.__dict__.pop("inspector", None)
        self.__dict__.pop("client", None)
        if "db" in self.__dict__:
            self.db.close()

    async def aclose(self) -> None:
        """Close the asyncio broker (and everything :meth:`close` closes)."""
        if self._async_broker is not None:
            broker, self._async_broker = self._async_broker, None
            await broker.close()
        if "db" in self.__dict__:
            import asyncio

            await asyncio.to_thread(self.db.close)
        self.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
