"""Plain SQL through the DB driver itself, for tests that must bypass the Store."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import urlsplit

import pymysql


class RawDB:
    """Plain SQL through the DB driver itself (sqlite3 / PyMySQL), bypassing the Store."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = urlsplit(url)
        self.backend = parsed.scheme.split("+")[0]
        self.conn: Any
        if self.backend == "sqlite":
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        else:
            self.conn = pymysql.connect(
                host=parsed.hostname,
                port=parsed.port or 3306,
                user=parsed.username,
                password=parsed.password or "",
                database=parsed.path.lstrip("/"),
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
