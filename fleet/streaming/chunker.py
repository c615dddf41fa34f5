"""Chunker: coalesces provider token deltas into stream chunks and validates them.

Redis should carry far fewer messages than the model produces tokens. A delta is sent at once
when nothing was sent for ``flush_ms`` (a slow model loses no latency); otherwise deltas gather
until ``flush_chars`` characters or ``flush_ms`` since the last chunk, whichever comes first.
The relay calls :meth:`due` between events so a pause in the provider's stream never holds
text back for longer than ``flush_ms``.

Deltas that are not text, are over :data:`MAX_DELTA_CHARS`, or carry lone surrogates (invalid
UTF-8 once encoded) are discarded, counted and reported: STREAM_003, "discard chunk and continue".
"""

from __future__ import annotations

import logging
import threading
import time

from fleet.errors import ChunkValidationFailed

log = logging.getLogger("fleet.buffer")

MAX_DELTA_CHARS = 64 * 1024


def valid_delta(text: object) -> bool:
    if not isinstance(text, str) or len(text) > MAX_DELTA_CHARS:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Chunker:
    def __init__(self, flush_chars: int = 256, flush_ms: int = 20) -> None:
        self.flush_chars = flush_chars
        self.flush_seconds = flush_ms / 1000
        self.discarded = 0
        self._parts: list[str] = []
        self._size = 0
        self._last_flush = float("-inf")
        self._lock = threading.Lock()

    def add(self, text: object) -> str | None:
        """Buffer a delta; returns a chunk when one is due."""
        if not valid_delta(text):
            self.discarded += 1
            if self.discarded == 1:  # once per stream: a broken provider must not flood the log
                log.warning("%s %s: discarded a %s delta (not text, over %d characters, or "
                            "not valid UTF-8); %s", ChunkValidationFailed.code,
                            ChunkValidationFailed.name, type(text).__name__, MAX_DELTA_CHARS,
                            ChunkValidationFailed.recovery)
            return None
        assert isinstance(text, str)
        if not text:
            return None
        with self._lock:
            self._parts.append(text)
            self._size += len(text)
            now = time.monotonic()
            if self._size >= self.flush_chars or now - self._last_flush >= self.flush_seconds:
                return self._take(now)
        return None

    @property
    def pending(self) -> bool:
        """Whether text is buffered."""
        return bool(self._parts)

    @property
    def due_at(self) -> float:
        """When buffered text is due (monotonic seconds)."""
        return self._last_flush + self.flush_seconds

    def due(self) -> str | None:
        """The buffered text if it has waited ``flush_ms``, else None."""
        with self._lock:
            now = time.monotonic()
            if self._parts and now - self._last_flush >= self.flush_seconds:
                return self._take(now)
        return None

    def flush(self) -> str | None:
        with self._lock:
            return self._take(time.monotonic()) if self._parts else None

    def _take(self, now: float) -> str:
        chunk = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        self._last_flush = now
        return chunk
