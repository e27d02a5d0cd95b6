"""``bingo-scheduler plugins [--json]``: plugins, task types, options, payload schemas."""

from __future__ import annotations

from typing import Any

from .. import options as opts
from .common import App, print_json


def register(sub: Any) -> None:
    p = sub.add_parser("plugins", help="list plugins, task types, options and payload schemas")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _options(tt: Any) -> dict[str, Any]:
    out = {}
    for name, default in opts.DEFAULTS.items():
        if name in opts.PER_TASK_ONLY:
            continue
        value = tt.options.get(name, default)
        out[name] = getattr(value, "__qualname__", value) if callable(value) else value
    return out


def _schema(tt: Any) -> dict[str, Any]:
    """The payload's JSON schema; a model that cannot give one is shown with the reason
    (a broken model must not hide the other plugins)."""
    try:
        schema: dict[str, Any] = tt.json_schema()
    except Exception as exc:
        return {"error": f"no JSON schema: {type(exc).__name__}: {exc}"}
    return schema


def collect(app: App) -> dict[str, Any]:
    """The data shown by the command (also used by the dashboard)."""
    registry = app.registry
    plugins = []
    for info in app.manager.infos.values():
        plugins.append(
            {
                "name": info.name,
                "version": info.version,
                "distribution": info.distribution,
                "module": info.module,
                "hooks": info.hooks,
                "error": info.error or None,
                "task_types": [
                    {
                        "name": tt.name,
                        "handler": f"{tt.handler.__module__}.{tt.handler.__qualname__}",
                        "async": tt.is_async,
                        "description": tt.description,
                        "payload_model": tt.payload_model.__name__ if tt.payload_model else None,
                        "payload_schema": _schema(tt),
                        "options": _options(tt),
                    }
                    for tt in registry.tasks.values()
                    if tt.plugin == info.name
                ],
                "schedules": [
                    {"name": s.name, "spec": s.spec, "type": s.type, "payload": s.payload}
                    for s in registry.schedules
                    if s.source == f"plugin:{info.name}"
                ],
            }
        )
    return {"plugins": plugins}


def run(app: App) -> int:
    data = collect(app)
    if app.args.json:
        print_json(data)
        return 0
    if not data["plugins"]:
        print("no plugins installed (install one, e.g. pip install bingo-plugin-daily-report)")
    for p in data["plugins"]:
        version = f" {p['version']}" if p["version"] else ""
        print(f"{p['name']}{version}" + (f"  BROKEN: {p['error']}" if p["error"] else ""))
        for t in p["task_types"]:
            o = t["options"]
            model = t["payload_model"] or "any JSON object"
            print(
                f"  {t['name']}  payload={model}  queue={o['queue']} "
                f"max_retry={o['max_retry']} timeout={o['timeout']:g}s"
                + ("  idempotent" if o["idempotent"] else "")
            )
            if "error" in t["payload_schema"]:
                print(f"      {t['payload_schema']['error']}")
            props = t["payload_schema"].get("properties", {})
            for field, schema in props.items():
                kind = schema.get("type", schema.get("anyOf", "?"))
                default = f" = {schema['default']!r}" if "default" in schema else ""
                print(f"      {field}: {kind}{default}")
        for s in p["schedules"]:
            print(f"  schedule {s['spec']!r} -> {s['type']} {s['payload']}")
    return 0
