"""Alerts: a task archived after its last retry mails ``alertTo``, at most once per task
type per ``alertInterval`` across workers (the throttle lives in Redis), through real
workers and a real SMTP server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import bingo_plugin_mail_notify as plugin
import pytest
from conftest import SmtpServer
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.testing import run_task


class Job(BaseModel):
    n: int = 0


def refuse(ctx: bingo.TaskContext, payload: Job) -> None:
    raise bingo.SkipRetry(f"refused job {payload.n}")


def crash(ctx: bingo.TaskContext, payload: Job) -> None:
    raise RuntimeError(f"crashed on job {payload.n}")


class Jobs:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("job:refuse", refuse, payload=Job)
        register("job:crash", crash, payload=Job, max_retry=1, retry_backoff=0)


@pytest.fixture
def alert_app(bingo_app: Callable[..., App], smtp_server: SmtpServer) -> Callable[..., App]:
    def make(**mail: Any) -> App:
        section = {"port": smtp_server.port, "sender": "bingo@scheduler.test", **mail}
        return bingo_app(plugin, Jobs(), plugins={"mail_notify": section})

    return make


def alerts(server: SmtpServer) -> list[tuple[list[str], str, str]]:
    return [
        (r.recipients, str(r.message["Subject"]), r.message.get_content()) for r in server.received
    ]


def alert_results(app: App) -> list[Any]:
    done = app.inspector.tasks("default", "completed", limit=1000)
    return [t.result for t in done if t.type == plugin.ALERT_TYPE]


def test_one_alert_per_type_with_the_archived_tasks_and_their_errors(
    alert_app: Callable[..., App],
    smtp_server: SmtpServer,
    bingo_worker: Callable[..., None],
) -> None:
    app = alert_app(alertTo=["On call <oncall@example.com>"], alertInterval="1h")
    refused = [app.client.enqueue("job:refuse", {"n": n}).id for n in range(3)]
    crashed = app.client.enqueue("job:crash", {"n": 7}).id
    bingo_worker(app)
    mails = alerts(smtp_server)
    assert sorted(subject for _, subject, _ in mails) == [
        "[bingo] job:crash: task(s) archived in queue default",
        "[bingo] job:refuse: task(s) archived in queue default",
    ]
    assert all(recipients == ["oncall@example.com"] for recipients, _, _ in mails)
    body = {subject.split()[1]: text for _, subject, text in mails}
    assert crashed in body["job:crash:"]
    assert "RuntimeError: crashed on job 7 (retries exhausted: 1/1)" in body["job:crash:"]
    assert "retried 1/1" in body["job:crash:"]
    # The burst of three is one mail; it lists the ones archived before it ran.
    assert refused[0] in body["job:refuse:"]
    assert "SkipRetry: refused job 0" in body["job:refuse:"]
    assert "held back for 1h (plugins.mail_notify.alertInterval)" in body["job:refuse:"]

    # Another worker (a fresh app: nothing in memory is shared) finds the window held.
    other = alert_app(alertTo=["oncall@example.com"], alertInterval="1h")
    other.client.enqueue("job:refuse", {"n": 9})
    bingo_worker(other)
    assert len(smtp_server.received) == 2
    # What holds them back: one window task per type, waiting out the interval.
    windows = other.inspector.tasks("default", "scheduled")
    assert sorted(t.payload["type"] for t in windows if t.type == plugin.WINDOW_TYPE) == [
        "job:crash",
        "job:refuse",
    ]
    assert all(3590 < (t.process_at or 0) - time.time() <= 3600 for t in windows)


def test_alerts_resume_after_the_interval(
    alert_app: Callable[..., App],
    smtp_server: SmtpServer,
    bingo_worker: Callable[..., None],
) -> None:
    app = alert_app(alertTo="oncall@example.com", alertInterval="1s")
    app.client.enqueue("job:refuse", {"n": 1})
    bingo_worker(app)  # also runs the window task, due 1 s later
    assert len(smtp_server.received) == 1
    time.sleep(0.1)
    app.client.enqueue("job:refuse", {"n": 2})
    bingo_worker(app)
    assert len(smtp_server.received) == 2
    assert "refused job 2" in smtp_server.received[1].message.get_content()


def test_no_alert_without_alert_to(
    alert_app: Callable[..., App],
    smtp_server: SmtpServer,
    bingo_worker: Callable[..., None],
) -> None:
    app = alert_app()
    app.client.enqueue("job:refuse", {})
    app.client.enqueue(plugin.ALERT_TYPE, {"type": "job:refuse"}, retention=60)
    bingo_worker(app)
    assert smtp_server.received == []
    assert {"sent": False, "reason": "plugins.mail_notify.alertTo is empty"} in alert_results(app)


class Recorder:
    """A context whose enqueues are recorded instead of sent."""

    def __init__(self, task_type: str) -> None:
        self.type, self.queue = task_type, "default"
        self.enqueued: list[tuple[str, Any]] = []

    def enqueue(self, task_type: str, payload: Any = None, **options: Any) -> None:
        self.enqueued.append((task_type, payload))


@pytest.mark.parametrize(
    ("task_type", "retrying", "expected"),
    [
        ("job:x", False, [("task:mail-alert", {"type": "job:x", "queue": "default"})]),
        ("job:x", True, []),
        ("task:mail-alert", False, []),
        ("task:mail-alert-window", False, []),
    ],
)
def test_the_hook_alerts_only_for_a_last_failure_and_never_about_alerts(
    task_type: str, retrying: bool, expected: list[Any]
) -> None:
    ctx: Any = Recorder(task_type)
    plugin.bingo_task_failed(ctx=ctx, retrying=retrying)
    assert ctx.enqueued == expected


def test_a_retried_alert_keeps_its_window_and_is_sent(
    alert_app: Callable[..., App], smtp_server: SmtpServer
) -> None:
    app = alert_app(alertTo=["someone@later.test"])  # the first RCPT gets a 451
    task = run_task(app, plugin.ALERT_TYPE, {"type": "job:refuse"}, retry_backoff=0.1)
    assert task.state == "completed", task.error
    assert task.retried == 1
    assert task.result["sent"] is True
    assert [r.recipients for r in smtp_server.received] == [["someone@later.test"]]
