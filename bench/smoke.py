"""The ``--smoke`` option every bench script shares.

``--smoke`` is a quick run (a few hundred tasks, a few seconds, no CPU pinning) that shows
the script still works against this tree; ``tests/test_bench.py`` runs each script so.
Its figures mean nothing. Options given on the command line still win over the smoke
values.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def parse_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, smoke: dict[str, Any]
) -> argparse.Namespace:
    """Add ``--smoke`` to ``parser`` and parse ``argv``; with ``--smoke`` the options in
    ``smoke`` (dest -> value) get those values unless given on the command line."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a quick run that only checks the script works (figures mean nothing): "
        + ", ".join(_shown(k, v) for k, v in smoke.items()),
    )
    args = parser.parse_args(argv)
    if args.smoke:
        parser.set_defaults(**smoke)
        args = parser.parse_args(argv)
    return args


def _shown(dest: str, value: Any) -> str:
    flag = "--" + dest.replace("_", "-")
    return flag if value is True else f"{flag} {value}"
