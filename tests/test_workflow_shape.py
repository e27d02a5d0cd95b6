"""A flow's shape (``workflow.shape_of``), kept in its record for the dashboard's tree, and
read back by ``workflow.parse_shape``: a string that does not describe the steps listed
gives no tree."""

from __future__ import annotations

import bingo_core as bingo
from bingo_core.workflow import Node, parse_shape, shape_of


def test_a_shape_and_its_tree() -> None:
    s = bingo.step("t")
    flow = bingo.chain(s, bingo.group(s, bingo.chain(s, s)), s)
    assert shape_of(flow) == "[.{.[..]}.]"
    assert shape_of(bingo.group(s, s)) == "{..}"
    tree = parse_shape("[.{.[..]}.]", 5)
    assert tree == Node(
        "chain",
        items=[
            Node("step", 0),
            Node(
                "group",
                items=[Node("step", 1), Node("chain", items=[Node("step", 2), Node("step", 3)])],
            ),
            Node("step", 4),
        ],
    )


def test_a_shape_that_does_not_fit_gives_no_tree() -> None:
    for shape, steps in [
        ("", 2),  # a record written before shapes
        ("[..]", 3),  # another count of steps
        ("[.}", 1),  # a group closing a chain
        ("[..", 2),  # unclosed
        ("..", 2),  # two roots
        ("[..]]", 2),
        ("[.x]", 1),
    ]:
        assert parse_shape(shape, steps) is None, shape
