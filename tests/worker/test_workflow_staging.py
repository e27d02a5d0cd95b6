"""A cross-queue workflow is whole or absent: the other queues' parts are staged until the
home's call writes the record, and a sweep deletes the parts whose record never appeared
(a client SIGKILLed between its per-queue writes), on a real Redis with a real worker."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from worker_helpers import Running

import bingo_core as bingo
from bingo_core import Client
from bingo_core.app import App
from bingo_core.broker.staging import sweep
from bingo_core.workflow_enqueue import plan

QUEUES = ("default", "red", "blue")


@pytest.fixture
def settings(bingo_settings_factory: Any) -> Any:
    return bingo_settings_factory(worker={"queues": dict.fromkeys(QUEUES, 1)})


@pytest.fixture
def client(settings: Any) -> Iterator[Client]:
    c = Client(settings)  # the installed test plugin's types
    yield c
    c.close()


def flow(out: Path) -> Any:
    def job(name: str, queue: str) -> Any:
        payload = {"path": str(out), "seconds": 0, "value": name}
        return bingo.step("test:sync-sleep", payload, queue=queue)

    return bingo.chain(job("a", "red"), bingo.group(job("b", "default"), job("c", "blue")))


def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_parts_whose_home_never_came_are_swept_and_the_home_refused(
    client: Client, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    compiled, calls = plan(
        client.builder, client.broker.q, flow(tmp_path / "out"), None, None, None
    )
    assert [q for q, _ in calls] == ["default", "blue", "red"]  # the home (red) last
    for queue, call in calls[:-1]:  # the writer stops before the home's call
        assert client.broker.enqueue_workflow(queue, call)
    r: redis.Redis = client.broker.redis
    b_id, c_id = compiled.steps[1].id, compiled.steps[2].id
    assert r.hget(f"bingo:{{default}}:t:{b_id}", "state") == b"waiting"
    staged = r.zscore("bingo:{default}:workflows:staged", compiled.id)
    assert staged is not None and staged > time.time() + 60  # a deadline ahead
    assert sweep(client.broker, QUEUES) == 0  # before the deadline: left alone
    with caplog.at_level(logging.WARNING, logger="bingo.worker"):
        assert sweep(client.broker, QUEUES, now=staged + 1) == 2
    lines = [rec.getMessage() for rec in caplog.records]
    assert len(lines) == 2 and all(compiled.id in line and "red" in line for line in lines)
    assert not r.exists(f"bingo:{{default}}:t:{b_id}", f"bingo:{{blue}}:t:{c_id}")
    for q in ("default", "blue"):
        assert r.zcard(f"bingo:{{{q}}}:waiting") == 0
        assert r.zcard(f"bingo:{{{q}}}:workflows:staged") == 0
        assert r.hlen(f"bingo:{{{q}}}:workflows:away") == 0
        assert not r.exists(f"bingo:{{{q}}}:wf:{compiled.id}:steps")
    # the writer wakes up: its home call is refused, so no record with missing steps
    assert not client.broker.enqueue_workflow("red", calls[-1][1])
    assert not r.exists(f"bingo:{{red}}:wf:{compiled.id}")


def test_a_whole_workflow_leaves_nothing_staged(client: Client, tmp_path: Path) -> None:
    wf = client.enqueue_workflow(flow(tmp_path / "out"))
    r: redis.Redis = client.broker.redis
    for q in ("default", "blue"):  # the home's call opened them (delivered by the client)
        assert r.zcard(f"bingo:{{{q}}}:workflows:staged") == 0
    assert sweep(client.broker, QUEUES, now=time.time() + 10_000) == 0
    assert r.hget(f"bingo:{{red}}:wf:{wf.id}", "state") == b"running"


WRITER = """
import sys, time
import bingo_core as bingo
from bingo_core import Client
from bingo_core.broker.broker import Broker

calls = []
real = Broker.enqueue_workflow

def paused(self, queue, call):
    calls.append(queue)
    if len(calls) == 3:  # the home's call: stop here until killed
        print(" ".join(calls[:2]), flush=True)
        time.sleep(600)
    return real(self, queue, call)

Broker.enqueue_workflow = paused
client = Client(redis_url=sys.argv[1])
step = lambda name, q: bingo.step(
    "test:sync-sleep", {"path": sys.argv[2], "seconds": 0, "value": name}, queue=q
)
client.enqueue_workflow(
    bingo.chain(step("a", "red"), bingo.group(step("b", "default"), step("c", "blue")))
)
"""


def test_a_client_killed_between_its_queues(
    client: Client,
    settings: Any,
    bingo_redis_url: str,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.touch()
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER), bingo_redis_url, str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().split() == ["default", "blue"]
    finally:
        writer.kill()  # SIGKILL between the other queues' writes and the home's
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
    r: redis.Redis = client.broker.redis
    (wf,) = [w.decode() for w in r.zrange("bingo:{default}:workflows:staged", 0, -1)]
    assert r.zcard("bingo:{default}:waiting") == 1 and r.zcard("bingo:{blue}:waiting") == 1
    app = App(settings)
    running = Running(app)
    try:
        whole = client.enqueue_workflow(flow(out))  # another workflow runs meanwhile
        assert client.wait(whole.id, timeout=10) == [None, None]
        with caplog.at_level(logging.WARNING, logger="bingo.worker"):
            for q in ("default", "blue"):  # the deadline passes
                r.zadd(f"bingo:{{{q}}}:workflows:staged", {wf: time.time() - 1}, xx=True)
            waiting = ("bingo:{default}:waiting", "bingo:{blue}:waiting")
            # the sweep runs at most every relay GUARD: two of them at most, on a busy machine
            wait_for(lambda: sum(r.zcard(k) for k in waiting) == 0, 30)
        # the killed client's steps never ran (only the whole workflow's did)
        assert sorted(out.read_text().split()) == ["a", "b", "c"]
        assert any(wf in rec.getMessage() for rec in caplog.records)
        assert not r.exists(f"bingo:{{red}}:wf:{wf}")
        for q in QUEUES:
            assert r.zcard(f"bingo:{{{q}}}:workflows:staged") == 0
            assert r.hlen(f"bingo:{{{q}}}:workflows:away") == 0
    finally:
        running.stop()
        app.close()
