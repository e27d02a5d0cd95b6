"""A real SMTP server (aiosmtpd) on a free port for each test, with TLS certificates made
by the ``openssl`` command line, and a mailbox that keeps what it accepted."""

from __future__ import annotations

import email
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bingo_core.testing import free_port

USER, PASSWORD = "bingo", "s3cret-Pa55"


@dataclass
class Received:
    """One accepted message: its envelope and the parsed message."""

    sender: str
    recipients: list[str]
    message: Message


@dataclass
class Mailbox:
    """An aiosmtpd handler: refuses ``*@nowhere.test`` for good and ``*@busy.test`` for
    now; answers ``*@later.test`` with 451 the first ``busy_times`` times; keeps every
    accepted message."""

    busy_times: int = 1
    received: list[Received] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.seen[address] = self.seen.get(address, 0) + 1
            seen = self.seen[address]
        if address.endswith("@nowhere.test"):
            return "550 5.1.1 no such user here"
        if address.endswith("@busy.test"):
            return "451 4.3.0 mailbox busy, try later"
        if address.endswith("@later.test") and seen <= self.busy_times:
            return "451 4.3.0 greylisted, come back in a moment"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        # Parsed with Unix line ends, as a mail client shows it.
        parsed = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=default_policy)
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class Certificate:
    """A self-signed certificate for ``127.0.0.1``/``localhost`` and its key (PEM files)."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


@dataclass
class SmtpServer:
    """A running aiosmtpd server and its mailbox."""

    mailbox: Mailbox
    port: int
    controller: Controller

    @property
    def received(self) -> list[Received]:
        return self.mailbox.received


@pytest.fixture
def smtp_factory() -> Iterator[Callable[..., SmtpServer]]:
    """``start(mailbox=None, **smtp_options)`` -> a started server (stopped after the test).
    ``smtp_options`` go to aiosmtpd's SMTP (``tls_context``, ``require_starttls``,
    ``authenticator``...); ``ssl_context`` makes it speak TLS from the first byte."""
    started: list[Controller] = []

    def start(mailbox: Mailbox | None = None, **options: Any) -> SmtpServer:
        box = mailbox or Mailbox()
        port = free_port()
        ssl_context = options.pop("ssl_context", None)
        controller = Controller(
            box, hostname="127.0.0.1", port=port, ssl_context=ssl_context, **options
        )
        controller.start()
        started.append(controller)
        return SmtpServer(box, port, controller)

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def smtp_server(smtp_factory: Callable[..., SmtpServer]) -> SmtpServer:
    """A plain SMTP server on 127.0.0.1 (no TLS, no login)."""
    return smtp_factory()
