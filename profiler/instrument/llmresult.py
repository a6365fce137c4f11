"""Reading LangChain's chat results: message text, the first generation, token usage."""

from __future__ import annotations

from typing import Any


def text_of(content: Any) -> str:
    """A message's text, whether a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def first_generation(response: Any) -> tuple[Any, Any]:
    generations = getattr(response, "generations", None) or [[]]
    first = generations[0][0] if generations and generations[0] else None
    return first, getattr(first, "message", None)


def usage(response: Any, message: Any) -> tuple[Any, Any]:
    """Input and output tokens: the message's usage metadata, else the provider's token_usage."""
    metadata = getattr(message, "usage_metadata", None) or {}
    token_usage = (getattr(response, "llm_output", None) or {}).get("token_usage") or {}
    return (
        metadata.get("input_tokens", token_usage.get("prompt_tokens")),
        metadata.get("output_tokens", token_usage.get("completion_tokens")),
    )
