"""sys_crontab rows: each with its validation status, next fire times and what the sync
made of it; add, edit, enable, disable and delete, validated by the row rules the sync and
``cron add`` use (:mod:`bingo_core.scheduler.rows`), with a check before saving."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...durations import format_duration
from ...errors import BingoError
from ...records import SyncStatus
from ...registry import row_key
from ...scheduler import rows
from ...store import CrontabRow
from ..paths import route_path
from ..security import DryRun
from ..web import (
    READ_ONLY_TEXT,
    ApiError,
    Dash,
    Endpoint,
    Param,
    action_route,
    can_change,
    error_for,
    error_page,
    form_data,
    page_response,
    page_route,
    redirect,
)
from .schedules import next_fires

ROW_ID = Param(
    "row_id", int, where="path", minimum=1, maximum=rows.MAX_ROW_ID, description="row id"
)


class RowBody(BaseModel):
    """A ``sys_crontab`` row as given (checked as ``cron add`` checks it)."""

    name: str = Field(max_length=1000, description="up to 100 characters")
    type: str = Field(max_length=1000, description="a registered task type")
    spec: str = Field(max_length=1000, description="cron spec, e.g. '0 1 * * *' or '@every 1h'")
    payload: dict[str, Any] | str | None = Field(
        default=None, description="a JSON object, or its text as stored in the column"
    )
    enabled: bool = True


def check_row(
    dash: Dash, row_id: int | None, name: str, task_type: str, spec: str, payload: str | None
) -> dict[str, Any]:
    """Every problem of a row, by field, the spec's next fire times and the type's payload
    schema; ``ok`` when the sync would run it."""
    zone = dash.settings.server.timezone
    registry = dash.app.registry
    errors = rows.check_row(row_id, name, task_type, spec, payload, registry, zone)
    fires = next_fires(spec.strip(), zone) if "spec" not in errors else []
    task = registry.tasks.get(task_type)
    schema = task.json_schema() if task is not None else None
    return {"ok": not errors, "errors": errors, "next_fires": fires, "schema": schema}


#: Row checks kept per dashboard (the rows page checks every row it shows).
MAX_CHECKS = 20000


def _cached_check(dash: Dash, row: CrontabRow) -> dict[str, Any]:
    """:func:`check_row` of a stored row, kept while the row is unchanged (the fire times
    are computed afresh)."""
    checks = dash.row_checks
    key = (row.id, row.name, row.type, row.spec, row.payload)
    found = checks.get(key)
    if found is None:
        if len(checks) > MAX_CHECKS:
            checks.clear()
        found = checks[key] = check_row(dash, row.id, row.name, row.type, row.spec, row.payload)
    elif found["ok"]:
        found = {**found, "next_fires": next_fires(row.spec.strip(), dash.settings.server.timezone)}
    return found


def _row(
    dash: Dash, row: CrontabRow, published: set[str], sync_errors: dict[str, str]
) -> dict[str, Any]:
    data: dict[str, Any] = row.to_dict()
    data["enabled"] = row.enabled
    check = _cached_check(dash, row)
    data["check"] = check
    data["valid"] = check["ok"]
    data["error"] = next(iter(check["errors"].values()), None)
    data["next_fires"] = check["next_fires"][:2] if row.enabled else []
    key = row_key(row.id, row.name)
    data["entry_key"] = key
    data["entry_url"] = dash.url("/schedules/entry", key=key) if key in published else None
    data["sync_error"] = sync_errors.get(str(row.id))
    if not row.enabled:
        data["sync"] = "disabled"
    elif key in published:
        data["sync"] = "running"
    elif data["sync_error"]:
        data["sync"] = "skipped"
    else:
        data["sync"] = "not synced yet"
    data["edit_url"] = dash.url(f"/crontab/{row.id}")
    return data


def row_list(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """A page of the rows, each validated."""
    stored = dash.store().rows()
    sync = dash.inspector.sync_status() or SyncStatus()
    sync_errors = dict(sync.errors or {})
    offset, limit = args["offset"], args["limit"]
    page = stored[offset : offset + limit]
    published = dash.inspector.published(row_key(r.id, r.name) for r in page)
    shown = [_row(dash, r, published, sync_errors) for r in page]
    return {
        "rows": shown,
        "total": len(stored),
        "offset": offset,
        "limit": limit,
        "has_prev": offset > 0,
        "has_next": offset + limit < len(stored),
        "bad": sum(1 for r in shown if r["enabled"] and not r["valid"]),
        "types": sorted(dash.app.registry.tasks),
        "sync": {
            "db_ok": sync.healthy,
            "last_success": sync.last_success,
            "interval": dash.settings.scheduler.sync_interval,
        },
        "database": dash.store().display_url,
    }


def _get(dash: Dash, row_id: int) -> CrontabRow:
    row = dash.store().get(row_id)
    if row is None:
        raise ApiError(404, f"sys_crontab row {row_id} does not exist", "row_id")
    return row


def row_detail(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """One row, validated."""
    row = _get(dash, args["row_id"])
    sync = dash.inspector.sync_status() or SyncStatus()
    sync_errors = dict(sync.errors or {})
    published = dash.inspector.published([row_key(row.id, row.name)])
    return {"row": _row(dash, row, published, sync_errors)}


def _checked(dash: Dash, body: RowBody, row_id: int | None) -> tuple[dict[str, Any], str | None]:
    text = rows.payload_column(body.payload)
    check = check_row(dash, row_id, body.name, body.type, body.spec, text)
    return check, text


def _refuse(check: dict[str, Any]) -> None:
    field, message = next(iter(check["errors"].items()))
    raise ApiError(400, message, field)


def check(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Validate a row without writing it: errors by field, next fire times, schema."""
    result, _ = _checked(dash, args["body"], None)
    return result


