"""Model requests in flight, seen at the HTTP transport the model clients use (httpx).

The OpenAI, Anthropic, Ollama and most other Python model clients send their requests through
httpx. A request is in flight from the transport taking it until its response is closed (httpx
closes a response once read; the clients close their streams after the last chunk). While a chat
span has one in flight, the meter counts the stretches its task waited on it as model wait (a
blocking client's time off the CPU likewise).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from profiler.instrument.cpumeter import SpanCpuMeter


class _AsyncTracked(httpx.AsyncByteStream):
    """The response body; iterating it is the inner stream's own (no frame per chunk), closing it ends
    the request (httpx closes a response once read, and the model clients close their streams)."""

    def __init__(self, inner: Any, meter: SpanCpuMeter, key: int) -> None:
        self._inner, self._meter, self._key, self._open = inner, meter, key, True

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._inner.__aiter__()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._meter.request_ended(self._key)
        await self._inner.aclose()


class _SyncTracked(httpx.SyncByteStream):
    def __init__(self, inner: Any, meter: SpanCpuMeter, key: int) -> None:
        self._inner, self._meter, self._key, self._open = inner, meter, key, True

    def __iter__(self) -> Iterator[bytes]:
        return self._inner.__iter__()  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._open:
            self._open = False
            self._meter.request_ended(self._key)
        self._inner.close()


def install(meter: SpanCpuMeter) -> Callable[[], None]:
    """Wrap httpx's transports; returns the function that undoes it."""
    original_async = httpx.AsyncHTTPTransport.handle_async_request
    original_sync = httpx.HTTPTransport.handle_request

    async def handle_async_request(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        key = meter.request_started()
        if key is None:
            return await original_async(self, request)
        try:
            response = await original_async(self, request)
        except BaseException:
            meter.request_ended(key)
            raise
        response.stream = _AsyncTracked(response.stream, meter, key)
        return response

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        key = meter.request_started()
        if key is None:
            return original_sync(self, request)
        try:
            response = original_sync(self, request)
        except BaseException:
            meter.request_ended(key)
            raise
        response.stream = _SyncTracked(response.stream, meter, key)
        return response

    httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]
    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]

    def uninstall() -> None:
        httpx.AsyncHTTPTransport.handle_async_request = original_async  # type: ignore[method-assign]
        httpx.HTTPTransport.handle_request = original_sync  # type: ignore[method-assign]

    return uninstall
