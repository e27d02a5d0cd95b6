"""Redis Cluster: redis-py's ``RedisCluster`` clients with what Bingo needs of them.

Every script's keys share one slot (queue keys are tagged ``{q}``, the scheduler's
``{scheduler}``; ``tests/broker/test_keyslots.py`` checks each builder), so a script call
is routed like any single-slot command. What differs from one Redis:

- **Pipelines.** redis-py's cluster pipeline sends plain commands grouped per node, but
  refuses ``EVALSHA`` and ``MGET``. The clients here return a pipeline that accepts both:
  plain commands still go through redis-py's cluster pipeline, ``MGET`` is queued as one
  ``GET`` per key and folded back into one list, and each script call runs through the
  cluster client (one round trip, routed by its keys' slot) at its place in the sequence.
  Results come back in order, as from a pipeline on one Redis. (asyncio: script calls that
  follow each other run concurrently across slots, in order within a slot.)
- **Waiting for work.** ``BLPOP`` cannot wait on the notify lists of queues in several
  slots. :class:`NotifyWaiter` keeps one ``BLPOP`` per queue in flight on a blocking
  client (one connection per queue) and returns at the first token.
- **MGET** of keys in several slots is sent as one MGET per slot (``mget_nonatomic``).
- **Errors.** A cluster that cannot be reached raises ``RedisClusterException``, which is
  not a redis-py connection error; here it is re-raised as ``ConnectionError`` with a
  short message, so the daemon's loops retry on it and the CLI prints one line.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import redis.exceptions as rexc
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from .reach import short_reason, split, unavailable

if TYPE_CHECKING:
    from ..config.settings import RedisSettings


def _cluster_error(exc: rexc.RedisClusterException) -> rexc.ConnectionError:
    text = str(exc)
    if text.startswith("Redis Cluster cannot be connected"):
        _, _, cause = text.partition(": ")
        return rexc.ConnectionError(
            f"no cluster node answered ({short_reason(Exception(cause or text))})"
        )
    return rexc.ConnectionError(short_reason(exc))


def _converting(initialize: Callable[..., Any]) -> Callable[..., Any]:
    """The sync ``NodesManager.initialize`` raising ``ConnectionError`` when it finds no
    cluster (it runs again after a node fails, while commands are sent)."""

    @functools.wraps(initialize)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return initialize(*args, **kwargs)
        except rexc.RedisClusterException as exc:
            raise _cluster_error(exc) from None

    return wrapped


def _nodes(cfg: RedisSettings, node_class: Callable[..., Any]) -> list[Any]:
    return [node_class(*split(n)) for n in cfg.cluster_nodes]


def _is_wrongtype(value: Any) -> bool:
    return isinstance(value, rexc.ResponseError) and str(value).startswith("WRONGTYPE")


def _fold(results: list[Any], folds: list[tuple[int, int]]) -> list[Any]:
    """Replace each run of GET results queued for one MGET by one list (a key of another
    type reads as None, as MGET has it)."""
    for start, n in reversed(folds):
        values = [None if _is_wrongtype(v) else v for v in results[start : start + n]]
        results[start : start + n] = [values]
    return results


def _mget_keys(keys: Any, args: Sequence[Any]) -> list[Any]:
    if isinstance(keys, list | tuple):
        return [*keys, *args]
    return [keys, *args]


@dataclass
class _Batch:
    """Plain commands queued in one redis-py cluster pipeline; ``folds``: the MGETs."""

    pipe: Any
    folds: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class _Script:
    sha: str
    numkeys: int
    args: tuple[Any, ...]


class _PipelineBase:
    def __init__(self, client: Any, make_pipe: Callable[[], Any]) -> None:
        self._client = client
        self._make_pipe = make_pipe
        self._steps: list[_Batch | _Script] = []

    def _batch(self) -> _Batch:
        if not self._steps or not isinstance(self._steps[-1], _Batch):
            self._steps.append(_Batch(self._make_pipe()))
        last = self._steps[-1]
        assert isinstance(last, _Batch)
        return last

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def queue(*args: Any, **kwargs: Any) -> Any:
            getattr(self._batch().pipe, name)(*args, **kwargs)
            return self

        return queue

    def mget(self, keys: Any, *args: Any) -> Any:
        batch = self._batch()
        names = _mget_keys(keys, args)
        batch.folds.append((len(batch.pipe), len(names)))
        for key in names:
            batch.pipe.get(key)
        return self

    def _queue_script(self, sha: str, numkeys: int, *keys_and_args: Any) -> None:
        self._steps.append(_Script(sha, int(numkeys), keys_and_args))

    def __len__(self) -> int:
        return sum(len(s.pipe) if isinstance(s, _Batch) else 1 for s in self._steps)

    def __bool__(self) -> bool:
        return True

    def reset(self) -> None:
        """Drop what is queued (redis-py's pipelines reset themselves when executed)."""
        self._steps = []

    @staticmethod
    def _finish(results: list[Any], raise_on_error: bool) -> list[Any]:
        if raise_on_error:
            for value in results:
                if isinstance(value, Exception):
                    raise value
        return results


class SyncClusterPipeline(_PipelineBase):
    """A pipeline on a Redis Cluster that also takes script calls and MGET (see the
    module's docstring)."""

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> SyncClusterPipeline:
        self._queue_script(sha, numkeys, *keys_and_args)
        return self

    def __enter__(self) -> SyncClusterPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        out: list[Any] = []
        try:
            for step in self._steps:
                if isinstance(step, _Batch):
                    out += _fold(list(step.pipe.execute(raise_on_error=False)), step.folds)
                else:
                    try:
                        out.append(self._client.run_script(step.sha, step.numkeys, step.args))
                    except rexc.ResponseError as exc:
                        out.append(exc)
        finally:
            self.reset()
        return self._finish(out, raise_on_error)


class AsyncClusterPipeline(_PipelineBase):
    """:class:`SyncClusterPipeline` for the asyncio cluster client."""

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> AsyncClusterPipeline:
        # Awaited by redis-py's AsyncScript; queues the call like any other command.
        self._queue_script(sha, numkeys, *keys_and_args)
        return self

    def __await__(self) -> Any:
        async def itself() -> AsyncClusterPipeline:
            return self

        return itself().__await__()

    async def __aenter__(self) -> AsyncClusterPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reset()

    async def _scripts(self, run: list[_Script]) -> list[Any]:
        """Script calls in one run: in order per slot, slots concurrently."""
        by_slot: dict[int, list[int]] = {}
        for i, call in enumerate(run):
            slot = self._client.keyslot(call.args[0]) if call.numkeys else -1
            by_slot.setdefault(slot, []).append(i)
        results: list[Any] = [None] * len(run)

        async def one_slot(indexes: list[int]) -> None:
            for i in indexes:
                call = run[i]
                try:
                    results[i] = await self._client.run_script(call.sha, call.numkeys, call.args)
                except rexc.ResponseError as exc:
                    results[i] = exc

        done = await asyncio.gather(
            *(one_slot(ix) for ix in by_slot.values()), return_exceptions=True
        )
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        return results

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        out: list[Any] = []
        steps = self._steps
        try:
            i = 0
            while i < len(steps):
                step = steps[i]
                if isinstance(step, _Batch):
                    res = await step.pipe.execute(raise_on_error=False)
                    out += _fold(list(res), step.folds)
                    i += 1
                    continue
                run: list[_Script] = []
                while i < len(steps) and isinstance(steps[i], _Script):
                    s = steps[i]
                    assert isinstance(s, _Script)
                    run.append(s)
                    i += 1
                out += await self._scripts(run)
        finally:
            self.reset()
        return self._finish(out, raise_on_error)


class SyncCluster(RedisCluster):
    """redis-py's ``RedisCluster`` with the pipeline above and connection errors that the
    rest of Bingo knows."""

    def __init__(self, **kwargs: Any) -> None:
        self._sources: dict[str, Any] = {}
        try:
            super().__init__(**kwargs)
        except rexc.RedisClusterException as exc:
            raise _cluster_error(exc) from None
        manager = self.nodes_manager
        setattr(manager, "initialize", _converting(manager.initialize))  # noqa: B010

    def __del__(self) -> None:
        # A client whose constructor failed has no node manager; redis-py before 6 closes
        # it anyway and prints "Exception ignored in __del__" under the one-line error.
        if "nodes_manager" in self.__dict__:
            super().__del__()  # type: ignore[no-untyped-call]

    def register_script(self, script: Any) -> Any:
        found = super().register_script(script)
        self._sources[found.sha] = found.script
        return found

    def run_script(self, sha: str, numkeys: int, args: Sequence[Any]) -> Any:
        """``EVALSHA``, loading the script on the primaries when a node lacks it."""
        try:
            return self.evalsha(sha, numkeys, *args)
        except rexc.NoScriptError:
            if sha not in self._sources:  # not registered here: nothing to load
                raise
            self.script_load(self._sources[sha])
            return self.evalsha(sha, numkeys, *args)

    def close(self) -> None:
        """Drop every connection. The client stays usable, as a ``redis.Redis`` does after
        ``close()``: the next command reconnects (redis-py's forgets its default node)."""
        default = self.nodes_manager.default_node
        super().close()
        if default is not None:
            self.nodes_manager.default_node = default

    def mget(self, keys: Any, *args: Any) -> list[Any]:
        """MGET of keys in any slots (one MGET per slot)."""
        return list(self.mget_nonatomic(keys, *args))

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> SyncClusterPipeline:
        if transaction:
            raise rexc.RedisClusterException("transactions are not used on a cluster")
        plain: Callable[[], Any] = functools.partial(RedisCluster.pipeline, self)
        return SyncClusterPipeline(self, plain)


class AsyncCluster(AsyncRedisCluster):
    """redis-py's asyncio cluster client, with the same changes as :class:`SyncCluster`."""

    def __init__(self, **kwargs: Any) -> None:
        self._sources: dict[str, Any] = {}
        super().__init__(**kwargs)

    async def initialize(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().initialize(*args, **kwargs)
        except rexc.RedisClusterException as exc:
            raise _cluster_error(exc) from None

    def register_script(self, script: Any) -> Any:
        found = super().register_script(script)
        self._sources[found.sha] = found.script
        return found

    async def run_script(self, sha: str, numkeys: int, args: Sequence[Any]) -> Any:
        try:
            return await self.evalsha(sha, numkeys, *args)
        except rexc.NoScriptError:
            if sha not in self._sources:
                raise
            await self.script_load(self._sources[sha])
            return await self.evalsha(sha, numkeys, *args)

    async def mget(self, keys: Any, *args: Any) -> list[Any]:
        return list(await self.mget_nonatomic(keys, *args))

    # Not redis-py's ClusterPipeline, but it answers every call made of one.
    def pipeline(  # type: ignore[override]
        self, transaction: Any = None, shard_hint: Any = None
    ) -> AsyncClusterPipeline:
        if transaction:
            raise rexc.RedisClusterException("transactions are not used on a cluster")
        return AsyncClusterPipeline(self, lambda: AsyncRedisCluster.pipeline(self))


def _kwargs(cfg: RedisSettings, common: dict[str, Any]) -> dict[str, Any]:
    """Connection settings of every node; with ``redis.url`` (and no ``cluster.nodes``),
    its user, password and TLS."""
    out = dict(common)
    out.pop("retry", None)
    if cfg.url and cfg.cluster is not None and not cfg.cluster.nodes:
        parts = urlsplit(cfg.url)
        if parts.username:
            out["username"] = unquote(parts.username)
        if parts.password:
            out["password"] = unquote(parts.password)
        if parts.scheme == "rediss":
            out["ssl"] = True
    return out


def make_sync_cluster(cfg: RedisSettings, common: dict[str, Any]) -> SyncCluster:
    """The synchronous cluster client: one retry, right after refreshing the slot map (a
    node that failed over moved its slots). Raises ServiceUnavailable when no node
    answers."""
    try:
        return SyncCluster(
            startup_nodes=_nodes(cfg, ClusterNode),
            retry=Retry(NoBackoff(), 1),
            **_kwargs(cfg, common),
        )
    except rexc.ConnectionError as exc:
        raise unavailable(cfg, exc) from None


def make_async_cluster(cfg: RedisSettings, common: dict[str, Any]) -> Any:
    """The asyncio cluster client (connects on first use); a few quick retries, each after
    refreshing the slot map, before the daemon's loops see an error."""
    return AsyncCluster(
        startup_nodes=_nodes(cfg, AsyncClusterNode),
        retry=AsyncRetry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 2),
        **_kwargs(cfg, common),
    )


class NotifyWaiter:
    """``wait_for_work`` on a Redis Cluster: one ``BLPOP`` per queue's notify list.

    Each queue's ``BLPOP`` runs on its own connection of a blocking client and stays in
    flight until it returns (a token, or its timeout); :meth:`wait` returns at the first
    token. A ``BLPOP`` still waiting when :meth:`wait` returns is not cancelled (that would
    drop its connection, and a token it already popped); the next call picks it up.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._pending: dict[str, asyncio.Future[Any]] = {}

    async def wait(self, keys: Sequence[str], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            for key in keys:
                if key not in self._pending:
                    block = max(0.01, round(left, 3))
                    self._pending[key] = asyncio.ensure_future(self.client.blpop([key], block))
            done, _ = await asyncio.wait(
                list(self._pending.values()),
                timeout=max(0.0, left),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                return False
            woke = False
            error: BaseException | None = None
            for key, task in list(self._pending.items()):
                if task.done():
                    del self._pending[key]
                    if task.cancelled():
                        continue
                    exc = task.exception()
                    if exc is not None:
                        error = error or exc
                    elif task.result() is not None:
                        woke = True
            if error is not None:
                raise error
            if woke or deadline - loop.time() <= 0.001:
                return woke

    async def cancel(self) -> None:
        """Cancel the BLPOPs in flight (before the client is closed)."""
        pending, self._pending = list(self._pending.values()), {}
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
