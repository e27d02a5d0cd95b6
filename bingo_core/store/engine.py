"""The SQLAlchemy engine: URL checks, pool settings and one-line database errors.

A ``database.url`` that cannot work (not a URL, a port that is not a number, a query
parameter its driver does not take) is a :class:`~bingo_core.errors.ConfigError` naming
``database.url`` with its password masked, raised before any connection is tried.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import re
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, exc
from sqlalchemy.engine import URL, Engine, make_url

from ..config.settings import mask_secrets
from ..errors import ConfigError, ServiceUnavailable

#: Seconds a SQLite connection waits for another process's write lock.
SQLITE_BUSY_TIMEOUT = 5.0
#: Seconds to wait for a MySQL server to accept a connection / answer a query.
MYSQL_CONNECT_TIMEOUT = 5
MYSQL_IO_TIMEOUT = 30

# MySQL client/server error codes that get a specific hint.
_CANT_CONNECT = {2002, 2003, 2005, 2006, 2013, 2055}
_ACCESS_DENIED = {1044, 1045, 1698}
_UNKNOWN_DATABASE = 1049
_NO_SUCH_TABLE = 1146
_INIT_HINT = "create it with `bingo-scheduler db init`"


_EXPECTED_URL = "expected dialect+driver://user:password@host:port/database"


def parse_url(url: str | URL) -> URL:
    """Parse a SQLAlchemy URL, raising :class:`ConfigError` naming it when it is malformed."""
    if isinstance(url, URL):
        parsed = url
    else:
        shown = mask_secrets(str(url))
        try:
            parsed = make_url(url)
        except exc.ArgumentError:
            raise ConfigError(f"database.url {shown!r}: not a URL ({_EXPECTED_URL})") from None
        except ValueError as error:
            port = re.search(r"invalid literal for int\(\) with base 10: ('.*')", str(error))
            reason = f"the port {port.group(1)} is not a number" if port else str(error)
            raise ConfigError(f"database.url {shown!r}: {reason} ({_EXPECTED_URL})") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConfigError(
            f"database.url {display_url(parsed)!r}: the port {parsed.port} is not in 1-65535"
        )
    return parsed


def display_url(url: URL) -> str:
    """The URL as shown in messages: a password (also one in the query) is masked as ``***``."""
    return mask_secrets(url.render_as_string(hide_password=bool(url.password)))


def is_mysql(url: URL) -> bool:
    """Whether the URL points at MySQL or MariaDB."""
    return url.get_backend_name() in ("mysql", "mariadb")


def build_engine(
    url: URL,
    *,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    pool_recycle: float | None = None,
) -> Engine:
    """Create the engine for ``url`` with Bingo's timeouts and pool settings."""
    where = f"database.url {display_url(url)!r}"
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ServiceUnavailable(
                    "database",
                    display_url(url),
                    f"cannot create the folder {str(folder)!r}: {error.strerror}",
                    "check the path in database.url",
                ) from None
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False}
    elif is_mysql(url):
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        if url.get_driver_name() == "pymysql":
            connect_args = {
                "connect_timeout": MYSQL_CONNECT_TIMEOUT,
                "read_timeout": MYSQL_IO_TIMEOUT,
                "write_timeout": MYSQL_IO_TIMEOUT,
            }
        kwargs["pool_pre_ping"] = True
        if pool_size is not None:
            kwargs["pool_size"] = max(1, pool_size)
        if max_overflow is not None:
            kwargs["max_overflow"] = max(-1, max_overflow)  # -1: no cap
        if pool_recycle:
            kwargs["pool_recycle"] = max(1, int(pool_recycle))
    with _ignored_parameters(url, where):
        try:
            engine = create_engine(url, connect_args=connect_args, **kwargs)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            hint = " (install it: pip install 'bingo-scheduler[mysql]')" if is_mysql(url) else ""
            raise ConfigError(f"{where}: cannot load the driver: {error}{hint}") from None
        if url.query:
            _check_query(engine, url, where)
    return engine


