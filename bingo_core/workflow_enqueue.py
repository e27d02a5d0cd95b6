"""What ``Client.enqueue_workflow`` and its asyncio twin share around their writes: the
flow compiled and its ``wf_enqueue`` calls (one per queue, the home's last), the refusal of
a call Redis turned down, and the :class:`~.workflow.WorkflowInfo` returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from .broker.keys import QueueKeys
from .broker.scripts import Call
from .errors import DuplicateTaskError
from .workflow import Compiled, Flow, Step, TaskBuilder, WorkflowInfo, compile_flow, workflow_calls


def plan(
    builder: TaskBuilder,
    q: Callable[[str], QueueKeys],
    flow: Flow,
    on_failure: Step | None,
    headers: Mapping[str, str] | None,
    carried: Mapping[str, str] | None,
) -> tuple[Compiled, list[tuple[str, Call]]]:
    """The flow compiled (every step validated: nothing is written for a bad one) and
    the calls that write it, by queue (``q``: the broker's key builder)."""
    compiled = compile_flow(builder, flow, on_failure, headers, carried)
    return compiled, workflow_calls(compiled, q, time.time())


def refused(compiled: Compiled) -> DuplicateTaskError:
    """The error of a workflow whose call Redis refused."""
    return DuplicateTaskError(f"workflow {compiled.id}: its id or a step id exists")


def info_of(compiled: Compiled) -> WorkflowInfo:
    """What the caller gets of a workflow written."""
    return WorkflowInfo(compiled.id, [t.id for t in compiled.steps], compiled.queue)
