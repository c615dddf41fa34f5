"""What the SDK-backed adapters share: classifying SDK and transport failures into
ProviderCallError, and the streaming entry point that applies it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from typing import Any, ClassVar

import httpx

from workers.providers.base import CompletionRequest, ProviderCallError, StreamItem

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (numeric), if present."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def classify(exc: BaseException, *, status_error: type[BaseException],
             timeout_error: type[BaseException], connection_error: type[BaseException]
             ) -> ProviderCallError:
    """Map an SDK or httpx exception to a ProviderCallError. Messages carry the status and the
    provider's error text, never request headers (where the key is)."""
    if isinstance(exc, timeout_error | httpx.TimeoutException):
        return ProviderCallError(f"stream timed out: {type(exc).__name__}", retryable=True,
                                 timeout=True)
    if isinstance(exc, status_error):
        status = int(getattr(exc, "status_code", 0) or 0)
        response = getattr(exc, "response", None)
        return ProviderCallError(
            f"HTTP {status}: {getattr(exc, 'message', '') or type(exc).__name__}"[:500],
            retryable=status in RETRYABLE_STATUS, status=status,
            retry_after=retry_after(response.headers if response is not None else None))
    if isinstance(exc, connection_error | httpx.TransportError):
        return ProviderCallError(f"connection failed: {type(exc).__name__}", retryable=True)
    if isinstance(exc, ValueError):  # a malformed event the SDK could not decode
        return ProviderCallError(f"malformed stream event: {exc}"[:300], retryable=True)
    return ProviderCallError(f"{type(exc).__name__}: {exc}"[:300], retryable=False)


class SDKProvider:
    """Base of the adapters built on an official SDK: ``stream`` (and ``astream``, with the
    SDK's async client, for the stream engine) runs the adapter's streaming or one-shot call and
    turns whatever the SDK raises into a ProviderCallError."""

    status_error: ClassVar[type[BaseException]]
    timeout_error: ClassVar[type[BaseException]]
    connection_error: ClassVar[type[BaseException]]

    def stream(self, request: CompletionRequest) -> Iterator[StreamItem]:
        try:
            yield from (self._stream(request) if request.stream else self._complete(request))
        except Exception as exc:
            raise self._failure(exc) from None

    async def astream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        try:
            async for item in (self._astream(request) if request.stream
                               else self._acomplete(request)):
                yield item
        except Exception as exc:
            raise self._failure(exc) from None

    def _failure(self, exc: Exception) -> ProviderCallError:
        if isinstance(exc, ProviderCallError):
            return exc
        return classify(exc, status_error=self.status_error, timeout_error=self.timeout_error,
                        connection_error=self.connection_error)

    def _stream(self, request: CompletionRequest) -> Iterator[StreamItem]:
        raise NotImplementedError

    def _complete(self, request: CompletionRequest) -> Iterator[StreamItem]:
        raise NotImplementedError

    def _astream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        raise NotImplementedError

    def _acomplete(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        raise NotImplementedError
