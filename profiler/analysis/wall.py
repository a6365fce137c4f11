"""Where each agent run's wall time went, along its critical path.

Every instant of a run's wall clock lies on the critical path and belongs to the self time of
exactly one span there (parallel branches count once). That self time is split by the span's
own measurements, scaled to the part of its self time that is on the path:

- chat spans with a SERVER span (the simulated server, or any server that joins the trace):
  the time the server was working on the request is `model_wait` (client CPU that happened
  while tokens were still coming is not on the critical path); of the rest, client CPU is
  `orchestration_cpu` and the remainder `contention` (run-queue delay, GIL waits, the client's
  side of HTTP).
- chat spans without one (a real endpoint): `contention` (measured run-queue delay), client CPU
  (`orchestration_cpu`), and the rest is `model_wait` (which then includes the network).
- tool spans: `tool_cpu` (in-process CPU plus child-process CPU), `contention`, rest `tool_wait`.
- other spans (agent, nodes): `orchestration_cpu`, `contention`, rest `other_wait` (waits that
  no span explains).

Parts are capped in that order so they never exceed the time they share; the parts of a run
add up to its wall time exactly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from profiler.analysis.traces import (
    CHAT,
    TOOL,
    AgentRun,
    Segment,
    cpu_children,
    cpu_self,
    critical_path,
    overlap_ns,
    ready_wait,
    self_time_s,
    span_kind,
)

KEYS = ("model_wait", "tool_cpu", "tool_wait", "orchestration_cpu", "contention", "other_wait")


@dataclass(frozen=True)
class WallSplit:
    total: float
    parts: dict[str, float]


def _take(wanted: float, available: float) -> float:
    return max(0.0, min(wanted, available))


def decompose(run: AgentRun) -> WallSplit:
    parts = dict.fromkeys(KEYS, 0.0)
    on_path: dict[str, list[Segment]] = defaultdict(list)
    for segment in critical_path(run):
        on_path[segment.span.span_id].append(segment)
    for span_id, segments in on_path.items():
        span = run.by_id.get(span_id) or run.root
        window = sum(s.duration_s for s in segments)
        full_self = self_time_s(run, span)
        share = min(1.0, window / full_self) if full_self > 0 else 1.0
        waited = _take(ready_wait(span) * share, window)
        kind = span_kind(span)
        if kind == CHAT and run.server.get(span.span_id):
            served_ns = sum(
                overlap_ns(seg.start_ns, seg.end_ns, server.start_ns, server.end_ns)
                for seg in segments
                for server in run.server[span.span_id]
            )
            model = min(window, served_ns / 1e9)
            cpu = _take(cpu_self(span) * share, window - model)
            parts["model_wait"] += model
            parts["orchestration_cpu"] += cpu
            parts["contention"] += window - model - cpu
        elif kind == CHAT:
            contention = _take(waited, window)
            cpu = _take(cpu_self(span) * share, window - contention)
            parts["contention"] += contention
            parts["orchestration_cpu"] += cpu
            parts["model_wait"] += window - contention - cpu
        elif kind == TOOL:
            cpu = _take((cpu_self(span) + cpu_children(span)) * share, window)
            contention = _take(waited, window - cpu)
            parts["tool_cpu"] += cpu
            parts["contention"] += contention
            parts["tool_wait"] += window - cpu - contention
        else:
            cpu = _take(cpu_self(span) * share, window)
            contention = _take(waited, window - cpu)
            parts["orchestration_cpu"] += cpu
            parts["contention"] += contention
            parts["other_wait"] += window - cpu - contention
    return WallSplit(run.wall_s, parts)
