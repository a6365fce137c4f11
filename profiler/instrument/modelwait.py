"""Model requests in flight, seen at the HTTP transport the model clients use (httpx, httpx2).

The OpenAI, Anthropic, Ollama and most other Python model clients send their requests through
httpx, or through its successor httpx2 (recent openai releases do unless given an httpx client:
a plain `ChatOpenAI()`). A request is in flight from the transport taking it until its response is closed (httpx
closes a response once read; the clients close their streams after the last chunk). While a chat
span has one in flight, the meter counts the stretches its task waited on it as model wait (a
blocking client's time off the CPU likewise).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Callable, Iterator
from types import ModuleType
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


def _clients() -> list[ModuleType]:
    """httpx, and httpx2 where it is installed (same transport API)."""
    modules = [httpx]
    with contextlib.suppress(ImportError):
        modules.append(importlib.import_module("httpx2"))
    return modules


def install(meter: SpanCpuMeter) -> Callable[[], None]:
    """Wrap the transports of httpx and httpx2; returns the function that undoes it."""
    undo = [_install(module, meter) for module in _clients()]

    def uninstall() -> None:
        for step in undo:
            step()

    return uninstall


def _install(module: Any, meter: SpanCpuMeter) -> Callable[[], None]:
    # a response's stream must be the module's own byte-stream type
    async_tracked = (
        _AsyncTracked if module is httpx else type("_AsyncTracked", (_AsyncTracked, module.AsyncByteStream), {})
    )
    sync_tracked = _SyncTracked if module is httpx else type("_SyncTracked", (_SyncTracked, module.SyncByteStream), {})
    original_async = module.AsyncHTTPTransport.handle_async_request
    original_sync = module.HTTPTransport.handle_request

    async def handle_async_request(self: Any, request: Any) -> Any:
        key = meter.request_started()
        if key is None:
            return await original_async(self, request)
        try:
            response = await original_async(self, request)
        except BaseException:
            meter.request_ended(key)
            raise
        response.stream = async_tracked(response.stream, meter, key)
        return response

    def handle_request(self: Any, request: Any) -> Any:
        key = meter.request_started()
        if key is None:
            return original_sync(self, request)
        try:
            response = original_sync(self, request)
        except BaseException:
            meter.request_ended(key)
            raise
        response.stream = sync_tracked(response.stream, meter, key)
        return response

    module.AsyncHTTPTransport.handle_async_request = handle_async_request
    module.HTTPTransport.handle_request = handle_request

    def uninstall() -> None:
        module.AsyncHTTPTransport.handle_async_request = original_async
        module.HTTPTransport.handle_request = original_sync

    return uninstall
