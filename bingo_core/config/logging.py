"""Logging for the ``bingo`` logger tree, as the ``log`` section says.

Console output goes to stderr; the file at ``log.path`` rotates when it reaches ``maxSize``
MB. A rotated file is named after the moment of rotation in UTC, like the original service's
``scheduler-2024-05-01T02-00-00.000.log``, gzip-compressed when ``compress`` is set; rotated
files older than ``days`` days are deleted at each rotation (``days: 0`` keeps them all).

A log file that cannot be written (a full disk, a read-only or forbidden path) never stops
the daemon: that is said once (on the console, else on stderr), the records go on to the
console, each record tries the file again, and its return is said once. Only a path that
can never be a file (under a regular file, a directory) is a config error.

Every record is masked before it is written: the configured secrets (:func:`secret_values`)
and the password of any URL become ``***``.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import errno
import gzip
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretBytes, SecretStr

from ..errors import ConfigError
from .settings import LogSettings, Settings, is_secret_key, mask_secrets

#: ``log.level`` → logging level; Go's zap levels dpanic/panic/fatal map to CRITICAL.
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "dpanic": logging.CRITICAL,
    "panic": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
_MARK = "_bingo_handler"
_STAMP = "%Y-%m-%dT%H-%M-%S"
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
#: Reasons a log file cannot be written that are the machine's, not the config's: the
#: daemon goes on without the file and tries it again at each record.
_ENVIRONMENT = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO}
#: Shortest secret masked (shorter values would mask parts of ordinary words).
MIN_SECRET = 4


def _walk(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            yield from _walk(value, f"{path}[{i}]")
    else:
        yield path, data


def _below_secret(key: str) -> bool:
    """Whether the dotted ``key`` is a secret key or lies below one (``token.v``)."""
    parts = key.split(".")
    return any(is_secret_key(".".join(parts[: i + 1])) for i in range(len(parts)))


def _plugin_secrets(settings: Settings) -> Iterator[str]:
    """The values of the ``SecretStr`` / ``SecretBytes`` fields of the plugins' settings
    (bound by :func:`~bingo_core.config.bind_plugin_settings`), whatever their names."""
    for model in getattr(settings, "plugin_settings", {}).values():
        if not isinstance(model, BaseModel):
            continue
        for _, value in _walk(dict(model)):
            yield from _secret_text(value)


def _secret_text(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, SecretBytes):
        yield value.get_secret_value().decode("utf-8", "replace")
    elif isinstance(value, BaseModel):
        for _, inner in _walk(dict(value)):
            yield from _secret_text(inner)


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold: the values of secret keys (``server.key``, any
    ``password``, ``plugins.<name>.password``, ...), the passwords inside URLs, and the
    ``SecretStr`` settings of the plugins (once their sections are bound)."""
    found: set[str] = set(_plugin_secrets(settings))
    for key, value in _walk(settings.model_dump()):
        if not isinstance(value, str) or not value:
            continue
        if _below_secret(key):
            found.add(value)
        elif "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                continue
            if password:
                found.add(password)
    return sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True)


