"""`orchestrace report` on large runs: seconds, spans/s and peak RSS, JSON and HTML.

    python bench/report.py [--spans 100000,1000000,5000000] [--formats json,html]

Builds run directories of N spans by replicating the committed example run with fresh ids
(bench/export.py's `make_run`; ~1.4 KB of spans.jsonl a span, so 5M spans is ~7 GB of disk),
then runs `orchestrace report --format F -o FILE` on each in a fresh process and prints its
wall time, spans/s and peak RSS. The session streams agent runs, so peak RSS should stay flat
as N grows.
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
            shutil.rmtree(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
