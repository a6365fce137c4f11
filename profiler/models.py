"""Build the chat model orchestrace hands to agent graphs (any OpenAI-compatible endpoint)."""

from __future__ import annotations

import httpx
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from profiler.instrument.propagation import inject_async, inject_sync

DEFAULT_TIMEOUT_S = 120.0


def chat_model(
    base_url: str,
    model: str,
    *,
    api_key: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_retries: int = 0,
    temperature: float = 0.0,
) -> ChatOpenAI:
    """A streaming ChatOpenAI whose HTTP requests carry W3C trace context.

    Streaming is on so time to first chunk is observed; usage is requested on the stream.
    Retries default to 0 so every model error is seen and counted.
    """
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
    return ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key=SecretStr(api_key or "not-needed"),
        temperature=temperature,
        streaming=True,
        stream_usage=True,
        max_retries=max_retries,
        timeout=timeout_s,
        http_client=httpx.Client(limits=limits, timeout=timeout, event_hooks={"request": [inject_sync]}),
        http_async_client=httpx.AsyncClient(limits=limits, timeout=timeout, event_hooks={"request": [inject_async]}),
    )
