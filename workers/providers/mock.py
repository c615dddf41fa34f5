"""MockProvider: a provider whose answers come from a function, for tests (httpx's
``MockTransport`` is the model): ``Runner(..., providers=lambda model: MockProvider(handler))``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

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
