"""The :class:`Store`: engine, schema creation and the ``sys_crontab`` operations."""

from __future__ import annotations

import enum
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, inspect, select, update
from sqlalchemy.engine import URL, Connection
from sqlalchemy.orm import sessionmaker

from .engine import build_engine, display_url, is_mysql, parse_url, translate_errors
from .fingerprint import Fingerprint, SqliteDataVersion, mysql_fingerprint, sqlite_has_file
from .models import ENABLED, TABLE, Base, SysCrontab

_T = cast(Table, SysCrontab.__table__)
_SCAN_COLUMNS = (_T.c.id, _T.c.name, _T.c.type, _T.c.spec, _T.c.payload, _T.c.status)
_COLUMNS = (*_SCAN_COLUMNS, _T.c.created_at, _T.c.updated_at)

#: What :meth:`Store.scan` returns per row: ``(id, name, type, spec, payload, status)``.
RowTuple = tuple[int, str, str, str, str | None, int]


class _Keep(enum.Enum):
    KEEP = "keep"


#: Default of :meth:`Store.update` arguments: leave the column as it is.
KEEP = _Keep.KEEP


@dataclass(frozen=True, slots=True)
class CrontabRow:
    """One ``sys_crontab`` row as plain data (``payload`` is the JSON text as stored)."""

    id: int
    name: str
    type: str
    spec: str
    payload: str | None
    status: int
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def enabled(self) -> bool:
        """Whether the row runs (``status`` 1)."""
        return self.status == ENABLED

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict (timestamps as ISO strings)."""
        data = asdict(self)
        for key in ("created_at", "updated_at"):
            value = data[key]
            data[key] = value.isoformat(sep=" ") if value is not None else None
        return data


def _now() -> datetime:
    # Naive local wall-clock time, as the original service wrote these columns.
    return datetime.now().replace(microsecond=0)


class Store:
    """Bingo's database: ``Store(url)``; MySQL through PyMySQL, or a SQLite file.

    Every database failure (server down, bad credentials, unknown database, missing
    table) is raised as a one-line :class:`~bingo_core.errors.ServiceUnavailable`.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_recycle: float | None = None,
    ) -> None:
        self.url = parse_url(url)
        self.engine = build_engine(
            self.url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=pool_recycle
        )
        self._scan_text: str | None = None
        self._data_version: SqliteDataVersion | None = None
        if self.is_sqlite and sqlite_has_file(self.url):
            self._data_version = SqliteDataVersion(self.engine)

    @property
    def display_url(self) -> str:
        """The URL with its password masked, for messages."""
        return display_url(self.url)

    @property
    def is_sqlite(self) -> bool:
        """Whether this store is a SQLite file."""
        return self.url.get_backend_name() == "sqlite"

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        if self._data_version is not None:
            self._data_version.close()
        self.engine.dispose()

    def ping(self) -> None:
        """Connect and run a trivial query; raises ServiceUnavailable when that fails."""
        with translate_errors(self.url), self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def has_schema(self) -> bool:
        """Whether the ``sys_crontab`` table exists."""
        with translate_errors(self.url), self.engine.connect() as conn:
            return bool(inspect(conn).has_table(TABLE))

    def init_schema(self) -> bool:
        """Create the tables that are missing; return True when ``sys_crontab`` was created."""
        with translate_errors(self.url), self.engine.begin() as conn:
            existed = inspect(conn).has_table(TABLE)
            Base.metadata.create_all(conn, checkfirst=True)
        return not existed

    def rows(self) -> list[CrontabRow]:
        """Every ``sys_crontab`` row, ordered by id."""
        stmt = select(*_COLUMNS).order_by(_T.c.id)
        with translate_errors(self.url), self.engine.connect() as conn:
            return [CrontabRow(*row) for row in conn.execute(stmt)]

    def scan(self) -> list[RowTuple]:
        """Every row as a plain ``(id, name, type, spec, payload, status)`` tuple, by id.

        The cheapest read of the table, for the sync's diff of thousands of rows: the
        driver's own tuples are returned (these columns need no conversion), which saves
        building a Row per row.
        """
        with translate_errors(self.url), self.engine.connect() as conn:
            result = conn.exec_driver_sql(self._scan_sql(conn))
            rows = result.cursor.fetchall()
            result.close()
        return cast(list[RowTuple], rows if isinstance(rows, list) else list(rows))

    def _scan_sql(self, conn: Connection) -> str:
        if self._scan_text is None:
            stmt = select(*_SCAN_COLUMNS).order_by(_T.c.id)
            self._scan_text = str(stmt.compile(dialect=conn.dialect))
        return self._scan_text

    def fingerprint(self) -> Fingerprint | None:
        """A value that changes whenever a row's id, name, type, spec, payload or status does.

        Cheap next to :meth:`scan` (one aggregate query on MySQL, ``PRAGMA data_version``
        on a SQLite file); None when this database has no such check (in-memory SQLite).
        Values compare only with values from the same Store; see
        :mod:`bingo_core.store.fingerprint` for what equal values guarantee.
        """
        if is_mysql(self.url):
            with translate_errors(self.url), self.engine.connect() as conn:
                return mysql_fingerprint(conn)
        if self._data_version is not None:
            with translate_errors(self.url):
                return self._data_version.fingerprint()
        return None

    def get(self, row_id: int) -> CrontabRow | None:
        """The row ``row_id``, or None when there is none."""
        stmt = select(*_COLUMNS).where(_T.c.id == row_id)
        with translate_errors(self.url), self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return CrontabRow(*row) if row is not None else None

    def add(
        self,
        name: str,
        type: str,
        spec: str,
        payload: str | None = None,
        status: int = ENABLED,
    ) -> int:
        """Insert a row; return its id."""
        now = _now()
        stmt = insert(_T).values(
            name=name,
            type=type,
            spec=spec,
            payload=payload,
            status=status,
            created_at=now,
            updated_at=now,
        )
        with translate_errors(self.url), self.engine.begin() as conn:
            result = conn.execute(stmt)
            key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def update(
        self,
        row_id: int,
        *,
        name: str | _Keep = KEEP,
        type: str | _Keep = KEEP,
        spec: str | _Keep = KEEP,
        payload: str | _Keep | None = KEEP,
        status: int | _Keep = KEEP,
    ) -> bool:
        """Change the given columns of row ``row_id``; return False when there is no such row."""
        given = {"name": name, "type": type, "spec": spec, "payload": payload, "status": status}
        values: dict[str, Any] = {k: v for k, v in given.items() if v is not KEEP}
        values["updated_at"] = _now()
        stmt = update(_T).where(_T.c.id == row_id).values(**values)
        with translate_errors(self.url), self.engine.begin() as conn:
            return conn.execute(stmt).rowcount > 0

    def set_status(self, row_id: int, status: int) -> bool:
        """Enable (1) or disable (0) row ``row_id``; return False when there is no such row."""
        return self.update(row_id, status=status)

    def delete(self, row_id: int) -> bool:
        """Delete row ``row_id``; return False when there was no such row."""
        stmt = delete(_T).where(_T.c.id == row_id)
        with translate_errors(self.url), self.engine.begin() as conn:
            return conn.execute(stmt).rowcount > 0


