"""The hand-written OTLP protobuf encoder against the official one.

Oracle: rebuild SDK spans from the same OTLP JSON and run opentelemetry-exporter-otlp-proto-common's
encoder; our bytes, parsed by the official protobuf classes, must equal its message exactly.
"""

import json
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from profiler.export.wire import MALFORMED, RequestBuilder
from profiler.store.spans import attributes_of
from tests.conftest import EXAMPLE_RUN

KINDS = {1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT, 4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER}


def _context(trace_id: str, span_id: str, flags: int, remote: bool) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=remote, trace_flags=TraceFlags(flags & 0xFF))


def official(requests: list[dict[str, Any]]) -> ExportTraceServiceRequest:
    """What the official encoder makes of the same spans (one Resource object per distinct resource)."""
    resources: dict[str, Resource] = {}
    spans = []
    for request in requests:
        for resource_spans in request["resourceSpans"]:
            raw = resource_spans.get("resource", {})
            key = json.dumps(raw, sort_keys=True)
            resource = resources.setdefault(key, Resource(attributes_of(raw.get("attributes"))))
            for scope_spans in resource_spans["scopeSpans"]:
                scope = InstrumentationScope(scope_spans["scope"]["name"], scope_spans["scope"].get("version"))
                for span in scope_spans["spans"]:
                    flags = int(span.get("flags", 0))
                    parent = span.get("parentSpanId")
                    status = span.get("status") or {}
                    spans.append(
                        ReadableSpan(
                            name=span["name"],
                            context=_context(span["traceId"], span["spanId"], flags, False),
                            parent=_context(span["traceId"], parent, 0, bool(flags & 0x200)) if parent else None,
                            resource=resource,
                            attributes=attributes_of(span.get("attributes")),
                            events=[
                                Event(e["name"], attributes_of(e.get("attributes")), int(e["timeUnixNano"]))
                                for e in span.get("events", [])
                            ],
                            links=[
                                Link(
                                    _context(link["traceId"], link["spanId"], int(link.get("flags", 0)), False),
                                    attributes_of(link.get("attributes")),
                                )
                                for link in span.get("links", [])
                            ],
                            kind=KINDS[int(span["kind"])],
                            status=Status(StatusCode(int(status.get("code", 0))), status.get("message")),
                            start_time=int(span["startTimeUnixNano"]),
                            end_time=int(span["endTimeUnixNano"]),
                            instrumentation_scope=scope,
                        )
                    )
    return encode_spans(spans)


def ours(requests: list[dict[str, Any]]) -> ExportTraceServiceRequest:
    builder = RequestBuilder()
    for request in requests:
        builder.add(request)
    return ExportTraceServiceRequest.FromString(builder.take())


def example_requests() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (EXAMPLE_RUN / "spans.jsonl").read_text().splitlines()]


def test_every_line_of_the_example_run_encodes_exactly_as_the_official_encoder():
    for request in example_requests():
        assert ours([request]) == official([request])


def test_a_batch_groups_spans_under_their_resource_and_scope_as_the_official_encoder_does():
    requests = example_requests()
    batch = ours(requests)
    assert batch == official(requests)
    assert len(batch.resource_spans) == 2  # the agent and the model server
    assert sum(len(s.spans) for r in batch.resource_spans for s in r.scope_spans) == 63


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": value}


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in values.items()]


EDGE_ATTRIBUTES = {
    "empty": "",
    "unicode": "naïve — 日本",
    "false": False,
    "zero": 0,
    "negative": -5,
    "huge": 2**63 - 1,
    "most_negative": -(2**63),
    "float_zero": 0.0,
    "float": -1.25e-300,
    "ints": [1, -2, 300],
    "strings": ["a", ""],
    "long": "x" * 100_000,  # multi-byte length prefix
}


def test_edge_values_events_links_and_error_status_encode_as_the_official_encoder_does():
    trace, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes({"service.name": "svc", "process.pid": 7})},
                "scopeSpans": [
                    {
                        "scope": {"name": "scope", "version": "1.2"},
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": "00f067aa0ba902b7",
                                "parentSpanId": parent,
                                "flags": 0x300,  # remote parent (the official encoder writes no trace-flag bits)
                                "name": "tool boom",
                                "kind": 1,
                                "startTimeUnixNano": "1700000000000000001",
                                "endTimeUnixNano": "1700000000500000002",
                                "attributes": _attributes(EDGE_ATTRIBUTES),
                                "events": [
                                    {
                                        "name": "exception",
                                        "timeUnixNano": "1700000000400000000",
                                        "attributes": _attributes({"exception.type": "ValueError"}),
                                    }
                                ],
                                "links": [
                                    {
                                        "traceId": trace,
                                        "spanId": parent,
                                        "flags": 256,
                                        "attributes": _attributes({"n": 1}),
                                    }
                                ],
                                "status": {"code": 2, "message": "boom"},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    assert ours([request]) == official([request])


def test_a_malformed_request_adds_nothing_not_half():
    good = example_requests()[0]
    bad = json.loads(json.dumps(good))
    bad["resourceSpans"][0]["scopeSpans"][0]["spans"].append({"traceId": "not hex", "spanId": "00"})
    builder = RequestBuilder()
    assert builder.add(good) == 1
    with pytest.raises(ValueError):
        builder.add(bad)
    assert builder.spans == 1
    assert ExportTraceServiceRequest.FromString(builder.take()) == official([good])
    assert builder.spans == 0 and builder.take() == b""


def test_out_of_range_numbers_are_malformed_not_a_crash_and_negative_ints_sign_extend():
    for field, value in (("startTimeUnixNano", "-5"), ("flags", 2**40), ("kind", "x")):
        bad = example_requests()[0]
        bad["resourceSpans"][0]["scopeSpans"][0]["spans"][0][field] = value
        builder = RequestBuilder()
        with pytest.raises(MALFORMED):
            builder.add(bad)
        assert builder.spans == 0
    negative = example_requests()[0]
    negative["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"] = -1
    builder = RequestBuilder()
    builder.add(negative)
    assert ExportTraceServiceRequest.FromString(builder.take()).resource_spans[0].scope_spans[0].spans[0].kind == -1


def test_resources_differing_only_in_schema_url_stay_apart():
    requests = []
    for url in ("https://opentelemetry.io/schemas/1.1", "https://opentelemetry.io/schemas/1.2"):
        request = example_requests()[0]
        request["resourceSpans"][0]["schemaUrl"] = url
        requests.append(request)
    batch = ours(requests)
    assert [r.schema_url for r in batch.resource_spans] == [
        "https://opentelemetry.io/schemas/1.1",
        "https://opentelemetry.io/schemas/1.2",
    ]
