"""Jaeger UI JSON: the structure its upload expects, and a lossless round trip of the example run."""

import io
import json
import re
from pathlib import Path

from profiler.export.jaeger import read_jaeger_json, write_jaeger_json
from profiler.store.spans import read_span_file
from tests.conftest import edited_example

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100" / "spans.jsonl"
TAG_TYPES = {"string": str, "bool": bool, "int64": int, "float64": float}


def test_structure_matches_what_the_jaeger_ui_reads(tmp_path):
    out = io.StringIO()
    count = write_jaeger_json(EXAMPLE, out)
    data = json.loads(out.getvalue())
    spans = [s for trace in data["data"] for s in trace["spans"]]
    assert count == len(spans) == len(read_span_file(EXAMPLE).spans)
    for trace in data["data"]:
        assert re.fullmatch(r"[0-9a-f]{32}", trace["traceID"])
        assert trace["processes"] and all(p["serviceName"] for p in trace["processes"].values())
        ids = {s["spanID"] for s in trace["spans"]}
        for span in trace["spans"]:
            assert span["traceID"] == trace["traceID"]
            assert re.fullmatch(r"[0-9a-f]{16}", span["spanID"])
            assert span["processID"] in trace["processes"]
            assert isinstance(span["startTime"], int) and span["startTime"] > 1.6e15  # microseconds since 1970
            assert isinstance(span["duration"], int) and span["duration"] >= 0
            for ref in span["references"]:
                assert ref["refType"] == "CHILD_OF" and ref["spanID"] in ids
            for tag in span["tags"]:
                assert isinstance(tag["value"], TAG_TYPES[tag["type"]]), tag
    services = {p["serviceName"] for t in data["data"] for p in t["processes"].values()}
    assert services == {"orchestrace-rag", "orchestrace-modelserver"}
    chat = next(
        s
        for s in spans
        if s["operationName"].startswith("chat")
        and {"key": "span.kind", "type": "string", "value": "client"} in s["tags"]
    )
    keys = {t["key"] for t in chat["tags"]}
    assert {
        "gen_ai.operation.name",
        "gen_ai.usage.input_tokens",
        "orchestrace.cpu.self_s",
        "orchestrace.cpu.inclusive_s",
        "orchestrace.wait_s",
    } <= keys


def test_round_trip_gives_the_same_spans_parents_and_attributes(tmp_path):
    path = tmp_path / "trace.json"
    with open(path, "w") as out:
        write_jaeger_json(EXAMPLE, out)
    original = {s.span_id: s for s in read_span_file(EXAMPLE).spans}
    back = {s.span_id: s for s in read_jaeger_json(path)}
    assert back.keys() == original.keys()
    for span_id, span in original.items():
        again = back[span_id]
        assert (again.trace_id, again.parent_id, again.name, again.kind) == (
            span.trace_id,
            span.parent_id,
            span.name,
            span.kind,
        )
        assert again.attributes == {
            k: (json.dumps(v) if isinstance(v, list) else v) for k, v in span.attributes.items()
        }
        assert again.start_ns // 1000 == span.start_ns // 1000
        assert again.status_code == span.status_code and again.service == span.service


def test_memory_is_bounded_by_buckets(tmp_path):
    out = io.StringIO()
    assert write_jaeger_json(EXAMPLE, out, spans_per_bucket=5) == len(read_span_file(EXAMPLE).spans)
    data = json.loads(out.getvalue())
    trace_ids = [t["traceID"] for t in data["data"]]
    assert len(trace_ids) == len(set(trace_ids))  # each trace written whole, once


def test_error_status_exception_events_and_a_corrupt_line_convert_as_jaeger_shows_them(tmp_path):
    def fail_tools(spans: list[dict]) -> list[dict]:
        for span in spans:
            if span["name"].startswith("execute_tool"):
                span["status"] = {"code": 2, "message": "boom"}
                span["events"] = [
                    {
                        "name": "exception",
                        "timeUnixNano": span["endTimeUnixNano"],
                        "attributes": [{"key": "exception.type", "value": {"stringValue": "ValueError"}}],
                    }
                ]
        return spans

    run = edited_example(tmp_path / "run", fail_tools)
    with open(run / "spans.jsonl", "a") as spans_file:
        spans_file.write('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "trunc\n')
    out = io.StringIO()
    assert write_jaeger_json(run / "spans.jsonl", out) == 63  # the corrupt line is skipped
    spans = [s for trace in json.loads(out.getvalue())["data"] for s in trace["spans"]]
    tools = [s for s in spans if s["operationName"].startswith("execute_tool")]
    assert tools
    for span in tools:
        tags = {t["key"]: t["value"] for t in span["tags"]}
        assert tags["error"] is True and tags["otel.status_code"] == "ERROR"
        assert tags["otel.status_description"] == "boom"
        (log,) = span["logs"]
        assert {"key": "event", "type": "string", "value": "exception"} in log["fields"]
        assert {"key": "exception.type", "type": "string", "value": "ValueError"} in log["fields"]
        assert abs(log["timestamp"] - (span["startTime"] + span["duration"])) <= 1  # µs rounding


def test_lines_with_ids_that_are_not_hex_are_skipped(tmp_path):
    lines = EXAMPLE.read_text().splitlines()
    bad_ids = []
    for trace_id in ("zz", "0af7651916cd43dd8448eb211c8031\t9", ""):
        request = json.loads(lines[0])
        request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = trace_id
        bad_ids.append(json.dumps(request))
    spans = tmp_path / "spans.jsonl"
    spans.write_text("\n".join([*bad_ids, *lines]) + "\n")
    out = io.StringIO()
    expected = len(read_span_file(EXAMPLE).spans)
    assert write_jaeger_json(spans, out) == expected
    assert sum(len(trace["spans"]) for trace in json.loads(out.getvalue())["data"]) == expected
