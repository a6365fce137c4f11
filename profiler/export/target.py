"""Where spans go over OTLP: endpoint, protocol and headers from options or the standard env vars.

Argument, then `OTEL_EXPORTER_OTLP_TRACES_*`, then `OTEL_EXPORTER_OTLP_*`, then the default
(`http/protobuf`). For live export the official OTLP exporters do the sending; a counting
wrapper records how many spans arrived and how many did not, so a down backend is reported
instead of hidden. (`orchestrace export` sends stored spans with profiler/export/send.py.)
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from profiler.errors import UsageError

PROTOCOLS = ("http/protobuf", "grpc")
EXPORT_TIMEOUT_S = 5.0


def env(*names: str) -> str | None:
    """The first of the named environment variables that is set and not empty."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True)
class OtlpTarget:
    endpoint: str
    protocol: str
    signal_url: bool = False  # the spec takes OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as the full URL

    @staticmethod
    def resolve(endpoint: str | None, protocol: str | None) -> OtlpTarget | None:
        """The configured target, or None when neither an option nor the env names an endpoint."""
        signal_url = not endpoint and bool(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        endpoint = endpoint or env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
        if not endpoint:
            return None
        protocol = protocol or env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") or PROTOCOLS[0]
        if protocol not in PROTOCOLS:
            raise UsageError(f"OTLP protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        parsed = urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UsageError(f"OTLP endpoint must be an http(s) URL like http://localhost:4318, got {endpoint!r}")
        return OtlpTarget(endpoint, protocol, signal_url)

    @property
    def traces_url(self) -> str:
        """For OTLP/HTTP a base URL gets the signal path, as the OTel spec says."""
        if self.protocol == "grpc" or self.signal_url or self.endpoint.rstrip("/").endswith("/v1/traces"):
            return self.endpoint
        return self.endpoint.rstrip("/") + "/v1/traces"

    def exporter(self) -> SpanExporter:
        """The official exporter for the protocol (headers from OTEL_EXPORTER_OTLP_*HEADERS)."""
        if self.protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

            parsed = urlparse(self.endpoint)
            return GrpcExporter(endpoint=parsed.netloc, insecure=parsed.scheme == "http", timeout=EXPORT_TIMEOUT_S)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=self.traces_url, timeout=EXPORT_TIMEOUT_S)


GIVE_UP_AFTER = 3  # consecutive failed batches: the backend is down, stop spending time on it
_OS_ERROR = re.compile(r"\[Errno -?\d+\] ([^\"'()\]]+)")
_LONGEST_CAUSE = 300


def cause(message: str) -> str:
    """A failure's cause in a few words, never cut mid-word: the operating system's error where the
    message carries one (urllib3 buries it under retries and wrappers), else the message."""
    if found := _OS_ERROR.search(message):
        return found.group(1).strip()
    if len(message) <= _LONGEST_CAUSE:
        return message
    return message[:_LONGEST_CAUSE].rsplit(" ", 1)[0] + " …"


class _FirstMessage(logging.Handler):
    """The official exporters log failures rather than raise them. The first warning of a batch
    names the cause (later ones are retries and the final verdict), so keep that one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.message = self.message or cause(record.getMessage())


class ExportTally:
    """Spans exported and failed, the last cause, and whether a backend that keeps failing was
    given up on; shared by live export and `orchestrace export`. Thread-safe."""

    def __init__(self) -> None:
        self.exported = 0
        self.failed = 0
        self.last_error = ""
        self.gave_up = False
        self._failures_in_a_row = 0
        self._lock = threading.Lock()

    @property
    def answering(self) -> bool:
        """Whether the last batch got through (or none was sent yet)."""
        return self._failures_in_a_row == 0

    def record(self, spans: int, ok: bool, error: str = "") -> None:
        with self._lock:
            if ok:
                self.exported += spans
                self._failures_in_a_row = 0
            else:
                self.failed += spans
                self._failures_in_a_row += 1
                self.gave_up = self.gave_up or self._failures_in_a_row >= GIVE_UP_AFTER
                self.last_error = error or self.last_error


class CountingExporter(ExportTally, SpanExporter):
    """Counts spans exported and failed; gives up on a backend that keeps failing; never raises."""

    def __init__(self, inner: SpanExporter) -> None:
        super().__init__()
        self.inner = inner
        self._logged = _FirstMessage()
        logging.getLogger("opentelemetry.exporter.otlp").addHandler(self._logged)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.gave_up:
            return self._count(spans, SpanExportResult.FAILURE, "")
        self._logged.message = ""
        try:
            return self._count(spans, self.inner.export(spans), self._logged.message)
        except Exception as exc:  # a backend problem must not reach the pipeline
            return self._count(spans, SpanExportResult.FAILURE, cause(f"{type(exc).__name__}: {exc}"))

    def _count(self, spans: Sequence[ReadableSpan], result: SpanExportResult, error: str) -> SpanExportResult:
        self.record(len(spans), result is SpanExportResult.SUCCESS, error)
        return result

    def shutdown(self) -> None:
        logging.getLogger("opentelemetry.exporter.otlp").removeHandler(self._logged)
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
