"""The store: SQLAlchemy model of ``sys_crontab`` and the engine (MySQL or SQLite).

``sqlalchemy`` is imported only inside this package; the rest of Bingo uses
:class:`Store` and the plain :class:`CrontabRow` it returns.
"""

from __future__ import annotations

from .fingerprint import Fingerprint
from .models import DISABLED, ENABLED, TABLE, Base, SysCrontab
from .store import KEEP, CrontabRow, RowTuple, Sessions, Store, store_from_settings

__all__ = [
    "DISABLED",
    "ENABLED",
    "KEEP",
    "TABLE",
    "Base",
    "CrontabRow",
    "Fingerprint",
    "RowTuple",
    "Sessions",
    "Store",
    "SysCrontab",
    "store_from_settings",
]
