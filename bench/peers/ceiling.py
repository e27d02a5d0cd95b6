"""The I/O body alone, with no task system around it: the most any system can process here.

``python -m ceiling async`` calls the asyncio systems' handler body (``record_async``)
``BENCH_N`` times, :data:`CONCURRENT` calls at once, on the loop a Bingo worker picks
(uvloop when it is installed); ``python -m ceiling sync`` calls the thread-based systems'
body (``record``) ``BENCH_N`` times from :data:`THREADS` threads. No queue, no lease, no
acknowledgement: each call is what one task's handler does, and the bench reads the rate
as it reads a worker's (the first call's start to the last call's end). A system's rate
divided by its body's rate is the share of this machine's ceiling it reaches.
"""

from __future__ import annotations

import asyncio
import sys
import threading

from common import record, record_async, total

#: Calls at once for the async body (Bingo's default slots; redis-py's asyncio pool
#: refuses past 100 connections).
CONCURRENT = 50
#: Threads for the sync body (the thread count the bench gives dramatiq and huey).
THREADS = 8


def run_async(n: int) -> None:
    async def calls(count: int) -> None:
        for _ in range(count):
            await record_async()

    async def main() -> None:
        share, extra = divmod(n, CONCURRENT)
        await asyncio.gather(*(calls(share + (i < extra)) for i in range(CONCURRENT)))

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def run_sync(n: int) -> None:
    def calls(count: int) -> None:
        for _ in range(count):
            record()

    share, extra = divmod(n, THREADS)
    threads = [threading.Thread(target=calls, args=(share + (i < extra),)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class CeilingAdapter:
    """The bench's side: nothing to enqueue; the "worker" is this module."""

    def __init__(self, kind: str) -> None:
        self.name = f"ceiling-{kind}"
        self.worker = ["python", "-m", "ceiling", kind]

    def open(self) -> None:
        """Nothing to connect."""

    def close(self) -> None:
        """Nothing to close."""


def main() -> None:
    kind = sys.argv[1:] and sys.argv[1]
    if kind not in ("async", "sync"):
        sys.exit("usage: python -m ceiling async|sync")
    (run_async if kind == "async" else run_sync)(total())


if __name__ == "__main__":
    main()
