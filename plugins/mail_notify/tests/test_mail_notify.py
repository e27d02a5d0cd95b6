"""Tests of the mail_notify plugin against a real SMTP server (aiosmtpd): delivery with
cc, bcc, HTML and attachments, STARTTLS and SMTPS with a self-signed certificate, login,
temporary and permanent refusals through a real worker, and the payload and settings checks."""

from __future__ import annotations

import base64
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bingo_plugin_mail_notify as plugin
import pytest
from conftest import PASSWORD, USER, Certificate, SmtpServer, authenticate
from pydantic import ValidationError

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.errors import PayloadError
from bingo_core.testing import free_port, run_task


def settings_for(port: int, **extra: Any) -> plugin.MailSettings:
    return plugin.MailSettings.model_validate(
        {"host": "127.0.0.1", "port": port, "sender": "bingo@scheduler.test", "timeout": 5, **extra}
    )


def send(port: int, payload: dict[str, Any], **extra: Any) -> str:
    """Run the handler as the worker would, in this thread; returns the Message-ID."""
    ctx = bingo.TaskContext(
        "t1", plugin.TASK_TYPE, "default", 0, 10, settings=settings_for(port, **extra)
    )
    result = plugin.handle_mail_notify(ctx, plugin.MailPayload.model_validate(payload))
    return str(result["message_id"])


MAIL = {"to": ["ops@example.com"], "subject": "hi", "body": "x"}


def test_registers_its_task_types_settings_and_alert_hook(
    bingo_registry: Callable[..., Any],
) -> None:
    registry = bingo_registry(plugin)
    task_type = registry.get("task:mail-notify")
    assert task_type.plugin == "mail_notify"
    assert task_type.payload_model is plugin.MailPayload
    assert not task_type.is_async
    assert task_type.option("max_retry") == 10
    assert task_type.option("idempotent") is True
    assert {"task:mail-alert", "task:mail-alert-window"} <= set(registry.tasks)
    assert registry.settings_models["mail_notify"] is plugin.MailSettings


def test_a_mail_arrives_with_cc_bcc_reply_to_and_both_parts(smtp_server: SmtpServer) -> None:
    message_id = send(
        smtp_server.port,
        {
            "to": ["Ops Team <ops@example.com>", "dev@example.org"],
            "cc": "lead@example.com",
            "bcc": ["audit@example.net"],
            "reply_to": ["noreply@example.com"],
            "subject": "nightly report ready",
            "body": "All 3 jobs done.\n",
            "html": "<p>All <b>3</b> jobs done.</p>",
        },
    )
    [got] = smtp_server.received
    assert got.sender == "bingo@scheduler.test"
    assert got.recipients == [
        "ops@example.com",
        "dev@example.org",
        "lead@example.com",
        "audit@example.net",
    ]
    message = got.message
    assert message["Subject"] == "nightly report ready"
    assert message["To"] == "Ops Team <ops@example.com>, dev@example.org"
    assert message["Cc"] == "lead@example.com"
    assert message["Reply-To"] == "noreply@example.com"
    assert message["Bcc"] is None and "audit@" not in message.as_string()
    assert message["Message-ID"] == message_id and message_id.endswith("@scheduler.test>")
    assert message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and plain.get_content() == "All 3 jobs done.\n"
    assert html is not None and "<b>3</b>" in html.get_content()


def test_html_only(smtp_server: SmtpServer) -> None:
    send(smtp_server.port, {"bcc": ["ops@example.com"], "subject": "s", "html": "<h1>Hi</h1>"})
    [got] = smtp_server.received
    assert got.message.get_content_type() == "text/html"
    assert got.message["To"] is None
    assert got.recipients == ["ops@example.com"]


def test_attachments_from_storage_and_inline(
    smtp_server: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "storage" / "reports").mkdir(parents=True)
    report = tmp_path / "storage" / "reports" / "daily.html"
    report.write_text("<table><tr><td>1</td></tr></table>")
    blob = bytes(range(256))
    send(
        smtp_server.port,
        {
            **MAIL,
            "attachments": [
                {"path": "reports/daily.html"},
                {
                    "filename": "raw.bin",
                    "content": base64.b64encode(blob).decode(),
                    "content_type": "application/octet-stream",
                },
                {"filename": "rows.csv", "content": base64.b64encode(b"a,b\n1,2\n").decode()},
            ],
        },
    )
    [got] = smtp_server.received
    parts = {p.get_filename(): p for p in got.message.iter_attachments()}
    assert set(parts) == {"daily.html", "raw.bin", "rows.csv"}
    assert parts["daily.html"].get_content_type() == "text/html"
    assert parts["daily.html"].get_payload(decode=True) == report.read_bytes()
    assert parts["raw.bin"].get_payload(decode=True) == blob
    assert parts["rows.csv"].get_content_type() == "text/csv"
    assert got.message.get_body(("plain",)).get_content() == "x\n"


