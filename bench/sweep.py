"""The headline table: the four sample agents across the built-in accelerator presets.

    python bench/sweep.py [--tasks 4] [--concurrency 2] [--agents rag,web,coder,supervisor]

Each agent runs against every preset (same tasks, same trajectory scripts); per agent and
preset it prints the measured CPU share of latency, D_cpu (CPU core-seconds per agent run),
D_acc (accelerator-seconds per run, an estimate at the preset's saturated throughput), cores
per accelerator (at 60% CPU / 80% accelerator utilisation), and the CPU share predicted from
the first preset's run next to the measured one.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.modelserver.presets import builtin_presets
from profiler.runner import environment
from profiler.runner.plan import RunOptions
from profiler.runner.run import execute
from profiler.runner.ui import PlainDisplay
from profiler.sizing.model import Targets
from profiler.sizing.sweep import sweep

ORDER = (
    "h100-llama3.1-8b",
    "instant",
    "h100-llama3.1-70b",
    "groq-llama3-8b",
    "groq-llama3-70b",
    "cerebras-llama3.1-8b",
    "cerebras-llama3.1-70b",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="rag,web,coder,supervisor")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write all figures as JSON")
    args = parser.parse_args()
    presets = [builtin_presets()[name] for name in ORDER]
    targets = Targets()
    host = environment.host()
    print(
        f"{datetime.now(UTC):%Y-%m-%d}, {host['cpu_model']}, {host['logical_cores']} cores, Python "
        f"{platform.python_version()}; {args.tasks} tasks per agent and preset at concurrency {args.concurrency}; "
        f"predictions from the {ORDER[0]} run; utilisation targets CPU {targets.cpu_utilisation}, accelerator "
        f"{targets.accelerator_utilisation}\n"
    )
    print(
        "| agent | preset | decode tok/s | CPU share measured | predicted | error pp | D_cpu ms/run | "
        "D_acc s/run | cores/acc measured | predicted |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    everything = {}
    with tempfile.TemporaryDirectory() as out:
        for agent in args.agents.split(","):
            options = RunOptions(
                agent=agent, tasks=args.tasks, concurrency=args.concurrency, sampler=False, out=Path(out)
            )
            result = sweep(options, presets, targets, lambda o: execute(o, PlainDisplay(io.StringIO())))
            everything[agent] = result
            for row in result["rows"]:
                share = row["measured_cpu_share"]
                print(
                    f"| {agent} | {row['preset']} | {row['decode_tok_s']:g} | {100 * share:.1f}% | "
                    f"{100 * row['predicted_cpu_share']:.1f}% | {row['error_pp']:+.1f} | {1000 * row['d_cpu_s']:.0f} | "
                    f"{row['d_acc_s']:.4f} | {row['measured_cores_per_accelerator']:.1f} | "
                    f"{row['predicted_cores_per_accelerator']:.1f} |",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2, default=str))
    Console(file=sys.stderr).print(
        "cores/acc for instant are meaningless (no accelerator time); shown for completeness"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
