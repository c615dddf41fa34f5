"""The stream engine: one asyncio event loop per worker process that reads every provider
stream of that process (``streaming.engine: asyncio``).

With Celery's thread pool each task reads its model's stream in its own thread: every token
wakes that thread, and thousands of threads take turns for the GIL. Here the task's thread
hands the read to the loop and sleeps until it ends; the loop wakes once per token for a few
microseconds, so one process carries thousands of streams. The task thread keeps everything
Celery's acknowledgement relies on: the task returns (and is acknowledged) only when its
stream has ended.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class StreamEngine:
    """The process's event loop, started on first use in a daemon thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="fleet-stream-engine",
                                 daemon=True).start()
                self._loop = loop
            return self._loop

    def close(self) -> None:
        """Stop the loop (its thread ends); a later ``run`` starts a new one."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (or its exception)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running())
        try:
            return future.result()
        except BaseException:
            future.cancel()  # the caller gave up (an interrupt): stop the read as well
            raise
