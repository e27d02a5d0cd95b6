"""What every page and API route shares: the :class:`Dash` context, the routes, error
answers and template rendering (the API's refusals, route table and parameters are in
:mod:`.api`, re-exported here).

A page handler and its JSON twin call the same *data function* ``(dash, args)``: the API
route returns its answer (records as their JSON) as JSON, the page route renders it into a
template. The
data functions are plain synchronous code (the inspector and the store block), run in
Starlette's thread pool so the daemon's event loop never waits on them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import BingoError
from ..store import Store, store_from_settings
from . import filters
from .api import (
    ApiError,
    DataFunc,
    Endpoint,
    Param,
    error_for,
    parse_args,
    read_body,
)
from .paths import route_path, segment
from .security import (
    ADMIN,
    FLASH_COOKIE,
    PLACEHOLDER_KEYS,
    READ_ONLY_TEXT,
    Auth,
    RateLimiter,
    cookie_header,
)

if TYPE_CHECKING:
    from ..app import App
    from ..inspector import Inspector

log = logging.getLogger("bingo.dashboard")

#: The dashboard's pages, in the navigation's order: (endpoint name, label).
NAV = [
    ("overview", "Overview"),
    ("failures", "Failures"),
    ("workflows", "Workflows"),
    ("types", "Task types"),
    ("schedules", "Schedules"),
    ("crontab", "sys_crontab"),
    ("enqueue", "Enqueue"),
    ("servers", "Servers"),
    ("plugins", "Plugins"),
    ("redis", "Redis"),
]


class Dash:
    """The dashboard's context: the Bingo app, the inspector, templates, keys."""

    def __init__(self, app: App, auth: Auth, limiter: RateLimiter, prefix: str = "/queue"):
        self.app = app
        self.settings = app.settings
        self.auth = auth
        self.limiter = limiter
        self.prefix = prefix
        self.api_prefix = f"{prefix}/api"
        self.zone = ZoneInfo(self.settings.server.timezone)
        self.started = time.time()
        self.env = _environment(self)
        self._store: Store | None = None
        self._store_ready = False
        #: Checks of stored rows by their columns (the rows page), kept while unchanged.
        self.row_checks: dict[tuple[Any, ...], dict[str, Any]] = {}

    @property
    def inspector(self) -> Inspector:
        """The one API over Redis (the CLI's too)."""
        return self.app.inspector

    def store(self) -> Store:
        """The ``sys_crontab`` store, opened (and its table created) on first use."""
        if self._store is None:
            self._store = store_from_settings(self.settings)
        if not self._store_ready:
            self._store.init_schema()
            self._store_ready = True
        return self._store

    def close(self) -> None:
        """Close the store's connections."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def url(self, path: str = "", **query: Any) -> str:
        """A dashboard URL: ``path`` under the prefix, with the non-empty ``query`` items."""
        items = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{self.prefix}{path}" + (f"?{urlencode(items)}" if items else "")

    def queue_url(self, queue: str, **query: Any) -> str:
        """The page of ``queue`` (its name one encoded path segment)."""
        return self.url(f"/queues/{segment(queue)}", **query)

    def task_url(self, queue: str, task_id: str) -> str:
        """The page of one task (its queue and id encoded path segments)."""
        return self.url(f"/queues/{segment(queue)}/tasks/{segment(task_id)}")

    # -- answers ----------------------------------------------------------------------------
    def render(
        self, request: Request, template: str, data: Mapping[str, Any], status: int = 200
    ) -> str:
        """``template`` with ``data`` and what every page shows (role, CSRF token, nav)."""
        state = request.scope.get("state", {})
        flash = None
        raw = request.cookies.get(FLASH_COOKIE)
        if raw:
            flash = self.auth.read_flash(raw)
        context = {
            "dash": self,
            "data": data,
            "role": state.get("role"),
            "can_change": state.get("role") == ADMIN,
            "csrf_token": state.get("csrf_token") or "",
            "nav": NAV,
            "page": template.removesuffix(".html"),
            "flash": flash,
            "request_path": request.url.path,
            "request_url": _path_with_query(request),
            "key_warning": self.key_warning,
            "now": time.time(),
            "status": status,
        }
        return self.env.get_template(template).render(context)

    @property
    def key_warning(self) -> str:
        """A banner when the dashboard runs with a key only fit for loopback."""
        if self.settings.server.key in PLACEHOLDER_KEYS:
            return "server.key is a placeholder: fine on 127.0.0.1, never beyond it"
        return ""


def can_change(request: Request) -> bool:
    """Whether the request's login may change things (the admin role)."""
    return bool(request.scope.get("state", {}).get("role") == ADMIN)


