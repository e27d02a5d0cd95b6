"""A plugin that cannot be imported: the loader must report it by name and go on."""

from __future__ import annotations

raise ImportError("missing dependency: nonexistent_lib")
