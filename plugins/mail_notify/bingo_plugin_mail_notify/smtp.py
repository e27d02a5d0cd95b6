"""Sending one mail over SMTP with the standard library's :mod:`smtplib`, and telling a
temporary failure (retried) from a permanent one (archived at once)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import bingo_core as bingo

from .models import Attachment, MailPayload, MailSettings, addr_spec


class MailDeferred(Exception):
    """The SMTP server refused for now (a 4xx reply): the task is retried."""


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _describe(refusals: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address}: {code} {_text(reply)}" for address, (code, reply) in refusals.items()
    )


def read_attachment(settings: MailSettings, index: int, attachment: Attachment) -> bytes:
    """The bytes of one attachment; a ``path`` must resolve (links followed) inside
    ``storageDir``. Raises :class:`bingo.SkipRetry` naming the attachment otherwise."""
    if attachment.path is None:
        return attachment.decoded()
    where = f"attachments.{index}.path {attachment.path!r}"
    root = Path(settings.storage_dir).resolve()
    target = (root / attachment.path).resolve()
    if not target.is_relative_to(root):
        raise bingo.SkipRetry(f"{where}: resolves outside the storage folder {str(root)!r}")
    try:
        return target.read_bytes()
    except FileNotFoundError:
        raise bingo.SkipRetry(
            f"{where}: no such file under {str(root)!r} (a file attached by path must be on "
            "the machine of the worker that sends it; attach content inline otherwise)"
        ) from None
    except OSError as exc:
        raise bingo.SkipRetry(f"{where}: cannot be read: {exc.strerror}") from None


def build_message(settings: MailSettings, payload: MailPayload) -> EmailMessage:
    """The message sent for ``payload`` (``Bcc`` recipients appear in no header)."""
    message = EmailMessage()
    message["From"] = settings.sender
    if payload.to:
        message["To"] = ", ".join(payload.to)
    if payload.cc:
        message["Cc"] = ", ".join(payload.cc)
    if payload.reply_to:
        message["Reply-To"] = ", ".join(payload.reply_to)
    message["Subject"] = payload.subject
    message["Date"] = formatdate(localtime=True)
    domain = addr_spec(settings.sender).rpartition("@")[2]
    message["Message-ID"] = make_msgid(domain=domain)
    if payload.body is not None:
        message.set_content(payload.body)
        if payload.html is not None:
            message.add_alternative(payload.html, subtype="html")
    elif payload.html is not None:
        message.set_content(payload.html, subtype="html")
    for index, attachment in enumerate(payload.attachments):
        maintype, _, subtype = attachment.mime_type.partition("/")
        message.add_attachment(
            read_attachment(settings, index, attachment),
            maintype=maintype,
            subtype=subtype,
            filename=attachment.name,
        )
    return message


def _tls(settings: MailSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ca_file)


def _connect(settings: MailSettings) -> smtplib.SMTP:
    if settings.implicit_tls:
        return smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=_tls(settings)
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def send_mail(settings: MailSettings, payload: MailPayload) -> str:
    """Send ``payload`` through the SMTP server of ``settings``; returns the Message-ID.

    Raises :class:`bingo.SkipRetry` for a permanent refusal (5xx, with the server's reply;
    or some recipients accepted and others refused, so that a retry sends nobody a second
    copy), :class:`MailDeferred` for a temporary one (4xx) and :class:`ConnectionError`
    when the server cannot be reached or the connection fails (refused, timed out, TLS).
    """
    server = f"SMTP server {settings.host}:{settings.port}"
    message = build_message(settings, payload)
    recipients = payload.envelope_recipients()
    try:
        with _connect(settings) as smtp:
            if settings.starttls:
                smtp.starttls(context=_tls(settings))
            if settings.username is not None and settings.password is not None:
                smtp.login(settings.username, settings.password.get_secret_value())
            refused = smtp.send_message(message, addr_spec(settings.sender), recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        text = f"{server} refused every recipient: {_describe(exc.recipients)}"
        if all(code >= 500 for code, _ in exc.recipients.values()):
            raise bingo.SkipRetry(text) from None
        raise MailDeferred(text) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise bingo.SkipRetry(
            f"{server} does not support what plugins.mail_notify asks of it: {exc}"
        ) from None
    except smtplib.SMTPResponseException as exc:
        text = f"{server} answered {exc.smtp_code} {_text(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            raise bingo.SkipRetry(text) from None
        raise MailDeferred(text) from None
    except ssl.SSLError as exc:
        raise ConnectionError(f"{server}: TLS failed: {exc}") from None
    except OSError as exc:  # refused, unreachable, disconnected, timed out
        # smtplib reports a timeout while reading a reply as a disconnection.
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            raise ConnectionError(
                f"{server} did not answer within {settings.timeout:g}s "
                "(plugins.mail_notify.timeout)"
            ) from None
        raise ConnectionError(f"{server} is not reachable: {exc}") from None
    if refused:
        raise bingo.SkipRetry(
            f"{server} accepted {len(recipients) - len(refused)} recipient(s) but refused "
            f"{_describe(refused)}; not retried so the others get no second copy"
        )
    return str(message["Message-ID"])
