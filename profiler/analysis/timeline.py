"""One agent run laid out on its own wall clock, for the timeline chart.

Rows follow the span tree (parents before children, siblings by start). Each row keeps the
span's own CPU (`orchestrace.cpu.self_s`) and, for chat spans, when the model server was
working on the request (its SERVER spans). Parallel branches of the same step (a `Send` fan-out
to sub-agents) are numbered, and every row under one names its branch, so they read as groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

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
    branch: str = ""  # the parallel branch the row belongs to, e.g. "researcher 2 of 3"


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


def _branches(run: AgentRun, siblings: list[SpanRecord]) -> dict[str, tuple[str, str]]:
    """Siblings that ran in parallel under one name with work of their own inside (sub-agents of a
    fan-out), numbered in start order: span id -> ("researcher", "2 of 3")."""
    by_name: dict[str, list[SpanRecord]] = {}
    for span in siblings:
        if run.children.get(span.span_id):
            by_name.setdefault(span.name, []).append(span)
    names = {}
    for spans in by_name.values():
        if len(spans) > 1 and any(a.end_ns > b.start_ns for a, b in pairwise(spans)):
            short = spans[0].name.split(" ", 1)[-1]
            names.update({span.span_id: (short, f"{i} of {len(spans)}") for i, span in enumerate(spans, 1)})
    return names


def timeline(run: AgentRun) -> list[Bar]:
    t0 = run.root.start_ns
    bars: list[Bar] = []

    def visit(span: SpanRecord, depth: int, branch: str, number: str) -> None:
        kind = _kind(span, run)
        label = _label(span, kind)
        bars.append(
            Bar(
                label=f"{label} ({number})" if number else label,
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
                branch=branch,
            )
        )
        children = sorted(run.children.get(span.span_id, []), key=lambda s: s.start_ns)
        named = _branches(run, children)
        for child in children:
            short, number = named.get(child.span_id, ("", ""))
            visit(child, depth + 1, f"{short} {number}" if number else branch, number)

    visit(run.root, 0, "", "")
    return bars
