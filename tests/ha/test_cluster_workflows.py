"""A workflow on a real Redis Cluster: its steps, record and links are in its queue's
slot, so the one ``wf_enqueue.lua`` call and every ack that counts a step stay on one
node; a chord runs in order on a queue whose keys live on another master than the
default queue's, and a failing step fails its workflow there."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.broker.keys import Keys
from bingo_core.broker.staging import sweep
from bingo_core.client import Client
from bingo_core.testing import drain
from bingo_core.workflow import Step, compile_flow, workflow_calls

from .redis_ha import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

KEYS = Keys("bingo")


def test_a_workflow_on_a_cluster(
    cluster: Cluster, make_app: Callable[..., App], tmp_path: Path
) -> None:
    low, default = KEYS.queue("low"), KEYS.queue("default")
    assert cluster.owner(low.pending) != cluster.owner(default.pending)
    slots = {cluster.keyslot(k) for k in (low.workflow("wf-x"), low.workflow_steps("wf-x"))}
    assert slots == {cluster.keyslot(low.workflows)} == {cluster.keyslot(low.pending)}
    app = make_app(
        {"cluster": {"nodes": cluster.nodes}},
        **{"worker.queues": json.dumps({"default": 1, "low": 1})},
    )
    client = Client(app=app)
    out = tmp_path / "out.txt"

    def step(value: str, kind: str = "test:record") -> Step:
        return bingo.step(kind, {"path": str(out), "value": value}, queue="low")

    ok = client.enqueue_workflow(
        bingo.chain(step("a"), bingo.group(step(f"p{i}") for i in range(3)), step("last"))
    )
    bad = client.enqueue_workflow(bingo.chain(step("s", "test:skip"), step("never")))
    asyncio.run(drain(app=app, timeout=30))
    lines = out.read_text().splitlines()
    assert all(lines.index("a") < lines.index(f"p{i}") < lines.index("last") for i in range(3))
    assert "never" not in lines
    r = app.broker.redis
    assert r.hget(low.workflow(ok.id), "state") == b"completed"
    assert r.hget(low.workflow(bad.id), "state") == b"failed"
    with pytest.raises(bingo.TaskFailed, match=f"workflow {bad.id}"):
        client.wait(bad.id, timeout=5)
    client.close()


def test_a_failed_workflow_resumes_on_a_cluster(
    cluster: Cluster, make_app: Callable[..., App], tmp_path: Path
) -> None:
    low = KEYS.queue("low")
    app = make_app(
        {"cluster": {"nodes": cluster.nodes}},
        **{"worker.queues": json.dumps({"default": 1, "low": 1})},
    )
    client = Client(app=app)
    out, flaky = tmp_path / "out.txt", tmp_path / "flaky.txt"
    first = {"path": str(flaky), "value": "s", "fail_times": 1}
    wf = client.enqueue_workflow(
        bingo.chain(
            bingo.step("test:fail", first, queue="low", max_retry=0),
            bingo.step("test:record", {"path": str(out), "value": "next"}, queue="low"),
        )
    )
    asyncio.run(drain(app=app, timeout=30))
    r = app.broker.redis
    assert r.hget(low.workflow(wf.id), "state") == b"failed"
    app.inspector.act("retry", wf.task_ids[0])  # task_move.lua resumes it, in its slot
    assert r.hget(low.workflow(wf.id), "state") == b"running"
    asyncio.run(drain(app=app, timeout=30))
    assert r.hget(low.workflow(wf.id), "state") == b"completed"
    assert out.read_text().splitlines() == ["next"]


def test_a_workflow_across_queues_on_three_masters(
    cluster: Cluster, make_app: Callable[..., App], tmp_path: Path
) -> None:
    """Steps on three queues whose keys live on three masters: each script stays in one
    slot, what one queue tells another goes through its outbox and the relay loop."""
    names = ["default", "low"]
    owners = {cluster.owner(KEYS.queue(n).pending) for n in names}
    names.append(
        next(
            n
            for n in (f"q{i}" for i in range(100))
            if cluster.owner(KEYS.queue(n).pending) not in owners
        )
    )
    qs = [KEYS.queue(n) for n in names]
    assert len({cluster.owner(q.pending) for q in qs}) == 3  # three masters
    assert all(cluster.keyslot(q.relay) == cluster.keyslot(q.pending) for q in qs)
    assert all(cluster.keyslot(q.workflows_away) == cluster.keyslot(q.pending) for q in qs)
    app = make_app(
        {"cluster": {"nodes": cluster.nodes}},
        **{"worker.queues": json.dumps(dict.fromkeys(names, 1))},
    )
    client = Client(app=app)
    out = tmp_path / "out.txt"
    a, b, c = names

    def step(value: str, queue: str, kind: str = "test:record") -> Step:
        return bingo.step(kind, {"path": str(out), "value": value}, queue=queue)

    ok = client.enqueue_workflow(
        bingo.chain(
            step("first", b),
            bingo.group(step("p0", a), step("p1", b), step("p2", c)),
            step("chord", c),
            step("last", a),
        )
    )
    bad = client.enqueue_workflow(
        bingo.chain(step("s0", a), step("s", c, "test:skip"), step("never", b)),
        on_failure=step("alert", b),
    )
    dep = client.enqueue("test:record", {"path": str(out), "value": "dep"}, queue=c)
    after = client.enqueue(
        "test:record", {"path": str(out), "value": "after"}, queue=a, depends_on=[dep]
    )
    asyncio.run(drain(app=app, timeout=30))
    lines = out.read_text().splitlines()
    assert all(lines.index("first") < lines.index(f"p{i}") for i in range(3))
    assert all(lines.index(f"p{i}") < lines.index("chord") < lines.index("last") for i in range(3))
    assert "never" not in lines and lines.count("alert") == 1
    assert lines.index("dep") < lines.index("after")
    r = app.broker.redis
    assert r.hget(KEYS.queue(b).workflow(ok.id), "state") == b"completed"
    assert r.hget(KEYS.queue(a).workflow(bad.id), "state") == b"failed"
    assert client.wait(ok.id, timeout=5) is None
    with pytest.raises(bingo.TaskFailed, match=f"workflow {bad.id}"):
        client.wait(bad.id, timeout=5)
    assert app.broker.reader.get_task(b, bad.task_ids[2]).state == "archived"
    assert app.broker.reader.get_task(a, after.id, missing_ok=True) is None  # completed
    assert all(r.hlen(q.relay) == 0 for q in qs)
    client.close()


def test_a_workflow_across_masters_resumes_and_a_lone_part_is_swept(
    cluster: Cluster, make_app: Callable[..., App], tmp_path: Path
) -> None:
    """Retrying a failed step in a queue that is not the home resumes the workflow through
    the outboxes (the record on one master, the held steps on two others); a part written
    without its home's call is deleted by the sweep, its home's id voided."""
    names = ["default", "low"]
    owners = {cluster.owner(KEYS.queue(n).pending) for n in names}
    names.append(
        next(
            n
            for n in (f"q{i}" for i in range(100))
            if cluster.owner(KEYS.queue(n).pending) not in owners
        )
    )
    a, b, c = names
    app = make_app(
        {"cluster": {"nodes": cluster.nodes}},
        **{"worker.queues": json.dumps(dict.fromkeys(names, 1))},
    )
    client = Client(app=app)
    out, flaky = tmp_path / "out.txt", tmp_path / "flaky.txt"

    def step(value: str, queue: str) -> Step:
        return bingo.step("test:record", {"path": str(out), "value": value}, queue=queue)

    once = {"path": str(flaky), "value": "f", "fail_times": 1}
    wf = client.enqueue_workflow(
        bingo.chain(
            step("first", b),
            bingo.group(step("p0", a), bingo.step("test:fail", once, queue=c, max_retry=0)),
            step("chord", c),
            step("last", a),
        ),
        on_failure=step("alert", a),
    )
    asyncio.run(drain(app=app, timeout=30))
    r = app.broker.redis
    home = KEYS.queue(b)
    assert r.hget(home.workflow(wf.id), "state") == b"failed"
    assert r.hget(KEYS.queue(c).task(wf.task_ids[3]), "wf_held") == b"1"
    app.inspector.act("retry", wf.task_ids[2])  # in c; the record is in b
    assert r.hget(home.workflow(wf.id), "state") == b"running"
    asyncio.run(drain(app=app, timeout=30))
    assert r.hget(home.workflow(wf.id), "state") == b"completed"
    lines = out.read_text().splitlines()
    assert sorted(lines) == ["alert", "chord", "first", "last", "p0"]
    assert lines.index("chord") < lines.index("last")
    assert flaky.read_text().splitlines() == ["f", "f"]
    assert r.hget(home.workflow_outcomes, "resumed") == b"1"

    compiled = compile_flow(
        client.builder, bingo.chain(step("x", b), step("y", c)), None, None, None
    )
    calls = workflow_calls(compiled, app.broker.q, time.time())
    assert [q for q, _ in calls] == [c, b]
    assert app.broker.enqueue_workflow(c, calls[0][1])  # the home's call never comes
    assert sweep(app.broker, [c], now=time.time() + 3600) == 1
    assert not r.exists(KEYS.queue(c).task(compiled.steps[1].id))
    assert not app.broker.enqueue_workflow(b, calls[1][1])  # voided: refused
    client.close()
