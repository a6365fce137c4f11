"""Export throughput and memory on a large run: OTLP protobuf encoding and Jaeger JSON writing.

    python bench/export.py [--spans 100000]

Builds a span file of N spans by replicating the committed example run with fresh ids, then
measures, each in a fresh process: spans/s to read and encode OTLP protobuf request bodies (what
`orchestrace export --otlp-endpoint` does, minus the network) and to write Jaeger UI JSON, and
the peak RSS of each at N/10 and N spans (bounded memory means the two stay close).
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "traces" / "examples" / "rag-h100" / "spans.jsonl"

CHILD = r"""
import resource, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
mode, path = sys.argv[1], Path(sys.argv[2])
from profiler.export.jaeger import write_jaeger_json
from profiler.export.otlp import encoded_batches
start = time.perf_counter()  # throughput, not import time
if mode == "otlp":
    count = sum(spans for spans, _body in encoded_batches(path))
else:
    with open(path.with_suffix(".jaeger.json"), "w") as out:
        count = write_jaeger_json(path, out)
elapsed = time.perf_counter() - start
print(count, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def make_run(target: Path, spans: int) -> int:
    lines = EXAMPLE.read_text().splitlines()
    written = 0
    with open(target, "w") as out:
        while written < spans:
            ids: dict[str, str] = {}  # one fresh id per old id in each copy of the example

            def fresh(old: str, size: int, ids: dict[str, str] = ids) -> str:
                if old not in ids:
                    ids[old] = secrets.token_hex(size)
                return ids[old]

            for line in lines:
                request = json.loads(line)
                for resource in request["resourceSpans"]:
                    for scope in resource["scopeSpans"]:
                        for span in scope["spans"]:
                            span["traceId"] = fresh(span["traceId"], 16)
                            span["spanId"] = fresh(span["spanId"], 8)
                            if span.get("parentSpanId"):
                                span["parentSpanId"] = fresh(span["parentSpanId"], 8)
                            written += 1
                out.write(json.dumps(request, separators=(",", ":")) + "\n")
    return written


def measure(mode: str, path: Path) -> tuple[int, float, int]:
    child = CHILD.format(root=str(ROOT))
    output = subprocess.run(
        [sys.executable, "-c", child, mode, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(output[0]), float(output[1]), int(output[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for n in (args.spans // 10, args.spans):
            path = Path(tmp) / f"spans-{n}.jsonl"
            sizes[n] = (path, make_run(path, n))
        print("| mode | spans | spans/s | peak RSS MB |")
        print("|---|---|---|---|")
        for mode, label in (
            ("otlp", "OTLP protobuf encoding (read + encode request bodies)"),
            ("jaeger", "Jaeger UI JSON writing"),
        ):
            for path, _written in sizes.values():
                count, elapsed, rss = measure(mode, path)
                print(f"| {label} | {count:,} | {count / elapsed:,.0f} | {rss / 2**20:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
