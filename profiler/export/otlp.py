"""Send a stored run to an OTLP endpoint, ids and timestamps intact.

`spans.jsonl` already holds OTLP (JSON), so its spans are re-encoded to protobuf directly and sent
in batches; exporting twice sends the same ids, so backends that dedupe keep one copy. A backend
that keeps failing is given up on after a few batches: the rest are counted as failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from profiler.export.send import sender_for
from profiler.export.target import ExportTally, OtlpTarget
from profiler.export.wire import MALFORMED, RequestBuilder

BATCH = 512


def encoded_batches(spans_path: Path, batch: int = BATCH) -> Iterator[tuple[int, bytes]]:
    """(span count, ExportTraceServiceRequest bytes) for every `batch` spans of a span file;
    bad lines are skipped."""
    builder = RequestBuilder()
    with open(spans_path, "rb") as handle:
        for line in handle:
            try:
                builder.add(orjson.loads(line))
            except MALFORMED:
                continue
            if builder.spans >= batch:
                spans = builder.spans
                yield spans, builder.take()
    if builder.spans:
        spans = builder.spans
        yield spans, builder.take()


def export_run(spans_path: Path, target: OtlpTarget) -> dict[str, Any]:
    """Export every stored span; returns counts. A backend that is down gives failures, not an error."""
    sender, tally = sender_for(target), ExportTally()
    total = 0
    try:
        for spans, body in encoded_batches(spans_path):
            total += spans
            if tally.gave_up:  # down: do not wait out every batch
                tally.record(spans, False)
                continue
            error = sender.send(body)
            tally.record(spans, not error, error)
    finally:
        sender.close()
    return {
        "endpoint": target.traces_url,
        "protocol": target.protocol,
        "spans": total,
        "exported": tally.exported,
        "failed": tally.failed,
        "last_error": tally.last_error,
    }
