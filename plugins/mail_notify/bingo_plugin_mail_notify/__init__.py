"""Bingo plugin: ``task:mail-notify``, sending mail over SMTP, and alerts by mail when a
task of any type is archived after its last retry.

Payload of ``task:mail-notify``::

    {"to": ["ops@example.com"], "cc": [], "bcc": [], "reply_to": [],
     "subject": "nightly report", "body": "plain text", "html": "<p>...</p>",
     "attachments": [{"path": "reports/daily-report-2026-01-31.html"},
                     {"filename": "a.csv", "content_type": "text/csv", "content": "<base64>"}]}

At least one recipient (``to``, ``cc`` or ``bcc``) and a ``body`` or ``html`` are
required. A ``path`` is relative to the storage folder (``storageDir``) and never leaves
it. The handler is a plain ``def`` run in a thread, using the standard library's ``smtplib``.

Failures follow SMTP's own rule: a temporary refusal (4xx: :class:`MailDeferred`) and a
server that cannot be reached or times out (:class:`ConnectionError`) are retried with
backoff; a permanent one (5xx) of a recipient, the sender, the login or the message
raises :class:`bingo_core.SkipRetry` with the server's reply, so the task is archived at
once. When the server accepts some recipients and refuses others the task is archived
too, because a retry would send the accepted ones a second copy.

Configuration (``plugins.mail_notify``)::

    plugins:
      mail_notify:
        host: smtp.example.com
        port: 587
        username: bingo            # optional; login only when set (password too)
        password: secret
        sender: Bingo <bingo@example.com>
        starttls: true             # or implicitTls: true (port 465)
        caFile: /etc/ssl/my-ca.pem # optional: trust this CA for the server's certificate
        timeout: 30                # seconds per SMTP step
        storageDir: storage        # where attachments by path are read from
        alertTo: [ops@example.com] # mailed when a task is archived after its last retry
        alertInterval: 1h          # at most one such mail per task type this often
"""

from __future__ import annotations

from typing import Any

import bingo_core as bingo

from .alerts import (
    ALERT_TYPE,
    WINDOW_TYPE,
    AlertPayload,
    WindowPayload,
    handle_alert_window,
    handle_mail_alert,
    on_task_archived,
)
from .models import (
    Addresses,
    Attachment,
    EmailAddress,
    MailPayload,
    MailSettings,
    addr_spec,
    check_address,
    parse_duration,
)
from .smtp import MailDeferred, build_message, send_mail

__all__ = [
    "ALERT_TYPE",
    "TASK_TYPE",
    "WINDOW_TYPE",
    "Addresses",
    "AlertPayload",
    "Attachment",
    "EmailAddress",
    "MailDeferred",
    "MailPayload",
    "MailSettings",
    "WindowPayload",
    "addr_spec",
    "build_message",
    "check_address",
    "handle_mail_notify",
    "parse_duration",
    "send_mail",
]

TASK_TYPE = "task:mail-notify"


def handle_mail_notify(ctx: bingo.TaskContext, payload: MailPayload) -> dict[str, Any]:
    """Send one mail."""
    settings: MailSettings = ctx.settings or MailSettings()
    message_id = send_mail(settings, payload)
    recipients = payload.envelope_recipients()
    ctx.logger.info("mail %r sent to %d recipient(s)", payload.subject, len(recipients))
    return {"message_id": message_id, "recipients": len(recipients)}


@bingo.hookimpl
def bingo_register_settings(register: bingo.SettingsRegister) -> None:
    """Validate ``plugins.mail_notify`` against :class:`MailSettings`."""
    register(MailSettings)


@bingo.hookimpl
def bingo_register_tasks(register: bingo.TaskRegister) -> None:
    """Register ``task:mail-notify`` and the two task types behind the alerts."""
    register(
        TASK_TYPE,
        handle_mail_notify,
        payload=MailPayload,
        max_retry=10,
        timeout=120,
        idempotent=True,
    )
    register(ALERT_TYPE, handle_mail_alert, payload=AlertPayload, max_retry=5, timeout=120)
    register(WINDOW_TYPE, handle_alert_window, payload=WindowPayload, max_retry=0, timeout=10)


@bingo.hookimpl
def bingo_task_failed(ctx: bingo.TaskContext, retrying: bool) -> None:
    """A task archived after its last retry (or by ``SkipRetry``): queue an alert."""
    if not retrying:
        on_task_archived(ctx)
