"""Send a stored run to an OTLP endpoint with the official exporters, ids and timestamps intact.

Each line of `spans.jsonl` (one ExportTraceServiceRequest) is rebuilt into SDK spans carrying
the original trace/span ids, parents, times, attributes, events and status, then exported in
batches. Exporting twice sends the same ids, so backends that dedupe keep one copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from profiler.otlp import CountingExporter, OtlpTarget
from profiler.store.spans import attributes_of

BATCH = 512
# OTLP's span kinds are 1-based (0 = unspecified); the SDK's enum is 0-based
_KINDS = {
    0: SpanKind.INTERNAL,
    1: SpanKind.INTERNAL,
    2: SpanKind.SERVER,
    3: SpanKind.CLIENT,
    4: SpanKind.PRODUCER,
    5: SpanKind.CONSUMER,
}


class _SharedResource(Resource):
    """One object per distinct resource, hashed once: the encoder keys a dict by resource per span,
    and Resource hashes by serialising its attributes every time."""

    def __init__(self, attributes: dict[str, Any], schema_url: str | None) -> None:
        super().__init__(attributes, schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


_resources: dict[str, Resource] = {}


def _resource(raw: dict[str, Any], schema_url: str | None) -> Resource:
    key = json.dumps(raw, sort_keys=True) + (schema_url or "")
    if key not in _resources:
        _resources[key] = _SharedResource(attributes_of(raw.get("attributes")), schema_url)
    return _resources[key]


def _context(trace_id: str, span_id: str, flags: int = 1, remote: bool = False) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=remote, trace_flags=TraceFlags(flags & 0xFF))


def spans_of_request(request: dict[str, Any]) -> Iterator[ReadableSpan]:
    """SDK spans from one OTLP JSON ExportTraceServiceRequest."""
    for resource_spans in request.get("resourceSpans", []):
        resource = _resource(resource_spans.get("resource", {}), resource_spans.get("schemaUrl"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            raw_scope = scope_spans.get("scope") or {}
            scope = InstrumentationScope(
                raw_scope.get("name", ""), raw_scope.get("version"), scope_spans.get("schemaUrl")
            )
            for span in scope_spans.get("spans", []):
                status = span.get("status") or {}
                parent = span.get("parentSpanId")
                yield ReadableSpan(
                    name=span.get("name", ""),
                    context=_context(span["traceId"], span["spanId"], int(span.get("flags", 1))),
                    parent=_context(span["traceId"], parent, remote=False) if parent else None,
                    resource=resource,
                    attributes=attributes_of(span.get("attributes")),
                    events=[
                        Event(e.get("name", ""), attributes_of(e.get("attributes")), int(e["timeUnixNano"]))
                        for e in span.get("events", [])
                    ],
                    links=[
                        Link(_context(link["traceId"], link["spanId"]), attributes_of(link.get("attributes")))
                        for link in span.get("links", [])
                    ],
                    kind=_KINDS.get(int(span.get("kind", 1)), SpanKind.INTERNAL),
                    status=Status(StatusCode(int(status.get("code", 0))), status.get("message") or None),
                    start_time=int(span["startTimeUnixNano"]),
                    end_time=int(span["endTimeUnixNano"]),
                    instrumentation_scope=scope,
                )


def stored_spans(path: Path) -> Iterator[ReadableSpan]:
    """Every span of a span file, one line at a time (bad lines skipped)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                request = json.loads(line)
            except ValueError:
                continue
            yield from spans_of_request(request)


def export_run(spans_path: Path, target: OtlpTarget) -> dict[str, Any]:
    """Export every stored span; returns counts (a backend that is down gives failures, not an error)."""
    exporter = CountingExporter(target.exporter())
    batch: list[ReadableSpan] = []
    total = 0
    for span in stored_spans(spans_path):
        batch.append(span)
        total += 1
        if len(batch) >= BATCH:
            exporter.export(batch)
            batch = []
    if batch:
        exporter.export(batch)
    exporter.shutdown()
    return {
        "endpoint": target.traces_url,
        "protocol": target.protocol,
        "spans": total,
        "exported": exporter.exported,
        "failed": total - exporter.exported,
        "last_error": exporter.last_error,
    }
