"""Per-host figures of a run made of several parts (a fleet): agent runs, CPU by category, host load."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from profiler.analysis.cpu import cpu_breakdown
from profiler.analysis.traces import AgentRun
from profiler.store.parts import Part, merge_windows

CPU_KEYS = ("orchestration", "model_client", "tool", "telemetry", "runtime", "process_total")


def _where(run: AgentRun) -> tuple[str, Any]:
    """The host and process an agent run ran in (its root span's resource)."""
    return str(run.root.resource.get("host.name", "")), run.root.resource.get("process.pid")


def host_rows(parts: list[Part], runs: list[AgentRun]) -> list[dict[str, Any]]:
    """One row per host; none for a run of one part (its figures are the run's)."""
    if len(parts) < 2:
        return []
    runs_of: dict[tuple[str, Any], list[AgentRun]] = defaultdict(list)
    for run in runs:
        runs_of[_where(run)].append(run)
    rows = []
    for host in sorted({part.info.host for part in parts}):
        on_host = [part for part in parts if part.info.host == host]
        host_runs = [run for part in on_host for run in runs_of[(host, part.info.pid)]]
        cpu = cpu_breakdown(host_runs, merge_windows(part.cpu for part in on_host))
        load = [row["host_cpu_percent"] for part in on_host for row in part.process if "host_cpu_percent" in row]
        rows.append(
            {
                "host": host,
                "parts": [part.info.id for part in on_host],
                "agent_runs": len(host_runs),
                "cpu_s": {key: cpu.get(key) for key in CPU_KEYS},
                "host_cpu_percent": statistics.fmean(load) if load else None,
            }
        )
    return rows
