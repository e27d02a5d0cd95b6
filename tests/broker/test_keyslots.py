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

import pytest

from bingo_core.broker import scripts
from bingo_core.broker.keys import Keys
from bingo_core.broker.scripts import Call, Prepared

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
        "fetch": lambda: scripts.fetch(q, 10, NOW, NOW + 30, "w"),
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
        "task_cancel": lambda: scripts.task_cancel(q, "a", NOW),
        "sample_record": lambda: scripts.sample_record(KEYS.samples, NOW, 5.0, 100, "{}"),
        "leader_seen": lambda: scripts.leader_seen(s, NOW),
    }


#: Keys the scripts build inside from a prefix passed in KEYS.
PREFIX_SUFFIXES = ("id1", "0123456789abcdef")


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
    for key in (q.pending, q.task("a"), q.unique("d"), q.done("a"), q.tick("e", 1), q.stats_total):
        assert "{default}" in key and keyslot(key) == keyslot("default")
    s = KEYS.scheduler
    for key in (s.leader, s.epoch, s.entries, s.cursors, s.sync, s.entry("e"), s.history("e")):
        assert "{scheduler}" in key and keyslot(key) == keyslot("scheduler")


def test_every_script_has_a_case() -> None:
    missing = sorted(set(scripts.NAMES) - set(cases("default")))
    assert not missing, f"add a case to tests/broker/test_keyslots.py for: {missing}"
