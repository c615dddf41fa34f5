"""MockProvider: a provider whose answers come from a function, for tests (httpx's
``MockTransport`` is the model): ``Runner(..., providers=lambda model: MockProvider(handler))``.
It can be read in a thread or on the stream engine's loop alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator

from workers.providers.base import CompletionRequest, StreamItem

# Gets each request; yields TextDelta items then, optionally, one TokenUsage. Raising
# ProviderCallError fails the call as a provider would.
Handler = Callable[[CompletionRequest], Iterable[StreamItem]]


class MockProvider:
    name = "mock"

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[CompletionRequest] = []  # every request, in order

    def stream(self, request: CompletionRequest) -> Iterator[StreamItem]:
        self.requests.append(request)
        yield from self.handler(request)

    async def astream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        """The same answers, read on an event loop (yielding to it between items)."""
        for item in self.stream(request):
            await asyncio.sleep(0)
            yield item
