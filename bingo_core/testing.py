"""pytest plugin for plugin authors (entry point ``pytest11``: loaded automatically).

A plugin's test of one task is a few lines::

    import bingo_plugin_hello as plugin
    from bingo_core.testing import run_task

    def test_hello(bingo_app):
        app = bingo_app(plugin, plugins={"hello": {"greeting": "Hi"}})
        task = run_task(app, "task:hello", {"name": "Ada"})
        assert task.state == "completed"
        assert task.result == {"message": "Hi, Ada!"}

Fixtures:

- ``bingo_redis_server`` / ``bingo_redis_url``: a private ``redis-server`` for the test
  session (:class:`RedisServer`, which tests may stop and restart), flushed per test.
- ``bingo_settings_factory``: ``bingo_settings_factory(**sections)`` -> :class:`Settings`
  on that Redis and a SQLite file in the test's ``tmp_path``, with the given config
  sections merged in (``plugins={"mail_notify": {"port": 2525}}``,
  ``server={"timezone": "Asia/Shanghai"}``, ``database={"url": ...}``), exactly as if
  they were written in ``bingo-scheduler.yaml``.
- ``bingo_settings``: ``bingo_settings_factory()`` with no sections.
- ``bingo_mysql_url``: a fresh MySQL/MariaDB database per test (dropped after it);
  ``bingo_database_url``: parametrized, the test runs on SQLite and on MySQL/MariaDB.
- ``bingo_registry``: ``bingo_registry(plugin, ...)`` builds a registry from plugin objects
  or modules registered inline (no entry points), failing the test on a broken plugin.
- ``bingo_app``: ``bingo_app(plugin, ..., settings=None, **sections)`` -> an
  :class:`~bingo_core.app.App` with those plugins inline (their ``plugins.<name>``
  settings bound, their lifecycle hooks active), closed after the test.
- ``bingo_worker``: ``bingo_worker(app_or_registry, timeout=10)`` runs a real worker until
  every queue it serves is empty, then stops it.

Functions: :func:`run_task` (enqueue one task, run the worker, return the task as
stored), :func:`drain` (the worker loop behind ``bingo_worker``, for async tests).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import pytest

from .plugins import PluginManager
from .registry import Registry

if TYPE_CHECKING:
    from .app import App
    from .config import Settings
    from .message import TaskInfo

#: How long :func:`run_task` keeps the finished task (and its result) in Redis.
RUN_TASK_RETENTION = 300.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` process on a free port; tests may stop and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bingo-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>`` (the form of the original config's ``redis.host``)."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it (again, on the same port) and wait until it answers.

        Before its first start the port was only free when it was picked: when another
        process took it meanwhile (tests running in parallel pick ports too), the server
        moves to another free port, so a test never talks to somebody else's server."""
        for _ in range(5):
            if self._start_once():
                self.started = True
                return
            if self.started:  # a restart must keep its port
                break
            self.port = free_port()
        pytest.fail(f"private redis-server on port {self.port} did not start (port in use)")

    def _start_once(self) -> bool:
        """Start the process; True once it answers as itself, False if it exited."""
        # lazy: keeps redis out of every pytest run (this plugin loads with pytest)
        import redis

        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.proc = proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        try:
            while True:
                if proc.poll() is not None:
                    self.proc = None
                    return False
                try:
                    if client.info("server")["process_id"] == proc.pid:
                        return True
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"private redis-server on port {self.port} did not start")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Kill it (its data is gone)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def remove(self) -> None:
        """Stop it and delete its folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def bingo_redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the test session."""
    server = RedisServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def bingo_redis_url(bingo_redis_server: RedisServer) -> str:
    """The private Redis, flushed for this test (restarted if a test killed it)."""
    # lazy: keeps redis out of every pytest run (this plugin loads with pytest)
    import redis

    if bingo_redis_server.proc is None or bingo_redis_server.proc.poll() is not None:
        bingo_redis_server.start()
    client = redis.Redis.from_url(bingo_redis_server.url)
    client.flushall()
    client.close()
    return bingo_redis_server.url


#: The MySQL/MariaDB server ``bingo_mysql_url`` creates its databases on.
MYSQL_ENV = "BINGO_TEST_MYSQL_URL"
MYSQL_DEFAULT = "mysql+pymysql://root@127.0.0.1:3306"