def _path_with_query(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as JSON (times and other objects as strings)."""
    body = json.dumps(data, default=_default, ensure_ascii=False, allow_nan=False)
    return Response(body, status_code=status, media_type="application/json")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "to_json"):  # a record
        return value.to_json()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


def api_error_response(err: ApiError) -> Response:
    """The JSON refusal: ``{"error": message, "field": name}``."""
    if err.status >= 500 and err.status != 503:
        log.error("dashboard API error: %s", err.message)
    return JSONResponse({"error": err.message, "field": err.field}, status_code=err.status)


def api_route(dash: Dash, ep: Endpoint) -> Route:
    """The Starlette route of one API endpoint."""

    async def endpoint(request: Request) -> Response:
        try:
            args = parse_args(ep.params, request)
            if ep.body is not None:
                args["body"] = await read_body(request, ep.body)
            args["_role"] = request.scope.get("state", {}).get("role")
            data = await run_in_threadpool(ep.func, dash, args)
        except (ApiError, BingoError) as exc:
            return api_error_response(error_for(exc))
        if isinstance(data, Response):
            return data
        return json_response(data, ep.status)

    return Route(
        route_path(dash.api_prefix + ep.path),
        endpoint,
        methods=[ep.method],
        name=f"api:{ep.name or ep.func.__name__}",
    )


def redirect(dash: Dash, request: Request, to: str, text: str = "", kind: str = "ok") -> Response:
    """303 to ``to`` with a one-time message for the next page."""
    response = RedirectResponse(to, status_code=303)
    if text:
        value = dash.auth.flash(text, kind)
        secure = request.url.scheme == "https"
        response.headers.append(
            "set-cookie",
            cookie_header(FLASH_COOKIE, value, dash.prefix, max_age=60, secure=secure).decode(),
        )
    return response


def page_response(dash: Dash, request: Request, html: str, status: int = 200) -> Response:
    """A rendered page; the flash message it showed is cleared."""
    response = HTMLResponse(html, status_code=status)
    if request.cookies.get(FLASH_COOKIE):
        response.headers.append(
            "set-cookie",
            cookie_header(FLASH_COOKIE, "", dash.prefix, max_age=0, secure=False).decode(),
        )
    return response


async def form_data(request: Request) -> dict[str, Any]:
    """The posted form: one value per field, lists for fields named ``ids``."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if key == "ids" else (values[-1] if values else "")
    return out


def safe_next(dash: Dash, target: str | None) -> str:
    """``target`` when it is a path of this dashboard, else the overview."""
    if not target or not (target == dash.prefix or target.startswith(dash.prefix + "/")):
        return dash.prefix
    if any(c in target for c in "\\\r\n") or "//" in target:
        return dash.prefix
    return target


def _environment(dash: Dash) -> Environment:
    env = Environment(
        loader=PackageLoader("bingo_core.dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters.install(env, dash.zone)
    env.globals["url"] = dash.url
    env.filters["seg"] = segment
    env.globals["Markup"] = Markup
    return env


def page_route(
    dash: Dash,
    path: str,
    template: str,
    func: DataFunc,
    params: list[Param] | None = None,
    *,
    name: str,
) -> Route:
    """A page: ``func``'s data rendered into ``template`` (errors as an error page)."""
    checked = params or []

    async def endpoint(request: Request) -> Response:
        try:
            args = parse_args(checked, request)
            args["_role"] = request.scope.get("state", {}).get("role")

            def build() -> str:
                return dash.render(request, template, func(dash, args))

            html = await run_in_threadpool(build)
        except (ApiError, BingoError) as exc:
            return await error_page(dash, request, error_for(exc))
        return page_response(dash, request, html)

    return Route(route_path(dash.prefix + path), endpoint, methods=["GET"], name=name)


async def error_page(dash: Dash, request: Request, err: ApiError) -> Response:
    """The error page for a refusal (status and message)."""
    if err.status >= 500 and err.status != 503:
        log.error("dashboard page error: %s", err.message)
    data = {"status": err.status, "message": err.message, "field": err.field}
    html = await run_in_threadpool(dash.render, request, "error.html", data, err.status)
    return page_response(dash, request, html, err.status)


#: An action: ``(dash, path args, form)`` -> (where to go next, message).
ActionFunc = Callable[[Dash, dict[str, Any], dict[str, Any]], tuple[str, str]]


def action_route(dash: Dash, path: str, func: ActionFunc, *, name: str) -> Route:
    """A form post that changes something, then redirects (with a message) to the page the
    form names in ``next``, or to where ``func`` says."""

    async def endpoint(request: Request) -> Response:
        form = await form_data(request)
        back = safe_next(dash, form.get("next"))
        try:
            args = dict(request.path_params)
            to, text = await run_in_threadpool(func, dash, args, form)
        except (ApiError, BingoError) as exc:
            err = error_for(exc)
            if err.status >= 500 and err.status != 503:
                log.error("dashboard action error: %s", err.message)
            return redirect(dash, request, back, err.message, "error")
        return redirect(dash, request, safe_next(dash, to or back), text)

    return Route(route_path(dash.prefix + path), endpoint, methods=["POST"], name=name)


__all__ = [
    "NAV",
    "READ_ONLY_TEXT",
    "ActionFunc",
    "ApiError",
    "Dash",
    "DataFunc",
    "Endpoint",
    "Param",
    "action_route",
    "api_error_response",
    "api_route",
    "can_change",
    "error_for",
    "error_page",
    "form_data",
    "json_response",
    "page_response",
    "page_route",
    "parse_args",
    "read_body",
    "redirect",
    "safe_next",
]
