"""The JSON API's OpenAPI 3.1 document, generated from the route table
(:class:`~bingo_core.dashboard.web.Endpoint`): parameters with their bounds, request bodies
from their pydantic models, answers from the records they hold (:mod:`bingo_core.records`),
and the one error shape every refusal has."""

from __future__ import annotations

import copy
from typing import Any

from ..records import type_schema
from .web import Endpoint

ERROR = {
    "type": "object",
    "required": ["error", "field"],
    "properties": {
        "error": {"type": "string", "description": "one line saying what is wrong"},
        "field": {"type": "string", "description": "the input it is about ('' if none)"},
    },
}
_REFUSALS = {
    "400": "bad input (the message names the field)",
    "401": "no key, or a wrong one",
    "403": "the read-only key on a change, or a missing CSRF token (cookie sessions)",
    "404": "no such queue, task, entry or row",
    "409": "the change conflicts with the current state (duplicate id, unique lock)",
    "429": "too many wrong keys from this address",
    "503": "Redis or the database is not reachable",
}


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(model.model_json_schema(ref_template="#/components/schemas/{model}"))
    for name, sub in (schema.pop("$defs", None) or {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def response_schema(response: Any) -> dict[str, Any]:
    """The JSON schema of an endpoint's answer, from its records (see
    :attr:`~bingo_core.dashboard.web.Endpoint.response`)."""
    return {"type": "object"} if response is None else type_schema(response)


def document(endpoints: list[Endpoint], api_prefix: str, version: str) -> dict[str, Any]:
    """The OpenAPI document of ``endpoints`` (served at ``<api_prefix>/openapi.json``)."""
    components: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, Any] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "operationId": f"{ep.method.lower()}_{ep.name or ep.func.__name__}",
            "summary": ep.summary,
            "tags": [ep.tag] if ep.tag else [],
            "parameters": [
                {
                    "name": p.name,
                    "in": p.where,
                    "required": p.required,
                    "schema": p.schema(),
                    **({"description": p.description} if p.description else {}),
                }
                for p in ep.params
            ],
            "responses": {
                str(ep.status): {
                    "description": "done" if ep.method != "GET" else "the data",
                    "content": {"application/json": {"schema": response_schema(ep.response)}},
                },
                **{
                    code: {
                        "description": text,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                    for code, text in _REFUSALS.items()
                },
            },
        }
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(ep.body, components)}},
            }
        paths.setdefault(api_prefix + ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bingo Scheduler dashboard API",
            "version": version,
            "description": (
                "Queues, tasks, schedules, sys_crontab rows, servers, plugins and Redis. "
                "Send Authorization: Bearer <server.key> (or dashboard.readOnlyKey, which "
                "may only read). Every refusal is {error, field}."
            ),
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
