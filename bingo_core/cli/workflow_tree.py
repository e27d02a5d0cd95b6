"""``workflows show``'s steps as the flow's tree: a row per step (its state, type, how
long it ran, a short result or error) under the chain ("sequence") or group ("parallel")
it is in, a level deeper per level, as the dashboard's workflow page shows them."""

from __future__ import annotations

from ..durations import shown
from ..message import TaskInfo
from ..workflow import Node
from ..workflows_view import (
    WorkflowDetail,
    failure_unused,
    result_text,
    shorten,
    step_duration,
)

#: How much of a step's result (or error's first line) a row shows.
RESULT_SHOWN = 60


def step_row(
    label: str, queue: str, task_id: str, info: TaskInfo | None, missing: str, kind: str = "?"
) -> list[str]:
    """One step's row; ``missing``: its state when it has no task."""
    if info is None:
        return [label, queue, kind, missing, "", task_id, ""]
    text = result_text(info.result)
    if not text and info.error:
        text = "error: " + info.error.splitlines()[0]
    took = step_duration(info)
    return [
        label,
        queue,
        info.type,
        info.state,
        "" if took is None else shown(took),
        task_id,
        shorten(text, RESULT_SHOWN),
    ]


def tree_rows(d: WorkflowDetail) -> list[list[str]]:
    """The rows of a workflow's steps, in its tree (in flow order when the record holds
    none), then its on_failure step."""
    rows: list[list[str]] = []
    queues = [s.queue for s in d.view.steps]

    def add(node: Node, depth: int) -> None:
        pad = "  " * depth
        if node.kind == "step":
            i = node.index
            rows.append(step_row(f"{pad}#{i}", queues[i], d.ids[i], d.tasks[i], "gone"))
            return
        rows.append([pad + ("sequence" if node.kind == "chain" else "parallel"), *[""] * 6])
        for item in node.items:
            add(item, depth + 1)

    if d.tree is None:
        for i, (task_id, info) in enumerate(zip(d.ids, d.tasks, strict=True)):
            rows.append(step_row(f"#{i}", queues[i], task_id, info, "gone"))
    else:
        add(d.tree, 0)
    w = d.view
    if w.on_failure_id:
        unused = failure_unused(w.state)
        kind = d.on_failure_type or "?"
        where = d.on_failure_queue
        rows.append(step_row("on_failure", where, w.on_failure_id, d.on_failure, unused, kind))
    return rows
