"""Append spans to `spans.jsonl` as OTLP JSON, one ExportTraceServiceRequest per line.

Encoding uses the official OTLP JSON encoder. Each line goes to the file in a single
`write` on an O_APPEND descriptor, so the workload and the model server can append to the
same file without interleaving, and a crash loses no line already written.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from profiler.store.redact import Redactor, with_changes

_log = logging.getLogger(__name__)

AttributeSource = Callable[[ReadableSpan], dict[str, Any] | None]  # figures added to a span at export


def append_line(fd: int, line: bytes) -> None:
    """Write one whole line; loops on short writes."""
    view = memoryview(line)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _with_extra(span: ReadableSpan, extra: dict[str, Any] | None) -> ReadableSpan:
    """The span with figures known only at export time (CPU per span) added to its attributes."""
    return with_changes(span, attributes={**(span.attributes or {}), **extra}) if extra else span


class JsonlSpanExporter(SpanExporter):
    """SpanExporter writing OTLP JSON lines, secrets redacted (unless done before); never raises into the SDK."""

    def __init__(self, path: str | Path, extra_attributes: AttributeSource | None = None, redact: bool = True) -> None:
        self._extra = extra_attributes
        self._redactor = Redactor() if redact else None
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self._closed = False
        self.exported = 0
        self.failed = 0
        self.last_error: str | None = None  # e.g. a full disk

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            if self._extra is not None:
                spans = [_with_extra(span, self._extra(span)) for span in spans]
            if self._redactor is not None:
                spans = [self._redactor.span(span) for span in spans]
            request = encode_spans(spans).to_dict()
            if not request.get("resourceSpans"):
                return SpanExportResult.SUCCESS
            line = (json.dumps(request, separators=(",", ":")) + "\n").encode()
            with self._lock:
                if self._closed:
                    self.failed += len(spans)
                    return SpanExportResult.FAILURE
                append_line(self._fd, line)
            self.exported += len(spans)
            return SpanExportResult.SUCCESS
        except Exception as exc:  # profiling must never crash the workload
            if self.last_error is None:  # once: a full disk would log it for every batch
                _log.exception("writing spans failed")
            self.last_error = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            self.failed += len(spans)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
