"""Agent runs as span trees, and the critical path through each on the wall clock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple

from profiler.store import fields
from profiler.store.session import Session
from profiler.store.spans import KIND_CLIENT, KIND_SERVER, SpanRecord

CHAT, TOOL, OTHER = "chat", "tool", "other"


def span_kind(span: SpanRecord) -> str:
    operation = span.operation
    if operation == "chat":
        return CHAT if span.kind == KIND_CLIENT else OTHER
    return TOOL if operation == "execute_tool" else OTHER


def cpu_self(span: SpanRecord) -> float:
    return float(span.attributes.get(fields.CPU_SELF, 0.0))


def cpu_children(span: SpanRecord) -> float:
    """CPU of child processes this span waited for (tools that run subprocesses)."""
    return float(span.attributes.get(fields.CPU_CHILDREN, 0.0))


def cpu_tool_fn(span: SpanRecord) -> float:
    """CPU of the user's function inside a tool span; runs recorded before that was measured
    separately count the whole span (LangChain's wrapper included)."""
    return float(span.attributes.get(fields.CPU_TOOL_FN, cpu_self(span)))


def model_attempts(run: AgentRun, span: SpanRecord) -> tuple[int, int]:
    """HTTP attempts of one chat call and how many of them failed (a retried call makes several).

    Counted from the server's spans where it joins the trace, else from the client's transport.
    """
    servers = run.server.get(span.span_id, [])
    attempts = max(1, len(servers), int(span.attributes.get(fields.MODEL_REQUESTS, 0)))
    failed = sum(s.is_error for s in servers) if servers else attempts - 1 + span.is_error
    return attempts, failed


@dataclass
class AgentRun:
    """One `invoke_agent` root and its workload spans; SERVER spans kept by the chat span they serve."""

    root: SpanRecord
    spans: list[SpanRecord]
    children: dict[str, list[SpanRecord]] = field(default_factory=dict)
    server: dict[str, list[SpanRecord]] = field(default_factory=dict)
    by_id: dict[str, SpanRecord] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        return self.root.duration_s

    def category_of(self, span: SpanRecord) -> str:
        """CHAT or TOOL for chat/tool spans and what runs inside them (nearest wins), else OTHER."""
        current: SpanRecord | None = span
        while current is not None:
            kind = span_kind(current)
            if kind != OTHER:
                return kind
            current = self.by_id.get(current.parent_id or "")
        return OTHER


def run_of(members: list[SpanRecord]) -> AgentRun | None:
    """One trace's spans as an agent run: the trace has exactly one local `invoke_agent` root."""
    workload = [s for s in members if s.kind != KIND_SERVER]
    roots = [s for s in workload if s.parent_id is None and s.operation == "invoke_agent"]
    if len(roots) != 1:
        return None
    run = AgentRun(roots[0], workload, by_id={s.span_id: s for s in workload})
    for span in workload:
        if span.parent_id:
            run.children.setdefault(span.parent_id, []).append(span)
    for span in members:
        if span.kind == KIND_SERVER and span.parent_id:
            run.server.setdefault(span.parent_id, []).append(span)
    return run


def agent_runs(spans: Iterable[SpanRecord]) -> list[AgentRun]:
    """Group spans by trace; each trace with a local `invoke_agent` root is one agent run (start order)."""
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    runs = [run for members in traces.values() if (run := run_of(members)) is not None]
    runs.sort(key=lambda r: r.root.start_ns)
    return runs


def streamed_runs(session: Session) -> Iterator[AgentRun]:
    """The session's agent runs one at a time as its spans are read (in the order they settled)."""
    for trace in session.traces():
        run = run_of(trace)
        if run is not None:
            yield run


class Segment(NamedTuple):
    """A stretch of a span's self time on the critical path."""

    span: SpanRecord
    start_ns: int
    end_ns: int

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


_END = attrgetter("end_ns")


def critical_path(run: AgentRun) -> list[Segment]:
    """Self-time segments on the critical path (Jaeger's algorithm): walk back from the root's end,
    always into the child that finished last before the current time; gaps belong to the parent."""
    segments: list[Segment] = []

    def walk(span: SpanRecord, end_ns: int) -> None:
        t = min(span.end_ns, end_ns)
        children = sorted(run.children.get(span.span_id, ()), key=_END, reverse=True)
        for child in children:
            if t <= span.start_ns:
                break
            if child.start_ns >= t:
                continue  # started after the point we reached: off the path
            child_end = min(child.end_ns, t)
            if child_end < t:
                segments.append(Segment(span, child_end, t))
            walk(child, child_end)
            t = max(child.start_ns, span.start_ns)
        if t > span.start_ns:
            segments.append(Segment(span, span.start_ns, t))

    walk(run.root, run.root.end_ns)
    return segments


def self_time_s(run: AgentRun, span: SpanRecord) -> float:
    """A span's duration not covered by any of its children."""
    intervals = sorted(
        (max(c.start_ns, span.start_ns), min(c.end_ns, span.end_ns)) for c in run.children.get(span.span_id, [])
    )
    covered, reach = 0, span.start_ns
    for start, end in intervals:
        if end <= reach:
            continue
        covered += end - max(start, reach)
        reach = end
    return max(0, span.end_ns - span.start_ns - covered) / 1e9


def overlap_ns(a_start: int, a_end: int, b_start: int, b_end: int) -> int:
    return max(0, min(a_end, b_end) - max(a_start, b_start))
