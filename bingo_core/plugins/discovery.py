"""Which plugins are installed, and which task types each one registers, without importing
them: the ``bingo.plugins`` entry points, kept in a small cache beside what each plugin
registered the last time every plugin was loaded.

Scanning every installed distribution's metadata, and importing every plugin to learn its
task types, is most of what a short command like ``bingo-scheduler enqueue`` would pay for
plugins. The cache lets it import only the plugin that registers the type it enqueues.

The cache is one JSON file under the user's cache directory (``$XDG_CACHE_HOME``, else
``~/.cache``, then ``bingo-scheduler/``), one per interpreter and import path. It is keyed
by the installed distributions (each ``*.dist-info`` / ``*.egg-info`` directory on
``sys.path``: its name, which carries the version, and its modification time), so
installing, upgrading or removing any distribution makes it stale, and a stale or
unreadable cache is read as no cache. The task types in it are only a hint of which
plugins to import: a plugin is always imported and registered for real, and a type its
cached plugin no longer registers makes the caller load every plugin.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "bingo.plugins"
#: Bumped when the file's shape changes.
CACHE_FORMAT = 1


@dataclass(frozen=True)
class Dist:
    """The distribution that exposes an entry point."""

    name: str
    version: str


@dataclass(frozen=True)
class PluginEntry:
    """One ``bingo.plugins`` entry point, as :class:`importlib.metadata.EntryPoint` gives
    it (``name``, ``value``, ``dist``, ``load()``), read from the cache or the metadata."""

    name: str
    value: str
    dist: Dist | None = None

    def load(self) -> Any:
        """Import the entry point's module and return the object it names (what
        :meth:`importlib.metadata.EntryPoint.load` does, raising the same errors)."""
        module, _, attrs = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


@dataclass(frozen=True)
class Installed:
    """The installed plugins: their entry points, and the task types each registered the
    last time every plugin was loaded (absent for a plugin never loaded, or broken)."""

    entries: tuple[PluginEntry, ...]
    task_types: Mapping[str, tuple[str, ...]]
    #: Whether this came from the cache (a hit) rather than the metadata.
    cached: bool

    def providers(self, task_type: str) -> list[str] | None:
        """The plugins that registered ``task_type`` when last loaded; None when none
        did (or nothing is known): the caller then loads every plugin."""
        found = [name for name, types in self.task_types.items() if task_type in types]
        return found or None


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/bingo-scheduler`` (``~/.cache/bingo-scheduler``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bingo-scheduler"


def _cache_file() -> Path:
    where = "\0".join([sys.prefix, sys.version, *sys.path])
    return cache_dir() / f"plugins-{hashlib.sha256(where.encode()).hexdigest()[:20]}.json"


def distributions_key() -> str:
    """A digest of the installed distributions: every ``*.dist-info`` and ``*.egg-info``
    on ``sys.path``, by name (name and version) and modification time."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}".encode())
    for entry in sys.path:
        folder = entry or "."
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        digest.update(b"\0path\0" + os.fsencode(folder))
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                mtime = os.stat(os.path.join(folder, name)).st_mtime_ns
            except OSError:
                mtime = 0
            digest.update(f"\0{name}\0{mtime}".encode())
    return digest.hexdigest()


def _from_metadata() -> tuple[PluginEntry, ...]:
    # lazy: scanning the metadata of every distribution is what the cache saves
    from importlib import metadata

    out = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        out.append(PluginEntry(ep.name, ep.value, Dist(dist.name, dist.version) if dist else None))
    return tuple(out)


def _read(path: Path, key: str) -> Installed | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != CACHE_FORMAT or data.get("key") != key:
            return None
        entries = []
        types: dict[str, tuple[str, ...]] = {}
        for item in data["plugins"]:
            dist = Dist(item["dist"], item["version"]) if item.get("dist") else None
            entries.append(PluginEntry(str(item["name"]), str(item["value"]), dist))
            if isinstance(item.get("task_types"), list):
                types[item["name"]] = tuple(str(t) for t in item["task_types"])
        return Installed(tuple(entries), types, cached=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def installed() -> Installed:
    """The installed plugins: from the cache when it is current, else from the metadata
    (with no task types known)."""
    key = distributions_key()
    found = _read(_cache_file(), key)
    if found is not None:
        return found
    return Installed(_from_metadata(), {}, cached=False)


def remember(entries: Iterable[PluginEntry], task_types: Mapping[str, Iterable[str]]) -> None:
    """Write the cache: ``entries`` (every installed entry point) and the task types each
    loaded plugin registered (``task_types``, by plugin name). A cache that cannot be
    written is left alone: the next command reads the metadata again."""
    data = {
        "format": CACHE_FORMAT,
        "key": distributions_key(),
        "plugins": [
            {
                "name": e.name,
                "value": e.value,
                "dist": e.dist.name if e.dist else "",
                "version": e.dist.version if e.dist else "",
                "task_types": sorted(task_types[e.name]) if e.name in task_types else None,
            }
            for e in entries
        ],
    }
    path = _cache_file()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".plugins-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
