"""OpenTelemetry SDK setup in one place: resource, span file, batch processor."""

from __future__ import annotations

import os
import platform
import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from profiler import __version__
from profiler.store.spanfile import AttributeSource, JsonlSpanExporter
from profiler.store.spanrelay import RelaySpanExporter

# Short export delay: a hard kill loses at most this much of ended spans.
EXPORT_DELAY_MS = 200

# a trace id chosen elsewhere (a fleet's driver) for the next root span started in this context
_PINNED_TRACE_ID: ContextVar[int | None] = ContextVar("orchestrace_pinned_trace_id", default=None)


@contextmanager
def pinned_trace_id(trace_id: int) -> Iterator[None]:
    """Root spans started inside get `trace_id` (from a driver's traceparent) instead of a fresh one."""
    token = _PINNED_TRACE_ID.set(trace_id)
    try:
        yield
    finally:
        _PINNED_TRACE_ID.reset(token)


def resource_for(service: str, run_id: str | None, extra: dict[str, Any] | None = None) -> Resource:
    attrs: dict[str, Any] = {
        "service.name": service,
        "service.version": __version__,
        "host.name": socket.gethostname(),
        "host.arch": platform.machine(),
        "process.pid": os.getpid(),
        "process.runtime.name": platform.python_implementation(),
        "process.runtime.version": platform.python_version(),
        "telemetry.sdk.language": "python",
    }
    if run_id:
        attrs["orchestrace.run_id"] = run_id
    attrs.update(extra or {})
    return Resource.create(attrs)


class PrivateIdGenerator(IdGenerator):
    """Random ids from a private, OS-seeded generator.

    The SDK's default draws from the global `random`, which the workload seeds for reproducible
    tasks: every run would then reuse the same trace and span ids and collide in a backend.
    """

    def __init__(self) -> None:
        self._random = random.Random(os.urandom(16))

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return _PINNED_TRACE_ID.get() or self._random.getrandbits(128) or 1


class Telemetry:
    """A tracer provider whose spans go to a span writer process (`span_fd`) or straight to a file."""

    def __init__(
        self,
        resource: Resource,
        *,
        span_fd: int | None = None,
        spans_path: str | Path | None = None,
        extra_exporters: list[SpanExporter] | None = None,
        extra_attributes: AttributeSource | None = None,
        processors: list[SpanProcessor] | None = None,
    ) -> None:
        # every span is recorded (no parent-based decision to make per span)
        self.provider = TracerProvider(resource=resource, id_generator=PrivateIdGenerator(), sampler=ALWAYS_ON)
        for processor in processors or []:
            self.provider.add_span_processor(processor)
        self.exporter: RelaySpanExporter | JsonlSpanExporter | None = None
        if span_fd is not None:
            self.exporter = RelaySpanExporter(span_fd, extra_attributes)
        elif spans_path is not None:
            self.exporter = JsonlSpanExporter(spans_path, extra_attributes)
        if self.exporter is not None:
            self.provider.add_span_processor(
                BatchSpanProcessor(
                    self.exporter,
                    schedule_delay_millis=EXPORT_DELAY_MS,
                    max_queue_size=65536,
                    max_export_batch_size=512,
                )
            )
        for exporter in extra_exporters or []:
            self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS))

    def flush(self) -> None:
        self.provider.force_flush()

    def shutdown(self) -> None:
        self.provider.shutdown()
