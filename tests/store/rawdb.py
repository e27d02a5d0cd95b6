"""Plain SQL through the DB driver itself, for tests that must bypass the Store."""

from __future__ import annotations

import sqlite3
from typing import Any

import pymysql
from sqlalchemy.engine import make_url


class RawDB:
    """Plain SQL through the DB driver itself (sqlite3 / PyMySQL), bypassing the Store."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        self.conn: Any
        if self.backend == "sqlite":
            self.conn = sqlite3.connect(parsed.database or "", isolation_level=None)
        else:
            self.conn = pymysql.connect(
                host=parsed.host,
                port=parsed.port or 3306,
                user=parsed.username,
                password=parsed.password or "",
                database=parsed.database,
                autocommit=True,
                charset="utf8mb4",
            )

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            return list(self.conn.execute(sql.replace("%s", "?"), params).fetchall())
        with self.conn.cursor() as cur:
            cur.execute(sql, params or None)
            return list(cur.fetchall())

    def close(self) -> None:
        self.conn.close()
