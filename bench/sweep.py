"""The headline table: the four sample agents across the accelerator presets, measured vs simulated.

    python bench/sweep.py [--tasks 8] [--concurrency 2] [--agents rag,web,coder,supervisor] [--json FILE] [--out DIR]

Each agent runs at the reference preset (h100-llama3.1-8b), then its trajectories are replayed at
every other preset (same calls, same tools). Per agent and preset it prints the CPU share of
latency measured in that preset's own run, simulated from the reference run alone (its agent runs
replayed at the preset) and the closed form (f = T_cpu / (T_cpu + T_model)); the simulation again
with the other processes taking the CPU as often as they did in that preset's run (the machine's
part of the error, not the model's); and cores per accelerator where the preset says what one
accelerator is, else per 1,000 output tokens/s, measured, simulated and closed form. Last, the
client CPU per stream delivery that the simulation assumes, against the fit of these runs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.accelerators.presets import builtin_presets
from profiler.analysis.traces import CHAT, agent_runs, cpu_self, span_kind
from profiler.runner import environment
from profiler.runner.plan import RunOptions
from profiler.runner.run import execute
from profiler.runner.sweep import run_at_presets
from profiler.runner.ui import PlainDisplay
from profiler.sizing.model import Targets
from profiler.sizing.plan import Call, Fork, Step, plan_runs
from profiler.sizing.simulate import Assumptions
from profiler.sizing.sweep import sweep
from profiler.store.session import load_session

ORDER = (  # the reference first, then by speed
    "h100-llama3.1-8b",
    "h100-llama3.1-70b",
    "groq-llama3-70b",
    "cerebras-llama3.1-70b",
    "groq-llama3-8b",
    "cerebras-llama3.1-8b",
)


def calls(steps: tuple[Step, ...]) -> list[Call]:
    found: list[Call] = []
    for step in steps:
        if isinstance(step, Call):
            found.append(step)
        elif isinstance(step, Fork):
            for branch in step.branches:
                found += calls(branch)
    return found


def per_run(run_dir: str) -> list[tuple[float, float]]:
    """Per agent run: its deliveries (each counted once per stream it reached) and its chat spans' CPU."""
    session = load_session(run_dir)
    deliveries = [
        sum(c.reads / c.sharing for c in calls(plan.steps) if c.reads is not None)
        for plan in plan_runs(session.traces()).runs
    ]
    cpu = [sum(cpu_self(s) for s in run.spans if span_kind(s) == CHAT) for run in agent_runs(session.span_list())]
    return list(zip(deliveries, cpu, strict=True))


def delivery_fit(run_dirs: list[str]) -> float | None:
    """Client CPU per delivery, fitted through the origin: how each agent run's chat CPU changed
    from the reference run with its deliveries (the same runs, replayed at other presets)."""
    reference, *others = [per_run(d) for d in run_dirs]
    pairs = [(b[0] - a[0], b[1] - a[1]) for other in others for a, b in zip(reference, other, strict=True)]
    squares = sum(dx * dx for dx, _ in pairs)
    return sum(dx * dy for dx, dy in pairs) / squares if squares else None


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", default="rag,web,coder,supervisor")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write all figures as JSON")
    parser.add_argument("--out", type=Path, help="keep the run directories here (default: a temporary directory)")
    args = parser.parse_args()
    # one BLAS thread: numpy's idle BLAS threads spin after each call, CPU noise unrelated to the agents
    os.environ.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    presets = [builtin_presets()[name] for name in ORDER]
    targets = Targets()
    host = environment.host()
    print(
        f"{datetime.now(UTC):%Y-%m-%d}, {host['cpu_model']}, {host['logical_cores']} cores, Python "
        f"{platform.python_version()}; {args.tasks} tasks per agent and preset at concurrency {args.concurrency}; "
        f"simulated and closed form from the {ORDER[0]} run; cores at CPU utilisation {targets.cpu_utilisation}, "
        f"accelerator utilisation {targets.accelerator_utilisation}\n"
    )
    print(
        "| agent | preset | CPU share measured | simulated | error pp | closed form | error pp | simulated at its "
        "interference | cores per | measured | simulated | error | closed form | D_cpu ms measured | simulated |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    everything, fits = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        for agent in args.agents.split(","):
            options = RunOptions(agent=agent, tasks=args.tasks, concurrency=args.concurrency, sampler=False, out=out)
            runs = run_at_presets(options, presets, lambda o: execute(o, PlainDisplay(io.StringIO())))
            result = sweep(runs, targets)
            everything[agent] = result
            fits[agent] = delivery_fit([run["run_dir"] for run in result["runs"]])
            for row in result["rows"]:
                cores_error = 100 * (row["simulated_cores"] / row["measured_cores"] - 1)
                print(
                    f"| {agent} | {row['preset']} | {100 * row['measured_cpu_share']:.1f}% | "
                    f"{100 * row['simulated_cpu_share']:.1f}% | {row['simulated_error_pp']:+.1f} | "
                    f"{100 * row['predicted_cpu_share']:.1f}% | {row['error_pp']:+.1f} | "
                    f"{100 * row['simulated_at_its_interference']:.1f}% ({100 * row['interference']:.0f}%) | "
                    f"{row['cores_unit'].removeprefix('per ')} | {row['measured_cores']:.2f} | "
                    f"{row['simulated_cores']:.2f} | {cores_error:+.0f}% | {row['closed_form_cores']:.2f} | "
                    f"{1000 * row['d_cpu_s']:.0f} | {1000 * row['simulated_d_cpu_s']:.0f} |",
                    flush=True,
                )
    errors = [abs(r["simulated_error_pp"]) for result in everything.values() for r in result["rows"]]
    closed = [abs(r["error_pp"]) for result in everything.values() for r in result["rows"]]
    cores = [
        abs(r["simulated_cores"] / r["measured_cores"] - 1) for result in everything.values() for r in result["rows"]
    ]
    print(
        f"\nCPU share, |error| in pp: simulated max {max(errors):.1f} (mean {statistics.fmean(errors):.1f}), "
        f"closed form max {max(closed):.1f} (mean {statistics.fmean(closed):.1f}); cores, simulated |error| max "
        f"{100 * max(cores):.0f}% (mean {100 * statistics.fmean(cores):.0f}%)"
    )
    assumed = Assumptions().delivery_cpu_s
    fitted = ", ".join(f"{agent} {1000 * fit:.2f}" for agent, fit in fits.items() if fit is not None)
    print(f"client CPU per stream delivery, ms: assumed {1000 * assumed:g}; fitted from these runs: {fitted}")
    if args.json:
        args.json.write_text(json.dumps({"results": everything, "delivery_fit_s": fits}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
