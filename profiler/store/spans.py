"""Read `spans.jsonl` (OTLP JSON lines) back into flat span records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KIND_INTERNAL, KIND_SERVER, KIND_CLIENT = 1, 2, 3
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int = STATUS_UNSET
    status_message: str = ""
    events: tuple[SpanEvent, ...] = ()
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def operation(self) -> str:
        return str(self.attributes.get("gen_ai.operation.name", ""))

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR


@dataclass
class SpanFile:
    spans: list[SpanRecord]
    lines: int = 0
    bad_lines: int = 0
    first_bad_line: int | None = None


def any_value(value: dict[str, Any]) -> Any:
    """Decode an OTLP JSON AnyValue."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes_of(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes_of(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: any_value(item.get("value", {})) for item in items or []}


def records_of(request: dict[str, Any]) -> Iterator[SpanRecord]:
    """Flatten one ExportTraceServiceRequest (OTLP JSON) into span records."""
    for resource_spans in request.get("resourceSpans", []):
        resource = attributes_of(resource_spans.get("resource", {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            scope = scope_spans.get("scope", {}).get("name", "")
            for span in scope_spans.get("spans", []):
                status = span.get("status") or {}
                yield SpanRecord(
                    trace_id=span["traceId"],
                    span_id=span["spanId"],
                    parent_id=span.get("parentSpanId") or None,
                    name=span.get("name", ""),
                    kind=int(span.get("kind", 0)),
                    start_ns=int(span["startTimeUnixNano"]),
                    end_ns=int(span["endTimeUnixNano"]),
                    attributes=attributes_of(span.get("attributes")),
                    status_code=int(status.get("code", 0)),
                    status_message=status.get("message", ""),
                    events=tuple(
                        SpanEvent(e.get("name", ""), int(e.get("timeUnixNano", 0)), attributes_of(e.get("attributes")))
                        for e in span.get("events", [])
                    ),
                    resource=resource,
                    scope=scope,
                )


def read_span_file(path: str | Path) -> SpanFile:
    """All spans of a file; truncated or corrupt lines are counted and skipped, never fatal."""
    result = SpanFile([])
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            result.lines += 1
            try:
                result.spans.extend(records_of(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError):
                result.bad_lines += 1
                if result.first_bad_line is None:
                    result.first_bad_line = number
    return result
