"""What every subcommand shares: the :class:`~bingo_core.app.App` it runs on, output."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

__all__ = ["print_json", "print_table"]


def print_json(data: Any) -> None:
    """Print ``data`` (records as their JSON) as indented JSON on stdout."""
    # lazy: the records load with the command that prints them, not with every command
    from ..records import to_json

    json.dump(to_json(data), sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def shown_name(stats: Any) -> str:
    """A queue's name as the tables show it: ``name (asynq)`` for a queue of
    ``asynq.queues``, kept in Asynq's layout."""
    return f"{stats.queue} (asynq)" if stats.layout == "asynq" else str(stats.queue)


def print_table(rows: list[list[Any]], headers: list[str]) -> None:
    """Print a plain aligned table."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
