"""Logging for the ``bingo`` logger tree, as the ``log`` section says.

Console output goes to stderr; the file at ``log.path`` rotates when it reaches ``maxSize``
MB. A rotated file is named after the moment of rotation in UTC, like the original service's
``scheduler-2024-05-01T02-00-00.000.log``, gzip-compressed when ``compress`` is set; rotated
files older than ``days`` days are deleted at each rotation (``days: 0`` keeps them all).
"""

from __future__ import annotations

import calendar
import datetime as dt
import gzip
import json
import logging
import os
import re
import shutil
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .settings import LogSettings

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
        self, path: str | os.PathLike[str], *, max_bytes: int, compress: bool, days: int
    ) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, maxBytes=max(1, max_bytes), encoding="utf-8")
        self.compress = compress
        self.days = days
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

    def remove_expired(self) -> None:
        """Delete rotated files older than ``days`` days (none when ``days`` is 0)."""
        if self.days <= 0:
            return
        cutoff = time.time() - self.days * 86400
        for when, path in self.rotated_files():
            if when < cutoff:
                path.unlink(missing_ok=True)


def setup_logging(log: LogSettings, *, name: str = "bingo") -> None:
    """Configure the ``name`` logger from the ``log`` section; calling it again replaces
    the handlers it installed before instead of adding more."""
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        if getattr(handler, _MARK, False):
            logger.removeHandler(handler)
            handler.close()
    formatter = JsonFormatter() if log.format == "json" else ConsoleFormatter()
    handlers: list[logging.Handler] = []
    if log.console:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log.path:
        try:
            handlers.append(
                RotatingLogFile(
                    log.path,
                    max_bytes=int(log.max_size * 1024 * 1024),
                    compress=log.compress,
                    days=log.days,
                )
            )
        except OSError as exc:
            raise ConfigError(
                f"config key log.path: {log.path!r} is not valid: cannot open it "
                f"({exc.strerror or exc})"
            ) from None
    if not handlers:
        handlers.append(logging.NullHandler())  # no output at all, not Python's last resort
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
    logger.setLevel(LEVELS[log.level])
    logger.propagate = False
