"""Jaeger UI JSON: the structure its upload expects, and a lossless round trip of the example run."""

import io
import json
import re
from pathlib import Path

from profiler.render.jaeger import read_jaeger_json, write_jaeger_json
from profiler.store.spans import read_span_file

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
