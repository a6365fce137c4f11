"""Overhead of orchestrace versus no telemetry and versus OpenLLMetry / OpenInference.

    python bench/overhead.py [--agent rag|web|coder|supervisor|react] [--runs 24] [--concurrency 4] [--rounds 5]

Runs one workload under six configurations, alternating them round by round in fresh processes,
and prints medians: (a) no telemetry, (b) orchestrace full (spans + CPU meter + py-spy + psutil),
(c) orchestrace without py-spy, (d) OpenLLMetry exporting to a file, (e) OpenInference exporting
to a file, (f) a no-op LangChain callback handler. The workload is a sample agent against the
simulated server's `instant` preset (no model wait: every added CPU-second is added latency), or
`react`: LangGraph's react_agent benchmark shape (prebuilt ReAct agent, in-process fake model, ten
tool calls: pure orchestration). Figures: workload-process CPU and wall per agent run (warm-up runs
excluded), added per agent run as the median of ratios paired within each round (host drift
cancels) with their spread, py-spy's own CPU (its process, as a share of one core), and
orchestrace's in-run direct-cost figure next to the measured total.
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
    roles = {"workload": process.pid}
    if sampler is not None and sampler.process is not None:
        roles["sampler"] = sampler.process.pid
    poller = ProcessPoller(out / "process.jsonl", roles) if writer is not None else None
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
    if sampler is not None:
        rows = [json.loads(line) for line in (out / "process.jsonl").read_text().splitlines()]
        rows = [row for row in rows if "sampler" in row]
        if len(rows) >= 2:
            cpu = sum(rows[-1]["sampler"][k] - rows[0]["sampler"][k] for k in ("cpu_user", "cpu_system"))
            result["sampler_core_fraction"] = cpu / (rows[-1]["t"] - rows[0]["t"])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="rag", help="a sample agent, or react (pure orchestration)")
    parser.add_argument("--runs", type=int, default=24, help="measured agent runs per configuration")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=10, help="rounds of all configurations, alternating")
    parser.add_argument("--modes", default=",".join(MODES), help="configurations to run (the first is (a))")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if unknown := sorted(set(modes) - set(MODES)):
        parser.error(f"unknown configuration(s) {', '.join(unknown)}: choose from {', '.join(MODES)}")
    if "none" not in modes:
        modes.insert(0, "none")
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scripts = work / "scripts.json"
        agent = "rag" if args.agent == "react" else args.agent  # react needs no model server's scripts
        scripts.write_text(json.dumps({t.id: t.script for t in get_agent(agent).tasks()}))
        server = ServerProcess("instant", work, "bench", scripts)
        server.wait_ready()
        try:
            for round_index in range(args.rounds):
                # the order turns every round: no configuration always runs right after another
                for mode in modes[round_index % len(modes) :] + modes[: round_index % len(modes)]:
                    result = one(mode, args, server, work)
                    results[mode].append(result)
                    print(
                        f"round {round_index + 1} {mode:22} cpu {result['cpu_s']:.3f} s  wall {result['wall_s']:.3f} s"
                        f"  spans {result.get('spans', 0)}  gc {result['gc_s']:.3f} s ({result['gc_full']} full)",
                        file=sys.stderr,
                    )
        finally:
            server.stop()

    runs = args.runs

    def median(mode: str, key: str) -> float:
        return statistics.median(r.get(key, 0.0) for r in results[mode])

    def paired(mode: str, key: str) -> list[float]:
        """This mode / (a) in the same round: the host's drift between rounds cancels."""
        return [r[key] / b[key] for r, b in zip(results[mode], results["none"], strict=True)]

    def fastest(mode: str) -> float:
        """The quietest round's CPU: noise on a shared host only ever adds."""
        return min(r["cpu_s"] for r in results[mode])

    base_cpu = median("none", "cpu_s") / runs
    print(
        f"\nworkload {args.agent}, {runs} measured agent runs per configuration at concurrency {args.concurrency}"
        f"{', preset instant' if args.agent != 'react' else ', in-process fake model'}; {args.rounds} "
        "alternating rounds in fresh processes: medians, ratios paired within each round\n"
    )
    print(
        "| configuration | CPU ms/run | wall ms/run | CPU vs (a) | spread | fastest vs fastest (a) "
        "| wall vs (a) | added CPU ms/run | GC ms/run |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    added: dict[str, float] = {}
    for mode in modes:
        cpu, wall, gc_ms = median(mode, "cpu_s") / runs, median(mode, "wall_s") / runs, median(mode, "gc_s") / runs
        if mode == "none":
            print(f"| {LABELS[mode]} | {1000 * cpu:.1f} | {1000 * wall:.1f} | – | – | – | – | – | {1000 * gc_ms:.1f} |")
            continue
        ratios = paired(mode, "cpu_s")
        cpu_ratio = statistics.median(ratios)
        added[mode] = (cpu_ratio - 1) * base_cpu
        print(
            f"| {LABELS[mode]} | {1000 * cpu:.1f} | {1000 * wall:.1f} | {cpu_ratio - 1:+.1%} | "
            f"{min(ratios) - 1:+.1%} … {max(ratios) - 1:+.1%} | {fastest(mode) / fastest('none') - 1:+.1%} | "
            f"{statistics.median(paired(mode, 'wall_s')) - 1:+.1%} | {1000 * added[mode]:.1f} | {1000 * gc_ms:.1f} |"
        )
    fractions = [r["sampler_core_fraction"] for r in results.get("orchestrace", []) if "sampler_core_fraction" in r]
    if fractions:
        share = statistics.median(fractions)
        print(f"\npy-spy (default rate), in its own process: {share:.1%} of one core (target <= 5%)")
    if "orchestrace-no-pyspy" in added:
        measured = added["orchestrace-no-pyspy"]
        reported = median("orchestrace-no-pyspy", "reported_overhead_s") / runs
        print(
            f"(c) added CPU per agent run: measured {1000 * measured:.1f} ms; orchestrace's in-run direct-cost figure "
            f"{1000 * reported:.1f} ms (the rest is indirect: LangChain's dispatch, garbage collection, caches)"
        )
        if added.get("openllmetry", 0) > 0:
            print(
                f"(c) added CPU per agent run / OpenLLMetry's (d): {measured / added['openllmetry']:.2f} "
                "(target <= 0.33)"
            )
    notes = {r["note"] for r in results.get("orchestrace", []) if "note" in r}
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
