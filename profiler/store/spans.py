"""Read `spans.jsonl` (OTLP JSON lines) back into flat span records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

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
    bad_spans: int = 0  # spans with missing or wrongly typed fields, in lines that were otherwise fine


_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
_SPAN_ID = re.compile(r"[0-9a-fA-F]{16}")
_NANOS = re.compile(r"\d{1,20}")


def any_value(value: Any) -> Any:
    """Decode an OTLP JSON AnyValue; anything malformed decodes to None."""
    if not isinstance(value, dict):
        return None
    try:
        if "stringValue" in value:
            return value["stringValue"]
        if "intValue" in value:
            return int(value["intValue"])
        if "doubleValue" in value:
            return float(value["doubleValue"])
        if "boolValue" in value:
            return bool(value["boolValue"])
        if "arrayValue" in value:
            return [any_value(v) for v in _list(_dict(value["arrayValue"]).get("values"))]
        if "kvlistValue" in value:
            return attributes_of(_dict(value["kvlistValue"]).get("values"))
    except (TypeError, ValueError):
        return None
    return value.get("bytesValue")


def attributes_of(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    """OTLP JSON key-value list as a dict; malformed items are left out."""
    if not isinstance(items, list):
        return {}
    valid = (item for item in items if isinstance(item, dict) and isinstance(item.get("key"), str))
    return {item["key"]: any_value(item.get("value")) for item in valid}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _nanos(value: Any) -> int:
    """OTLP JSON carries 64-bit times as decimal strings (numbers from other encoders)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _NANOS.fullmatch(value):
        return int(value)
    raise ValueError(f"not a time in nanoseconds: {value!r}")


def _small_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 64:
        return value
    raise ValueError(f"not an enum value: {value!r}")


def _record(span: Any, resource: dict[str, Any], scope: str) -> SpanRecord:
    """One OTLP JSON span; ValueError when a field is missing or has the wrong type."""
    span = _dict(span)
    trace_id, span_id, parent_id = span.get("traceId"), span.get("spanId"), span.get("parentSpanId") or None
    if not (isinstance(trace_id, str) and _TRACE_ID.fullmatch(trace_id)):
        raise ValueError("bad traceId")
    if not (isinstance(span_id, str) and _SPAN_ID.fullmatch(span_id)):
        raise ValueError("bad spanId")
    if parent_id is not None and not (isinstance(parent_id, str) and _SPAN_ID.fullmatch(parent_id)):
        raise ValueError("bad parentSpanId")
    status = _dict(span.get("status"))
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=str(span.get("name", "")),
        kind=_small_int(span.get("kind", 0)),
        start_ns=_nanos(span.get("startTimeUnixNano")),
        end_ns=_nanos(span.get("endTimeUnixNano")),
        attributes=attributes_of(span.get("attributes")),
        status_code=_small_int(status.get("code", 0)),
        status_message=str(status.get("message", "")),
        events=tuple(
            SpanEvent(str(e.get("name", "")), _nanos(e.get("timeUnixNano", 0)), attributes_of(e.get("attributes")))
            for e in map(_dict, _list(span.get("events")))
        ),
        resource=resource,
        scope=scope,
    )


def records_of(request: Any, into: SpanFile) -> None:
    """Flatten one ExportTraceServiceRequest (OTLP JSON) into `into`; malformed spans are counted."""
    if not isinstance(request, dict) or not isinstance(request.get("resourceSpans"), list):
        raise ValueError("not an ExportTraceServiceRequest")
    for resource_spans in map(_dict, request["resourceSpans"]):
        resource = attributes_of(_dict(resource_spans.get("resource")).get("attributes"))
        for scope_spans in map(_dict, _list(resource_spans.get("scopeSpans"))):
            scope = str(_dict(scope_spans.get("scope")).get("name", ""))
            for span in _list(scope_spans.get("spans")):
                try:
                    into.spans.append(_record(span, resource, scope))
                except ValueError:
                    into.bad_spans += 1


def span_lines(path: str | Path, tally: SpanFile) -> Iterator[list[SpanRecord]]:
    """The spans of each line, in file order, without holding the file: truncated or corrupt lines
    and malformed spans are counted in `tally` (whose `spans` stay empty), never fatal."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            tally.lines += 1
            found = SpanFile([])
            try:
                records_of(orjson.loads(line), found)  # orjson: nesting over 1,024 levels is an error, not a crash
            except ValueError:
                tally.bad_lines += 1
                if tally.first_bad_line is None:
                    tally.first_bad_line = number
                continue
            tally.bad_spans += found.bad_spans
            yield found.spans


def read_span_file(path: str | Path) -> SpanFile:
    """All spans of a file; truncated or corrupt lines and spans are counted and skipped, never fatal."""
    result = SpanFile([])
    for spans in span_lines(path, result):
        result.spans.extend(spans)
    return result
