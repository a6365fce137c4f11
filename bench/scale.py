"""Scale benchmark: memory and span throughput as tasks grow, and the simulated server's timing under load.

    python bench/scale.py [--tasks 1000,5000,20000] [--concurrency 256] [--streams 64,256]

(1) `orchestrace run` of a small tool-calling graph (this file's `build`: one tool call, then an
answer) on the `instant` preset, at each task count: peak RSS of the runner, the workload, the
model server and the span writer (psutil, every 0.2 s), wall time, spans recorded per second,
and the run's own end-of-run checks (spans sent vs written). (2) The same graph on
h100-llama3.1-8b with `streams` agent runs in flight: how late the simulated server delivered
against its own timing model (its SERVER spans), and whether the report warned that the host
was too starved to keep the timing. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROLES = {
    "workload": "profiler.runner.workload",
    "modelserver": "profiler.modelserver",
    "writer": "profiler.store.spanwriter",
}


def build(model: Any) -> Any:
    """The benchmark graph: the model calls `add` once, then answers (the generic policy of the server)."""
    from langchain_core.tools import tool
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    bound = model.bind_tools([add])

    async def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call)
    graph.add_node("tools", ToolNode([add]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(name="scale")


def run(out: Path, tasks: int, concurrency: int, preset: str) -> dict[str, Any]:
    """One `orchestrace run`, watched: peak RSS per process role, wall, and the run's manifest and report."""
    inputs = out / f"inputs-{tasks}.jsonl"
    inputs.write_text(
        "".join(json.dumps({"messages": [{"role": "user", "content": f"task {i}"}]}) + "\n" for i in range(tasks))
    )
    command = [sys.executable, "-m", "profiler", "run", "--graph", f"{Path(__file__).resolve()}:build",
               "--inputs", str(inputs), "--concurrency", str(concurrency), "--model", preset, "--no-sampler",
               "--out", str(out)]  # fmt: skip
    peaks = dict.fromkeys(["runner", *ROLES], 0)
    started = time.monotonic()
    runner = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(runner.pid)
    while runner.poll() is None:
        try:
            family = [(watched, "runner"), *((c, _role(c)) for c in watched.children(recursive=True))]
            for process, role in family:
                if role:
                    peaks[role] = max(peaks[role], process.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.2)
    wall = time.monotonic() - started
    run_dir = max(out.glob("*/manifest.json"), key=lambda p: p.stat().st_mtime).parent
    manifest = json.loads((run_dir / "manifest.json").read_text())
    report = json.loads((run_dir / "report.json").read_text()) if (run_dir / "report.json").exists() else {}
    return {"wall_s": wall, "peaks": peaks, "manifest": manifest, "report": report, "stderr": runner.stderr.read()}


def _role(process: psutil.Process) -> str | None:
    command = " ".join(process.cmdline())
    return next((role for role, module in ROLES.items() if module in command), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="1000,5000,20000")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--streams", default="64,256")
    args = parser.parse_args()
    mb = 1024 * 1024
    print(f"host: {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\n## memory and span throughput: instant preset, concurrency {args.concurrency}")
        print(f"{'tasks':>6} {'wall s':>7} {'runner MB':>9} {'workload MB':>11} {'server MB':>9} {'writer MB':>9}"
              f" {'spans':>7} {'spans/s':>8} {'status':>10}  checks")  # fmt: skip
        for tasks in (int(t) for t in args.tasks.split(",")):
            result = run(Path(tmp), tasks, args.concurrency, "instant")
            peaks, checks = result["peaks"], result["manifest"].get("checks", {})
            written = checks.get("spans_written") or 0
            print(f"{tasks:6d} {result['wall_s']:7.1f} {peaks['runner'] / mb:9.0f} {peaks['workload'] / mb:11.0f}"
                  f" {peaks['modelserver'] / mb:9.0f} {peaks['writer'] / mb:9.0f} {written:7d}"
                  f" {written / result['wall_s']:8.0f} {result['manifest']['status']:>10}  "
                  f"{checks.get('spans_sent')} sent, {checks.get('problems') or 'no problems'}")  # fmt: skip
        print("\n## simulated server timing under load: h100-llama3.1-8b, agent runs in flight = streams")
        print(
            f"{'streams':>7} {'late p50 ms':>11} {'late p95 ms':>11} {'late total s':>12} {'model time s':>12}  warning"
        )
        for streams in (int(s) for s in args.streams.split(",")):
            report = run(Path(tmp), 2 * streams, streams, "h100-llama3.1-8b")["report"]
            inference = report["inference"]
            late = inference["server_lateness_s"] or {"p50": 0.0, "p95": 0.0, "total": 0.0}
            warning = next((p for p in report["problems"] if "fell behind" in p), "none (kept its timing)")
            print(f"{streams:7d} {late['p50'] * 1000:11.2f} {late['p95'] * 1000:11.2f} {late['total']:12.2f}"
                  f" {inference['model_time_s']:12.1f}  {warning}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
