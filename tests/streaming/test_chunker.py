"""The chunker: coalescing deltas, and discarding the invalid ones (STREAM_003)."""

from __future__ import annotations


def test_invalid_deltas_are_discarded_and_counted() -> None:  # STREAM_003
    from fleet.streaming.chunker import Chunker

    chunker = Chunker(1, 0)
    assert chunker.add("ok") == "ok"
    assert chunker.add(b"bytes") is None and chunker.add("\udc80") is None
    assert chunker.add("x" * (64 * 1024 + 1)) is None
    assert chunker.discarded == 3
