"""Bingo plugin: the ``task:mail-notify`` task type, sending mail over SMTP.

Payload: ``{"to": ["ops@example.com"], "subject": "...", "body": "..."}``. The handler is a
plain ``def`` (the worker runs it in a thread) using the standard library's ``smtplib``.

Failures follow SMTP's own rule: a permanent (5xx) refusal of a recipient, the sender, the
login or the message raises :class:`bingo_core.SkipRetry`, so the task is archived at once;
a temporary (4xx) refusal (:class:`MailDeferred`) and a server that cannot be reached
(:class:`ConnectionError`) are ordinary errors, so the task is retried.
When the server accepts some recipients and refuses others the task is archived too, because
a retry would send the accepted ones a second copy.

Configuration (``plugins.mail_notify`` in the YAML file)::

    plugins:
      mail_notify:
        host: smtp.example.com
        port: 587
        username: bingo            # optional; login only when set
        password: secret
        sender: bingo@example.com
        starttls: true             # upgrade with STARTTLS (or implicitTls: true for port 465)
        timeout: 30                # seconds
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.alias_generators import to_camel

import bingo_core as bingo

if TYPE_CHECKING:
    from bingo_core.registry import SettingsRegister, TaskRegister

TASK_TYPE = "task:mail-notify"
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+$")


def _check_address(value: str) -> str:
    text = value.strip()
    if not _ADDRESS.match(text):
        raise ValueError(f"expected an e-mail address such as ops@example.com, got {value!r}")
    return text


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value


EmailAddress = Annotated[str, AfterValidator(_check_address)]


class MailPayload(BaseModel):
    """Payload of ``task:mail-notify``: recipients, subject and plain-text body."""

    to: list[EmailAddress] = Field(min_length=1, max_length=100)
    subject: Annotated[str, AfterValidator(_single_line)] = Field(max_length=998)
    body: str


class MailSettings(BaseModel):
    """The ``plugins.mail_notify`` section: how to reach the SMTP server."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    sender: EmailAddress = "bingo@localhost.localdomain"
    starttls: bool = False
    implicit_tls: bool = False
    timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _login_needs_both(self) -> MailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if self.starttls and self.implicit_tls:
            raise ValueError("give starttls or implicitTls, not both")
        return self


def build_message(sender: str, payload: MailPayload) -> EmailMessage:
    """The message sent for ``payload``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(payload.to)
    message["Subject"] = payload.subject
    message.set_content(payload.body)
    return message


class MailDeferred(Exception):
    """The SMTP server refused for now (a 4xx reply); the task is retried."""


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _describe(refusals: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address}: {code} {_text(reply)}" for address, (code, reply) in refusals.items()
    )


def _connect(settings: MailSettings) -> smtplib.SMTP:
    if settings.implicit_tls:
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=settings.timeout,
            context=ssl.create_default_context(),
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def send_mail(settings: MailSettings, payload: MailPayload) -> None:
    """Send ``payload`` through the SMTP server of ``settings``.

    Raises :class:`bingo_core.SkipRetry` for a permanent refusal, :class:`MailDeferred` for a
    temporary one and :class:`ConnectionError` when the server cannot be reached.
    """
    server = f"{settings.host}:{settings.port}"
    message = build_message(settings.sender, payload)
    try:
        with _connect(settings) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username is not None and settings.password is not None:
                smtp.login(settings.username, settings.password.get_secret_value())
            refused = smtp.send_message(message, settings.sender, list(payload.to))
    except smtplib.SMTPRecipientsRefused as exc:
        text = f"SMTP server {server} refused every recipient: {_describe(exc.recipients)}"
        if all(code >= 500 for code, _ in exc.recipients.values()):
            raise bingo.SkipRetry(text) from exc
        raise MailDeferred(text) from exc
    except smtplib.SMTPConnectError as exc:
        raise ConnectionError(f"SMTP server {server} refused the connection: {exc}") from exc
    except smtplib.SMTPResponseException as exc:
        text = f"SMTP server {server} answered {exc.smtp_code} {_text(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            raise bingo.SkipRetry(text) from exc
        raise MailDeferred(text) from exc
    except OSError as exc:  # refused, unreachable, timed out, disconnected, TLS failure
        raise ConnectionError(f"SMTP server {server} is not reachable: {exc}") from exc
    if refused:
        raise bingo.SkipRetry(
            f"SMTP server {server} accepted {len(payload.to) - len(refused)} recipient(s) but "
            f"refused {_describe(refused)}; not retried so the others get no second copy"
        )


def handle_mail_notify(ctx: bingo.TaskContext, payload: MailPayload) -> None:
    """Send the notification mail."""
    settings: MailSettings = ctx.settings or MailSettings()
    send_mail(settings, payload)
    ctx.logger.info("mail %r sent to %s", payload.subject, ", ".join(payload.to))


@bingo.hookimpl
def bingo_register_settings(register: SettingsRegister) -> None:
    """Validate ``plugins.mail_notify`` against :class:`MailSettings`."""
    register(MailSettings)


@bingo.hookimpl
def bingo_register_tasks(register: TaskRegister) -> None:
    """Register ``task:mail-notify``."""
    register(TASK_TYPE, handle_mail_notify, payload=MailPayload, max_retry=10, timeout=120)
