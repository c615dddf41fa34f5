"""BufferManager: coalesces provider token deltas into stream chunks.

Redis should carry far fewer messages than the model produces tokens: deltas accumulate until
``flush_chars`` characters or ``flush_ms`` milliseconds have gathered, whichever comes first.
"""

from __future__ import annotations

import time


class BufferManager:
    def __init__(self, flush_chars: int = 256, flush_ms: int = 20) -> None:
        self.flush_chars = flush_chars
        self.flush_seconds = flush_ms / 1000
        self._parts: list[str] = []
        self._size = 0
        self._first_at = 0.0
        self._sent_any = False

    def add(self, text: str) -> str | None:
        """Buffer ``text``; returns a chunk when one is due (the first delta is sent at once,
        so time to first chunk is not held back by coalescing)."""
        if not self._parts:
            self._first_at = time.monotonic()
        self._parts.append(text)
        self._size += len(text)
        if (not self._sent_any or self._size >= self.flush_chars
                or time.monotonic() - self._first_at >= self.flush_seconds):
            return self.flush()
        return None

    def flush(self) -> str | None:
        if not self._parts:
            return None
        chunk = "".join(self._parts)
        self._sent_any = True
        self._parts.clear()
        self._size = 0
        return chunk
