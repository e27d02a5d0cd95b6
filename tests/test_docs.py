"""docs/plugins.md documents every hook and hook argument of
``bingo_core/plugins/hookspecs.py``, every public ``TaskContext`` attribute and every task
option: this fails when one is added without its documentation."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from bingo_core import options
from bingo_core.context import TaskContext
from bingo_core.plugins import hookspecs

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
TEXT = DOC.read_text(encoding="utf-8")


def hooks() -> dict[str, list[str]]:
    """Every hookspec in hookspecs.py -> its argument names."""
    found = {
        name: list(inspect.signature(func).parameters)
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, "bingo_spec")
    }
    assert found, "no hookspec found in bingo_core/plugins/hookspecs.py"
    return found


def hook_sections() -> dict[str, str]:
    """``### `bingo_x(args)``` heading -> the text of its section."""
    sections: dict[str, str] = {}
    for match in re.finditer(
        r"^### `(bingo_\w+)\((.*?)\)`\n(.*?)(?=^#{1,3} |\Z)", TEXT, re.M | re.S
    ):
        sections[match.group(1)] = match.group(2) + "\n" + match.group(3)
    return sections


def context_attributes() -> list[str]:
    """The public attributes, properties and methods of TaskContext."""
    names = {n for n in TaskContext.__slots__ if not n.startswith("_")}
    names |= {n for n, _ in inspect.getmembers(TaskContext) if not n.startswith("_")}
    return sorted(names)


HOOKS = hooks()
SECTIONS = hook_sections()


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_every_hook_has_a_section(hook: str) -> None:
    assert hook in SECTIONS, f"docs/plugins.md has no '### `{hook}(...)`' section"


@pytest.mark.parametrize(
    ("hook", "argument"), [(h, a) for h, args in sorted(HOOKS.items()) for a in args]
)
def test_every_hook_argument_is_documented(hook: str, argument: str) -> None:
    section = SECTIONS.get(hook, "")
    heading_args = [a.strip() for a in section.split("\n", 1)[0].split(",")]
    assert argument in heading_args, f"{hook}: heading does not list {argument!r}"
    assert f"- `{argument}` (" in section, f"{hook}: argument {argument!r} is not described"


def test_documented_hooks_exist() -> None:
    assert set(SECTIONS) <= set(HOOKS), set(SECTIONS) - set(HOOKS)


@pytest.mark.parametrize("attribute", context_attributes())
def test_every_task_context_attribute_is_documented(attribute: str) -> None:
    assert re.search(rf"`ctx\.{attribute}\b", TEXT), f"ctx.{attribute} is not in docs/plugins.md"


@pytest.mark.parametrize("option", sorted(options.OPTION_NAMES | options.SCHEDULE_OPTIONS))
def test_every_task_option_is_documented_with_an_example(option: str) -> None:
    row = re.search(rf"^\| `{option}` \|.*\| `{option}=[^`]+` \|$", TEXT, re.M)
    in_prose = f"`{option}`" in TEXT and re.search(rf"\b{option}=", TEXT)
    assert row or (option in options.SCHEDULE_OPTIONS and in_prose), (
        f"task option {option!r} has no row with an example in docs/plugins.md"
    )
