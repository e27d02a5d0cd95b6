"""The validated settings: one pydantic model per section of ``bingo-scheduler.yaml``.

Attribute names are snake_case; the YAML keys are their camelCase aliases (``queueDash``,
``maxConnectionLifeTime``), as in the original service's file. Both spellings are accepted.
Durations accept Go strings (``10s``, ``1h30m``, ``90d``) or plain seconds and are stored as
float seconds.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from ..durations import parse_duration
from ..options import parse_rate

#: The prefix of every key of Asynq's Redis layout; never Bingo's own.
ASYNQ_PREFIX = "asynq"

#: The store used when neither ``database.url`` nor a ``mysql`` section is configured.
DEFAULT_SQLITE_URL = "sqlite:///storage/bingo.db"

log = logging.getLogger("bingo.config")

#: ``scheme://user:password@`` in any text; group 1 keeps all but the password.
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)[^@\n]+@", re.IGNORECASE)
#: ``password=value`` in a URL query (redis-py and some drivers read it there).
_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pwd)=)[^&\s'\"]*", re.IGNORECASE)
#: Last key parts whose values are secrets (compared lower case, without ``_``).
_SECRET_NAMES = frozenset({"key", "password", "passwd", "pwd", "secret", "token"})
_SECRET_ENDINGS = ("password", "secret", "token", "apikey", "privatekey", "readonlykey")


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL in it masked: ``redis://:***@host``."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def is_secret_key(key: str) -> bool:
    """Whether the dotted config ``key`` holds a secret (``server.key``, any ``password``,
    ``dashboard.readOnlyKey``, ``plugins.<name>.apiKey``): its value is never shown."""
    last = re.sub(r"\[\d+\]$", "", key).rsplit(".", 1)[-1].replace("_", "").lower()
    return last in _SECRET_NAMES or last.endswith(_SECRET_ENDINGS)


def fail(expected: str, *, at: str = "", value: Any = None) -> PydanticCustomError:
    """A validation error whose text is ``expected``; ``at`` names a key below the field."""
    context: dict[str, Any] = {"at": at}
    if at:
        context["value"] = value
    return PydanticCustomError("bingo", expected, context)


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        if "negative" in str(exc):
            raise fail("expected a duration >= 0") from None
        raise fail("expected a duration such as 10s, 1h30m, 250ms, 7d or seconds") from None


def _positive(value: float) -> float:
    if value <= 0:
        raise fail("expected a duration > 0")
    return value


def _empty_list() -> list[Any]:
    """A new empty list: the default of the list fields. Not ``list`` itself: pydantic reads
    a default factory's signature, and a builtin's is parsed from its text, which compiles
    the tokenizer's patterns (milliseconds of every command's start-up)."""
    return []


def _whole(value: object) -> object:
    if isinstance(value, bool):
        raise fail("expected a whole number")
    return value


#: A duration in seconds (Go string or number), >= 0.
Duration = Annotated[float, BeforeValidator(_duration)]
#: A duration in seconds, > 0.
PositiveDuration = Annotated[float, BeforeValidator(_duration), AfterValidator(_positive)]
#: An int that refuses booleans (YAML ``yes`` is not a count).
Whole = Annotated[int, BeforeValidator(_whole)]


def host_port(value: str, default_port: int | None, *, need_host: bool = True) -> str:
    """Check a ``host:port`` string; a bare host gets ``default_port`` when one is given."""
    expected = "expected host:port" if need_host else "expected [host]:port such as :8080"
    text = value.strip()
    bracketed = text.startswith("[") and text.endswith("]")
    if bracketed or ":" not in text:
        if default_port is None or not text:
            raise fail(expected)
        return f"{text}:{default_port}"
    host, _, port = text.rpartition(":")
    if (need_host and not host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise fail(expected)
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise fail(expected + " (IPv6 hosts in brackets)")
    return f"{host}:{int(port)}"


class Section(BaseModel):
    """Base of every section: camelCase aliases, unknown keys refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        coerce_numbers_to_str=True,
    )


