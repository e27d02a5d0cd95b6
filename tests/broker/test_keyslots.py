"""Every script's keys map to one Redis Cluster slot (no server needed).

The slot of a key is CRC16 (XMODEM) of its hash tag (the text between the first ``{`` and
the next ``}``, when not empty) or of the whole key, modulo 16384, as in the Redis Cluster
specification. Each builder of :mod:`bingo_core.broker.scripts` is called with arguments
that make it reach for every kind of key it can pass (unique locks, scheduler dedupe keys,
removed entries), and every key of the call must share one slot; so must the keys a script
builds inside from a prefix in KEYS (task hashes, unique locks). A script without a case
here fails the last test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from bingo_core.broker import asynq_scripts, scripts
from bingo_core.broker.keys import AsynqKeys, Keys
from bingo_core.broker.scripts import AsynqPrepared, Call, Prepared

SLOTS = 16384


def crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def keyslot(key: str) -> int:
    raw = key.encode()
    start = raw.find(b"{")
    if start != -1:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return crc16(raw) % SLOTS


def test_keyslot_matches_the_redis_cluster_specification() -> None:
    assert crc16(b"123456789") == 0x31C3  # the specification's test vector
    # Values of CLUSTER KEYSLOT on a real server.
    assert keyslot("foo") == 12182
    assert keyslot("somekey") == 11058
    assert keyslot("foo{hash_tag}") == keyslot("bar{hash_tag}") == keyslot("hash_tag")
    assert keyslot("foo{}bar") == crc16(b"foo{}bar") % SLOTS


KEYS = Keys("bingo")
ASYNQ = AsynqKeys()
NOW = 1_700_000_000.0


def _task(queue: str, i: int, *, simple: bool = False) -> Prepared:
    return Prepared(
        queue,
        f"id{i}",
        "{}",
        unique="" if simple else f"digest{i}",
        unique_ttl_ms=0 if simple else 1000,
        dedupe_entry="" if simple else f"config|entry{i}",
        dedupe_ms=0 if simple else 60_000 * i,
        dedupe_ttl_ms=0 if simple else 1000,
        simple=simple,
    )


def cases(queue: str) -> dict[str, Callable[[], Call]]:
    """A call of every script for ``queue`` (the scheduler's ignore it)."""
    q = KEYS.queue(queue)
    s = KEYS.scheduler
    rows = [("test:record", 1, 0, 0.1, 0.1, [0] * (len(scripts.DURATION_BUCKETS) + 1))]
    entries = [(f"config|e{i}", "{}", f"fp{i}") for i in range(3)]
    records = [(f"config|e{i}", ["1", "2", "", "1", "id", "1", "{}"]) for i in range(3)]
    return {
        "enqueue": lambda: scripts.enqueue(q, [_task(queue, i) for i in range(5)], NOW),
        "enqueue_fast": lambda: scripts.enqueue(
            q, [_task(queue, i, simple=True) for i in range(5)], NOW
        ),
        "enqueue_deps": lambda: scripts.enqueue(
            q,
            [replace(_task(queue, i), dedupe_entry="", depends_on=("a", "b")) for i in range(5)],
            NOW,
        ),
        "batch_add": lambda: scripts.enqueue(
            q,
            [
                replace(
                    _task(queue, i),
                    batch=scripts.BatchAdd(f"t\x1fk{i}", "t", f"k{i}", "{}", "", 10, 60.0, 1.0),
                )
                for i in range(3)
            ],
            NOW,
        ),
        "wf_enqueue": lambda: scripts.wf_enqueue(
            q,
            "wf-1",
            [_task(queue, 0), replace(_task(queue, 1), depends_on=(_task(queue, 0).id,))],
            [_task(queue, 1).id],
            False,
            86400.0,
            _task(queue, 2),
            NOW,
        ),
        "wf_cancel": lambda: scripts.wf_cancel(q, "wf-1"),
        "relay_in": lambda: scripts.relay_in(q, "done", "wf-1|a", "1"),
        "dep_link": lambda: scripts.dep_link(q, "a", "other", "b"),
        "wf_void": lambda: scripts.wf_void(q, "wf-1", 86400),
        "wf_unstage": lambda: scripts.wf_unstage(q, "wf-1"),
        "fetch": lambda: scripts.fetch(q, 10, NOW, NOW + 30, "w"),
        "late_start": lambda: scripts.late_start(q, "a", (0, 10, 1.0)),
        "ack": lambda: scripts.ack(
            q, [("a", 0.0, "", ""), ("b", 60.0, "d1", "{}"), ("c", 0.0, "d2", "")], "w", NOW
        ),
        "retry": lambda: scripts.retry(q, "a", "w", NOW + 5, "boom", NOW),
        "archive": lambda: scripts.archive(q, "a", "w", "boom", NOW, 100, 3600.0),
        "requeue": lambda: scripts.requeue(q, ["a", "b"], "w"),
        "recover": lambda: scripts.recover(q, NOW, 100, "lost"),
        "task_move": lambda: scripts.task_move(q, "a", "run", NOW),
        "queue_delete": lambda: scripts.queue_delete(q, True, 1000),
        "stats_record": lambda: scripts.stats_record(q, "2026-01-01", rows),
        "sched_acquire": lambda: scripts.sched_acquire(s, "d", 1000),
        "sched_renew": lambda: scripts.sched_renew(s, "d", 1, 1000),
        "sched_release": lambda: scripts.sched_release(s, "d", 1),
        "sched_publish": lambda: scripts.sched_publish(
            s, "d", 1, entries, ["config|gone1", "config|gone2"]
        ),
        "sched_record": lambda: scripts.sched_record(s, "d", 1, 100, records),
        # The dashboard's scripts.
        "task_move_many": lambda: scripts.task_move_many(q, ["a", "b"], "archive", NOW),
        "task_cancel": lambda: scripts.task_cancel(q, "a", NOW, "the CLI"),
        "sample_record": lambda: scripts.sample_record(KEYS.samples, NOW, 5.0, 100, "{}"),
        "leader_seen": lambda: scripts.leader_seen(s, NOW),
        "dash_secret": lambda: scripts.dash_secret(KEYS.dashboard_secret, "", "new"),
        # Client.wait.
        "wait_begin": lambda: scripts.wait_begin(q, "a"),
        "progress": lambda: scripts.progress(q, "a", "w1", "{}"),
        "results": lambda: scripts.results(q, ["a", "b"]),
        # Asynq's layout.
        "asynq_enqueue": lambda: scripts.asynq_enqueue(
            ASYNQ.queue(queue),
            [
                AsynqPrepared(queue, f"id{i}", b"", i, a.unique_lock("t", f"{i:032x}"), 60)
                for i in range(3)
                for a in [ASYNQ.queue(queue)]
            ],
            1,
        ),
        "asynq_fetch": lambda: asynq_scripts.fetch(ASYNQ.queue(queue), 5, NOW, 1, 2),
        "asynq_ack": lambda: asynq_scripts.ack(
            ASYNQ.queue(queue),
            [
                ("a", 0, b"", b"", ""),
                ("b", 60, b"m", b"{}", ASYNQ.queue(queue).unique_lock("t", "0")),
            ],
            NOW,
            "2026-01-01",
        ),
        "asynq_fail": lambda: asynq_scripts.fail(
            ASYNQ.queue(queue), "a", b"m", 1, True, True, NOW, "2026-01-01"
        ),
        "asynq_requeue": lambda: asynq_scripts.requeue(ASYNQ.queue(queue), ["a", "b"]),
        "asynq_expired": lambda: asynq_scripts.expired(ASYNQ.queue(queue), NOW, 10),
    }


#: Keys the scripts build inside from a prefix passed in KEYS.
PREFIX_SUFFIXES = ("id1", "0123456789abcdef", "i:t\x1fk1", "m:t\x1fk1", "seq")


@pytest.mark.parametrize("queue", ["default", "critical", "emails-2", "ünïcode", "x" * 200])
@pytest.mark.parametrize("name", scripts.NAMES)
def test_every_script_call_maps_to_one_slot(name: str, queue: str) -> None:
    built, keys, _ = cases(queue)[name]()
    assert built == name
    assert keys, f"{name}: a script without KEYS runs on a random node"
    slots = {keyslot(k) for k in keys}
    slots |= {keyslot(k + suffix) for k in keys if k.endswith(":") for suffix in PREFIX_SUFFIXES}
    assert len(slots) == 1, f"{name}: keys in {len(slots)} slots: {keys}"


def test_queue_and_scheduler_keys_are_tagged() -> None:
    q = KEYS.queue("default")
    keys = (q.pending, q.task("a"), q.unique("d"), q.done("a"), q.tick("e", 1), q.stats_total)
    for key in (*keys, q.wake("a")):
        assert "{default}" in key and keyslot(key) == keyslot("default")
    s = KEYS.scheduler
    for key in (s.leader, s.epoch, s.entries, s.cursors, s.sync, s.entry("e"), s.history("e")):
        assert "{scheduler}" in key and keyslot(key) == keyslot("scheduler")


def test_every_script_has_a_case() -> None:
    missing = sorted(set(scripts.NAMES) - set(cases("default")))
    assert not missing, f"add a case to tests/broker/test_keyslots.py for: {missing}"
