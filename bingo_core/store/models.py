"""The ``sys_crontab`` table, exactly as the original service defines it.

.. code-block:: sql

    CREATE TABLE `sys_crontab` (
      `id` bigint unsigned NOT NULL AUTO_INCREMENT,
      `name` varchar(100) NOT NULL COMMENT 'Task name',
      `type` varchar(50) NOT NULL COMMENT 'Task type',
      `spec` varchar(100) NOT NULL COMMENT 'Cron expression',
      `payload` text COMMENT 'Task parameters (JSON)',
      `status` tinyint NOT NULL DEFAULT '1' COMMENT 'Status: 1-enabled, 0-disabled',
      `created_at` datetime DEFAULT NULL,
      `updated_at` datetime DEFAULT NULL,
      PRIMARY KEY (`id`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

On SQLite the id is a plain ``INTEGER PRIMARY KEY`` (the rowid), so autoincrement works.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, SmallInteger, String, Text, text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TABLE = "sys_crontab"
#: ``status`` values.
ENABLED = 1
DISABLED = 0
#: Characters each text column holds.
LIMITS = {"name": 100, "type": 50, "spec": 100}
#: Bytes the ``payload`` column holds (MySQL's TEXT).
PAYLOAD_BYTES = 65535
#: The largest row id (``id`` is a BIGINT; signed 64-bit on SQLite).
MAX_ROW_ID = 2**63 - 1

_ID = (
    BigInteger()
    .with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")
    .with_variant(Integer(), "sqlite")
)
_TINYINT = SmallInteger().with_variant(mysql.TINYINT(), "mysql", "mariadb")


class Base(DeclarativeBase):
    """Declarative base of Bingo's own tables."""


class SysCrontab(Base):
    """One dynamic schedule: a cron ``spec`` that enqueues ``type`` with ``payload``."""

    __tablename__ = TABLE
    __table_args__ = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(LIMITS["name"]), nullable=False, comment="Task name")
    type: Mapped[str] = mapped_column(String(LIMITS["type"]), nullable=False, comment="Task type")
    spec: Mapped[str] = mapped_column(
        String(LIMITS["spec"]), nullable=False, comment="Cron expression"
    )
    payload: Mapped[str | None] = mapped_column(
        Text, nullable=True, comment="Task parameters (JSON)"
    )
    status: Mapped[int] = mapped_column(
        _TINYINT,
        nullable=False,
        server_default=text("1"),
        comment="Status: 1-enabled, 0-disabled",
    )
    created_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    def __repr__(self) -> str:
        return f"SysCrontab(id={self.id!r}, name={self.name!r}, type={self.type!r})"
