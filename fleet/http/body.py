"""Reading a request body no larger than the payload limit, whatever it claims to be."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fleet.errors import PayloadTooLarge


async def read_body(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body, or PayloadTooLarge as soon as it passes ``limit`` bytes."""
    body = bytearray()
    async for part in chunks:
        body += part
        if len(body) > limit:
            raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
    return bytes(body)
