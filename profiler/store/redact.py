"""Keep secrets out of traces: API keys and tokens are replaced in every string a span carries.

Applied to every span written or exported, whether or not message content is captured: a key
printed by a tool or echoed by a model lands in attributes and exception events alike. What is
replaced: known key shapes, and the values of environment variables named like secrets (plus
any named explicitly, e.g. `run --api-key-env`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Status

REDACTED = "[REDACTED]"
_START = r"(?<![\w-])"  # a key starts a token: "task-sk-..." is not one
KEY_SHAPES = tuple(
    _START + shape
    for shape in (
        r"sk-(?=[\w-]*\d)[\w-]{20,}",  # OpenAI, Anthropic (sk-ant-), DeepSeek, ...: random, so with digits
        r"gsk_\w{20,}",  # Groq
        r"xai-\w{20,}",
        r"hf_\w{20,}",
        r"gh[pousr]_\w{20,}",
        r"github_pat_\w{20,}",
        r"AKIA[0-9A-Z]{16}\b",
        r"AIza[\w-]{35}",
        r"(?i:bearer)\s+[\w.~+/=-]{8,}",
    )
)
SECRET_NAME = re.compile(r"(?i)api_?key|access_?key|token|secret|passw(or)?d|credential")
MIN_SECRET_CHARS = 8  # shorter values ("true", "1") would redact ordinary words


class Redactor:
    def __init__(self, environ: Mapping[str, str] | None = None, names: Iterable[str] = ()) -> None:
        environ = os.environ if environ is None else environ
        wanted = set(names)
        values = {
            value
            for name, value in environ.items()
            if (name in wanted or SECRET_NAME.search(name)) and len(value) >= MIN_SECRET_CHARS
        }
        literal = [re.escape(v) for v in sorted(values, key=len, reverse=True)]
        self._pattern = re.compile("|".join([*literal, *KEY_SHAPES]))

    def text(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        return value

    def mapping(self, items: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A cleaned copy of the mapping, or None when it holds no secret."""
        cleaned = {key: self.value(value) for key, value in (items or {}).items()}
        return None if cleaned == dict(items or {}) else cleaned

    def span(self, span: ReadableSpan) -> ReadableSpan:
        """The span itself when it holds no secret, else a copy with every secret replaced."""
        attributes = self.mapping(span.attributes)
        event_attributes = [self.mapping(event.attributes) for event in span.events]
        description = span.status.description and self.text(span.status.description)
        unchanged = attributes is None and event_attributes.count(None) == len(event_attributes)
        if unchanged and description == span.status.description:
            return span
        events = [
            Event(e.name, e.attributes if new is None else new, e.timestamp)
            for e, new in zip(span.events, event_attributes, strict=True)
        ]
        return with_changes(
            span, attributes=attributes, events=events, status=Status(span.status.status_code, description)
        )


def with_changes(
    span: ReadableSpan,
    *,
    attributes: Mapping[str, Any] | None = None,
    events: list[Event] | None = None,
    status: Status | None = None,
) -> ReadableSpan:
    """A copy of an ended span with some parts replaced (the SDK's spans are read-only)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes if attributes is None else attributes,
        events=span.events if events is None else events,
        links=span.links,
        kind=span.kind,
        status=span.status if status is None else status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
