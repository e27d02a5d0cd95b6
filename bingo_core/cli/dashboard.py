"""``bingo-scheduler dashboard``: serve the dashboard alone (no scheduler, no worker).

It serves whatever ``feature.queueDash`` says, at ``server.addr`` (or ``--addr``), until
SIGTERM or SIGINT. A placeholder or empty ``server.key`` beyond loopback exits 2 with
one line saying how to set one; an address in use exits 1.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import App


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve the dashboard, its JSON API, /metrics and /healthz alone",
        description="Serve the dashboard at server.addr under /queue (no scheduler, no worker).",
    )
    p.add_argument(
        "--addr", metavar="[HOST]:PORT", help="listen here instead of server.addr (e.g. :9090)"
    )
    p.set_defaults(func=run, lasting=True)  # serves until stopped (see .main)


def run(app: App) -> int:
    # lazy: keeps asyncio and the settings models out of the other commands' start-up
    import asyncio

    from ..config import setup_logging

    if app.args.addr:
        app.overrides["server.addr"] = app.args.addr
    settings = app.settings
    if app.args.addr:
        settings.server.addr = app.args.addr  # validated by the settings model
    setup_logging(settings.log)
    app.inspector.ping()  # one clear line and exit 1 when Redis is not there
    asyncio.run(_serve(app))
    return 0


async def _serve(app: App) -> None:
    # lazy: keeps asyncio, redis and the dashboard (Starlette, uvicorn) out of the CLI's
    # start-up
    import asyncio

    from ..dashboard.service import DashboardService

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service = DashboardService(app, serve=True)
    try:
        await service.start(strict=True)
        await stop.wait()
    finally:
        await service.stop()
        await app.aclose()
