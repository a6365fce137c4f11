"""`orchestrace report` on large runs: seconds, spans/s and peak RSS, JSON and HTML.

    python bench/report.py [--spans 100000,1000000,5000000] [--formats json,html] [--stages]

Builds run directories of N spans by replicating the committed example run with fresh ids
(bench/export.py's `make_run`; ~1.4 KB of spans.jsonl a span, so 5M spans is ~7 GB of disk),
then runs `orchestrace report --format F -o FILE` on each in a fresh process and prints its
wall time, spans/s and peak RSS. The session streams agent runs, so peak RSS should stay flat
as N grows. `--stages` also prints where a json report's time goes, each stage in a fresh process
(cumulative: each includes the ones before it): decoding the JSON lines alone, reading them into span
records, grouping and checking them into traces, and the whole report.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from export import make_run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "traces" / "examples" / "rag-h100"

CHILD = r"""
import resource, sys, time
sys.path.insert(0, {root!r})
from profiler.cli import main
start = time.perf_counter()
code = main(["report", sys.argv[1], "--format", sys.argv[2], "-o", sys.argv[3]])
elapsed = time.perf_counter() - start
print(code, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


STAGES = r"""
import sys, time
sys.path.insert(0, {root!r})
import orjson
from profiler.analysis.report import build_report
from profiler.store.session import load_session
from profiler.store.spans import SpanFile, span_lines
run, stage = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if stage == "decode JSON lines":
    with open(run + "/spans.jsonl", "rb") as lines:
        for line in lines:
            orjson.loads(line)
elif stage == "+ span records":
    for _ in span_lines(run + "/spans.jsonl", SpanFile([])):
        pass
elif stage == "+ traces grouped and checked":
    for _ in load_session(run).traces():
        pass
else:
    build_report(load_session(run))
print(time.perf_counter() - start)
"""
STAGE_NAMES = ("decode JSON lines", "+ span records", "+ traces grouped and checked", "+ report (analysis)")


def stages(run: Path, spans: int) -> None:
    """Seconds of each stage of a json report, in a fresh process each (imports not counted)."""
    print("| stage (cumulative) | seconds | spans/s |")
    print("|---|---|---|")
    for name in STAGE_NAMES:
        result = subprocess.run(
            [sys.executable, "-c", STAGES.format(root=str(ROOT)), str(run), name],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = float(result.stdout.split()[-1])
        print(f"| {name} | {seconds:.2f} | {spans / seconds:,.0f} |", flush=True)


def build_run(target: Path, spans: int) -> int:
    """A copy of the example run whose spans.jsonl holds `spans` spans (the run's other files as they are)."""
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("spans.jsonl", "report.json"))
    return make_run(target / "spans.jsonl", spans)


def measure(run: Path, fmt: str) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of one `orchestrace report` in a fresh process."""
    out = run / f"bench-report.{fmt}"
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), str(run), fmt, str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    fields = result.stdout.strip().splitlines()[-1].split() if result.stdout.strip() else []
    if result.returncode or not fields or fields[0] != "0":
        raise SystemExit(f"report --format {fmt} on {run} failed: {result.stderr.strip()[-400:]}")
    return float(fields[1]), int(fields[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", default="100000,1000000,5000000", help="comma-separated span counts")
    parser.add_argument("--formats", default="json,html", help="comma-separated report formats")
    parser.add_argument("--stages", action="store_true", help="also time a json report's stages apart")
    args = parser.parse_args()
    counts = [int(n) for n in args.spans.split(",")]
    formats = args.formats.split(",")
    print("| format | spans | seconds | spans/s | peak RSS MB |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="orchestrace-bench-report-") as tmp:
        for n in counts:
            run = Path(tmp) / f"run-{n}"
            written = build_run(run, n)
            for fmt in formats:
                seconds, rss = measure(run, fmt)
                row = f"| {fmt} | {written:,} | {seconds:.1f} | {written / seconds:,.0f} | {rss / 2**20:.0f} |"
                print(row, flush=True)
            if args.stages:
                stages(run, written)
            shutil.rmtree(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
