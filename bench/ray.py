"""Agent runs/s and the profiler's cost, locally and with `--ray`, on this machine.

    python bench/ray.py [--agent rag] [--tasks 40] [--model instant] [--concurrency 2] [--workers 2]
                        [--address HOST:PORT]

Runs `orchestrace run` once in one workload process and once spread over Ray workers (a local
instance started for the run, or `--address`), same tasks and per-process concurrency, and
prints for each: agent runs/s over the measured window (start-up excluded), the whole
command's wall time (Ray's start-up included), CPU per agent run and the profiler's direct cost
as a share of the workload's CPU. Both run with OMP_NUM_THREADS=1, as Ray starts its workers:
without it a local rag run's numpy (OpenBLAS) pool spins between calls, ~45 ms per agent run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run(args: argparse.Namespace, out: Path, extra: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "profiler", "run", "--agent", args.agent, "--tasks", str(args.tasks)]
    command += ["--model", args.model, "--concurrency", str(args.concurrency), "--no-sampler", "--out", str(out)]
    started = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # what Ray gives its workers
    done = subprocess.run([*command, *extra], cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(extra) or 'local'} run failed: {done.stderr.strip()[-400:]}")
    report = json.loads((out / "latest" / "report.json").read_text())
    windows = [json.loads(p.read_text())["window"] for p in (out / "latest").glob("**/cpu.json")]
    window_s = max(w["end_unix"] for w in windows) - min(w["start_unix"] for w in windows)
    return {
        "runs": report["agent_runs"],
        "runs_per_s": report["agent_runs"] / window_s,
        "command_s": wall,
        "cpu_per_run_s": report["cpu_per_run_s"],
        "overhead": report["overhead"].get("fraction"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="rag")
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--model", default="instant")
    parser.add_argument("--concurrency", type=int, default=2, help="agent runs at once per workload process")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--address", help="a Ray head's HOST:PORT (default: a local instance per run)")
    args = parser.parse_args()
    ray = ["--ray", *([args.address] if args.address else []), "--ray-workers", str(args.workers)]
    print(f"{args.agent} x {args.tasks} at {args.model}, concurrency {args.concurrency} per process, OMP_NUM_THREADS=1")
    print(f"{'':24} {'runs':>5} {'runs/s':>8} {'command s':>10} {'CPU/run ms':>11} {'profiler':>9}")
    with tempfile.TemporaryDirectory(prefix="orchestrace-bench-ray-") as tmp:
        for label, extra in (("local (1 process)", []), (f"ray ({args.workers} workers)", ray)):
            r = run(args, Path(tmp) / label.split()[0], extra)
            overhead = f"{r['overhead']:.1%}" if r["overhead"] is not None else "n/a"
            print(
                f"{label:24} {r['runs']:>5} {r['runs_per_s']:>8.2f} {r['command_s']:>10.1f} "
                f"{1000 * (r['cpu_per_run_s'] or 0):>11.1f} {overhead:>9}"
            )


if __name__ == "__main__":
    main()
