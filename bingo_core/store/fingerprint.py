"""A cheap answer to "did ``sys_crontab`` change?", so a sync round can skip reading every row.

:meth:`Store.fingerprint <bingo_core.store.Store.fingerprint>` returns a small value that
differs from the previous one whenever any row was inserted, deleted, or had its id, name,
type, spec, payload or status changed. Equal values mean the rows are the same, with the
(theoretical) exceptions below; the sync therefore still reads every row now and then.

MySQL / MariaDB: one aggregate query computed by the server. Each row is encoded without
ambiguity (every string is preceded by its length; a NULL payload has length -1, so it
differs from an empty one) and hashed with ``CRC32``; the table's value is
``(COUNT, BIT_XOR, SUM, SUM of squares)`` of those hashes, independent of row order.
XOR alone is not enough: CRC32 is linear over XOR, so the same edit at the same distance
from the end of two rows (``UPDATE ... SET status = 0 WHERE id IN (1, 2)``, or disabling
one row and enabling another) leaves the XOR unchanged. The two integer sums are not
linear in that sense; an edit of k rows goes unseen only when the k old and k new hashes
agree in count, XOR, sum and sum of squares, which needs a CRC32 collision for k <= 2
and is of the order of 2^-64 or less beyond. The hashes are computed once, in a derived table
that ``LIMIT`` keeps from being merged. On 10,000 rows it takes 11-50 ms (on two shared
cores, by load), against 60-250 ms to read every row and decode it with PyMySQL.

SQLite: ``PRAGMA data_version`` on a private read-only connection. SQLite changes that
value whenever another connection (of this process or any other) commits to the file, so
it sees every write to ``sys_crontab``, and also writes to other tables, which only cost
a needless full read. It costs a file lock and a header read: about 20 microseconds. A
per-row hash would need one Python call per row from a function registered with
``create_function``: 25-45 ms on 10,000 rows, no cheaper than reading the rows. Not
covered: a database file replaced under the process (the connection keeps the old file,
as the pooled connections do) and shared-cache connections. An in-memory database has
no fingerprint: every round reads every row.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import cast

from sqlalchemy import exc
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import PoolProxiedConnection

from .models import TABLE

#: An opaque value compared with ``==``; only values from the same :class:`Store` compare.
Fingerprint = tuple[object, ...]

# Each string column is preceded by its byte length, so ("a,b", "c") and ("a", "b,c")
# encode differently; COALESCE keeps a NULL payload from vanishing out of CONCAT_WS.
_ROW_CRC = (
    "CRC32(CONCAT_WS(',', id, LENGTH(name), name, LENGTH(type), type, LENGTH(spec), spec, "
    "COALESCE(LENGTH(payload), -1), COALESCE(payload, ''), status))"
)
#: The MySQL / MariaDB fingerprint query (c * c < 2^64: no BIGINT UNSIGNED overflow).
MYSQL_FINGERPRINT = (
    "SELECT COUNT(*), BIT_XOR(c), SUM(c), SUM(c * c) "
    f"FROM (SELECT {_ROW_CRC} AS c FROM {TABLE} LIMIT 18446744073709551615) AS row_crc"
)


def mysql_fingerprint(conn: Connection) -> Fingerprint:
    """The table's aggregate of row hashes, computed by the MySQL / MariaDB server."""
    row = conn.exec_driver_sql(MYSQL_FINGERPRINT).one()
    return ("mysql", *row)


def sqlite_has_file(url: URL) -> bool:
    """Whether the SQLite URL names a file (not an in-memory database)."""
    database = url.database or ""
    return bool(database) and database != ":memory:" and "mode=memory" not in database


class SqliteDataVersion:
    """``PRAGMA data_version`` of a private, read-only connection to a SQLite file.

    The connection is taken out of the engine's pool (so it keeps the URL's settings and
    never serves a write) and opened again after an error; a new connection starts a new
    generation, so its values never equal the old connection's.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: PoolProxiedConnection | None = None
        self._generation = 0
        self._lock = threading.Lock()

    def fingerprint(self) -> Fingerprint:
        """``("sqlite", generation, data_version)``; raises the driver's error on failure."""
        with self._lock:
            try:
                conn = self._conn
                if conn is None:
                    conn = self._engine.raw_connection()
                    conn.detach()
                    self._conn = conn
                    self._generation += 1
                    self._execute(conn, "PRAGMA query_only = ON")
                version = self._execute(conn, "PRAGMA data_version")
            except BaseException:
                self._close_locked()
                raise
            return ("sqlite", self._generation, version)

    @staticmethod
    def _execute(conn: PoolProxiedConnection, sql: str) -> object:
        cursor = conn.cursor()
        try:
            cursor.execute(sql)
            row = cursor.fetchone()
        finally:
            cursor.close()
        return cast(tuple[object, ...], row)[0] if row is not None else None

    def close(self) -> None:
        """Close the private connection (a later call opens a new one)."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(exc.SQLAlchemyError, sqlite3.Error):
                conn.close()
