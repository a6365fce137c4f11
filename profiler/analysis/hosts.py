"""Per-host figures of a run made of several parts (a fleet): agent runs, CPU by category, the
cores its processes used, host load."""

from __future__ import annotations

import statistics

from profiler.analysis.cpu import CpuTally
from profiler.analysis.traces import AgentRun
from profiler.store.cpuwindow import CpuWindow, merge
from profiler.store.parts import Part
from profiler.store.report import HostRow


class HostTally:
    """Agent runs and their span CPU per host, told one run at a time (a run's root span says where
    it ran: its resource's host and process)."""

    def __init__(self, parts: list[Part]) -> None:
        self.parts = parts
        self.host_of = {(part.info.host, part.info.pid): part.info.host for part in parts}
        self.runs = {part.info.host: 0 for part in parts}
        self.cpu = {part.info.host: CpuTally() for part in parts}

    def add(self, run: AgentRun) -> None:
        if len(self.parts) < 2:  # a run of one part has no per-host rows
            return
        resource = run.root.resource
        host = self.host_of.get((str(resource.get("host.name", "")), resource.get("process.pid")))
        if host is not None:
            self.runs[host] += 1
            self.cpu[host].add(run)

    def rows(self) -> list[HostRow]:
        """One row per host; none for a run of one part (its figures are the run's)."""
        if len(self.parts) < 2:
            return []
        rows = []
        for host in sorted(self.runs):
            on_host = [part for part in self.parts if part.info.host == host]
            window = merge(part.cpu for part in on_host)
            cpu = self.cpu[host].result(window)
            load = [
                row.host_cpu_percent for part in on_host for row in part.process if row.host_cpu_percent is not None
            ]
            rows.append(
                HostRow(
                    host=host,
                    parts=tuple(part.info.id for part in on_host),
                    agent_runs=self.runs[host],
                    cpu_s=cpu,
                    cores=on_host[0].info.cores,  # what the host let its processes use
                    cores_used=_cores_used(cpu.process_total, window),
                    host_cpu_percent=statistics.fmean(load) if load else None,
                )
            )
        return rows


def _cores_used(process_cpu_s: float | None, window: CpuWindow | None) -> float | None:
    """The host's workload processes' CPU-seconds over the wall time they ran side by side."""
    span = window.span_s if window is not None else None
    return None if process_cpu_s is None or span is None else process_cpu_s / span
