"""One agent run laid out on its own wall clock, for the timeline chart.

Rows follow the span tree (parents before children, siblings by start). Each row keeps the
span's own CPU (`orchestrace.cpu.self_s`) and, for chat spans, when the model server was
working on the request (its SERVER spans).
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler.analysis.traces import CHAT, TOOL, AgentRun, cpu_self, span_kind
from profiler.store.spans import SpanRecord

AGENT, NODE, OTHER = "agent", "node", "other"


@dataclass(frozen=True)
class Bar:
    label: str
    kind: str  # agent, node, chat, tool, other
    depth: int
    start_s: float  # since the agent run started
    end_s: float
    cpu_self_s: float
    cpu_inclusive_s: float
    error: bool
    served: tuple[tuple[float, float], ...] = ()  # chat: (start_s, end_s) of the server's work


def _kind(span: SpanRecord, run: AgentRun) -> str:
    if span is run.root:
        return AGENT
    if "gen_ai.node.name" in span.attributes:
        return NODE
    kind = span_kind(span)
    return kind if kind in (CHAT, TOOL) else OTHER


def _label(span: SpanRecord, kind: str) -> str:
    if kind == NODE:
        return f"node {span.attributes['gen_ai.node.name']}"
    if kind == TOOL:
        return f"tool {span.attributes.get('gen_ai.tool.name', span.name)}"
    return span.name


def timeline(run: AgentRun) -> list[Bar]:
    t0 = run.root.start_ns
    bars: list[Bar] = []

    def visit(span: SpanRecord, depth: int) -> None:
        kind = _kind(span, run)
        bars.append(
            Bar(
                label=_label(span, kind),
                kind=kind,
                depth=depth,
                start_s=(span.start_ns - t0) / 1e9,
                end_s=(span.end_ns - t0) / 1e9,
                cpu_self_s=cpu_self(span),
                cpu_inclusive_s=float(span.attributes.get("orchestrace.cpu.inclusive_s", cpu_self(span))),
                error=span.is_error,
                served=tuple(
                    ((s.start_ns - t0) / 1e9, (s.end_ns - t0) / 1e9) for s in run.server.get(span.span_id, [])
                ),
            )
        )
        for child in sorted(run.children.get(span.span_id, []), key=lambda s: s.start_ns):
            visit(child, depth + 1)

    visit(run.root, 0)
    return bars


def median_run(runs: list[AgentRun]) -> int:
    """Index (in start order) of the run with the median wall time (the lower one for an even count)."""
    by_wall = sorted(range(len(runs)), key=lambda i: runs[i].wall_s)
    return by_wall[(len(by_wall) - 1) // 2]
