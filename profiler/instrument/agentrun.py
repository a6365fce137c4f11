"""The `invoke_agent` span around one agent run, shared by the workload process and the Python API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import Link, Span, SpanContext, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from profiler.instrument.telemetry import pinned_trace_id
from profiler.store import fields


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


@contextlib.contextmanager
def agent_run_span(
    tracer: trace.Tracer, name: str, key: str, index: int, parent: SpanContext | None = None
) -> Iterator[Span]:
    """One agent run's root span; a failure marks it (status, exception event) and propagates.

    With `parent` (a fleet driver's traceparent) the run is still its own trace's root, but in the
    trace the driver chose, linked to the driver's span: the driver knows which trace each run is
    (the tracer's provider must draw ids from `telemetry.PrivateIdGenerator`, as orchestrace's do).
    """
    attributes: dict[str, AttributeValue] = {
        gen_ai.GEN_AI_OPERATION_NAME: "invoke_agent",
        gen_ai.GEN_AI_AGENT_NAME: name,
        "orchestrace.task.id": key,
        "orchestrace.task.index": index,
    }
    with pinned_trace_id(parent.trace_id) if parent is not None else contextlib.nullcontext():
        root = tracer.start_span(
            f"invoke_agent {name}",
            context=Context(),  # its own trace, even under a caller's current span
            attributes=attributes,
            links=[Link(parent)] if parent is not None else None,
        )
    with trace.use_span(root, end_on_exit=True, record_exception=False, set_status_on_exception=False) as span:
        try:
            yield span
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, first_line(exc)))
            span.set_attribute("error.type", type(exc).__qualname__)
            raise
        except BaseException:  # cancelled or interrupted: the run is cut short, not failed
            span.set_status(Status(StatusCode.ERROR, fields.INTERRUPTED))
            raise