@contextlib.contextmanager
def _ignored_parameters(url: URL, where: str) -> Iterator[None]:
    """Turn the driver's "query argument(s) ... are not accepted" warning into a ConfigError,
    and a query value it cannot convert (``?connect_timeout=soon``) too."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", exc.SAWarning)
        try:
            yield
        except (ValueError, TypeError) as error:
            named = [
                f"{key}={value!r}"
                for key, value in url.query.items()
                if isinstance(value, str) and repr(value) in str(error)
            ]
            which = f"query parameter {named[0]}" if named else "a query parameter"
            raise ConfigError(f"{where}: {which} is not valid: {error}") from None
    for warning in caught:
        ignored = re.search(r"argument\(s\) (.+?) are not accepted", str(warning.message))
        if ignored:
            raise ConfigError(
                f"{where}: unknown query parameter {ignored.group(1)} "
                f"(the {url.get_driver_name()} driver does not take it)"
            )
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _check_query(engine: Engine, url: URL, where: str) -> None:
    """Refuse query parameters the driver's ``connect()`` would refuse at the first connect."""
    dialect = engine.dialect
    _, params = dialect.create_connect_args(url)
    dbapi = getattr(dialect, "loaded_dbapi", None)
    try:
        signature = inspect.signature(dbapi.connect)  # type: ignore[union-attr]
    except (AttributeError, TypeError, ValueError):
        return  # a driver whose connect() cannot be inspected checks its own arguments
    accepted = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        return
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(accepted), n=1)
        hint = f"did you mean {close[0]}?" if close else "see the driver's connect() arguments"
        raise ConfigError(
            f"{where}: unknown query parameter {unknown[0]!r} for the "
            f"{url.get_driver_name()} driver ({hint})"
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe(error: BaseException, url: URL) -> tuple[str, str]:
    """``(reason, hint)`` for a database error, each one line."""
    orig = getattr(error, "orig", None) or error
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    code = args[0] if args and isinstance(args[0], int) else None
    if code is not None and len(args) > 1:
        reason = f"({code}) {args[1]}"
    else:
        reason = str(orig) or type(orig).__name__
    reason = _one_line(reason)
    hint = ""
    lowered = reason.lower()
    if code in _CANT_CONNECT:
        hint = "is the server running? check mysql.host or database.url"
    elif code in _ACCESS_DENIED:
        hint = "check mysql.username and mysql.password"
    elif code == _UNKNOWN_DATABASE:
        hint = f"create it: CREATE DATABASE `{url.database}` CHARACTER SET utf8mb4"
    elif code == _NO_SUCH_TABLE or "no such table" in lowered:
        hint = _INIT_HINT
    elif isinstance(orig, sqlite3.OperationalError):
        if "unable to open" in lowered:
            hint = "check the path in database.url and that it is writable"
        elif "locked" in lowered:
            hint = f"another process held the write lock longer than {SQLITE_BUSY_TIMEOUT:g}s"
    return reason, hint


@contextlib.contextmanager
def translate_errors(url: URL) -> Iterator[None]:
    """Turn any SQLAlchemy/driver error into a one-line :class:`ServiceUnavailable`."""
    try:
        yield
    except (exc.SQLAlchemyError, sqlite3.Error, OSError) as error:
        reason, hint = describe(error, url)
        raise ServiceUnavailable(
            "database", display_url(url), reason, hint, state=_state(error)
        ) from error


def _state(error: BaseException) -> str:
    """How the database failed: not reachable, or it refused the login or the database."""
    orig = getattr(error, "orig", None) or error
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    code = args[0] if args and isinstance(args[0], int) else None
    if code in _ACCESS_DENIED:
        return "refused the login"
    if code == _UNKNOWN_DATABASE:
        return "has no such database"
    return "is not reachable"
