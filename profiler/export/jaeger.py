"""Jaeger UI JSON (`{"data": [{"traceID", "spans", "processes"}]}`), which its "Upload JSON" opens
without a running backend; and the reader for it.

Spans of a trace are scattered over the span file, and a trace must be written whole, so the
writer first spreads spans over bucket files by trace id (each span serialised once), then
writes one bucket at a time: memory holds one bucket, whatever the size of the run.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from profiler.store.spans import STATUS_ERROR, STATUS_OK, SpanRecord, any_value, attributes_of

SPANS_PER_BUCKET = 20_000
_BYTES_PER_SPAN = 700  # for choosing the bucket count from the file size
_TRACE_ID, _SPAN_ID = re.compile(r"[0-9a-fA-F]{32}"), re.compile(r"[0-9a-fA-F]{16}")
_KIND_NAMES = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    return {"key": key, "type": "string", "value": json.dumps(value)}


def _tags(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Typed tags straight from OTLP JSON key-values (the common scalar cases without decoding)."""
    tags = []
    for item in items or ():
        value = item.get("value") or {}
        if "stringValue" in value:
            tags.append({"key": item["key"], "type": "string", "value": value["stringValue"]})
        elif "intValue" in value:
            tags.append({"key": item["key"], "type": "int64", "value": int(value["intValue"])})
        elif "doubleValue" in value:
            tags.append({"key": item["key"], "type": "float64", "value": float(value["doubleValue"])})
        else:
            tags.append(_tag(item["key"], any_value(value)))
    return tags


def jaeger_span(span: dict[str, Any], process_id: str, scope: str) -> dict[str, Any]:
    """One OTLP JSON span as a Jaeger UI span."""
    tags = _tags(span.get("attributes"))
    kind = _KIND_NAMES.get(int(span.get("kind") or 1), "internal")
    tags.append({"key": "span.kind", "type": "string", "value": kind})
    if scope:
        tags.append({"key": "otel.scope.name", "type": "string", "value": scope})
    status = span.get("status") or {}
    code = int(status.get("code") or 0)
    if code == STATUS_ERROR:
        tags += [_tag("error", True), _tag("otel.status_code", "ERROR")]
        if status.get("message"):
            tags.append(_tag("otel.status_description", status["message"]))
    elif code == STATUS_OK:
        tags.append(_tag("otel.status_code", "OK"))
    trace_id, parent = span["traceId"], span.get("parentSpanId")
    start_ns = int(span["startTimeUnixNano"])
    return {
        "traceID": trace_id,
        "spanID": span["spanId"],
        "operationName": span.get("name", ""),
        "references": [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent}] if parent else [],
        "startTime": start_ns // 1000,
        "duration": max(0, int(span["endTimeUnixNano"]) - start_ns) // 1000,
        "tags": tags,
        "logs": [
            {
                "timestamp": int(event.get("timeUnixNano") or 0) // 1000,
                "fields": [_tag("event", event.get("name", "")), *_tags(event.get("attributes"))],
            }
            for event in span.get("events") or ()
        ],
        "processID": process_id,
        "warnings": None,
        "flags": 1,
    }


def _process(resource: dict[str, Any]) -> dict[str, Any]:
    service = str(resource.get("service.name", "unknown"))
    return {"serviceName": service, "tags": [_tag(k, v) for k, v in resource.items() if k != "service.name"]}


def _rows(
    request: dict[str, Any], process_ids: dict[bytes, str], processes: dict[str, dict[str, Any]]
) -> list[tuple[str, str, bytes]]:
    """(trace id, process id, span JSON) for every span of one OTLP JSON request; raises on a
    malformed one before anything is kept, so a bad line is skipped whole."""
    rows = []
    for resource_spans in request.get("resourceSpans") or ():
        raw = (resource_spans.get("resource") or {}).get("attributes") or []
        key = orjson.dumps(raw)
        process_id = process_ids.get(key)
        if process_id is None:
            process_id = f"p{len(processes) + 1}"
            processes[process_id] = _process(attributes_of(raw))
            process_ids[key] = process_id
        for scope_spans in resource_spans.get("scopeSpans") or ():
            scope = (scope_spans.get("scope") or {}).get("name", "")
            for span in scope_spans.get("spans") or ():
                trace_id = span["traceId"]
                if not (_TRACE_ID.fullmatch(trace_id) and _SPAN_ID.fullmatch(span["spanId"])):
                    raise ValueError(f"bad span ids {trace_id!r} / {span['spanId']!r}")
                rows.append((trace_id, process_id, orjson.dumps(jaeger_span(span, process_id, scope))))
    return rows


