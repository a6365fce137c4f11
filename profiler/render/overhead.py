"""`orchestrace overhead` as a table: bare vs instrumented, per agent run, with the spread."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from profiler.render.text import plural


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


def _pct(fraction: float) -> str:
    return f"{100 * fraction:+.1f}%"


def render_overhead(result: dict[str, Any]) -> RenderableType:
    workload = result["workload"]
    what = workload["agent"] or workload["graph"]
    table = Table(
        title=f"Profiler overhead on {what}: {plural(workload['agent_runs_per_round'], 'agent run')} × "
        f"{result['rounds']} rounds at concurrency {workload['concurrency']} ({workload['model']})",
        title_justify="left",
    )
    for column in ("per agent run", "bare ms", "profiled ms", "added ms", "added", "spread over rounds"):
        table.add_column(column, justify="left" if column == "per agent run" else "right")
    for label, key in (("workload CPU", "cpu"), ("wall", "wall")):
        part = result[key]
        low, high = part["spread"]
        table.add_row(
            label,
            _ms(part["bare_per_run_s"]),
            _ms(part["instrumented_per_run_s"]),
            _ms(part["added_per_run_s"]),
            _pct(part["added_fraction"]),
            f"{_pct(low)} … {_pct(high)}",
        )
    lines = [
        f"in-run direct-cost figure (the report's overhead): {_ms(result['direct_cpu_per_run_s'])} ms of CPU "
        f"per agent run; the rest of the added CPU is indirect (LangChain's dispatch, caches, GC)",
    ]
    if result["sampler_core_fraction"] is not None:
        lines.append(
            f"py-spy at {workload['sample_rate']} Hz: {100 * result['sampler_core_fraction']:.1f}% of one core, "
            "in its own process (not in the workload's CPU above)"
        )
    elif not workload["sampler"]:
        lines.append("py-spy was off (--no-sampler)")
    lines.append("medians of the per-round paired ratios; rounds alternate bare/profiled so host drift cancels")
    return Group(table, Text("\n".join(lines)))
