"""Trace ids stay unique across runs even though the workload seeds the global `random` for reproducible tasks."""

import random

from opentelemetry.context import Context

from profiler.instrument.telemetry import Telemetry, resource_for


def _first_ids() -> tuple[str, str]:
    random.seed(7)
    telemetry = Telemetry(resource_for("test", None))
    span = telemetry.provider.get_tracer("t").start_span("s", context=Context())  # a new trace, whatever is current
    context = span.get_span_context()
    span.end()
    telemetry.shutdown()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_equal_global_seeds_still_give_distinct_trace_and_span_ids():
    first, second = _first_ids(), _first_ids()
    assert first[0] != second[0] and first[1] != second[1]
