"""Enqueue: pick a task type; a form generated from its payload JSON schema (or raw JSON),
options; checked and enqueued by the client, whose errors are shown as they are."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ... import options as opts
from ...errors import BingoError, PayloadError, TaskTypeConflict
from ..security import DryRun, load_json
from ..web import (
    READ_ONLY_TEXT,
    ApiError,
    Dash,
    Endpoint,
    Param,
    can_change,
    error_for,
    error_page,
    form_data,
    page_response,
)
from ..web import redirect as redirect_to

#: The options the form (and the JSON API) offers, with a hint each (blank: the type's
#: default): the command line's, from the option table.
FORM_OPTIONS = {o.name: o.help for o in opts.CLI_OPTIONS}


def type_options(task: Any) -> dict[str, Any]:
    """A task type's default options, as JSON-ready values."""
    return opts.type_defaults(task.options)


def form_fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Inputs for the top-level properties of a payload schema: name, kind (text, integer,
    number, boolean, choice, json), required, default, choices, description."""
    defs = schema.get("$defs") or {}
    required = set(schema.get("required") or [])
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = _resolve(prop, defs)
        options = [_resolve(p, defs) for p in prop.get("anyOf") or []]
        nullable = any(p.get("type") == "null" for p in options)
        concrete = [p for p in options if p.get("type") != "null"]
        base = concrete[0] if len(concrete) == 1 else prop
        kind = {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean"}
        field_kind = kind.get(str(base.get("type")), "json")
        if "enum" in base:
            field_kind = "choice"
        if len(concrete) > 1:
            field_kind = "json"
        fields.append(
            {
                "name": name,
                "kind": field_kind,
                "required": name in required,
                "nullable": nullable,
                "default": prop.get("default"),
                "has_default": "default" in prop,
                "choices": [str(c) for c in base.get("enum") or []],
                "description": prop.get("description") or "",
            }
        )
    return fields


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found = defs.get(ref.removeprefix("#/$defs/"))
        if isinstance(found, dict):
            return {**found, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def task_types(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Every registered task type with its plugin, payload schema and default options."""
    out = []
    for task in sorted(dash.app.registry.tasks.values(), key=lambda t: t.name):
        schema = task.json_schema()
        out.append(
            {
                "name": task.name,
                "plugin": task.plugin,
                "description": task.description,
                "payload_model": task.payload_model.__name__ if task.payload_model else None,
                "payload_schema": schema,
                "fields": form_fields(schema),
                "options": type_options(task),
            }
        )
    return {"types": out}


class EnqueueBody(BaseModel):
    """One task to enqueue."""

    type: str = Field(max_length=1000, description="a registered task type")
    payload: Any = Field(default=None, description="the payload (a JSON object)")
    options: dict[str, Any] = Field(default_factory=dict, description="task options")
    check: bool = Field(default=False, description="only validate; write nothing")


