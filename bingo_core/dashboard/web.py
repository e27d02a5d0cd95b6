"""What every page and API route shares: the :class:`Dash` context, the route tables,
parameter checking, error answers and template rendering.

A page handler and its JSON twin call the same *data function* ``(dash, args) -> dict``:
the API route returns the dict as JSON, the page route renders it into a template. The
data functions are plain synchronous code (the inspector and the store block), run in
Starlette's thread pool so the daemon's event loop never waits on them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import (
    BingoError,
    CronSpecError,
    DuplicateTaskError,
    OptionError,
    PayloadError,
    QueueNotEmpty,
    ServiceUnavailable,
    TaskNotFound,
    UniqueTaskError,
    UnknownTaskType,
    UsageError,
)
from .security import ADMIN, FLASH_COOKIE, Auth, RateLimiter, cookie_header

if TYPE_CHECKING:
    from ..app import App
    from ..inspector import Inspector
    from ..store import Store

log = logging.getLogger("bingo.dashboard")

#: The dashboard's pages, in the navigation's order: (endpoint name, label).
NAV = [
    ("overview", "Overview"),
    ("schedules", "Schedules"),
    ("crontab", "sys_crontab"),
    ("enqueue", "Enqueue"),
    ("servers", "Servers"),
    ("plugins", "Plugins"),
    ("redis", "Redis"),
]


class ApiError(Exception):
    """A refusal: HTTP ``status``, one message, and the input field it is about."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_for(exc: BaseException) -> ApiError:
    """The HTTP refusal for one of Bingo's own errors."""
    if isinstance(exc, ApiError):
        return exc
    text = str(exc)
    if isinstance(exc, TaskNotFound):
        return ApiError(404, text, "id")
    if isinstance(exc, DuplicateTaskError):
        return ApiError(409, text, "options.task_id")
    if isinstance(exc, UniqueTaskError):
        return ApiError(409, text, "options.unique")
    if isinstance(exc, QueueNotEmpty):
        return ApiError(409, text, "force")
    if isinstance(exc, UnknownTaskType):
        return ApiError(400, text, "type")
    if isinstance(exc, PayloadError):
        return ApiError(400, text, "payload")
    if isinstance(exc, CronSpecError):
        return ApiError(400, text, "spec")
    if isinstance(exc, OptionError):
        return ApiError(400, text, "options")
    if isinstance(exc, UsageError):
        return ApiError(400, text)
    if isinstance(exc, ServiceUnavailable):
        return ApiError(503, text)
    return ApiError(500, f"{type(exc).__name__}: {text}")


@dataclass
class Param:
    """One query or path parameter: its type, bounds or choices, default."""

    name: str
    kind: type = str
    default: Any = None
    where: str = "query"
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 1000
    description: str = ""

    @property
    def required(self) -> bool:
        return self.where == "path"

    def parse(self, raw: str | None) -> Any:
        """The value of ``raw`` (None: absent), or :class:`ApiError` naming the parameter."""
        if raw is None or (raw == "" and self.kind is not str):
            if self.required:
                raise ApiError(400, f"{self.name} is required", self.name)
            return self.default
        if len(raw) > self.max_length:
            raise ApiError(400, f"{self.name}: longer than {self.max_length} characters", self.name)
        if "\x00" in raw:
            raise ApiError(400, f"{self.name}: NUL characters are not allowed", self.name)
        if self.kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ApiError(400, f"{self.name}: expected true or false, got {raw[:40]!r}", self.name)
        if self.kind is int:
            try:
                value = int(raw)
            except ValueError:
                raise ApiError(
                    400, f"{self.name}: expected a whole number, got {raw[:40]!r}", self.name
                ) from None
            if self.minimum is not None and value < self.minimum:
                raise ApiError(400, f"{self.name}: expected at least {self.minimum}", self.name)
            if self.maximum is not None and value > self.maximum:
                raise ApiError(400, f"{self.name}: expected at most {self.maximum}", self.name)
            return value
        if self.choices and raw not in self.choices:
            raise ApiError(
                400,
                f"{self.name}: expected one of {', '.join(self.choices)}, got {raw[:40]!r}",
                self.name,
            )
        return raw

    def schema(self) -> dict[str, Any]:
        """The parameter's JSON schema (for the OpenAPI document)."""
        if self.kind is int:
            out: dict[str, Any] = {"type": "integer"}
            if self.minimum is not None:
                out["minimum"] = self.minimum
            if self.maximum is not None:
                out["maximum"] = self.maximum
        elif self.kind is bool:
            out = {"type": "boolean"}
        elif self.choices:
            out = {"type": "string", "enum": list(self.choices)}
        else:
            out = {"type": "string", "maxLength": self.max_length}
            if self.where == "path":
                out["minLength"] = 1
        if self.default is not None:
            out["default"] = self.default
        return out


#: A data function: ``(dash, args)`` -> JSON-ready data.
DataFunc = Callable[["Dash", dict[str, Any]], Any]


@dataclass
class Endpoint:
    """One JSON API operation: method, path under ``/api``, its parameters and body."""

    method: str
    path: str
    func: DataFunc
    summary: str
    params: list[Param] = field(default_factory=list)
    body: type[BaseModel] | None = None
    tag: str = ""
    status: int = 200
    name: str = ""


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

    @property
    def inspector(self) -> Inspector:
        """The one API over Redis (the CLI's too)."""
        return self.app.inspector

    def store(self) -> Store:
        """The ``sys_crontab`` store, opened (and its table created) on first use."""
        if self._store is None:
            from ..store import store_from_settings

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

    # -- answers ----------------------------------------------------------------------------
    def render(
        self, request: Request, template: str, data: Mapping[str, Any], status: int = 200
    ) -> str:
        """``template`` with ``data`` and what every page shows (role, CSRF token, nav)."""
        state = request.scope.get("state", {})
        nonce = state.get("csrf_nonce") or ""
        flash = None
        raw = request.cookies.get(FLASH_COOKIE)
        if raw:
            flash = self.auth.read_flash(raw)
        context = {
            "dash": self,
            "data": data,
            "role": state.get("role"),
            "can_change": state.get("role") == ADMIN,
            "csrf_token": self.auth.csrf_token(nonce) if nonce else "",
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
        from .security import PLACEHOLDER_KEYS

        if self.settings.server.key in PLACEHOLDER_KEYS:
            return "server.key is a placeholder: fine on 127.0.0.1, never beyond it"
        return ""


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


def parse_args(
    params: list[Param], request: Request, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The endpoint's parameters from the path and query string, checked."""
    args: dict[str, Any] = {}
    for p in params:
        raw = request.path_params.get(p.name) if p.where == "path" else None
        if p.where == "query":
            raw = request.query_params.get(p.name)
        args[p.name] = p.parse(raw)
    if extra:
        args.update(extra)
    return args


async def read_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The JSON body checked against ``model``; :class:`ApiError` names the bad field."""
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "a JSON object body is required", "body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", "body") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"{name}: {first['msg']}", name) from None


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
        dash.api_prefix + ep.path,
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
    from . import filters

    env = Environment(
        loader=PackageLoader("bingo_core.dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters.install(env, dash.zone)
    env.globals["url"] = dash.url
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

    return Route(dash.prefix + path, endpoint, methods=["GET"], name=name)


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

    return Route(dash.prefix + path, endpoint, methods=["POST"], name=name)