def store_from_settings(settings: Any) -> Store:
    """The :class:`Store` for ``settings.database_url()``, pooled per the ``mysql`` section.

    As in Go's ``database/sql``: ``maxOpenConnections`` caps all connections (0: no cap),
    ``maxIdleConnections`` the ones kept open, ``maxConnectionLifeTime`` recycles them.
    """
    url = parse_url(settings.database_url())
    mysql = getattr(settings, "mysql", None)
    if mysql is None or not is_mysql(url):
        return Store(url)
    max_open = int(mysql.max_open_connections)
    max_idle = int(mysql.max_idle_connections)
    if max_open > 0:
        pool_size = max(1, min(max_idle, max_open))
        max_overflow = max_open - pool_size
    else:
        pool_size, max_overflow = max(1, max_idle), -1
    lifetime = float(mysql.max_connection_life_time or 0)
    return Store(url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=lifetime or None)


class Sessions:
    """``sessions()`` -> a SQLAlchemy ``Session`` on the configured store: what handlers
    get as ``ctx.db`` (the original service's ``store.S``).

    The engine is created on the first call (a worker that never touches the database
    never connects) and disposed by :meth:`close`. Thread-safe: sync handlers run in a
    thread pool.
    """

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._factory: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        # A process-isolated handler gets its own engine, made on its first use.
        return (Sessions, (self._settings,))

    @property
    def store(self) -> Store:
        """The :class:`Store` behind the sessions (created on first use)."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    store = store_from_settings(self._settings)
                    self._factory = sessionmaker(bind=store.engine, expire_on_commit=False)
                    self._store = store
        return self._store

    def __call__(self) -> Any:
        """A new ``Session``; use it as a context manager and commit what you write."""
        self.store  # noqa: B018 - creates the engine on first use
        return self._factory()

    @property
    def started(self) -> bool:
        """Whether the engine was created."""
        return self._store is not None

    def close(self) -> None:
        """Dispose of the engine (a later call creates it again)."""
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = None
            self._factory = None