class SecretMask(logging.Filter):
    """Masks the given secrets and every URL password in a record (message, traceback)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask ``secrets`` too."""
        more = {s for s in secrets if len(s) >= MIN_SECRET}
        self.secrets = sorted(set(self.secrets) | more, key=len, reverse=True)

    def mask(self, text: str) -> str:
        text = mask_secrets(text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
            record.exc_info = None
        return True


class ConsoleFormatter(logging.Formatter):
    """``2024-05-01 02:00:00.123 INFO    bingo.worker: message``."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s",
            datefmt="%Y-%m-%d %H:%M:%S",
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, exception, ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created).astimezone()
        out: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in out:
                out[key] = value
        return json.dumps(out, default=str, ensure_ascii=False)


class RotatingLogFile(RotatingFileHandler):
    """A log file rotated by size into timestamped (optionally gzipped) files."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int,
        compress: bool,
        days: int,
        delay: bool = False,
    ) -> None:
        if not delay:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, maxBytes=max(1, max_bytes), encoding="utf-8", delay=delay)
        self.compress = compress
        self.days = days
        #: Why the file cannot be written right now (None: it can).
        self.broken: str | None = None
        self._failed = False
        base = Path(self.baseFilename)
        self._pattern = re.compile(
            re.escape(base.stem)
            + r"-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)\.(\d{3})(?:-\d+)?"
            + re.escape(base.suffix)
            + r"(?:\.gz)?"
        )

    def rotated_name(self, when: float) -> Path:
        """A free name for the file rotated at ``when``."""
        base = Path(self.baseFilename)
        stamp = time.strftime(_STAMP, time.gmtime(when)) + f".{int(when % 1 * 1000):03d}"
        candidate = base.with_name(f"{base.stem}-{stamp}{base.suffix}")
        n = 1
        while candidate.exists() or candidate.with_name(candidate.name + ".gz").exists():
            candidate = base.with_name(f"{base.stem}-{stamp}-{n}{base.suffix}")
            n += 1
        return candidate

    def rotated_files(self) -> list[tuple[float, Path]]:
        """``(rotation time, path)`` of every rotated file of this log, oldest first."""
        found = []
        for path in Path(self.baseFilename).parent.iterdir():
            match = self._pattern.fullmatch(path.name)
            if match:
                when = calendar.timegm(time.strptime(match.group(1), _STAMP))
                found.append((when + int(match.group(2)) / 1000, path))
        return sorted(found)

    def doRollover(self) -> None:
        """Move the current file aside (compressing it), drop expired ones, reopen."""
        if self.stream:
            self.stream.close()
            self.stream = None
        base = Path(self.baseFilename)
        if base.exists() and base.stat().st_size > 0:
            target = self.rotated_name(time.time())
            os.replace(base, target)
            if self.compress:
                with target.open("rb") as src, gzip.open(f"{target}.gz", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                target.unlink()
        self.remove_expired()
        if not self.delay:
            self.stream = self._open()

    # -- a file that cannot be written ---------------------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)  # calls handleError() when the write fails
        if not self._failed and self.broken is not None:
            self.broken = None
            self.say(logging.INFO, f"log file {self.baseFilename} is written again")

    def handleError(self, record: logging.LogRecord) -> None:
        """A record could not be written: say so once (not a traceback per record)."""
        self._failed = True
        exc = sys.exc_info()[1]
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        if self.stream is not None:  # drop what is buffered, reopen at the next record
            with contextlib.suppress(OSError):
                self.stream.close()
            self.stream = None
        if self.broken is None:
            self.broken = reason
            self.say(logging.ERROR, self.broken_line(reason))

    def broken_line(self, reason: str) -> str:
        console = any(
            isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
            for h in self.others()
        )
        where = "they go to the console only" if console else "they are dropped"
        return (
            f"log file {self.baseFilename} cannot be written ({reason}); the daemon keeps "
            f"running: {where} until the file can be written again (each record tries it)"
        )

    def others(self) -> list[logging.Handler]:
        """The other handlers of the logger this file belongs to."""
        owner = getattr(self, "_bingo_logger", "bingo")
        return [h for h in logging.getLogger(owner).handlers if h is not self]

    def say(self, level: int, text: str) -> None:
        """A line about this file, to the logger's other handlers (else to stderr)."""
        record = logging.LogRecord("bingo.log", level, __file__, 0, text, None, None)
        others = [h for h in self.others() if not isinstance(h, logging.NullHandler)]
        for handler in others:
            if level >= handler.level:
                handler.handle(record)
        if not others:
            try:
                sys.stderr.write(f"bingo-scheduler: {text}\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass

    def remove_expired(self) -> None:
        """Delete rotated files older than ``days`` days (none when ``days`` is 0)."""
        if self.days <= 0:
            return
        cutoff = time.time() - self.days * 86400
        for when, path in self.rotated_files():
            if when < cutoff:
                path.unlink(missing_ok=True)


def add_secrets(secrets: Iterable[str], *, name: str = "bingo") -> None:
    """Mask ``secrets`` too in the records of the handlers :func:`setup_logging` installed
    on ``name`` (the plugins' settings are bound after logging has started)."""
    for handler in logging.getLogger(name).handlers:
        for mask in handler.filters:
            if isinstance(mask, SecretMask):
                mask.add(secrets)


def setup_logging(log: LogSettings, *, name: str = "bingo", secrets: Iterable[str] = ()) -> None:
    """Configure the ``name`` logger from the ``log`` section; calling it again replaces
    the handlers it installed before instead of adding more. ``secrets`` are masked in
    every record (URL passwords always are)."""
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        if getattr(handler, _MARK, False):
            logger.removeHandler(handler)
            handler.close()
    formatter = JsonFormatter() if log.format == "json" else ConsoleFormatter()
    handlers: list[logging.Handler] = []
    if log.console:
        handlers.append(logging.StreamHandler(sys.stderr))
    file: RotatingLogFile | None = None
    broken = ""
    if log.path:
        size = int(log.max_size * 1024 * 1024)
        try:
            file = RotatingLogFile(log.path, max_bytes=size, compress=log.compress, days=log.days)
        except OSError as exc:
            if exc.errno not in _ENVIRONMENT:
                raise ConfigError(
                    f"config key log.path: {log.path!r} is not valid: cannot open it "
                    f"({exc.strerror or exc})"
                ) from None
            # The machine's fault (full disk, read-only, forbidden): go on without it.
            broken = exc.strerror or str(exc)
            file = RotatingLogFile(
                log.path, max_bytes=size, compress=log.compress, days=log.days, delay=True
            )
        setattr(file, "_bingo_logger", name)  # noqa: B010 - read by RotatingLogFile.others
        handlers.append(file)
    if not handlers:
        handlers.append(logging.NullHandler())  # no output at all, not Python's last resort
    mask = SecretMask(secrets)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(mask)
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
    logger.setLevel(LEVELS[log.level])
    logger.propagate = False
    if file is not None and broken:
        file.broken = broken
        file.say(logging.ERROR, file.broken_line(broken))
