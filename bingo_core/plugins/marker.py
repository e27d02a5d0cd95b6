"""The hook implementation marker, alone: what a plugin module needs at import time
(``@bingo.hookimpl``) costs pluggy and nothing else of Bingo."""

from __future__ import annotations

import pluggy

#: The project name pluggy matches hook implementations by.
PROJECT = "bingo"
hookimpl = pluggy.HookimplMarker(PROJECT)
