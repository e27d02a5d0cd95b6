"""The Redis data layer's write side: the only code that changes Redis.

:class:`Broker` (synchronous) serves the client and the inspector's actions;
:class:`~.async_broker.AsyncBroker` serves the worker and the scheduler. Every state
change of a task is one Lua script (see :mod:`.scripts`), and the method that runs it
decodes its reply (a record of :mod:`bingo_core.records` or one of Bingo's errors); the
reads are in :mod:`.reader`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import tzinfo
from functools import cached_property
from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions as rexc
from hiredis import pack_command

from ..errors import MalformedKey, QueueNotEmpty, UsageError
from ..records.base import STATES, Move
from . import connection, relays, scripts
from .base import BrokerBase, refusal
from .connection import CONNECTION_ERRORS
from .scripts import AsynqPrepared, Call, EnqueueCode, Prepared

if TYPE_CHECKING:
    from ..config.settings import RedisSettings
    from .read_servers import ServerReads
    from .reader import Reader
    from .topology import Topology


class Broker(BrokerBase):
    """Synchronous broker (client, CLI, inspector)."""

    def __init__(
        self,
        cfg: RedisSettings,
        client: Any | None = None,
        *,
        zone: tzinfo | None = None,
        asynq_queues: Iterable[str] = (),
        asynq_redis: RedisSettings | None = None,
    ) -> None:
        super().__init__(
            cfg,
            client if client is not None else connection.make_sync(cfg),
            zone,
            connection.make_sync(asynq_redis) if asynq_redis is not None else None,
            asynq_redis,
        )
        self._stream_shas: dict[str, str] | None = None
        #: The queues of ``asynq.queues`` (Asynq's layout).
        self.asynq_queues = frozenset(asynq_queues)
        #: A plain connection (not Sentinel, not Cluster): the single enqueue writes its
        #: command itself (:meth:`_enqueue_one`).
        self._plain = type(self.redis) is redis.Redis
        #: queue -> the packed start of its single ``enqueue_fast.lua`` call
        self._fast_heads: dict[str, bytes] = {}

    @cached_property
    def server_reads(self) -> ServerReads:
        """The servers' heartbeats alone (the read side's own when it is built): what a
        client asks after an enqueue, without loading the other reads and records."""
        if "reader" in self.__dict__:
            return self.reader
        # lazy: an enqueue loads the server reads only (see :attr:`reader`)
        from .read_servers import ServerReads

        return ServerReads(
            self.cfg, self.redis, self.zone, self.asynq_queues, self.asynq_redis, self.asynq_cfg
        )

    @cached_property
    def reader(self) -> Reader:
        """The read side on the same connection pools."""
        # lazy: the reads and their records load with the first read, not with an enqueue
        from .reader import Reader

        return Reader(
            self.cfg, self.redis, self.zone, self.asynq_queues, self.asynq_redis, self.asynq_cfg
        )

    def _call(self, call: Call) -> Any:
        name, keys, args = call
        try:
            return self._scripts[name](keys=keys, args=args)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        except rexc.ResponseError as exc:
            if "WRONGTYPE" in str(exc):  # a key of the wrong type: named by the script
                raise MalformedKey(str(exc).removeprefix("WRONGTYPE ")) from None
            raise

    def enqueue_workflow(self, queue: str, call: Call) -> bool:
        """Run a ``wf_enqueue`` call for ``queue``: False when the workflow or a step id
        exists (nothing written)."""
        if self._plain:
            written = self._enqueue_packed(queue, call)
            if written is not None:
                return bool(written)
        try:
            self.redis.sadd(self.keys.queues, queue)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        return bool(self._call(call))

    def _enqueue_packed(self, queue: str, call: Call) -> Any:
        """The ``SADD`` of ``queue`` to ``P:queues`` and the script call in one round trip
        on a pooled plain connection, packed in C (redis-py would encode each of a large
        workflow's thousands of arguments in Python first). None when Redis lost the
        script (the caller runs it the usual way, which loads it)."""
        name, keys, args = call
        pool = self.redis.connection_pool
        try:
            conn = pool.get_connection()
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        replies: list[Any] = []
        sadd: tuple[Any, ...] = ("SADD", self.keys.queues, queue)
        try:
            conn.send_packed_command(
                [
                    pack_command(sadd),
                    pack_command(("EVALSHA", self._scripts[name].sha, len(keys), *keys, *args)),
                ]
            )
            for _ in range(2):
                try:
                    replies.append(conn.read_response())
                except rexc.ResponseError as exc:  # (read both: the connection stays usable)
                    replies.append(exc)
        except CONNECTION_ERRORS as exc:
            conn.disconnect()
            raise connection.unavailable(self.cfg, exc) from None
        except BaseException:
            conn.disconnect()  # a reply may be left unread
            raise
        finally:
            pool.release(conn)
        added, written = replies
        if isinstance(added, Exception):
            raise added
        if isinstance(written, rexc.NoScriptError):
            return None
        if isinstance(written, rexc.ResponseError):
            if "WRONGTYPE" in str(written):  # a key of the wrong type: named by the script
                raise MalformedKey(str(written).removeprefix("WRONGTYPE ")) from None
            raise written
        return written

    def ping(self) -> None:
        """Raise :class:`ServiceUnavailable` (one line) when Redis does not answer."""
        try:
            self.redis.ping()
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        except rexc.ResponseError as exc:  # e.g. wrong password
            raise connection.unavailable(self.cfg, exc) from None

    def topology(self) -> Topology:
        """The deployment as Redis reports it: the mode and each node (sentinels, master,
        replicas, cluster nodes with their slots), with one problem line per node down.
        Raises :class:`ServiceUnavailable` only when nothing answers."""
        # lazy: only `check` reports the deployment; the other commands skip the module
        from .topology import describe

        return describe(self.cfg, self.redis)

    def close(self) -> None:
        self.redis.close()
        if self.asynq_redis is not self.redis:
            self.asynq_redis.close()

    # -- enqueue --------------------------------------------------------------------------
    def enqueue(self, tasks: Sequence[Prepared]) -> list[EnqueueCode]:
        """Enqueue tasks: one script call per queue (per :data:`~.scripts.CHUNK` tasks), all
        in one round trip.

        Returns one code per task (1 enqueued; see ``ENQUEUE_REFUSALS`` for the others).
        """
        if len(tasks) == 1 and tasks[0].simple and self._plain:
            code = self._enqueue_one(tasks[0])
            if code is not None:
                return [code]
        calls, new = self._enqueue_calls(tasks)
        try:
            if len(calls) == 1 and not new:
                _, (name, keys, args) = calls[0]
                results = [self._scripts[name](keys=keys, args=args)]
            else:
                pipe = self.redis.pipeline(transaction=False)
                if new:
                    pipe.sadd(self.keys.queues, *new)
                results = self._pipelined(pipe, [call for _, call in calls])
                results = results[1 if new else 0 :]
                self._known_queues.update(new)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        codes = self._codes(len(tasks), calls, results)
        if any(t.remote_deps for t in tasks):
            relays.link(self, tasks, codes)
        return codes

    def _enqueue_one(self, task: Prepared) -> EnqueueCode | None:
        """One task with a generated id, to run now, with no unique lock (``Client.enqueue``'s
        usual call), to a queue this broker added to ``P:queues`` lately: the
        ``enqueue_fast.lua`` call written as one packed command on a pooled connection,
        its keys packed once per queue. None when it must go the usual way (a queue not
        recalled, a script Redis lost)."""
        queue = task.queue
        if queue not in self._recall_queues(time.time()):
            return None
        head = self._fast_heads.get(queue)
        if head is None:
            q = self.q(queue)
            sha = self._scripts["enqueue_fast"].sha
            head = self._fast_heads[queue] = _resp(
                "EVALSHA", sha, "3", q.pending, q.notify, q.task_prefix
            )
        msg = task.msg.encode()
        data = b"*8\r\n%b$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
            head,
            len(task.id),
            task.id.encode(),
            len(msg),
            msg,
        )
        pool = self.redis.connection_pool
        try:
            conn = pool.get_connection()  # connects (a Sentinel pool asks for the master)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        try:
            conn.send_packed_command([data])
            reply = conn.read_response()
        except rexc.NoScriptError:
            return None
        except CONNECTION_ERRORS as exc:
            conn.disconnect()
            raise connection.unavailable(self.cfg, exc) from None
        except BaseException:
            conn.disconnect()  # a reply may be left unread
            raise
        finally:
            pool.release(conn)
        return scripts.ENQUEUED if int(reply) == 1 else scripts.EXISTS

    def _pipelined(self, pipe: Any, calls: Sequence[Call]) -> list[Any]:
        """Script calls on ``pipe`` in one round trip (see the asyncio broker's
        ``_scripts_pipelined``: no ``SCRIPT EXISTS`` first; a script Redis lost is loaded
        and its calls alone run again)."""
        for name, keys, args in calls:
            pipe.evalsha(self._scripts[name].sha, len(keys), *keys, *args)
        results = list(pipe.execute(raise_on_error=False))
        first = len(results) - len(calls)
        again = [i for i in range(len(calls)) if isinstance(results[first + i], rexc.NoScriptError)]
        if again:
            for name in {calls[i][0] for i in again}:
                self.redis.script_load(scripts.SOURCES[name])
            retry = self.redis.pipeline(transaction=False)
            for i in again:
                name, keys, args = calls[i]
                retry.evalsha(self._scripts[name].sha, len(keys), *keys, *args)
            for i, result in zip(again, retry.execute(raise_on_error=False), strict=True):
                results[first + i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def enqueue_asynq(self, tasks: Sequence[AsynqPrepared]) -> list[EnqueueCode]:
        """Enqueue tasks into queues of Asynq's layout, in one round trip; each queue's
        name is added to ``asynq:queues`` first, as the Go client does. One code per task
        (1 enqueued, :data:`~.scripts.EXISTS`, :data:`~.scripts.UNIQUE_HELD`)."""
        calls = self._asynq_calls(tasks)
        pipe = self.asynq_redis.pipeline(transaction=False)
        pipe.sadd(self.asynq.queues, *{t.queue for t in tasks})
        for _, (name, keys, args) in calls:
            self._asynq_scripts[name](keys=keys, args=args, client=pipe)
        try:
            results = pipe.execute()[1:]
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.asynq_cfg, exc) from None
        except rexc.ResponseError as exc:
            if "WRONGTYPE" in str(exc):
                raise MalformedKey(str(exc).removeprefix("WRONGTYPE ")) from None
            raise
        return self._codes(len(tasks), calls, results)

    def enqueue_stream(self, chunks: Iterable[Sequence[Prepared]]) -> list[EnqueueCode]:
        """Enqueue chunks as they are produced, reading the replies at the end.

        Redis runs chunk *i* while the caller encodes chunk *i + 1*. On a plain (not
        Sentinel or Cluster) connection the commands are written straight to one socket;
        otherwise each chunk goes through :meth:`enqueue`.
        """
        if type(self.redis) is not redis.Redis:
            return [code for chunk in chunks for code in self.enqueue(chunk)]
        pool = self.redis.connection_pool
        conn = pool.get_connection()
        sent: list[tuple[list[Prepared], Call]] = []
        codes: list[EnqueueCode] = []
        try:
            shas = self._ensure_loaded()
            for chunk in chunks:
                chunk = list(chunk)
                for queue in {t.queue for t in chunk} - self._recall_queues(time.time()):
                    self.redis.sadd(self.keys.queues, queue)
                    self._known_queues.add(queue)
                calls, _ = self._enqueue_calls(chunk)
                for idx, call in calls:
                    name, keys, args = call
                    if name not in shas:  # enqueue_deps: loaded when first needed
                        shas[name] = self.redis.script_load(self._scripts[name].script)
                    # Packed in C: redis-py would encode each argument in Python first.
                    conn.send_packed_command(  # type: ignore[no-untyped-call]
                        [pack_command(("EVALSHA", shas[name], len(keys), *keys, *args))]
                    )
                    sent.append(([chunk[i] for i in idx], call))
            replies = []
            for _ in sent:
                try:
                    replies.append(conn.read_response())
                except rexc.NoScriptError:
                    replies.append(None)
        except CONNECTION_ERRORS as exc:
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise connection.unavailable(self.cfg, exc) from None
        finally:
            pool.release(conn)
        for (tasks, call), reply in zip(sent, replies, strict=True):
            if reply is None:  # the script cache was flushed meanwhile: run it normally
                self._stream_shas = None
                codes += self.enqueue(tasks)
            else:
                done = scripts.enqueue_codes(call, reply)
                if any(t.remote_deps for t in tasks):
                    relays.link(self, tasks, done)
                codes += done
        return codes

    def _ensure_loaded(self) -> dict[str, str]:
        """Load the enqueue scripts once per broker; a flushed script cache is caught by
        the NOSCRIPT fallback of :meth:`enqueue_stream`."""
        if self._stream_shas is None:
            shas = {}
            for name in ("enqueue", "enqueue_fast"):
                script = self._scripts[name]
                shas[name] = self.redis.script_load(script.script)
            self._stream_shas = shas
        return self._stream_shas

    # -- the inspector's actions ----------------------------------------------------------
    def _bingo_only(self, queue: str, what: str) -> None:
        """Refuse an action Bingo does not make on a queue of Asynq's layout."""
        if queue in self.asynq_queues:
            raise UsageError(
                f"queue {queue!r} is in asynq.queues (Asynq's layout): Bingo does not "
                f"{what} there yet; use the asynq CLI or asynqmon"
            )

    def task_move(self, queue: str, task_id: str, action: str, listed: str = "") -> Move:
        """``action`` ("run", "archive", "delete") on one task of ``queue``: what it did.
        ``listed``: the state the task was listed in (a task no longer in it is left,
        ``ALREADY``), "" for any."""
        self._bingo_only(queue, f"{action} a task")
        call = scripts.task_move(self.q(queue), task_id, action, time.time(), listed)
        code = self._call(call)
        if action == "run" and int(code) == 1:  # (a resume across queues: tell them now)
            relays.deliver(self, [queue])
        return _MOVES.get(int(code), Move.MISSING)

    def set_paused(self, queue: str, paused: bool) -> None:
        """Pause (workers stop fetching from it) or resume a queue."""
        q = self.q(queue)
        try:
            if queue in self.asynq_queues:  # as Asynq's Inspector: SET NX the time, DEL
                paused_key = self.asynq.queue(queue).paused
                if paused:
                    self.asynq_redis.set(paused_key, str(int(time.time())), nx=True)
                else:
                    self.asynq_redis.delete(paused_key)
            elif paused:
                self.redis.set(q.paused, str(time.time()))
            else:
                pipe = self.redis.pipeline(transaction=False)
                pipe.delete(q.paused)
                pipe.rpush(q.notify, "1")  # wake an idle worker at once
                pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None

    def delete_queue(self, queue: str, force: bool) -> int:
        """Delete a queue with its tasks, counters and locks (in batches); returns the
        number of tasks deleted. :class:`QueueNotEmpty` when it holds tasks and ``force``
        is false."""
        self._bingo_only(queue, "delete the queue")
        tell = relays.deleting(self, queue)  # its workflows' steps in other queues
        total = 0
        while True:
            call = scripts.queue_delete(self.q(queue), force, 1000)
            deleted, left = (int(x) for x in self._call(call))
            if deleted < 0:  # the script counted them (held-back ones too)
                raise QueueNotEmpty(
                    f"queue {queue!r} still holds {left} task(s); delete them first or use --force"
                )
            total += deleted
            if left == 0:
                break
        try:
            self.redis.srem(self.keys.queues, queue)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        for call in tell:
            self._call(call)
        self._known_queues.discard(queue)
        return total

    # -- the dashboard's actions ----------------------------------------------------------
    def task_move_many(self, queue: str, ids: Sequence[str], action: str) -> list[Move]:
        """``action`` ("run", "archive", "delete") on many tasks of ``queue``, in calls
        of :data:`~.scripts.MOVE_CHUNK` ids; what it did to each."""
        self._bingo_only(queue, f"{action} tasks")
        out: list[Move] = []
        for start in range(0, len(ids), scripts.MOVE_CHUNK):
            part = ids[start : start + scripts.MOVE_CHUNK]
            call = scripts.task_move_many(self.q(queue), part, action, time.time())
            out += [_MOVES.get(int(c), Move.MISSING) for c in self._call(call)]
        if action == "run" and Move.DONE in out:  # (a resume across queues: tell them now)
            relays.deliver(self, [queue])
        return out

    def task_cancel(self, queue: str, task_id: str, by: str) -> Move:
        """Cancel ``task_id`` (``by``: who asked): ``ASKED`` (its worker was asked to stop
        it), ``DONE`` (archived at once: it was waiting), ``MISSING``, or ``ALREADY``
        (archived or completed already)."""
        self._bingo_only(queue, "cancel a task")
        call = scripts.task_cancel(self.q(queue), task_id, time.time(), by)
        code = int(self._call(call))
        return {1: Move.ASKED, 2: Move.DONE, 0: Move.MISSING}.get(code, Move.ALREADY)


def _resp(*parts: str) -> bytes:
    """RESP bulk strings, one after another (a command's head, without its ``*N``)."""
    out = b""
    for part in parts:
        raw = part.encode()
        out += b"$%d\r\n%b\r\n" % (len(raw), raw)
    return out


#: task_move.lua's reply codes.
_MOVES = {
    1: Move.DONE,
    0: Move.MISSING,
    -1: Move.ALREADY,
    -2: Move.ACTIVE,
    -3: Move.CANCELLED_WORKFLOW,
}


__all__ = [
    "CONNECTION_ERRORS",
    "STATES",
    "Broker",
    "Prepared",
    "redis",
    "refusal",
]
