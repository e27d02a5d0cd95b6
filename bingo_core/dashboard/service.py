"""Serving the dashboard: uvicorn inside the daemon's event loop, beside the worker.

:class:`DashboardService` has ``start()`` / ``stop()`` like the daemon's other parts. It
runs the :class:`~.sampler.Sampler` always (every daemon keeps the samples), and serves
the dashboard at ``server.addr`` when ``feature.queueDash`` and ``dashboard.enabled`` are
on (or when asked to: ``bingo-scheduler dashboard``). A placeholder or empty
``server.key`` is refused beyond loopback; on loopback an empty key is replaced by a
one-time key, logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import BingoError
from .sampler import Sampler
from .security import check_key_policy, is_loopback

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("bingo.dashboard")


def listen_address(addr: str) -> tuple[str, int]:
    """``server.addr`` (``:8080``, ``127.0.0.1:8080``, ``[::1]:8080``) as (host, port);
    an empty host means every interface."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def wanted(app: App) -> bool:
    """Whether the daemon serves the dashboard (``feature.queueDash`` and
    ``dashboard.enabled``)."""
    settings = app.settings
    return bool(settings.feature.queue_dash and settings.dashboard.enabled)


class DashboardService:
    """The sampler, and the dashboard served by uvicorn on the running loop."""

    def __init__(self, app: App, *, serve: bool | None = None) -> None:
        self.app = app
        self.serve = wanted(app) if serve is None else serve
        self.sampler = Sampler(
            app.async_broker(),
            roles=["dashboard"] if self.serve else [],
            name=app.settings.server.name,
        )
        self.server: Any = None
        self.url = ""
        self._task: asyncio.Task[None] | None = None
        self._starlette: Any = None

    async def start(self, *, strict: bool = False) -> DashboardService:
        """Start the sampler and (when serving) the web server. A refused key or an
        address in use is logged in one line and the daemon goes on without the
        dashboard, unless ``strict`` (the ``dashboard`` command), where it is raised."""
        self.sampler.start()
        if not self.serve:
            return self
        try:
            self._listen()
        except BingoError as exc:
            if strict:
                await self.sampler.stop()
                raise
            log.error("%s", exc)
        return self

    def _listen(self) -> None:
        # lazy: a daemon that does not serve the dashboard (the sampler only) starts
        # without uvicorn, Starlette and Jinja2
        import uvicorn

        from .app import create_app

        settings = self.app.settings
        host, port = listen_address(settings.server.addr)
        check_key_policy(host, settings.server.key)
        key = settings.server.key
        if not key:
            key = secrets.token_urlsafe(18)
            log.warning(
                "server.key is empty: log in to the dashboard with the one-time key %s "
                "(valid until this process stops; set server.key to keep one)",
                key,
            )
        sock = _bind(host, port)
        self._starlette = create_app(self.app, key=key)
        config = uvicorn.Config(
            self._starlette,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            # the client address comes from X-Forwarded-For only for the peers in
            # dashboard.trustedProxies (the security middleware), never from uvicorn's list
            proxy_headers=False,
            timeout_graceful_shutdown=3,
        )
        self.server = _server(config)
        shown = host if host and is_loopback(host) else (host or "0.0.0.0")
        self.url = f"http://{shown}:{sock.getsockname()[1]}/queue"
        self._task = asyncio.get_running_loop().create_task(
            self.server.serve(sockets=[sock]), name="bingo-dashboard"
        )
        log.info("dashboard at %s (JSON API under /queue/api, /metrics, /healthz)", self.url)

    async def wait(self) -> None:
        """Until the web server ends (it ends when :meth:`stop` is called)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop the web server (open requests get a few seconds) and the sampler."""
        if self.server is not None and self._task is not None:
            self.server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 10)
            except TimeoutError:
                self.server.force_exit = True
                with contextlib.suppress(Exception):
                    await self._task
            except Exception:
                log.warning("dashboard stopped with an error", exc_info=True)
        await self.sampler.stop()
        if self._starlette is not None:
            await asyncio.to_thread(self._starlette.state.dash.close)


def _server(config: Any) -> Any:
    """uvicorn's server, without its signal handlers (the daemon owns the signals)."""
    # lazy: keeps uvicorn out of a daemon that does not serve the dashboard (see _listen)
    import uvicorn

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Quiet(config)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it a response's two writes wait out a delayed ACK (40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host or "0.0.0.0", port))  # server.addr ":port": every interface
    except OSError as exc:
        sock.close()
        where = f"{host or '0.0.0.0'}:{port}"
        raise BingoError(
            f"dashboard not started: cannot listen on {where} (server.addr): {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(True)
    return sock
