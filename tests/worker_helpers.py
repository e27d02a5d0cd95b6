"""A real worker on its own event loop in a thread, for tests that enqueue while it runs."""

from __future__ import annotations

import asyncio
import threading

from bingo_core.app import App
from bingo_core.worker import Worker


class Running:
    """A real worker on its own event loop in a thread, until :meth:`stop`."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            worker = Worker(self.app)
            self.ready.set()
            try:
                await worker.run(self.stop_event)
            finally:
                await self.app.aclose()

        self.loop.run_until_complete(main())
        self.loop.close()

    def stop(self) -> None:
        assert self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(15)
        assert not self.thread.is_alive()