def enqueue(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Validate with the client and enqueue (or only check)."""
    body: EnqueueBody = args["body"]
    return _enqueue(dash, body.type, body.payload, body.options, body.check)


def _enqueue(
    dash: Dash, task_type: str, payload: Any, options: dict[str, Any], check: bool
) -> dict[str, Any]:
    if task_type not in dash.app.registry.tasks:
        if task_type in dash.app.registry.conflicts:  # names the plugins that fought over it
            raise TaskTypeConflict(task_type, dash.app.registry.conflicts[task_type])
        known = ", ".join(sorted(dash.app.registry.tasks)) or "none"
        raise ApiError(400, f"unknown task type {task_type!r} (known: {known})", "type")
    unknown = sorted(set(options) - set(FORM_OPTIONS))
    if unknown:
        known = ", ".join(FORM_OPTIONS)
        raise ApiError(400, f"options.{unknown[0]}: not an option here (known: {known})", "options")
    client = dash.app.client
    _, info = client.builder.build(task_type, payload, options)  # the client's own checks
    if check:
        return {"ok": True, "checked": True, "task": info.to_dict()}
    info = client.enqueue(task_type, payload, **options)
    # an item of a batched type is held, no task of its own: the overview lists the batches
    url = dash.url("/") if info.state == "held" else dash.task_url(info.queue, info.id)
    return {"ok": True, "task": info.to_dict(), "url": url}


def endpoints() -> list[Endpoint]:
    """The enqueue JSON API."""
    return [
        Endpoint(
            "GET",
            "/task-types",
            task_types,
            "Registered task types with payload schemas",
            tag="enqueue",
        ),
        Endpoint(
            "POST",
            "/enqueue",
            enqueue,
            "Enqueue one task (validated by the client first; check=true writes nothing)",
            body=EnqueueBody,
            tag="enqueue",
            status=201,
        ),
    ]


def payload_from_form(fields: list[dict[str, Any]], form: dict[str, Any]) -> dict[str, Any]:
    """The payload the generated fields describe: blank fields are left out (their model
    defaults apply), each value converted to its field's kind."""
    payload: dict[str, Any] = {}
    for f in fields:
        raw = str(form.get(f"p.{f['name']}") or "")
        if raw == "":
            continue
        name = f["name"]
        try:
            if f["kind"] == "integer":
                payload[name] = int(raw)
            elif f["kind"] == "number":
                payload[name] = float(raw)
            elif f["kind"] == "boolean":
                payload[name] = raw in ("true", "on", "1")
            elif f["kind"] == "json":
                payload[name] = load_json(raw)
            else:
                payload[name] = raw
        except ValueError:
            raise PayloadError(
                f"payload field {name}: {raw[:40]!r} is not a valid {f['kind']}"
            ) from None
    return payload


def options_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The options filled in (``o.<name>`` fields; blank ones are left out), each read
    from text as the command line reads it."""
    options: dict[str, Any] = {}
    for option in opts.CLI_OPTIONS:
        text = str(form.get(f"o.{option.name}") or "").strip()
        if text:
            options[option.name] = option.text_value(text)
    return options


def dry_runs(prefix: str) -> list[DryRun]:
    """The enqueue form's "Check" writes nothing: the read-only key may use it."""
    return [DryRun(re.escape(f"{prefix}/enqueue"), "do", "check")]


def pages(dash: Dash) -> list[Route]:
    """The enqueue page (GET shows the form, POST checks or enqueues)."""
    type_param = Param("type", default="", max_length=1000)

    async def show(request: Request) -> Response:
        try:
            chosen = type_param.parse(request.query_params.get("type"))
            html = await run_in_threadpool(_render, request, chosen, {}, None, None, 200)
        except (ApiError, BingoError) as exc:
            return await error_page(dash, request, error_for(exc))
        return page_response(dash, request, html)

    async def post(request: Request) -> Response:
        form = await form_data(request)
        chosen = str(form.get("type") or "")

        def work() -> tuple[str, str, int]:
            types = {t["name"]: t for t in task_types(dash, {})["types"]}
            task = types.get(chosen)
            try:
                if task is None:
                    raise ApiError(400, f"unknown task type {chosen!r}", "type")
                if form.get("mode") == "raw":
                    text = str(form.get("payload_json") or "").strip() or "{}"
                    try:
                        payload = load_json(text)
                    except ValueError as exc:
                        raise PayloadError(f"payload is not valid JSON: {exc}") from None
                else:
                    payload = payload_from_form(task["fields"], form)
                options = options_from_form(form)
                done = _enqueue(dash, chosen, payload, options, form.get("do") == "check")
            except (ApiError, BingoError) as exc:
                err = error_for(exc)
                return "page", _render(request, chosen, form, None, err, err.status), err.status
            if done.get("checked"):
                return "page", _render(request, chosen, form, done, None, 200), 200
            if done["task"]["state"] == "held":
                return "held", str(done["url"]), 303
            return "redirect", str(done["url"]), 303

        if form.get("do") != "check" and not can_change(request):
            return await error_page(dash, request, ApiError(403, READ_ONLY_TEXT, "Authorization"))
        kind, value, status = await run_in_threadpool(work)
        if kind == "held":
            return redirect_to(dash, request, value, f"held an item of {chosen} for its batch")
        if kind == "redirect":
            task_id = unquote(value.rsplit("/", 1)[-1])
            return redirect_to(dash, request, value, f"enqueued task {task_id}")
        return page_response(dash, request, value, status)

    def _render(
        request: Request,
        chosen: str,
        form: dict[str, Any],
        checked: dict[str, Any] | None,
        error: ApiError | None,
        status: int,
    ) -> str:
        types = task_types(dash, {})["types"]
        selected = next((t for t in types if t["name"] == chosen), None)
        if selected is None and types and not chosen:
            selected = types[0]
        data = {
            "types": types,
            "selected": selected,
            "form": form,
            "checked": checked,
            "error": {"message": error.message, "field": error.field} if error else None,
            "form_options": FORM_OPTIONS,
            "queues": sorted({*dash.inspector.queues(), *dash.settings.worker.queues}),
        }
        return dash.render(request, "enqueue.html", data, status)

    return [
        Route(f"{dash.prefix}/enqueue", show, methods=["GET"], name="enqueue"),
        Route(f"{dash.prefix}/enqueue", post, methods=["POST"], name="enqueue_post"),
    ]
