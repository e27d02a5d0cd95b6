"""The composition root: one :class:`App` builds every part of a Bingo process.

Settings, the plugin manager and registry, the Redis brokers, the inspector and the
database sessions come from :class:`~bingo_core.parts.Parts`; the app adds the clients.
The CLI, the daemon and :mod:`bingo_core.testing` all start from an ``App``. Nothing else
constructs these parts from settings.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from .parts import Parts

if TYPE_CHECKING:
    from .client import AsyncClient, Client


class App(Parts):
    """Every part of one Bingo process, built lazily and closed together: the
    :class:`~bingo_core.parts.Parts` (whose parameters it takes) and the clients on them.
    """

    @cached_property
    def client(self) -> Client:
        """A synchronous :class:`~bingo_core.client.Client` on this app."""
        # lazy: keeps redis out of the CLI's start-up (loaded when a command enqueues)
        from .client import Client

        return Client(app=self)

    def async_client(self) -> AsyncClient:
        """An asyncio client on :meth:`async_broker`."""
        # lazy: keeps redis out of the CLI's start-up (loaded when a command enqueues)
        from .client import AsyncClient

        return AsyncClient(app=self)

    def close(self) -> None:
        """Close the synchronous connections and the database engine."""
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()  # its own blocking connection (wait), not the app's
        super().close()
