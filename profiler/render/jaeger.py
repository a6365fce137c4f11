"""Jaeger UI JSON (`{"data": [{"traceID", "spans", "processes"}]}`), which its "Upload JSON" opens
without a running backend; and the reader for it.

Spans of a trace are scattered over the span file, and a trace must be written whole, so the
writer first spreads spans over bucket files by trace id (each span serialised once), then
writes one bucket at a time: memory holds one bucket, whatever the size of the run.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from profiler.store.spans import STATUS_ERROR, STATUS_OK, SpanRecord, records_of

SPANS_PER_BUCKET = 20_000
_BYTES_PER_SPAN = 700  # for choosing the bucket count from the file size
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


def jaeger_span(span: SpanRecord, process_id: str) -> dict[str, Any]:
    tags = [_tag(k, v) for k, v in span.attributes.items()]
    tags.append(_tag("span.kind", _KIND_NAMES.get(span.kind, "internal")))
    if span.scope:
        tags.append(_tag("otel.scope.name", span.scope))
    if span.status_code == STATUS_ERROR:
        tags += [_tag("error", True), _tag("otel.status_code", "ERROR")]
        if span.status_message:
            tags.append(_tag("otel.status_description", span.status_message))
    elif span.status_code == STATUS_OK:
        tags.append(_tag("otel.status_code", "OK"))
    references = [{"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_id}] if span.parent_id else []
    logs = [
        {
            "timestamp": event.time_ns // 1000,
            "fields": [_tag("event", event.name), *(_tag(k, v) for k, v in event.attributes.items())],
        }
        for event in span.events
    ]
    return {
        "traceID": span.trace_id,
        "spanID": span.span_id,
        "operationName": span.name,
        "references": references,
        "startTime": span.start_ns // 1000,
        "duration": max(0, span.end_ns - span.start_ns) // 1000,
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": None,
        "flags": 1,
    }


def _process(resource: dict[str, Any]) -> dict[str, Any]:
    service = str(resource.get("service.name", "unknown"))
    return {"serviceName": service, "tags": [_tag(k, v) for k, v in resource.items() if k != "service.name"]}


def write_jaeger_json(spans_path: Path, out: IO[str], spans_per_bucket: int = SPANS_PER_BUCKET) -> int:
    """Convert a span file to Jaeger UI JSON on `out`; returns the number of spans written."""
    estimated = max(1, spans_path.stat().st_size // _BYTES_PER_SPAN)
    buckets = max(1, math.ceil(estimated / spans_per_bucket))
    processes: dict[str, tuple[str, dict[str, Any]]] = {}  # resource JSON -> (process id, process)
    count = 0
    with tempfile.TemporaryDirectory(prefix="orchestrace-jaeger-") as tmp:
        files = [open(Path(tmp) / f"{i}.tsv", "w", encoding="utf-8") for i in range(buckets)]  # noqa: SIM115
        try:
            with open(spans_path, encoding="utf-8", errors="replace") as source:
                for line in source:
                    try:
                        records = list(records_of(json.loads(line)))
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue
                    by_object: dict[int, str] = {}  # the spans of one resource share its dict
                    for span in records:
                        process_id = by_object.get(id(span.resource), "")
                        if not process_id:
                            key = json.dumps(span.resource, sort_keys=True)
                            if key not in processes:
                                processes[key] = (f"p{len(processes) + 1}", _process(span.resource))
                            process_id = by_object[id(span.resource)] = processes[key][0]
                        bucket = files[int(span.trace_id[:8], 16) % buckets]
                        bucket.write(f"{span.trace_id}\t{process_id}\t{json.dumps(jaeger_span(span, process_id))}\n")
                        count += 1
        finally:
            for handle in files:
                handle.close()
        by_id = {pid: process for pid, process in processes.values()}
        out.write('{"data": [')
        first = True
        for i in range(buckets):
            traces: dict[str, list[str]] = defaultdict(list)
            used: dict[str, set[str]] = defaultdict(set)
            with open(Path(tmp) / f"{i}.tsv", encoding="utf-8") as handle:
                for row in handle:
                    trace_id, process_id, span_json = row.rstrip("\n").split("\t", 2)
                    traces[trace_id].append(span_json)
                    used[trace_id].add(process_id)
            for trace_id, span_jsons in traces.items():
                trace_processes = json.dumps({pid: by_id[pid] for pid in sorted(used[trace_id])})
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
