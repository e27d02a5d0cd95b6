"""``bingo-scheduler plugin new NAME``: write a ready plugin package.

The package (``NAME/``) holds a pyproject with the ``bingo.plugins`` entry point, a
handler with its payload and settings models, a README and passing tests built on
:mod:`bingo_core.testing`; ``pip install ./NAME`` makes its task type run in every daemon.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..errors import UsageError
from .common import print_json
from .templates import plugin as templates

if TYPE_CHECKING:
    from ..app import App

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_TASK_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]*$")
_PREFIXES = ("bingo-plugin-", "bingo_plugin_")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``plugin`` command group."""
    plugin = subparsers.add_parser(
        "plugin",
        help="write plugin packages",
        description="Tools for plugin authors.",
    )
    plugin_sub = plugin.add_subparsers(title="actions", metavar="ACTION", required=True)
    new = plugin_sub.add_parser(
        "new",
        help="write a ready plugin package (pip install ./NAME to use it)",
        description=(
            "Write a plugin package in the folder NAME: pyproject with the bingo.plugins "
            "entry point, a handler, payload and settings models, a README and tests."
        ),
    )
    new.add_argument(
        "name",
        metavar="NAME",
        help="plugin name: lowercase letters, digits, '-' or '_' (e.g. disk-report)",
    )
    new.add_argument(
        "--dir",
        default=".",
        metavar="DIR",
        help="where the NAME folder is created (default: the current folder)",
    )
    new.add_argument(
        "--task-type",
        default=None,
        metavar="TYPE",
        help="the task type it registers (default: task:NAME)",
    )
    new.add_argument("--json", action="store_true", help="print what was written as JSON")
    new.set_defaults(func=_new)


def names(name: str, task_type: str | None = None) -> dict[str, str]:
    """The names derived from a plugin name: ``dist``, ``module``, ``entry``,
    ``task_type``, ``camel``, ``func``, ``core``. Raises :class:`UsageError` for a bad one."""
    if not _NAME.match(name) or len(name) > 60:
        raise UsageError(
            f"plugin name {name!r}: expected lowercase letters, digits, '-' or '_', starting "
            "with a letter, at most 60 characters (e.g. disk-report)"
        )
    base = name
    for prefix in _PREFIXES:
        base = base.removeprefix(prefix)
    if not base:
        raise UsageError(f"plugin name {name!r}: give the part after {name!r}")
    snake = base.replace("-", "_")
    kebab = base.replace("_", "-")
    chosen = task_type if task_type is not None else f"task:{kebab}"
    if not _TASK_TYPE.match(chosen) or len(chosen) > 200:
        raise UsageError(
            f"--task-type {chosen!r}: expected letters, digits and ':._-' (e.g. task:{kebab})"
        )
    major, minor = __version__.split(".")[:2]
    return {
        "dist": f"bingo-plugin-{kebab}",
        "module": f"bingo_plugin_{snake}",
        "entry": snake,
        "task_type": chosen,
        "camel": "".join(part.capitalize() for part in snake.split("_")),
        "func": snake,
        "core": f"{major}.{minor}",
    }


def write_package(name: str, parent: Path, task_type: str | None = None) -> tuple[Path, list[str]]:
    """Write the package of plugin ``name`` into ``parent/name``; returns the folder and
    the files written (relative paths). Refuses a folder that exists and is not empty."""
    values = names(name, task_type)
    root = parent / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"{str(root)!r} already exists and is not empty; choose another NAME")
    written = []
    content = templates.files(values, test_name=f"test_{values['entry']}.py")
    try:
        for relative, text in content.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(relative)
    except OSError as exc:
        raise UsageError(f"cannot write {str(root)!r}: {exc.strerror}") from None
    return root, written


def _new(app: App) -> int:
    args = app.args
    root, written = write_package(args.name, Path(args.dir), args.task_type)
    values = names(args.name, args.task_type)
    if args.json:
        print_json(
            {
                "path": str(root),
                **{k: values[k] for k in ("dist", "module", "entry", "task_type")},
                "files": written,
            }
        )
        return 0
    print(f"wrote plugin {values['dist']} ({values['task_type']}) in {root}/:")
    for relative in written:
        print(f"  {relative}")
    print("next:")
    print(f"  pip install -e '{root}[test]'   # the daemon finds it from now on")
    print(f"  cd {root} && pytest               # needs redis-server on the PATH")
    print(f'  bingo-scheduler enqueue {values["task_type"]} --payload \'{{"name": "Ada"}}\'')
    return 0
