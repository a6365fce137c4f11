"""httpx request hooks: put the current span's `traceparent` (and baggage) on model calls.

That is how the simulated server's SERVER spans join the agent's trace, and how a real
server that honours W3C trace context (vLLM does) nests its spans under the chat span.
"""

from __future__ import annotations

import httpx
from opentelemetry import propagate, trace


def _inject(request: httpx.Request) -> None:
    propagate.inject(request.headers)
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("server.address", request.url.host)
        if request.url.port is not None:
            span.set_attribute("server.port", request.url.port)


def inject_sync(request: httpx.Request) -> None:
    _inject(request)


async def inject_async(request: httpx.Request) -> None:
    _inject(request)
