"""Read `spans.jsonl` (OTLP JSON lines) back into flat span records."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

_NO_RESOURCE: Mapping[str, Any] = MappingProxyType({})
_NO_STATUS: Mapping[str, Any] = MappingProxyType({})

KIND_INTERNAL, KIND_SERVER, KIND_CLIENT = 1, 2, 3
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


class SpanRecord(NamedTuple):
    """One span as read back (a named tuple: built a hundred thousand times a second when reading)."""

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
    resource: Mapping[str, Any] = _NO_RESOURCE
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
    try:  # the common case, a list of well-formed items, without checking each item's shape first
        return {item["key"]: any_value(item["value"]) for item in items if isinstance(item["key"], str)}
    except (TypeError, KeyError):
        valid = (item for item in items if isinstance(item, dict) and isinstance(item.get("key"), str))
        return {item["key"]: any_value(item.get("value")) for item in valid}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _nanos(value: Any) -> int:
    """OTLP JSON carries 64-bit times as decimal strings (numbers from other encoders)."""
    if isinstance(value, str) and len(value) <= 20 and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"not a time in nanoseconds: {value!r}")


def _small_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 64:
        return value
    raise ValueError(f"not an enum value: {value!r}")


def _record(span: Any, resource: Mapping[str, Any], scope: str) -> SpanRecord:
    """One OTLP JSON span; ValueError when a field is missing or has the wrong type."""
    span = _dict(span)
    trace_id, span_id, parent_id = span.get("traceId"), span.get("spanId"), span.get("parentSpanId") or None
    if not (isinstance(trace_id, str) and _TRACE_ID.fullmatch(trace_id)):
        raise ValueError("bad traceId")
    if not (isinstance(span_id, str) and _SPAN_ID.fullmatch(span_id)):
        raise ValueError("bad spanId")
    if parent_id is not None and not (isinstance(parent_id, str) and _SPAN_ID.fullmatch(parent_id)):
        raise ValueError("bad parentSpanId")
    status, events = span.get("status"), span.get("events")
    status = _dict(status) if status else _NO_STATUS
    return SpanRecord(
        trace_id,
        span_id,
        parent_id,
        str(span.get("name", "")),
        _small_int(span.get("kind", 0)),
        _nanos(span.get("startTimeUnixNano")),
        _nanos(span.get("endTimeUnixNano")),
        attributes_of(span.get("attributes")),
        _small_int(status.get("code", 0)),
        str(status.get("message", "")),
        tuple(
            SpanEvent(str(e.get("name", "")), _nanos(e.get("timeUnixNano", 0)), attributes_of(e.get("attributes")))
            for e in map(_dict, _list(events))
        )
        if events
        else (),
        resource,
        scope,
    )


class _Resources:
    """Resource attributes decoded once per distinct resource: every export batch of a process repeats its own."""

    LIMIT = 256  # distinct resources kept (one per process of the run; a damaged file may have many)

    def __init__(self) -> None:
        self.known: dict[bytes, dict[str, Any]] = {}

    def of(self, resource_spans: dict[str, Any]) -> dict[str, Any]:
        raw = _dict(resource_spans.get("resource")).get("attributes")
        key = orjson.dumps(raw)
        decoded = self.known.get(key)
        if decoded is None:
            if len(self.known) >= self.LIMIT:
                self.known.clear()
            decoded = self.known[key] = attributes_of(raw)
        return decoded


def records_of(request: Any, into: SpanFile, resources: _Resources) -> None:
    """Flatten one ExportTraceServiceRequest (OTLP JSON) into `into`; malformed spans are counted."""
    if not isinstance(request, dict) or not isinstance(request.get("resourceSpans"), list):
        raise ValueError("not an ExportTraceServiceRequest")
    for resource_spans in map(_dict, request["resourceSpans"]):
        resource = resources.of(resource_spans)
        for scope_spans in map(_dict, _list(resource_spans.get("scopeSpans"))):
            scope = str(_dict(scope_spans.get("scope")).get("name", ""))
            for span in _list(scope_spans.get("spans")):
                try:
                    into.spans.append(_record(span, resource, scope))
                except ValueError:
                    into.bad_spans += 1


def _loads(line: bytes) -> Any:
    """One JSON line (orjson: nesting over 1,024 levels is an error, not a crash); bytes that are not
    UTF-8 read as U+FFFD, as they would from a text file."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return orjson.loads(line.decode("utf-8", errors="replace"))


def span_lines(path: str | Path, tally: SpanFile) -> Iterator[list[SpanRecord]]:
    """The spans of each line, in file order, without holding the file: truncated or corrupt lines
    and malformed spans are counted in `tally` (whose `spans` stay empty), never fatal."""
    resources = _Resources()
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            tally.lines += 1
            found = SpanFile([])
            try:
                records_of(_loads(line), found, resources)
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
