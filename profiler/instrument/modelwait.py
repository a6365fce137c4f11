"""Model requests in flight, seen at the HTTP transport the model clients use (httpx).

The OpenAI, Anthropic, Ollama and most other Python model clients send their requests through
httpx. A request is in flight from the transport taking it until the last byte of its response
arrives (or the response is closed). While a chat span has one in flight, the meter counts the
time its task had nothing to do as model wait (a blocking client's time off the CPU likewise);
the client's own CPU between chunks stays client CPU. The first response chunk also gives the
time to first chunk, without a LangChain callback per streamed token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from profiler.instrument.cpumeter import SpanCpuMeter


class _AsyncTracked(httpx.AsyncByteStream):
    def __init__(self, inner: Any, meter: SpanCpuMeter, key: int) -> None:
        self._inner, self._meter, self._key, self._open = inner, meter, key, True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        first = True
        try:
            async for chunk in self._inner:
                if first:
                    first = False
                    self._meter.first_chunk(self._key)
                yield chunk
        finally:
            self._end()

    async def aclose(self) -> None:
        self._end()
        await self._inner.aclose()

    def _end(self) -> None:
        if self._open:
            self._open = False
            self._meter.request_ended(self._key)


class _SyncTracked(httpx.SyncByteStream):
    def __init__(self, inner: Any, meter: SpanCpuMeter, key: int) -> None:
        self._inner, self._meter, self._key, self._open = inner, meter, key, True

    def __iter__(self) -> Iterator[bytes]:
        first = True
        try:
            for chunk in self._inner:
                if first:
                    first = False
                    self._meter.first_chunk(self._key)
                yield chunk
        finally:
            self._end()

    def close(self) -> None:
        self._end()
        self._inner.close()

    def _end(self) -> None:
        if self._open:
            self._open = False
            self._meter.request_ended(self._key)


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
