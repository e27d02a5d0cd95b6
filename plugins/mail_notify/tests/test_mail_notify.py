"""Tests of the mail_notify plugin against a real SMTP server (aiosmtpd) on a free port."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any

import bingo_plugin_mail_notify as plugin
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import ValidationError

import bingo_core as bingo
from bingo_core.config import load_settings
from bingo_core.errors import PayloadError
from bingo_core.inspector import Inspector
from bingo_core.plugins import PluginManager
from bingo_core.registry import Registry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler: refuses ``*@nowhere.test`` for good and ``*@busy.test`` for now,
    keeps every accepted message."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], Message]] = []
        self.lock = threading.Lock()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.endswith("@nowhere.test"):
            return "550 5.1.1 no such user here"
        if address.endswith("@busy.test"):
            return "451 4.3.0 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        with self.lock:
            self.received.append(
                (str(envelope.mail_from), list(envelope.rcpt_tos), email.message_from_bytes(raw))
            )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def registry() -> Registry:
    manager = PluginManager()
    manager.add(plugin, "mail_notify")
    collected = manager.collect()
    assert manager.failures == []
    return collected


def send(registry: Registry, port: int, payload: dict[str, Any]) -> None:
    task_type = registry.get("task:mail-notify")
    settings = registry.settings_models["mail_notify"].model_validate(
        {"host": "127.0.0.1", "port": port, "sender": "bingo@scheduler.test", "timeout": 5}
    )
    ctx = bingo.TaskContext("t1", task_type.name, "default", 0, 10, settings=settings)
    task_type.handler(ctx, task_type.validate_payload(payload))


def test_registers_a_sync_task_type_with_settings(registry: Registry) -> None:
    task_type = registry.get("task:mail-notify")
    assert task_type.plugin == "mail_notify"
    assert task_type.payload_model is plugin.MailPayload
    assert not task_type.is_async
    assert registry.settings_models["mail_notify"] is plugin.MailSettings


def test_the_mail_arrives(registry: Registry, smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    send(
        registry,
        port,
        {
            "to": ["ops@example.com", "dev@example.org"],
            "subject": "nightly report ready",
            "body": "All 3 jobs done.\n",
        },
    )
    [(sender, recipients, message)] = mailbox.received
    assert sender == "bingo@scheduler.test"
    assert recipients == ["ops@example.com", "dev@example.org"]
    assert message["Subject"] == "nightly report ready"
    assert message["To"] == "ops@example.com, dev@example.org"
    assert message.get_payload(decode=True).replace(b"\r\n", b"\n") == b"All 3 jobs done.\n"


def test_a_permanently_refused_recipient_is_not_retried(
    registry: Registry, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    with pytest.raises(bingo.SkipRetry, match=r"refused every recipient: ghost@nowhere.test: 550"):
        send(registry, port, {"to": ["ghost@nowhere.test"], "subject": "hi", "body": "x"})
    assert mailbox.received == []


def test_a_partly_refused_mail_is_delivered_once_and_not_retried(
    registry: Registry, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    with pytest.raises(bingo.SkipRetry, match=r"accepted 1 recipient\(s\) but refused ghost@"):
        send(
            registry,
            port,
            {"to": ["ops@example.com", "ghost@nowhere.test"], "subject": "hi", "body": "x"},
        )
    assert [r for _, r, _ in mailbox.received] == [["ops@example.com"]]


def test_a_temporary_refusal_is_retried(
    registry: Registry, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    with pytest.raises(plugin.MailDeferred, match=r"someone@busy.test: 451") as info:
        send(registry, port, {"to": ["someone@busy.test"], "subject": "hi", "body": "x"})
    assert not isinstance(info.value, bingo.SkipRetry)
    assert mailbox.received == []


def test_an_unreachable_server_is_retried(registry: Registry) -> None:
    port = free_port()  # nothing listens here
    with pytest.raises(ConnectionError, match=rf"SMTP server 127.0.0.1:{port} is not reachable"):
        send(registry, port, {"to": ["ops@example.com"], "subject": "hi", "body": "x"})


def test_a_worker_delivers_and_archives_a_refused_mail_at_once(
    registry: Registry,
    smtp_server: tuple[Mailbox, int],
    bingo_redis_url: str,
    bingo_worker: Callable[..., None],
) -> None:
    mailbox, port = smtp_server
    settings = load_settings(
        None,
        env={},
        overrides={
            "redis.url": bingo_redis_url,
            "plugins.mail_notify.port": str(port),
            "plugins.mail_notify.sender": "bingo@scheduler.test",
        },
    )
    settings.bind_plugin_settings(registry.settings_models)
    with bingo.Client(settings, registry=registry) as client:
        client.enqueue(
            "task:mail-notify", {"to": ["ops@example.com"], "subject": "done", "body": "ok"}
        )
        refused = client.enqueue(
            "task:mail-notify", {"to": ["ghost@nowhere.test"], "subject": "lost", "body": "x"}
        )
        bingo_worker(registry, settings=settings)
        archived = Inspector(client.broker).task("default", refused.id)
    assert [(m["Subject"], r) for _, r, m in mailbox.received] == [("done", ["ops@example.com"])]
    assert archived.state == "archived"
    assert archived.retried == 0
    assert "ghost@nowhere.test: 550" in archived.error


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"to": ["not-an-address"], "subject": "s", "body": "b"}, "to.0"),
        ({"to": ["ok@example.com", "a b@example.com"], "subject": "s", "body": "b"}, "to.1"),
        ({"to": [], "subject": "s", "body": "b"}, "to"),
        ({"to": ["ok@example.com"], "subject": "two\nlines", "body": "b"}, "subject"),
        ({"to": ["ok@example.com"], "subject": "s"}, "body"),
    ],
)
def test_bad_payloads_are_refused_naming_the_field(
    registry: Registry, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(PayloadError, match=rf"MailPayload: {field}: "):
        registry.get("task:mail-notify").validate_payload(payload)


def test_settings_are_checked() -> None:
    assert plugin.MailSettings().port == 25
    with pytest.raises(ValidationError, match="give both username and password"):
        plugin.MailSettings.model_validate({"username": "bingo"})
    with pytest.raises(ValidationError, match="starttls or implicitTls"):
        plugin.MailSettings.model_validate({"starttls": True, "implicitTls": True})
    with pytest.raises(ValidationError, match="port"):
        plugin.MailSettings.model_validate({"port": 70000})
    secret = plugin.MailSettings.model_validate({"username": "u", "password": "hunter2"})
    assert "hunter2" not in repr(secret)
