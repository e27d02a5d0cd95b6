"""The dashboard: a Starlette app at ``/queue`` with its JSON API, ``/metrics``, ``/healthz``.

``create_app(app)`` builds it (:mod:`.app`); :mod:`.service` serves it with uvicorn inside
the daemon's event loop; :mod:`.sampler` keeps the samples behind its last-hour charts.
Importing this package does not import Starlette: the daemon's sampler runs without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from ..app import App


def create_app(app: App, **kwargs: Any) -> Starlette:
    """The dashboard of ``app`` (see :func:`bingo_core.dashboard.app.create_app`)."""
    # lazy: keeps Starlette and Jinja2 out of the daemon's sampler (see above)
    from .app import create_app as build

    return build(app, **kwargs)


__all__ = ["create_app"]