def write_jaeger_json(spans_path: Path, out: IO[str], spans_per_bucket: int = SPANS_PER_BUCKET) -> int:
    """Convert a span file to Jaeger UI JSON on `out`; returns the number of spans written."""
    estimated = max(1, spans_path.stat().st_size // _BYTES_PER_SPAN)
    buckets = max(1, math.ceil(estimated / spans_per_bucket))
    process_ids: dict[bytes, str] = {}  # resource attributes JSON -> process id
    processes: dict[str, dict[str, Any]] = {}  # process id -> Jaeger process
    count = 0
    with tempfile.TemporaryDirectory(prefix="orchestrace-jaeger-") as tmp:
        files = [open(Path(tmp) / f"{i}.tsv", "wb") for i in range(buckets)]  # noqa: SIM115
        try:
            with open(spans_path, "rb") as source:
                for line in source:
                    try:
                        rows = _rows(orjson.loads(line), process_ids, processes)
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue
                    for trace_id, process_id, span_json in rows:
                        files[int(trace_id[:8], 16) % buckets].write(
                            b"%s\t%s\t%s\n" % (trace_id.encode(), process_id.encode(), span_json)
                        )
                    count += len(rows)
        finally:
            for file in files:
                file.close()
        out.write('{"data": [')
        first = True
        for i in range(buckets):
            traces: dict[str, list[str]] = defaultdict(list)
            used: dict[str, set[str]] = defaultdict(set)
            with open(Path(tmp) / f"{i}.tsv", encoding="utf-8") as bucket:
                for row in bucket:
                    trace_id, process_id, span_text = row.rstrip("\n").split("\t", 2)
                    traces[trace_id].append(span_text)
                    used[trace_id].add(process_id)
            for trace_id, span_jsons in traces.items():
                trace_processes = json.dumps({pid: processes[pid] for pid in sorted(used[trace_id])})
                out.write(
                    ("" if first else ",") + f'\n{{"traceID": "{trace_id}", "spans": [{",".join(span_jsons)}], '
                    f'"processes": {trace_processes}, "warnings": null}}'
                )
                first = False
    out.write('\n], "total": 0, "limit": 0, "offset": 0, "errors": null}\n')
    return count


def _value(tag: dict[str, Any]) -> Any:
    return tag["value"]


def read_jaeger_json(path: Path) -> Iterator[SpanRecord]:
    """Spans back from Jaeger UI JSON (used to check the writer round-trips)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for trace in data["data"]:
        processes = trace["processes"]
        for span in trace["spans"]:
            tags = {t["key"]: _value(t) for t in span["tags"]}
            kind_name = tags.pop("span.kind", "internal")
            kind = next((k for k, name in _KIND_NAMES.items() if name == kind_name), 1)
            scope = tags.pop("otel.scope.name", "")
            status_name = tags.pop("otel.status_code", None)
            status_message = tags.pop("otel.status_description", "")
            tags.pop("error", None)
            process = processes[span["processID"]]
            resource = {"service.name": process["serviceName"], **{t["key"]: _value(t) for t in process["tags"]}}
            parent = next((r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"), None)
            yield SpanRecord(
                trace_id=span["traceID"],
                span_id=span["spanID"],
                parent_id=parent,
                name=span["operationName"],
                kind=kind,
                start_ns=span["startTime"] * 1000,
                end_ns=(span["startTime"] + span["duration"]) * 1000,
                attributes=tags,
                status_code={"ERROR": STATUS_ERROR, "OK": STATUS_OK}.get(status_name or "", 0),
                status_message=status_message,
                resource=resource,
                scope=scope,
            )
