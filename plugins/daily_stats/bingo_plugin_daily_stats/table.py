"""The ``sys_task_stats`` table: one row per queue, task type and day.

Its own :class:`~sqlalchemy.MetaData` (not the core's): the table is created on first use
(``CREATE TABLE IF NOT EXISTS``, safe when two workers race) on MySQL/MariaDB or SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from . import TABLE

#: The figures of one row besides its day: what :func:`replace_day` writes.
FIELDS = ("queue", "type", "processed", "failed", "p50_ms", "p95_ms", "max_ms")

metadata = MetaData()

stats_table = Table(
    TABLE,
    metadata,
    # BIGINT on MySQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("date", Date, nullable=False),
    Column("queue", String(255), nullable=False),
    Column("type", String(255), nullable=False),
    Column("processed", BigInteger, nullable=False, default=0),
    Column("failed", BigInteger, nullable=False, default=0),
    Column("p50_ms", Double, nullable=False, default=0.0),
    Column("p95_ms", Double, nullable=False, default=0.0),
    Column("max_ms", Double, nullable=False, default=0.0),
    Column("created_at", DateTime, nullable=False),
    Index("uq_sys_task_stats_day", "date", "queue", "type", unique=True),
    mysql_charset="utf8mb4",
)


class StatsTableError(RuntimeError):
    """The database refused a read or write of ``sys_task_stats`` (the reason in one line)."""


def _reason(exc: DBAPIError) -> str:
    # The driver's own message, without SQLAlchemy's statement and parameters.
    return f"{type(exc.orig).__name__}: {exc.orig}"


def ensure_table(session: Session) -> None:
    """Create ``sys_task_stats`` when it does not exist yet (commits)."""
    try:
        if not inspect(session.connection()).has_table(TABLE):
            metadata.create_all(session.connection(), checkfirst=True)
        session.commit()
    except DBAPIError as exc:
        session.rollback()
        # Another worker may have created it between the check and the CREATE.
        if inspect(session.connection()).has_table(TABLE):
            session.rollback()
            return
        raise StatsTableError(f"cannot create table {TABLE}: {_reason(exc)}") from None


def replace_day(
    session: Session, day: date, rows: Iterable[Mapping[str, Any]], *, keep_if_empty: bool = True
) -> int:
    """Replace the rows of ``day`` with ``rows`` in one transaction; returns how many rows
    the day has afterwards.

    With ``keep_if_empty`` an empty ``rows`` leaves rows already stored in place: the
    core's daily figures expire (40 days), and a late re-run must not wipe a day that
    was recorded while they were there.
    """
    values = [{"date": day, **{f: row[f] for f in FIELDS}} for row in rows]
    now = datetime.now(UTC).replace(tzinfo=None)
    for value in values:
        value["created_at"] = now
    ensure_table(session)
    try:
        with session.begin():
            if not values and keep_if_empty:
                counted = session.execute(
                    select(func.count()).select_from(stats_table).where(stats_table.c.date == day)
                ).scalar_one()
                return int(counted)
            session.execute(delete(stats_table).where(stats_table.c.date == day))
            if values:
                session.execute(insert(stats_table), values)
    except DBAPIError as exc:
        raise StatsTableError(f"cannot write {TABLE} rows of {day}: {_reason(exc)}") from None
    return len(values)


def read_day(session: Session, day: date) -> list[dict[str, Any]]:
    """The rows of ``day`` (queue, type, processed, failed, p50_ms, p95_ms, max_ms,
    created_at), by queue and type; empty when the table does not exist yet."""
    try:
        if not inspect(session.connection()).has_table(TABLE):
            return []
        result = session.execute(
            select(stats_table)
            .where(stats_table.c.date == day)
            .order_by(stats_table.c.queue, stats_table.c.type)
        )
        return [dict(row._mapping) for row in result]
    except DBAPIError as exc:
        raise StatsTableError(f"cannot read {TABLE} rows of {day}: {_reason(exc)}") from None