@pytest.fixture
def bingo_mysql_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh MySQL/MariaDB database for this test, dropped after it.

    The server is ``$BINGO_TEST_MYSQL_URL`` (default ``mysql+pymysql://root@127.0.0.1:3306``);
    an unreachable server fails the test, it is never skipped."""
    # lazy: pymysql is optional (the mysql extra)
    import pymysql

    server = urlsplit(os.environ.get(MYSQL_ENV) or MYSQL_DEFAULT)
    login: dict[str, Any] = {
        "host": server.hostname or "127.0.0.1",
        "port": server.port or 3306,
        "user": unquote(server.username or "root"),
        "password": unquote(server.password or ""),
    }
    name = f"bingo_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = pymysql.connect(**login)
    except pymysql.err.OperationalError as exc:
        pytest.fail(
            f"MySQL/MariaDB at {login['host']}:{login['port']} is not reachable ({exc}); "
            f"start it or point {MYSQL_ENV} at one"
        )
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        user = quote(login["user"], safe="")
        password = quote(login["password"], safe="")
        yield f"mysql+pymysql://{user}:{password}@{login['host']}:{login['port']}/{name}"
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@pytest.fixture(params=["sqlite", "mysql"])
def bingo_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: the test runs once on a SQLite file and once on MySQL/MariaDB
    (:func:`bingo_mysql_url`). Pass it as ``database={"url": bingo_database_url}``."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("bingo_mysql_url"))


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
    return base


@pytest.fixture
def bingo_settings_factory(bingo_redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """``make(**sections)`` -> validated settings on the private Redis and a SQLite file
    in ``tmp_path``; each keyword is a config section (``plugins``, ``server``,
    ``worker``, ``database``, ``mysql`` ...) merged over those defaults and loaded as the
    YAML file would be, so a bad value fails as it would for a user."""
    # lazy: keeps the config (YAML, the settings models) out of every pytest run
    from .config import load_settings

    made = [0]

    def make(**sections: Mapping[str, Any]) -> Settings:
        config: dict[str, Any] = {
            "redis": {"url": bingo_redis_url},
            "database": {"url": f"sqlite:///{tmp_path / 'bingo.db'}"},
            "worker": {"lease": "2s", "shutdownTimeout": "5s"},
        }
        if "mysql" in sections:  # the original section, instead of database.url
            del config["database"]
        _merge(config, sections)
        made[0] += 1
        path = tmp_path / f"bingo-settings-{made[0]}.yaml"
        path.write_text(json.dumps(config, default=str))  # JSON is YAML
        return load_settings(path, env={})

    return make


@pytest.fixture
def bingo_settings(bingo_settings_factory: Callable[..., Settings]) -> Settings:
    """Settings on the private Redis (and a SQLite file in ``tmp_path``)."""
    return bingo_settings_factory()


def _inline(
    plugins: tuple[object, ...], settings: Settings | None = None
) -> tuple[PluginManager, Registry]:
    # lazy: keeps the config (YAML, the settings models) out of every pytest run
    from .config import bind_plugin_settings

    manager = PluginManager()
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        # A plugin package registered inline gets the name its entry point would give it
        # by convention: bingo_plugin_daily_report -> daily_report.
        manager.add(plugin, name.removeprefix("bingo_plugin_"))
    if settings is None:
        registry = manager.collect()
    else:  # the plugins' settings are bound before their schedules, as the app does
        registry = manager.collect(
            lambda reg: bind_plugin_settings(settings, reg.settings_models, list(manager.infos))
        )
    if manager.failures:
        pytest.fail("; ".join(str(f) for f in manager.failures))
    return manager, registry


@pytest.fixture
def _bingo_managers() -> list[tuple[Registry, PluginManager]]:
    return []


@pytest.fixture
def bingo_registry(
    _bingo_managers: list[tuple[Registry, PluginManager]],
) -> Callable[..., Registry]:
    """``build(plugin, ...)`` -> a :class:`Registry` of plugin objects or modules
    registered inline (a module ``bingo_plugin_x`` is named ``x``, as its entry point
    would be); fails the test when one of them is broken."""

    def build(*plugins: object) -> Registry:
        manager, registry = _inline(plugins)
        _bingo_managers.append((registry, manager))
        return registry

    return build


@pytest.fixture
def bingo_app(
    bingo_settings_factory: Callable[..., Settings],
) -> Iterator[Callable[..., App]]:
    """``make(plugin, ..., settings=None, **sections)`` -> an :class:`App` with the plugins
    registered inline, on ``settings`` or ``bingo_settings_factory(**sections)``."""
    # lazy: keeps the app's parts (the config, asyncio) out of every pytest run
    from .app import App

    apps: list[App] = []

    def make(*plugins: object, settings: Settings | None = None, **sections: Any) -> App:
        settings = settings if settings is not None else bingo_settings_factory(**sections)
        manager, registry = _inline(plugins, settings)
        app = App(settings, registry=registry, manager=manager)
        app.registry  # noqa: B018 - binds plugins.<name> now: a bad section fails here
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


async def drain(
    settings: Any = None,
    registry: Registry | None = None,
    manager: Any = None,
    timeout: float = 10.0,
    *,
    app: App | None = None,
) -> None:
    """Run a worker until every queue it serves is empty, then stop it.

    The worker runs on ``app`` (whose async connections are closed at the end; the app
    stays usable), or on a new app of ``settings``, ``registry`` and ``manager``.
    Empty means nothing pending, active, held back by a limit, waiting for a retry or
    for its dependencies, nothing left to tell other queues (workflows across queues),
    and no scheduled task or batch due before ``timeout`` runs out (a task scheduled for
    later is left scheduled, items held for a later batch are left held). Raises
    :class:`TimeoutError` naming what is
    left after ``timeout`` seconds.
    """
    # lazy: keeps the app's parts and the worker (redis) out of every pytest run
    from .app import App
    from .worker import Worker

    stop = asyncio.Event()
    if app is None:
        app = App(settings, registry=registry, manager=manager)
    worker = Worker(app)
    runner = asyncio.create_task(worker.run(stop))
    reader = app.broker.reader
    deadline = time.monotonic() + timeout
    wall_deadline = time.time() + timeout

    def left() -> list[str]:
        out = []
        for q in worker.queues:
            s = reader.queue_stats(q)
            kinds = ("pending", "active", "retry", "throttled", "waiting")
            busy = {k: s.count(k) for k in kinds if s.count(k)}
            if s.scheduled:
                first = reader.get_tasks(q, reader.list_ids(q, "scheduled", 0, 1))
                due = first[0].process_at if first else None
                if due is None or due <= wall_deadline:
                    busy["scheduled"] = s.scheduled
            left_s = wall_deadline - time.time()
            batched = sum(b.items for b in reader.batches(q) if b.due_in <= left_s)
            if batched:
                busy["held for a batch"] = batched
            out += [f"{q}: {n} {state}" for state, n in busy.items()]
            relayed = app.broker.redis.hlen(app.broker.q(q).relay)  # news for other queues
            out += [f"{q}: {relayed} to relay"] if relayed else []
        return out

    try:
        while True:
            await asyncio.sleep(0.01)
            if runner.done():
                runner.result()
                return
            busy = await asyncio.to_thread(left)
            if not busy and not worker.active:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"queues not empty after {timeout}s ({', '.join(busy)})")
    finally:
        stop.set()
        await runner
        await app.aclose()


@pytest.fixture
def bingo_worker(
    bingo_settings: Settings, _bingo_managers: list[tuple[Registry, PluginManager]]
) -> Callable[..., None]:
    """``run(app_or_registry, timeout=10, settings=None)``: a real worker on the app's
    settings (or ``settings``, or ``bingo_settings``) runs until every queue it serves is
    empty (see :func:`drain`); the plugins' lifecycle hooks are called as in a daemon."""

    def run(target: App | Registry, timeout: float = 10.0, settings: Any = None) -> None:
        if isinstance(target, Registry):
            manager = next((m for r, m in _bingo_managers if r is target), None)
            asyncio.run(drain(settings or bingo_settings, target, manager, timeout))
        elif settings is not None:
            asyncio.run(drain(settings, target.registry, target.manager, timeout))
        else:
            asyncio.run(drain(timeout=timeout, app=target))

    return run


def run_task(
    app: App, task_type: str, payload: Any = None, *, wait: float = 10.0, **options: Any
) -> TaskInfo:
    """Enqueue one task on ``app`` (validated like any enqueue), run a worker until the
    queues are empty and return the task as stored: ``state`` (``completed`` or
    ``archived``), ``result`` (the handler's return value), ``error``, ``retried``.

    ``options`` are the task's options, as for ``Client.enqueue`` (``timeout=0.5`` is the
    handler's timeout); ``wait`` is how long the worker may take to empty the queues
    before :class:`TimeoutError` is raised. The task is kept ``RUN_TASK_RETENTION``
    seconds unless ``options`` set ``retention``.
    """
    options.setdefault("retention", RUN_TASK_RETENTION)
    info = app.client.enqueue(task_type, payload, **options)
    served = app.settings.worker.queues
    if info.queue not in served:
        pytest.fail(
            f"{task_type} went to queue {info.queue!r}, which the worker does not serve "
            f"(worker.queues: {', '.join(served)}); pass worker={{'queues': ...}}"
        )
    asyncio.run(drain(timeout=wait, app=app))
    return app.inspector.task(info.queue, info.id)
