"""What is known of each plugin: version, hooks, task types (options, payload schema) and
schedules, with the reason of a broken one. ``bingo-scheduler plugins`` prints it and the
dashboard's plugins page shows it."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic_core import to_jsonable_python

from .. import options as opts
from ..registry import Registry, ScheduleEntry, TaskType, plugin_source
from ..workflow import flow_data, flow_label
from .manager import PluginManager


def _options(tt: TaskType) -> dict[str, Any]:
    out = {}
    for name, default in opts.DEFAULTS.items():
        if name in opts.PER_TASK_ONLY:
            continue
        value = tt.options.get(name, default)
        out[name] = getattr(value, "__qualname__", value) if callable(value) else value
    return out


def _schema(tt: TaskType) -> dict[str, Any]:
    """The payload's JSON schema; a model that cannot give one is shown with the reason
    (a broken model must not hide the other plugins)."""
    try:
        schema: dict[str, Any] = tt.json_schema()
    except Exception as exc:
        return {"error": f"no JSON schema: {type(exc).__name__}: {exc}"}
    return schema


def _task_type(tt: TaskType) -> dict[str, Any]:
    return {
        "name": tt.name,
        "handler": f"{tt.handler.__module__}.{tt.handler.__qualname__}",
        "async": tt.is_async,
        "description": tt.description,
        "payload_model": tt.payload_model.__name__ if tt.payload_model else None,
        "payload_schema": _schema(tt),
        "options": _options(tt),
        # a batched type: its rule (durations in seconds), else None
        "batch": dataclasses.asdict(tt.batch) if tt.batch is not None else None,
    }


def describe(manager: PluginManager, registry: Registry) -> dict[str, Any]:
    """``{"plugins": [...]}``: each plugin the manager knows, with its task types and
    schedules from ``registry``."""
    plugins = []
    for info in manager.infos.values():
        source = plugin_source(info.name)
        plugins.append(
            {
                "name": info.name,
                "version": info.version,
                "distribution": info.distribution,
                "module": info.module,
                "hooks": info.hooks,
                "error": info.error or None,
                "task_types": [
                    _task_type(tt) for tt in registry.tasks.values() if tt.plugin == info.name
                ],
                "schedules": [_schedule(s) for s in registry.schedules if s.source == source],
            }
        )
    return {"plugins": plugins}


def _schedule(entry: ScheduleEntry) -> dict[str, Any]:
    """An entry as listed: one that starts a workflow shows it (``type``: the steps in one
    line, ``workflow``: the flow in the YAML form)."""
    out = {"name": entry.name, "spec": entry.spec, "type": entry.type, "payload": entry.payload}
    if entry.flow is not None:
        out["type"] = flow_label(entry.flow)
        out["workflow"] = to_jsonable_python(flow_data(entry.flow), fallback=str)
        if entry.on_failure is not None:
            out["on_failure"] = to_jsonable_python(flow_data(entry.on_failure), fallback=str)
    return out