class ServerSettings(Section):
    """``server``: identity, listen address, default time zone, dashboard secret."""

    name: str = "bingo-scheduler"
    mode: Literal["debug", "release", "test"] = "release"
    addr: str = ":8080"
    timezone: str = "UTC"
    key: str = ""

    @field_validator("addr")
    @classmethod
    def _addr(cls, value: str) -> str:
        return host_port(value, None, need_host=False)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Asia" is a folder
            raise fail("expected an IANA time zone such as UTC or Asia/Shanghai") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The server time zone, applied to schedule entries that name none."""
        return ZoneInfo(self.timezone)


class SentinelSettings(Section):
    """``redis.sentinel``: connect through Redis Sentinel to the named master."""

    master_name: str
    hosts: list[str] = Field(min_length=1)
    password: str = ""

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        out = []
        for i, item in enumerate(value):
            try:
                out.append(host_port(item, 26379))
            except PydanticCustomError:
                raise fail("expected host:port", at=f"[{i}]", value=item) from None
        return out


class ClusterSettings(Section):
    """``redis.cluster``: connect to a Redis Cluster; ``true`` alone uses ``redis.host``."""

    #: Startup nodes (``host:port``); the client learns the others from them.
    nodes: list[str] = Field(default_factory=_empty_list)

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, value: list[str]) -> list[str]:
        out = []
        for i, item in enumerate(value):
            try:
                out.append(host_port(item, 6379))
            except PydanticCustomError:
                raise fail("expected host:port", at=f"[{i}]", value=item) from None
        return out


def _cluster(value: object) -> object:
    """``redis.cluster``: ``true`` (the original form, nodes from ``redis.host``) or a
    mapping with ``nodes``; ``false`` or nothing: not a cluster."""
    if value is True:
        return {}
    if value is False or value is None:
        return None
    return value


class RedisSettings(Section):
    """``redis``: where the queues live."""

    host: str = "127.0.0.1:6379"
    password: str = ""
    username: str = ""
    database: Whole = Field(default=0, ge=0)
    prefix: str = "bingo"
    url: str = ""
    sentinel: SentinelSettings | None = None
    cluster: Annotated[ClusterSettings | None, BeforeValidator(_cluster)] = None
    socket_timeout: Duration = 5.0
    #: TCP connect only (TLS and replies: ``socket_timeout``). Short, so the CLI reports a
    #: Redis that does not answer within a second; the daemon's loops retry anyway.
    connect_timeout: Duration = 0.5
    #: The embedded Redis of the quick start, when no Redis is named (see
    #: :mod:`bingo_core.broker.embedded`): ``auto`` (when none answers at the default
    #: address), ``always`` or ``never``.
    embedded: Literal["auto", "always", "never"] = "auto"

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return host_port(value, 6379)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or any(c in value for c in " {}\t\n"):
            raise fail("expected a non-empty key prefix without spaces or braces")
        if value == ASYNQ_PREFIX or value.startswith(ASYNQ_PREFIX + ":"):
            raise fail(
                "expected a prefix other than asynq: Asynq's own keys start with asynq: "
                "(name Asynq's queues under asynq.queues)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value:
            return value
        expected = "expected a redis://, rediss:// or unix:// URL"
        try:
            parts = urlsplit(value)
            _ = parts.port
        except ValueError:
            raise fail(expected) from None
        if parts.scheme in ("redis", "rediss") and parts.hostname:
            return value
        if parts.scheme == "unix" and parts.path:
            return value
        raise fail(expected)

    @model_validator(mode="after")
    def _one_mode(self) -> RedisSettings:
        if self.cluster is not None and self.sentinel is not None:
            raise fail(
                "expected either redis.sentinel or redis.cluster, not both",
                at="cluster",
                value={"sentinel": "...", "cluster": "..."},
            )
        if self.cluster is not None and self.database:
            raise fail(
                "expected database 0: Redis Cluster has no other",
                at="database",
                value=self.database,
            )
        return self

    @property
    def mode(self) -> str:
        """``standalone``, ``sentinel`` or ``cluster``."""
        if self.sentinel is not None:
            return "sentinel"
        return "cluster" if self.cluster is not None else "standalone"

    @property
    def cluster_nodes(self) -> list[str]:
        """The cluster's startup nodes: ``redis.cluster.nodes``, else ``redis.host`` (or
        the host of ``redis.url``)."""
        if self.cluster is not None and self.cluster.nodes:
            return list(self.cluster.nodes)
        if self.url:
            parts = urlsplit(self.url)
            return [f"{parts.hostname}:{parts.port or 6379}"]
        return [self.host]

    @property
    def address(self) -> str:
        """Where Redis is, for messages: ``host:port`` (no password)."""
        if self.sentinel is not None:
            hosts = ",".join(self.sentinel.hosts)
            return f"{self.sentinel.master_name} via sentinel {hosts}"
        if self.cluster is not None:
            return "cluster " + ",".join(self.cluster_nodes)
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme == "unix":
                return parts.path
            return f"{parts.hostname}:{parts.port or 6379}"
        return self.host


class MysqlSettings(Section):
    """``mysql``: the original service's database section (pool settings as in Go)."""

    host: str = ""
    username: str = ""
    password: str = ""
    database: str = ""
    max_idle_connections: Whole = Field(default=10, ge=0)
    max_open_connections: Whole = Field(default=100, ge=0)
    max_connection_life_time: Duration = 0.0
    log_level: Whole = Field(default=1, ge=0)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return host_port(value, 3306) if value else value

    def sqlalchemy_url(self) -> str:
        """``mysql+pymysql://user:pass@host:port/db?charset=utf8mb4``."""
        auth = ""
        if self.username:
            auth = quote(self.username, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        database = quote(self.database, safe="")
        return f"mysql+pymysql://{auth}{self.host}/{database}?charset=utf8mb4"


class DatabaseSettings(Section):
    """``database``: a SQLAlchemy URL for the store; wins over ``mysql``."""

    url: str = ""


class LogSettings(Section):
    """``log``: level, console output, format, and the rotated log file."""

    # dpanic/panic/fatal are Go zap levels, accepted so the original files load (CRITICAL).
    level: Literal["debug", "info", "warn", "warning", "error", "dpanic", "panic", "fatal"] = "info"
    days: Whole = Field(default=7, ge=0)  # rotated files older than this are deleted; 0 keeps all
    format: Literal["console", "json"] = "console"
    console: bool = True
    max_size: float = Field(default=100.0, gt=0)  # MB; fractions allowed
    compress: bool = False
    path: str = ""

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class FeatureSettings(Section):
    """``feature``: switches carried over from the original service."""

    queue_dash: bool = False


def _queue_names(value: dict[str, int]) -> dict[str, int]:
    for name in value:
        if not name.strip():
            raise fail("expected non-empty queue names", at=f".{name}", value=name)
        if any(c in name for c in "{}: \t\n"):
            raise fail(
                "expected a queue name without braces, colons or spaces", at=f".{name}", value=name
            )
    return value


def _queues(value: dict[str, int]) -> dict[str, int]:
    if not value:
        raise fail("expected at least one queue name with a weight >= 1")
    return _queue_names(value)


def _rate_limit(value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail("expected a rate such as 50/s, 100/m or 1000/h")
    try:
        parse_rate(value)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return value.strip()


class QueueLimit(Section):
    """One queue of ``worker.queueLimits``: tasks of the queue running at once and started
    per period, across every worker on the Redis."""

    concurrency: Annotated[Whole, Field(ge=1)] | None = None
    rate_limit: Annotated[str | None, BeforeValidator(_rate_limit)] = None

    @property
    def rate(self) -> tuple[int, float]:
        """(tasks, period s) of ``rate_limit``; (0, 0.0) when none."""
        return parse_rate(self.rate_limit) if self.rate_limit else (0, 0.0)


class WorkerSettings(Section):
    """``worker``: concurrency, queues with weights, leases and retention."""

    concurrency: Whole = Field(default=50, ge=1)
    queues: Annotated[dict[str, Annotated[Whole, Field(ge=1)]], AfterValidator(_queues)] = Field(
        default_factory=lambda: {"default": 1}
    )
    strict_priority: bool = False
    lease: PositiveDuration = 30.0
    shutdown_timeout: Duration = 10.0
    processes: Whole = Field(default=1, ge=1)
    archive_max_size: Whole = Field(default=10000, ge=0)
    archive_max_age: Duration = 90 * 86400.0
    idempotency_ttl: Duration = 7 * 86400.0
    recover_interval: PositiveDuration = 1.0
    #: Largest handler result kept with a completed task (bytes of JSON); 0 keeps none.
    max_result_size: Whole = Field(default=1 << 20, ge=0)
    #: Queue -> its limits across every worker (``{low: {concurrency: 2, rateLimit: 50/s}}``).
    queue_limits: dict[str, QueueLimit] = Field(default_factory=dict)
    #: The event loop: uvloop when installed (``auto``), always ``asyncio``'s, or ``uvloop``.
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between heartbeats: a third of the lease, so two may be missed."""
        return max(0.05, self.lease / 3)


class AsynqSettings(Section):
    """``asynq``: queues kept in Asynq's own Redis layout (``asynq:{q}:...``, protobuf
    messages), shared with Go programs built on Asynq. Each is consumed beside
    ``worker.queues`` (same weights, same strict priority) and an enqueue to one writes an
    Asynq task."""

    queues: Annotated[dict[str, Annotated[Whole, Field(ge=1)]], AfterValidator(_queue_names)] = (
        Field(default_factory=dict)
    )
    #: Another Redis for these queues (the Go services' one); none: the ``redis`` section's.
    redis: RedisSettings | None = None


class ClientSettings(Section):
    """``client``: what an enqueue accepts (``Client``, the CLI, the dashboard)."""

    #: Largest payload accepted at enqueue (bytes of its JSON); 0: no bound.
    max_payload_size: Whole = Field(default=1 << 20, ge=0)


class TracingSettings(Section):
    """``tracing``: OpenTelemetry spans for enqueues, task attempts and scheduler ticks
    (needs the ``otel`` extra; the spans go to the tracer provider the process sets)."""

    enabled: bool = False


class SchedulerSettings(Section):
    """``scheduler``: the cron loop, the sync of ``sys_crontab`` and the leader lease."""

    enabled: bool = True
    sync_interval: PositiveDuration = 10.0
    misfire_grace: Duration = 60.0
    leader_lease: PositiveDuration = 10.0
    history_size: Whole = Field(default=100, ge=0)


class ProblemSettings(Section):
    """``dashboard.problems``: when a figure is shown as a problem (the overview, ``GET
    /queue/api/problems``, ``bingo-scheduler problems``, ``bingo_problems`` in /metrics)."""

    #: A queue's share of failed attempts today above which it is a problem (0..1).
    error_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Attempts a queue must have made today before its error rate counts.
    min_attempts: Whole = Field(default=10, ge=1)
    #: The oldest pending task waiting longer than this is a backlog.
    backlog: PositiveDuration = 300.0
    #: Tasks held back by a limit, the first waiting longer than this, are ``throttled``.
    throttled: PositiveDuration = 300.0
    #: Ticks an entry missed within this window are a problem (older ones are not).
    missed_window: PositiveDuration = 3600.0
    #: A workflow that failed within this window is a problem (older ones are not).
    workflow_window: PositiveDuration = 86400.0


def _address_list(value: object) -> object:
    """A list of addresses, also given as one comma-separated string (``--set``, env)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class DashboardSettings(Section):
    """``dashboard``: on/off, the read-only secret (``server.key`` is the admin one), the
    proxies whose ``X-Forwarded-For`` names the client and the problems' thresholds."""

    enabled: bool = True
    read_only_key: str = ""
    problems: ProblemSettings = Field(default_factory=ProblemSettings)
    #: Peers (IP addresses or CIDR networks) whose ``X-Forwarded-For`` and
    #: ``X-Forwarded-Proto`` are believed; every other peer is the client itself.
    trusted_proxies: Annotated[list[str], BeforeValidator(_address_list)] = Field(
        default_factory=_empty_list
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        out = []
        for i, item in enumerate(value):
            try:
                out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise fail(
                    "expected an IP address or a CIDR network such as 10.0.0.0/8",
                    at=f"[{i}]",
                    value=item,
                ) from None
        return out


def _plugins(value: object) -> object:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


def _schedules(value: object) -> object:
    """The ``schedules`` list with mapping keys as strings and an empty payload filled in.

    Items are not validated here: a bad item is skipped by name, with one error line, when
    the entries are built (:func:`bingo_core.scheduler.entries.config_entries`), so one bad
    item never stops the config from loading. Only a value that is not a list fails it.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for item in value:
        if isinstance(item, Mapping):
            item = {str(k): v for k, v in item.items()}
            if item.get("payload") is None:
                item["payload"] = {}
        out.append(item)
    return out


class Settings(Section):
    """Every setting of one Bingo process, built by :func:`bingo_core.config.load_settings`."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    mysql: MysqlSettings | None = None
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    feature: FeatureSettings = Field(default_factory=FeatureSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    asynq: AsynqSettings = Field(default_factory=AsynqSettings)
    client: ClientSettings = Field(default_factory=ClientSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    plugins: Annotated[dict[str, dict[str, Any]], BeforeValidator(_plugins)] = Field(
        default_factory=dict
    )
    #: The YAML ``schedules:`` items as given (mappings, or anything a bad item holds).
    schedules: Annotated[list[Any], BeforeValidator(_schedules)] = Field(
        default_factory=_empty_list
    )

    _plugin_settings: dict[str, Any] = PrivateAttr(default_factory=dict)
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _warnings: list[str] = PrivateAttr(default_factory=_empty_list)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.mysql is not None and not self.mysql.host and not self.database.url:
            raise fail(
                "expected host:port of the MySQL server (or set database.url)",
                at="mysql.host",
                value="",
            )
        key = self.dashboard.read_only_key
        if key and key == self.server.key:
            raise fail(
                "expected a secret different from server.key",
                at="dashboard.readOnlyKey",
                value="***",
            )
        self._one_format_per_queue()
        return self

    def _one_format_per_queue(self) -> None:
        """A queue is Bingo's or Asynq's: one named in both ``worker.queues`` (given) and
        ``asynq.queues`` is an error; the default ``worker.queues`` gives way."""
        shared = sorted(set(self.worker.queues) & set(self.asynq.queues))
        if not shared:
            return
        if "queues" in self.worker.model_fields_set:
            raise fail(
                f"expected each queue in worker.queues or in asynq.queues, not both "
                f"({', '.join(shared)})",
                at="asynq.queues",
                value=shared[0],
            )
        # The default queues are not the user's choice: the Asynq ones win. Set without
        # validation (an empty worker.queues is fine when asynq.queues has some).
        rest = {q: w for q, w in self.worker.queues.items() if q not in self.asynq.queues}
        self.worker.__dict__["queues"] = rest

    @property
    def warnings(self) -> list[str]:
        """One line per setting that loads but is probably a mistake (a ``plugins.<name>``
        section for a plugin that is not installed); each is logged when it is found."""
        return self._warnings

    @property
    def plugin_settings(self) -> dict[str, Any]:
        """Each plugin's validated settings (a model instance, or the raw mapping when the
        plugin registered no model), filled by :func:`bingo_core.config.bind_plugin_settings`."""
        return self._plugin_settings

    def database_url(self) -> str:
        """The store's SQLAlchemy URL: ``database.url``, else the ``mysql`` section, else
        SQLite at ``storage/bingo.db`` (relative to the current directory)."""
        if self.database.url:
            return self.database.url
        if self.mysql is not None:
            return self.mysql.sqlalchemy_url()
        return DEFAULT_SQLITE_URL
