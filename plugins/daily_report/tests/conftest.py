"""A real SMTP server (aiosmtpd) that keeps what it receives, and the report's app: the
report, stats and mail plugins inline plus task types whose runs fill the statistics."""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import bingo_plugin_daily_report as report_plugin
import bingo_plugin_daily_stats as stats_plugin
import bingo_plugin_mail_notify as mail_plugin
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.testing import free_port


class Mailbox:
    """Keeps every message the server accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class Job(BaseModel):
    seconds: float = 0.0
    error: str = ""


async def work(ctx: bingo.TaskContext, payload: Job) -> None:
    await asyncio.sleep(payload.seconds)
    if payload.error:
        raise bingo.SkipRetry(payload.error)


class Jobs:
    """Task types whose runs fill the statistics and the archive."""

    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("job:fast", work, payload=Job)
        register("job:slow", work, payload=Job)
        register("job:<b>odd</b>", work, payload=Job)
        register("job:export", work, payload=Job, queue="exports")


@pytest.fixture
def report_app(
    bingo_app: Callable[..., App],
    bingo_database_url: str,
    mailbox: tuple[Mailbox, int],
    tmp_path: Any,
) -> Callable[..., App]:
    """``make(report=None, **sections)``: the app, on SQLite and on MariaDB."""

    def make(report: dict[str, Any] | None = None, **sections: Any) -> App:
        plugins = {
            "daily_report": {"outputDir": str(tmp_path / "reports"), **(report or {})},
            "mail_notify": {"port": mailbox[1], "sender": "bingo@scheduler.test"},
        }
        return bingo_app(
            report_plugin,
            stats_plugin,
            mail_plugin,
            Jobs(),
            database={"url": bingo_database_url},
            server={"timezone": "UTC"},
            worker={"queues": {"default": 2, "exports": 1}},
            plugins=plugins,
            **sections,
        )

    return make
