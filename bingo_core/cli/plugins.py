"""``bingo-scheduler plugins [--json]``: plugins, task types, options, payload schemas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import print_json

if TYPE_CHECKING:
    from ..app import App


def register(sub: Any) -> None:
    p = sub.add_parser("plugins", help="list plugins, task types, options and payload schemas")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(app: App) -> int:
    # lazy: keeps the registry (pydantic) out of the other commands' start-up
    from ..plugins.listing import describe

    data = describe(app.manager, app.registry)
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
            if t["batch"]:
                b = t["batch"]
                print(
                    f"      batched by {b['key'] or '(one stream)'}: max_size={b['max_size']} "
                    f"max_wait={b['max_wait']:g}s grace={b['grace']:g}s"
                )
            if "error" in t["payload_schema"]:
                print(f"      {t['payload_schema']['error']}")
            props = t["payload_schema"].get("properties", {})
            for field, schema in props.items():
                kind = schema.get("type", schema.get("anyOf", "?"))
                default = f" = {schema['default']!r}" if "default" in schema else ""
                print(f"      {field}: {kind}{default}")
        for s in p["schedules"]:
            what = s["type"] if "workflow" in s else f"{s['type']} {s['payload']}"
            print(f"  schedule {s['spec']!r} -> {what}")
    return 0
