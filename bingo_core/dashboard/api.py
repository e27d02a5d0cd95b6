"""The JSON API's parts: refusals (:class:`ApiError`, one per Bingo error), the route
table's :class:`Endpoint` and :class:`Param`, and reading a request's parameters and body."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..errors import (
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
from .security import JsonTooDeep, load_json


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


#: A data function: ``(dash, args)`` -> its answer (the dashboard's context is
#: :class:`~bingo_core.dashboard.web.Dash`, which builds on this module).
DataFunc = Callable[[Any, dict[str, Any]], Any]


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
    #: What a success answers: a record class, or the answer's keys and their types
    #: (records, lists, scalars); None when it is not described beyond "an object".
    response: Any = None


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
        data = load_json(raw)
    except JsonTooDeep as exc:
        raise ApiError(400, f"the body is {exc}", "body") from None
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
