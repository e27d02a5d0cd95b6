"""``create_app(app) -> Starlette``: the dashboard, its JSON API, ``/metrics``, ``/healthz``.

One mountable Starlette application built from a :class:`~bingo_core.app.App`, with no
globals: the pages and the API under ``/queue`` (``/queue/api``, described by
``/queue/api/openapi.json``), behind :class:`~.security.SecurityMiddleware`.
"""

from __future__ import annotations

from importlib import metadata, resources
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..broker import DashboardStore
from . import metrics, openapi
from .paths import SegmentPaths
from .security import (
    ADMIN,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    Auth,
    DryRun,
    RateLimiter,
    SecurityMiddleware,
    TrustedProxies,
    body_limit,
    client_address,
    cookie_header,
)
from .views import MODULES
from .web import (
    ApiError,
    Dash,
    Endpoint,
    api_error_response,
    api_route,
    error_page,
    form_data,
    json_response,
    page_response,
    safe_next,
)

if TYPE_CHECKING:
    from ..app import App


def endpoints() -> list[Endpoint]:
    """Every JSON API operation, page by page."""
    out: list[Endpoint] = []
    for module in MODULES:
        out += module.endpoints()
    out.append(Endpoint("GET", "/session", _session, "Who is logged in (the role)", tag="session"))
    return out


def _session(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    return {"role": args.get("_role"), "can_change": args.get("_role") == ADMIN}


def create_app(
    app: App, *, key: str | None = None, prefix: str = "/queue", limiter: RateLimiter | None = None
) -> Starlette:
    """The dashboard of ``app``: pages and API under ``prefix``, ``/metrics``, ``/healthz``.

    ``key`` replaces ``server.key`` (the daemon passes a one-time key when that is empty).
    """
    settings = app.settings
    admin_key = settings.server.key if key is None else key
    auth = Auth(admin_key, settings.dashboard.read_only_key, DashboardStore(app.broker))
    limiter = limiter or RateLimiter()
    dash = Dash(app, auth, limiter, prefix)
    table = endpoints()
    doc = openapi.document(table, dash.api_prefix, _version())

    async def openapi_json(request: Request) -> Response:
        return json_response(doc)

    routes: list[BaseRoute] = [
        Route(f"{prefix}/login", _login_page(dash), methods=["GET"], name="login"),
        Route(f"{prefix}/login", _login(dash), methods=["POST"], name="login_post"),
        Route(f"{prefix}/logout", _logout(dash), methods=["POST"], name="logout"),
        Route(f"{dash.api_prefix}/openapi.json", openapi_json, methods=["GET"], name="openapi"),
        Mount(f"{prefix}/static", StaticFiles(directory=str(_static())), name="static"),
        *metrics.routes(lambda: dash.inspector, settings),
    ]
    routes += [api_route(dash, ep) for ep in table]
    for module in MODULES:
        routes += module.pages(dash)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        text = {404: "no such page", 405: "method not allowed here"}.get(status, "error")
        if isinstance(exc, HTTPException) and exc.detail and status not in (404, 405):
            text = str(exc.detail)
        err = ApiError(status, text, "path" if status in (404, 405) else "")
        if request.url.path.startswith(dash.api_prefix) or not request.url.path.startswith(prefix):
            return api_error_response(err)
        return await error_page(dash, request, err)

    async def crashed(request: Request, exc: Exception) -> Response:
        err = ApiError(500, f"internal error: {type(exc).__name__}", "")
        if request.url.path.startswith(dash.api_prefix):
            return api_error_response(err)
        return await error_page(dash, request, err)

    starlette = Starlette(
        routes=routes,
        middleware=[
            Middleware(SegmentPaths),
            Middleware(
                SecurityMiddleware,
                auth=auth,
                limiter=limiter,
                prefix=prefix,
                proxies=TrustedProxies(settings.dashboard.trusted_proxies),
                max_body=body_limit(settings.client.max_payload_size),
                dry_runs=_dry_runs(prefix),
            ),
        ],
        exception_handlers={HTTPException: not_found, Exception: crashed},
    )
    starlette.state.dash = dash
    return starlette


def _dry_runs(prefix: str) -> tuple[DryRun, ...]:
    """The posts that write nothing, as the page modules declare them (``dry_runs``)."""
    return tuple(run for m in MODULES if hasattr(m, "dry_runs") for run in m.dry_runs(prefix))


def _static() -> Any:
    return resources.files("bingo_core.dashboard").joinpath("static")


def _version() -> str:
    try:
        return metadata.version("bingo-scheduler")
    except metadata.PackageNotFoundError:
        return "0"


def _login_page(dash: Dash) -> Any:
    async def show(request: Request) -> Response:
        target = safe_next(dash, request.query_params.get("next"))
        data = {"next": target, "error": None}
        return page_response(dash, request, dash.render(request, "login.html", data))

    return show


def _login(dash: Dash) -> Any:
    async def post(request: Request) -> Response:
        form = await form_data(request)
        target = safe_next(dash, form.get("next"))
        address = client_address(request.scope)
        wait = dash.limiter.retry_after(address)
        if wait:
            text = f"too many wrong keys from this address: try again in {int(wait)} s"
            data = {"next": target, "error": text}
            response = page_response(
                dash, request, dash.render(request, "login.html", data, 429), 429
            )
            response.headers["retry-after"] = str(int(wait))
            return response
        role = dash.auth.role_for_key(str(form.get("key") or ""))
        if role is None:
            dash.limiter.failed(address)
            data = {"next": target, "error": "wrong key"}
            return page_response(dash, request, dash.render(request, "login.html", data, 401), 401)
        session = await run_in_threadpool(dash.auth.start_session, role)
        response = Response(status_code=303, headers={"location": target})
        secure = request.url.scheme == "https"
        value = cookie_header(
            SESSION_COOKIE,
            session,
            dash.prefix,
            max_age=SESSION_MAX_AGE,
            secure=secure,
        )
        response.headers.append("set-cookie", value.decode())
        return response

    return post


def _logout(dash: Dash) -> Any:
    async def post(request: Request) -> Response:
        session = request.scope.get("state", {}).get("session")
        if session:  # the login ends for every copy of its cookie
            await run_in_threadpool(dash.auth.end_session, session)
        response = Response(status_code=303, headers={"location": f"{dash.prefix}/login"})
        value = cookie_header(
            SESSION_COOKIE, "", dash.prefix, max_age=0, secure=request.url.scheme == "https"
        )
        response.headers.append("set-cookie", value.decode())
        return response

    return post
