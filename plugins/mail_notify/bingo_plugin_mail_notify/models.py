"""What ``task:mail-notify`` accepts (:class:`MailPayload`) and how it reaches the SMTP
server (:class:`MailSettings`, the ``plugins.mail_notify`` section)."""

from __future__ import annotations

import base64
import binascii
import math
import mimetypes
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

#: An addr-spec as mail servers take it: local@domain.tld, no spaces or specials.
_ADDR_SPEC = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\".\\]+$")
#: ``Display Name <local@domain>``.
_NAMED = re.compile(r"^(?P<name>[^<>]*)<(?P<addr>[^<>]*)>$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
#: The most a payload may carry as inline attachments, decoded (it lives in Redis).
MAX_INLINE_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 100


def addr_spec(address: str) -> str:
    """The bare ``local@domain`` of ``address`` (``Ops <ops@example.com>`` -> ``ops@...``)."""
    named = _NAMED.match(address.strip())
    return (named.group("addr") if named else address).strip()


def check_address(value: str) -> str:
    """``value`` stripped when it is ``local@domain.tld`` or ``Name <local@domain.tld>``."""
    text = value.strip()
    named = _NAMED.match(text)
    spec = named.group("addr").strip() if named else text
    if "\r" in text or "\n" in text or not _ADDR_SPEC.match(spec):
        raise ValueError(
            f"expected an e-mail address such as ops@example.com or 'Ops <ops@example.com>', "
            f"got {value!r}"
        )
    return text


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value


#: One e-mail address, optionally with a display name.
EmailAddress = Annotated[str, AfterValidator(check_address)]
#: A list of addresses; a single string is taken as a list of one.
Addresses = Annotated[
    list[EmailAddress], BeforeValidator(_one_or_many), Field(max_length=MAX_RECIPIENTS)
]
SingleLine = Annotated[str, AfterValidator(_single_line)]


def _check_filename(value: str) -> str:
    if not value.strip() or "/" in value or "\\" in value or "\x00" in value:
        raise ValueError(f"expected a file name without folders, got {value!r}")
    return _single_line(value)


def _check_content_type(value: str) -> str:
    text = value.strip().lower()
    if not _CONTENT_TYPE.match(text) or text.startswith("multipart/"):
        raise ValueError(f"expected a content type such as text/csv, got {value!r}")
    return text


def _check_storage_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value.strip() or "\x00" in value or "\\" in value:
        raise ValueError(f"expected a path such as reports/daily.html, got {value!r}")
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(
            f"must be a path inside the storage folder, relative to it (no '/' at the "
            f"start, no '..'), got {value!r}"
        )
    return value


class Attachment(BaseModel):
    """One attachment: a file under the storage folder (``path``), or inline ``content``
    (base64) with a ``filename``. ``content_type`` defaults to the one the file name
    suggests, else ``application/octet-stream``."""

    model_config = ConfigDict(extra="forbid")

    filename: Annotated[str, AfterValidator(_check_filename)] | None = Field(
        default=None, max_length=255
    )
    content_type: Annotated[str, AfterValidator(_check_content_type)] | None = None
    content: str | None = None
    path: Annotated[str, AfterValidator(_check_storage_path)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Attachment:
        if (self.content is None) == (self.path is None):
            raise ValueError("give either path (a file under storage/) or content (base64)")
        if self.content is not None:
            if self.filename is None:
                raise ValueError("an inline attachment needs a filename")
            try:
                base64.b64decode(self.content, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("content: expected base64 text") from None
        return self

    @property
    def name(self) -> str:
        """The file name the recipient sees."""
        return self.filename or PurePosixPath(self.path or "attachment").name

    @property
    def mime_type(self) -> str:
        """The attachment's content type."""
        guessed, _ = mimetypes.guess_type(self.name)
        return self.content_type or guessed or "application/octet-stream"

    def decoded(self) -> bytes:
        """The inline content's bytes."""
        return base64.b64decode(self.content or "", validate=True)


class MailPayload(BaseModel):
    """Payload of ``task:mail-notify``: recipients (``to``, ``cc``, ``bcc``; at least one),
    ``reply_to``, a one-line ``subject``, a plain-text ``body`` and/or an ``html`` part,
    and ``attachments``."""

    model_config = ConfigDict(extra="forbid")

    to: Addresses = []
    cc: Addresses = []
    bcc: Addresses = []
    reply_to: Addresses = []
    subject: SingleLine = Field(max_length=998)
    body: str | None = None
    html: str | None = None
    attachments: list[Attachment] = Field(default=[], max_length=20)

    @model_validator(mode="after")
    def _complete(self) -> MailPayload:
        count = len(self.to) + len(self.cc) + len(self.bcc)
        if count == 0:
            raise ValueError("give at least one recipient in to, cc or bcc")
        if count > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} recipients in to, cc and bcc together")
        if self.body is None and self.html is None:
            raise ValueError("give a body (plain text) or html, or both")
        inline = sum(len(a.content) * 3 // 4 for a in self.attachments if a.content)
        if inline > MAX_INLINE_BYTES:
            raise ValueError(
                f"inline attachments hold {inline} bytes, more than {MAX_INLINE_BYTES}; "
                "attach large files by path"
            )
        return self

    def envelope_recipients(self) -> list[str]:
        """Every recipient's bare address, once each, in to, cc, bcc order."""
        seen: dict[str, None] = {}
        for address in (*self.to, *self.cc, *self.bcc):
            seen.setdefault(addr_spec(address), None)
        return list(seen)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds of a Go-style duration (``90s``, ``1h30m``, ``500ms``, ``2d``) or a number."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10m, 1h30m or seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        parts = _DURATION_PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"expected a duration such as 10m, 1h30m or seconds, got {value!r}")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if math.isnan(seconds) or math.isinf(seconds) or seconds <= 0:
        raise ValueError(f"expected a duration > 0, got {value!r}")
    return seconds


class MailSettings(BaseModel):
    """The ``plugins.mail_notify`` section: the SMTP server, and who is alerted when a
    task is archived after its last retry."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    #: SMTP server host and port (25; 587 with starttls; 465 with implicitTls).
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    #: Login, only when both are set.
    username: str | None = None
    password: SecretStr | None = None
    #: The From address (``Bingo <bingo@example.com>`` works too).
    sender: EmailAddress = "bingo@localhost.localdomain"
    #: Upgrade the connection with STARTTLS, or speak TLS from the start (SMTPS).
    starttls: bool = False
    implicit_tls: bool = False
    #: A PEM file of the CA(s) to trust for the server's certificate (default: the
    #: system's); the certificate is always verified, host name included.
    ca_file: str | None = None
    #: Seconds to wait for the server at each step.
    timeout: float = Field(default=30.0, gt=0)
    #: The folder attachments given by ``path`` are read from (relative paths are read
    #: from the daemon's working directory); nothing outside it is ever attached.
    storage_dir: str = "storage"
    #: Who gets a mail when a task of any type is archived after its last retry (empty:
    #: no alerts), and at most one such mail per task type per ``alertInterval``.
    alert_to: Addresses = []
    alert_interval: Annotated[float, BeforeValidator(parse_duration)] = 3600.0

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file {value!r} (a PEM file of CA certificates)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if self.starttls and self.implicit_tls:
            raise ValueError("give starttls or implicitTls, not both")
        return self