def add(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Insert a row (nothing is written when it is not valid)."""
    body: RowBody = args["body"]
    result, text = _checked(dash, body, None)
    if not result["ok"]:
        _refuse(result)
    store = dash.store()
    row_id = store.add(body.name, body.type, body.spec.strip(), text, rows.status_of(body.enabled))
    return {"row": _get(dash, row_id).to_dict(), "check": result, "note": _note(dash)}


def edit(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Replace a row's columns (nothing is written when it is not valid)."""
    body: RowBody = args["body"]
    row_id = args["row_id"]
    _get(dash, row_id)
    result, text = _checked(dash, body, row_id)
    if not result["ok"]:
        _refuse(result)
    dash.store().update(
        row_id,
        name=body.name,
        type=body.type,
        spec=body.spec.strip(),
        payload=text,
        status=rows.status_of(body.enabled),
    )
    return {"row": _get(dash, row_id).to_dict(), "check": result, "note": _note(dash)}


def set_status(dash: Dash, row_id: int, enabled: bool) -> dict[str, Any]:
    """Enable or disable a row (an enabled bad row is reported, as ``cron enable`` does)."""
    row = _get(dash, row_id)
    dash.store().set_status(row_id, rows.status_of(enabled))
    result = check_row(dash, row.id, row.name, row.type, row.spec, row.payload)
    note = _note(dash)
    if enabled and not result["ok"]:
        note = "the sync skips this row until it is fixed: " + next(iter(result["errors"].values()))
    return {"row": _get(dash, row_id).to_dict(), "check": result, "note": note}


def enable(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Set a row's status to 1."""
    return set_status(dash, args["row_id"], True)


def disable(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Set a row's status to 0."""
    return set_status(dash, args["row_id"], False)


def delete(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Delete a row."""
    row = _get(dash, args["row_id"])
    dash.store().delete(row.id)
    return {"row": row.to_dict(), "deleted": True, "note": _note(dash)}


def _note(dash: Dash) -> str:
    every = format_duration(float(dash.settings.scheduler.sync_interval))
    return f"running daemons apply it at their next sync (within {every}), or at once on SIGUSR1"


PAGE = [
    Param("offset", int, 0, minimum=0, maximum=10**9),
    Param("limit", int, 100, minimum=1, maximum=500),
]


def endpoints() -> list[Endpoint]:
    """The sys_crontab JSON API."""
    return [
        Endpoint("GET", "/crontab", row_list, "The rows, each validated", PAGE, tag="crontab"),
        Endpoint(
            "POST",
            "/crontab",
            add,
            "Add a row (validated like cron add)",
            body=RowBody,
            tag="crontab",
            status=201,
        ),
        Endpoint(
            "POST",
            "/crontab/check",
            check,
            "Validate a row without writing it",
            body=RowBody,
            tag="crontab",
        ),
        Endpoint("GET", "/crontab/{row_id}", row_detail, "One row", [ROW_ID], tag="crontab"),
        Endpoint(
            "PUT", "/crontab/{row_id}", edit, "Edit a row", [ROW_ID], body=RowBody, tag="crontab"
        ),
        Endpoint(
            "POST", "/crontab/{row_id}/enable", enable, "Enable a row", [ROW_ID], tag="crontab"
        ),
        Endpoint(
            "POST", "/crontab/{row_id}/disable", disable, "Disable a row", [ROW_ID], tag="crontab"
        ),
        Endpoint("DELETE", "/crontab/{row_id}", delete, "Delete a row", [ROW_ID], tag="crontab"),
    ]


def _form_body(form: dict[str, Any]) -> RowBody:
    return RowBody(
        name=str(form.get("name") or "")[:1000],
        type=str(form.get("type") or "")[:1000],
        spec=str(form.get("spec") or "")[:1000],
        payload=str(form.get("payload") or ""),
        enabled=form.get("enabled") in ("1", "on", "true"),
    )


def dry_runs(prefix: str) -> list[DryRun]:
    """Checks of a row write nothing: the read-only key may use them (the API's check,
    and "Check" on the add and edit forms)."""
    rows_path = re.escape(f"{prefix}/crontab")
    return [
        DryRun(re.escape(f"{prefix}/api/crontab/check")),
        DryRun(rows_path + r"(/[0-9]+)?", "do", "check"),
    ]


def pages(dash: Dash) -> list[Route]:
    """The rows page, the edit page and their form posts."""

    async def save(request: Request) -> Response:
        """Add (no row id) or edit a row from the form; "check" only previews it."""
        form = await form_data(request)
        raw_id = request.path_params.get("row_id")
        if form.get("do") == "save" and not can_change(request):
            return await error_page(dash, request, ApiError(403, READ_ONLY_TEXT, "Authorization"))
        try:
            row_id = ROW_ID.parse(raw_id) if raw_id is not None else None
            body = _form_body(form)

            def work() -> tuple[str, str, int]:
                if row_id is not None:
                    _get(dash, row_id)
                result, _ = _checked(dash, body, row_id)
                if form.get("do") != "save" or not result["ok"]:
                    data = row_list(dash, {"offset": 0, "limit": 100}) if row_id is None else {}
                    data.update(form=body.model_dump(), preview=result, row_id=row_id)
                    data["types"] = sorted(dash.app.registry.tasks)
                    template = "crontab.html" if row_id is None else "crontab_edit.html"
                    status = 200 if result["ok"] else 400
                    return "page", dash.render(request, template, data, status), status
                if row_id is None:
                    saved = add(dash, {"body": body})
                    text = f"added sys_crontab row {saved['row']['id']}: {saved['note']}"
                    return "saved", text, 303
                edit(dash, {"body": body, "row_id": row_id})
                return "saved", f"saved sys_crontab row {row_id}: {_note(dash)}", 303

            outcome = await run_in_threadpool(work)
        except (ApiError, BingoError) as exc:
            return await error_page(dash, request, error_for(exc))
        if outcome[0] == "page":
            return page_response(dash, request, outcome[1], outcome[2])
        return redirect(dash, request, dash.url("/crontab"), outcome[1])

    def _status_form(enabled: bool) -> Any:
        def run(dash: Dash, args: dict[str, Any], form: dict[str, Any]) -> tuple[str, str]:
            done = set_status(dash, ROW_ID.parse(args["row_id"]), enabled)
            word = "enabled" if enabled else "disabled"
            return dash.url("/crontab"), f"{word} row {done['row']['id']}: {done['note']}"

        return run

    def _delete_form(dash: Dash, args: dict[str, Any], form: dict[str, Any]) -> tuple[str, str]:
        done = delete(dash, {"row_id": ROW_ID.parse(args["row_id"])})
        return dash.url("/crontab"), f"deleted row {done['row']['id']}: {done['note']}"

    return [
        page_route(dash, "/crontab", "crontab.html", _list_page, PAGE, name="crontab"),
        Route(f"{dash.prefix}/crontab", save, methods=["POST"], name="crontab_add"),
        page_route(
            dash, "/crontab/{row_id}", "crontab_edit.html", _edit_page, [ROW_ID], name="crontab_row"
        ),
        Route(
            route_path(f"{dash.prefix}/crontab/{{row_id}}"),
            save,
            methods=["POST"],
            name="crontab_save",
        ),
        action_route(dash, "/crontab/{row_id}/enable", _status_form(True), name="crontab_enable"),
        action_route(
            dash, "/crontab/{row_id}/disable", _status_form(False), name="crontab_disable"
        ),
        action_route(dash, "/crontab/{row_id}/delete", _delete_form, name="crontab_delete"),
    ]


def _list_page(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    data = row_list(dash, args)
    data.update(form=None, preview=None, row_id=None)
    return data


def _edit_page(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    row = _get(dash, args["row_id"])
    body = RowBody(
        name=row.name, type=row.type, spec=row.spec, payload=row.payload or "", enabled=row.enabled
    )
    result, _ = _checked(dash, body, row.id)
    return {
        "form": body.model_dump(),
        "preview": result,
        "row_id": row.id,
        "types": sorted(dash.app.registry.tasks),
    }
