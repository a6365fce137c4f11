"""Overhead of orchestrace versus no telemetry and versus OpenLLMetry / OpenInference.

    python bench/overhead.py [--agent rag] [--runs 24] [--concurrency 4] [--rounds 3]

Runs one workload (a sample agent against the `instant` preset of the simulated server)
under five configurations, alternating them round by round, and prints medians:
(a) no telemetry, (b) orchestrace full (spans + CPU meter + py-spy + psutil), (c) orchestrace
without py-spy, (d) OpenLLMetry exporting to a file, (e) OpenInference exporting to a file.
Figures: workload-process CPU-seconds and wall per agent run (warm-up runs excluded), µs of
added CPU per span, and orchestrace's self-reported overhead next to the measured one.
Needs the bench extra: pip install '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents import get_agent
from profiler.runner.processes import ServerProcess, SpanWriter
from profiler.runner.sampling import ProcessPoller, StackSampler

MODES = ("none", "orchestrace", "orchestrace-no-pyspy", "openllmetry", "openinference", "noop-handler")
LABELS = {
    "none": "(a) no telemetry",
    "orchestrace": "(b) orchestrace full",
    "orchestrace-no-pyspy": "(c) orchestrace, no py-spy",
    "openllmetry": "(d) OpenLLMetry → file",
    "openinference": "(e) OpenInference → file",
    "noop-handler": "(f) for scale: a no-op LangChain callback handler",
}
HARNESS = Path(__file__).with_name("overhead_harness.py")


def one(mode: str, args: argparse.Namespace, server: ServerProcess, work: Path) -> dict[str, Any]:
    out = work / f"{mode}-{len(list(work.iterdir()))}"
    out.mkdir()
    config = {
        "mode": mode,
        "agent": args.agent,
        "runs": args.runs,
        "concurrency": args.concurrency,
        "base_url": server.base_url,
        "model_name": "instant",
        "out": str(out),
    }
    (out / "config.json").write_text(json.dumps(config))
    writer = SpanWriter(out / "spans.jsonl", 1, out / "writer.log") if mode.startswith("orchestrace") else None
    # one BLAS thread in every mode: numpy's idle BLAS threads spin after each call, adding
    # ±8 ms of CPU per agent run of noise that has nothing to do with the instrumentation
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pass_fds: tuple[int, ...] = ()
    if writer is not None:
        env["ORCHESTRACE_SPAN_FD"] = str(writer.fds[0])
        pass_fds = (writer.fds[0],)
    with open(out / "harness.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(HARNESS), str(out / "config.json")],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            pass_fds=pass_fds,
        )
    if writer is not None:
        writer.release_parent_ends()
    sampler = StackSampler(process.pid, out / "stacks.raw", out / "pyspy.log") if mode == "orchestrace" else None
    poller = ProcessPoller(out / "process.jsonl", {"workload": process.pid}) if writer is not None else None
    if poller is not None:
        poller.start()
    stdout, _ = process.communicate()
    if sampler is not None:
        sampler.stop()
    if poller is not None:
        poller.stop()
    if writer is not None:
        writer.wait(60)
    if process.returncode != 0:
        raise SystemExit(f"{mode} failed: see {out / 'harness.log'}")
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    if sampler is not None and sampler.unavailable:
        result["note"] = sampler.unavailable
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="rag")
    parser.add_argument("--runs", type=int, default=24, help="measured agent runs per configuration")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all configurations, alternating")
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scripts = work / "scripts.json"
        scripts.write_text(json.dumps({t.id: t.script for t in get_agent(args.agent).tasks()}))
        server = ServerProcess("instant", work, "bench", scripts)
        server.wait_ready()
        try:
            for round_index in range(args.rounds):
                for mode in MODES:
                    result = one(mode, args, server, work)
                    results[mode].append(result)
                    print(
                        f"round {round_index + 1} {mode:22} cpu {result['cpu_s']:.3f} s  wall {result['wall_s']:.3f} s"
                        f"  spans {result.get('spans', 0)}",
                        file=sys.stderr,
                    )
        finally:
            server.stop()

    def median(mode: str, key: str) -> float:
        return statistics.median(r.get(key, 0.0) for r in results[mode])

    def paired(mode: str, key: str) -> float:
        """Median over rounds of this mode / (a) in the same round: drift between rounds cancels."""
        return statistics.median(r[key] / b[key] for r, b in zip(results[mode], results["none"], strict=True))

    base_cpu = median("none", "cpu_s")
    runs = args.runs
    print(
        f"\nagent {args.agent}, {runs} measured agent runs per configuration at concurrency {args.concurrency}, "
        f"preset instant; medians of {args.rounds} alternating rounds (ratios paired within each round)\n"
    )
    print("| configuration | CPU ms/run | wall ms/run | CPU vs (a) | wall vs (a) | spans/run | added CPU µs/span |")
    print("|---|---|---|---|---|---|---|")
    per_span: dict[str, float] = {}
    for mode in MODES:
        cpu, wall, spans = median(mode, "cpu_s"), median(mode, "wall_s"), median(mode, "spans")
        if mode == "none":
            print(f"| {LABELS[mode]} | {1000 * cpu / runs:.1f} | {1000 * wall / runs:.1f} | – | – | 0 | – |")
            continue
        added_cpu = (paired(mode, "cpu_s") - 1) * base_cpu
        per_span[mode] = added_cpu / spans * 1e6 if spans else float("nan")
        print(
            f"| {LABELS[mode]} | {1000 * cpu / runs:.1f} | {1000 * wall / runs:.1f} | "
            f"{paired(mode, 'cpu_s') - 1:+.1%} | {paired(mode, 'wall_s') - 1:+.1%} | {spans / runs:.1f} | "
            + (f"{per_span[mode]:.0f} |" if spans else "– |")
        )
    measured = (paired("orchestrace", "cpu_s") - 1) * base_cpu
    reported = median("orchestrace", "reported_overhead_s")
    print(
        f"\n(b) added CPU: measured {measured:.3f} s, orchestrace's own overhead figure {reported:.3f} s "
        f"(reported / measured = {reported / measured if measured > 0 else float('nan'):.2f})"
    )
    print(
        f"(b) added CPU per span / (d)'s: {per_span['orchestrace'] / per_span['openllmetry']:.2f} (target <= 0.20); "
        f"/ (e)'s: {per_span['orchestrace'] / per_span['openinference']:.2f}"
    )
    notes = {r["note"] for r in results["orchestrace"] if "note" in r}
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
