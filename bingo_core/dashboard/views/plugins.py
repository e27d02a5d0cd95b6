"""Plugins: version, hooks, task types (options, payload schema), schedules, settings
with secrets masked; broken plugins with their reason."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.routing import Route

from ...config.settings import is_secret_key, mask_secrets
from ...plugins.listing import describe
from ..web import Dash, Endpoint, page_route


def masked(prefix: str, value: Any) -> Any:
    """``value`` with every secret (by its dotted key) shown as ``***``, and passwords in
    URLs masked."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            dotted = f"{prefix}.{key}"
            if is_secret_key(dotted) and item not in (None, ""):
                out[str(key)] = "***"
            else:
                out[str(key)] = masked(dotted, item)
        return out
    if isinstance(value, list):
        return [masked(f"{prefix}[{i}]", item) for i, item in enumerate(value)]
    if isinstance(value, str):
        return mask_secrets(value)
    return value


def plugin_list(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Every plugin, with its settings masked, and the broken ones with their reason."""
    data = describe(dash.app.manager, dash.app.registry)
    for plugin in data["plugins"]:
        settings = dash.app.plugin_settings(plugin["name"])
        plugin["settings"] = masked(f"plugins.{plugin['name']}", settings) if settings else None
    failures = [{"name": f.plugin, "reason": f.reason} for f in dash.app.manager.failures]
    named = {p["name"] for p in data["plugins"]}
    data["broken"] = [f for f in failures if f["name"] not in named] + [
        {"name": p["name"], "reason": p["error"]} for p in data["plugins"] if p["error"]
    ]
    data["task_types"] = sum(len(p["task_types"]) for p in data["plugins"])
    return data


def endpoints() -> list[Endpoint]:
    """The plugins' JSON API."""
    return [
        Endpoint(
            "GET",
            "/plugins",
            plugin_list,
            "Plugins, task types, payload schemas, settings (secrets masked), broken plugins",
            tag="plugins",
        )
    ]


def pages(dash: Dash) -> list[Route]:
    """The plugins page."""
    return [page_route(dash, "/plugins", "plugins.html", plugin_list, name="plugins")]
