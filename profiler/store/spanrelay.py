"""Ship ended spans to a writer process instead of encoding them in the profiled process.

Encoding a span with the official OTLP encoders costs ~100 µs of CPU (attribute conversion,
resource hashing), which would be charged to the workload being measured. The relay turns
each span into plain data (a few µs), pickles the batch and writes one length-prefixed frame
to a pipe; the writer process (`profiler.store.spanwriter`) rebuilds the SDK spans and runs
the official encoder. A crash of the producer loses nothing that reached the pipe.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from profiler.store.spanfile import AttributeSource, append_line

_log = logging.getLogger(__name__)
FRAME_HEADER = struct.Struct("<I")

# Extra attributes for a span, known only after it ended (e.g. its CPU time).

Record = tuple[Any, ...]


def _context(ctx: SpanContext | None) -> tuple[int, int, int, bool] | None:
    if ctx is None:
        return None
    return ctx.trace_id, ctx.span_id, int(ctx.trace_flags), ctx.is_remote


def to_record(span: ReadableSpan, resource_key: int, extra: dict[str, Any] | None) -> Record:
    attributes = dict(span.attributes or {})
    if extra:
        attributes.update(extra)
    scope = span.instrumentation_scope
    return (
        span.name,
        _context(span.context),
        _context(span.parent),
        resource_key,
        (scope.name, scope.version, scope.schema_url) if scope else None,
        span.kind.value,
        span.start_time,
        span.end_time,
        attributes,
        span.status.status_code.value,
        span.status.description,
        [(e.name, dict(e.attributes or {}), e.timestamp) for e in span.events],
        [(_context(link.context), dict(link.attributes or {})) for link in span.links],
    )


def _span_context(data: tuple[int, int, int, bool] | None) -> SpanContext | None:
    if data is None:
        return None
    trace_id, span_id, flags, remote = data
    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=TraceFlags(flags), trace_state=TraceState())


def from_record(record: Record, resources: dict[int, Resource]) -> ReadableSpan:
    (
        name,
        context,
        parent,
        resource_key,
        scope,
        kind,
        start,
        end,
        attributes,
        status_code,
        status_text,
        events,
        links,
    ) = record
    return ReadableSpan(
        name=name,
        context=_span_context(context),
        parent=_span_context(parent),
        resource=resources[resource_key],
        attributes=attributes,
        events=[Event(n, a, timestamp=t) for n, a, t in events],
        links=[Link(_span_context(c), a) for c, a in links],  # type: ignore[arg-type]
        kind=SpanKind(kind),
        status=Status(StatusCode(status_code), status_text),
        start_time=start,
        end_time=end,
        instrumentation_scope=InstrumentationScope(*scope) if scope else None,
    )


def encode_frame(spans: Sequence[ReadableSpan], extra: AttributeSource | None = None) -> bytes:
    resources: dict[int, tuple[dict[str, Any], str | None]] = {}
    records = []
    for span in spans:
        key = id(span.resource)
        if key not in resources:
            resources[key] = (dict(span.resource.attributes), span.resource.schema_url)
        records.append(to_record(span, key, extra(span) if extra else None))
    payload = pickle.dumps((resources, records), protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME_HEADER.pack(len(payload)) + payload


def decode_frame(payload: bytes) -> list[ReadableSpan]:
    raw_resources, records = pickle.loads(payload)
    resources = {key: Resource(attrs, schema) for key, (attrs, schema) in raw_resources.items()}
    return [from_record(r, resources) for r in records]


class RelaySpanExporter(SpanExporter):
    """Writes span batches to a pipe; never raises into the SDK."""

    def __init__(self, fd: int, extra: AttributeSource | None = None) -> None:
        self._fd = fd
        self._extra = extra
        self._lock = threading.Lock()
        self._closed = False
        self.exported = 0
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            frame = encode_frame(spans, self._extra)
            with self._lock:
                if self._closed:
                    raise OSError("span relay closed")
                append_line(self._fd, frame)
            self.exported += len(spans)
            return SpanExportResult.SUCCESS
        except Exception:  # profiling must never crash the workload
            _log.exception("relaying spans failed")
            self.failed += len(spans)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