@pytest.mark.parametrize("path", ["/etc/passwd", "../secrets.txt", "reports/../../x", ""])
def test_attachment_paths_outside_storage_are_refused_at_enqueue(
    bingo_registry: Callable[..., Any], path: str
) -> None:
    with pytest.raises(PayloadError, match=r"attachments\.0\.path: "):
        bingo_registry(plugin).get("task:mail-notify").validate_payload(
            {**MAIL, "attachments": [{"path": path}]}
        )


def test_a_link_out_of_storage_or_a_missing_file_is_archived_at_once(
    smtp_server: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "storage").mkdir()
    (tmp_path / "secret.txt").write_text("do not send")
    os.symlink(tmp_path / "secret.txt", tmp_path / "storage" / "link.txt")
    with pytest.raises(bingo.SkipRetry, match=r"attachments\.0\.path 'link.txt': resolves outside"):
        send(smtp_server.port, {**MAIL, "attachments": [{"path": "link.txt"}]})
    with pytest.raises(bingo.SkipRetry, match=r"attachments\.0\.path 'gone.pdf': no such file"):
        send(smtp_server.port, {**MAIL, "attachments": [{"path": "gone.pdf"}]})
    assert smtp_server.received == []


def test_starttls_with_login_trusting_a_self_signed_certificate(
    smtp_factory: Callable[..., SmtpServer],
    certificate: Certificate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = smtp_factory(
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    caplog.set_level(logging.DEBUG)
    tls = {"starttls": True, "caFile": str(certificate.cert), "username": USER}
    send(server.port, MAIL, **tls, password=PASSWORD)
    [got] = server.received
    assert got.recipients == ["ops@example.com"]
    # A wrong password is a permanent 535, reported without the password.
    with pytest.raises(bingo.SkipRetry, match=r"answered 535") as info:
        send(server.port, MAIL, **tls, password="wrong-" + PASSWORD)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in caplog.text
    # Without the CA the certificate is not trusted: a connection problem, retried.
    with pytest.raises(ConnectionError, match=r"TLS failed: .*CERTIFICATE_VERIFY_FAILED"):
        send(server.port, MAIL, starttls=True, username=USER, password=PASSWORD)
    # Without STARTTLS this server refuses to go on (530, permanent).
    with pytest.raises(bingo.SkipRetry, match="530"):
        send(server.port, MAIL)
    assert len(server.received) == 1


def test_implicit_tls(smtp_factory: Callable[..., SmtpServer], certificate: Certificate) -> None:
    server = smtp_factory(ssl_context=certificate.server_context())
    send(server.port, MAIL, implicitTls=True, caFile=str(certificate.cert))
    assert [r.recipients for r in server.received] == [["ops@example.com"]]


def test_starttls_on_a_server_without_it_is_not_retried(smtp_server: SmtpServer) -> None:
    with pytest.raises(bingo.SkipRetry, match="STARTTLS extension not supported"):
        send(smtp_server.port, MAIL, starttls=True)


def test_a_permanently_refused_recipient_is_not_retried(smtp_server: SmtpServer) -> None:
    with pytest.raises(bingo.SkipRetry, match=r"refused every recipient: ghost@nowhere.test: 550"):
        send(smtp_server.port, {**MAIL, "to": ["ghost@nowhere.test"]})
    assert smtp_server.received == []


def test_a_partly_refused_mail_is_delivered_once_and_not_retried(
    smtp_server: SmtpServer,
) -> None:
    with pytest.raises(bingo.SkipRetry, match=r"accepted 1 recipient\(s\) but refused ghost@"):
        send(smtp_server.port, {**MAIL, "to": ["ops@example.com"], "bcc": ["ghost@nowhere.test"]})
    assert [r.recipients for r in smtp_server.received] == [["ops@example.com"]]


def test_a_temporary_refusal_is_retried(smtp_server: SmtpServer) -> None:
    with pytest.raises(plugin.MailDeferred, match=r"someone@busy.test: 451") as info:
        send(smtp_server.port, {**MAIL, "to": ["someone@busy.test"]})
    assert not isinstance(info.value, bingo.SkipRetry)


def test_an_unreachable_server_is_retried() -> None:
    port = free_port()  # nothing listens here
    with pytest.raises(ConnectionError, match=rf"SMTP server 127.0.0.1:{port} is not reachable"):
        send(port, MAIL)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_server_that_does_not_answer_times_out_and_is_retried(silent_server: int) -> None:
    with pytest.raises(ConnectionError, match=r"did not answer within 0.3s"):
        send(silent_server, MAIL, timeout=0.3)


# -- through a real worker ---------------------------------------------------------------


@pytest.fixture
def mail_app(bingo_app: Callable[..., App], smtp_server: SmtpServer) -> App:
    return bingo_app(
        plugin,
        plugins={"mail_notify": {"port": smtp_server.port, "sender": "bingo@scheduler.test"}},
    )


def test_a_worker_retries_a_4xx_and_then_delivers(mail_app: App, smtp_server: SmtpServer) -> None:
    task = run_task(
        mail_app, "task:mail-notify", {**MAIL, "to": ["someone@later.test"]}, retry_backoff=0.1
    )
    assert task.state == "completed", task.error
    assert task.retried == 1
    assert task.result["recipients"] == 1
    assert smtp_server.mailbox.seen["someone@later.test"] == 2
    assert [r.recipients for r in smtp_server.received] == [["someone@later.test"]]


def test_a_worker_archives_a_5xx_at_once_with_the_server_reply(
    mail_app: App, smtp_server: SmtpServer
) -> None:
    task = run_task(mail_app, "task:mail-notify", {**MAIL, "to": ["ghost@nowhere.test"]})
    assert task.state == "archived"
    assert task.retried == 0
    assert "SkipRetry: SMTP server 127.0.0.1:" in task.error
    assert "ghost@nowhere.test: 550 5.1.1 no such user here" in task.error
    assert smtp_server.received == []


# -- checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"to": ["not-an-address"], "subject": "s", "body": "b"}, "to.0"),
        ({"to": ["ok@example.com", "a b@example.com"], "subject": "s", "body": "b"}, "to.1"),
        ({"cc": ["ok@example.com\nBcc: x@y.z"], "subject": "s", "body": "b"}, "cc.0"),
        ({"bcc": ["Name <nope>"], "subject": "s", "body": "b"}, "bcc.0"),
        ({"to": [], "subject": "s", "body": "b"}, "payload: Value error, give at least one"),
        ({"to": ["ok@example.com"], "subject": "two\nlines", "body": "b"}, "subject"),
        ({"to": ["ok@example.com"], "subject": "s"}, "payload: Value error, give a body"),
        ({**MAIL, "attachments": [{"content": "eA=="}]}, "needs a filename"),
        ({**MAIL, "attachments": [{"filename": "a", "content": "%%%"}]}, "expected base64"),
        ({**MAIL, "attachments": [{"filename": "a/b", "content": "eA=="}]}, "filename"),
        ({**MAIL, "attachments": [{"path": "a", "content": "eA=="}]}, "give either path"),
        ({**MAIL, "attachments": [{"path": "a", "content_type": "text"}]}, "content_type"),
        ({**MAIL, "priority": "high"}, "priority: Extra inputs are not permitted"),
    ],
)
def test_bad_payloads_are_refused_naming_the_field(
    bingo_registry: Callable[..., Any], payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(PayloadError, match=r"MailPayload: ") as info:
        bingo_registry(plugin).get("task:mail-notify").validate_payload(payload)
    assert field in str(info.value)


def test_settings_keep_their_keys_and_are_checked(tmp_path: Path) -> None:
    defaults = plugin.MailSettings()
    assert (defaults.host, defaults.port, defaults.starttls, defaults.implicit_tls) == (
        "127.0.0.1",
        25,
        False,
        False,
    )
    assert (defaults.timeout, defaults.alert_to, defaults.alert_interval) == (30.0, [], 3600.0)
    full = plugin.MailSettings.model_validate(
        {
            "host": "smtp.example.com",
            "port": 587,
            "username": "bingo",
            "password": "hunter2",
            "sender": "Bingo <bingo@example.com>",
            "starttls": True,
            "timeout": 10,
            "storageDir": str(tmp_path),
            "alertTo": "ops@example.com",
            "alertInterval": "1h30m",
        }
    )
    assert full.alert_to == ["ops@example.com"]
    assert full.alert_interval == 5400.0
    assert "hunter2" not in repr(full) and "hunter2" not in str(full.model_dump())
    for bad, message in [
        ({"username": "bingo"}, "give both username and password"),
        ({"starttls": True, "implicitTls": True}, "starttls or implicitTls"),
        ({"port": 70000}, "port"),
        ({"alertInterval": "soon"}, "expected a duration such as 10m"),
        ({"alertInterval": 0}, "expected a duration > 0"),
        ({"alertTo": ["nobody"]}, "alertTo.0"),
        ({"caFile": str(tmp_path / "none.pem")}, "no such file"),
        ({"smtpHost": "x"}, "smtpHost"),
    ]:
        with pytest.raises(ValidationError, match=message):
            plugin.MailSettings.model_validate(bad)


def test_a_bad_password_value_is_masked_in_the_config_error(
    bingo_app: Callable[..., App],
) -> None:
    with pytest.raises(bingo.ConfigError) as info:
        bingo_app(plugin, plugins={"mail_notify": {"username": "u", "password": ["hunter2"]}})
    assert "plugins.mail_notify.password" in str(info.value)
    assert "hunter2" not in str(info.value)
