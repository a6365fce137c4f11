"""Where the workload's CPU-seconds went: categories from span CPU and the meter's buckets.

All figures cover the measurement window (the agent runs); startup (imports, building the
graph) is before it and reported on its own. Every core-second counts, in parallel branches
too. `coverage` = CPU the meter attributed / CPU the process (and its reaped children) used in
the window, both measured; what the meter did not see is in `other`. CPU of native threads
(no Python thread state: BLAS, compiled libraries) is measured from /proc and counted in
`other` (as `native_threads`), since no span can be charged for it.
"""

from __future__ import annotations

from profiler.analysis.traces import CHAT, TOOL, AgentRun, cpu_children, cpu_self, cpu_tool_fn, span_kind
from profiler.store import fields
from profiler.store.cpuwindow import CpuWindow
from profiler.store.report import CpuSplit


class CpuTally:
    """Span CPU by category, told one agent run at a time; `result` adds the window's buckets."""

    def __init__(self) -> None:
        self.by_category = {CHAT: 0.0, TOOL: 0.0, "orchestration": 0.0}
        self.children_attributed = 0.0

    def add(self, run: AgentRun) -> None:
        by_category = self.by_category
        for span in run.spans:
            category = run.category_of(span)
            if span_kind(span) == TOOL:  # the user's function is the tool; LangChain's wrapper is not
                tool_fn = cpu_tool_fn(span)
                by_category[TOOL] += tool_fn
                by_category["orchestration"] += cpu_self(span) - tool_fn
            else:
                by_category[category if category in (CHAT, TOOL) else "orchestration"] += cpu_self(span)
            if category == TOOL:
                by_category[TOOL] += cpu_children(span)
                self.children_attributed += cpu_children(span)

    def result(self, window: CpuWindow | None) -> CpuSplit:
        return _breakdown(self.by_category, self.children_attributed, window)


def _breakdown(by_category: dict[str, float], children_attributed: float, window: CpuWindow | None) -> CpuSplit:
    orchestration, model_client, tool = by_category["orchestration"], by_category[CHAT], by_category[TOOL]
    if window is None:  # spans only (the workload died before writing cpu.json)
        return CpuSplit(orchestration, model_client, tool, accounted=sum((orchestration, model_client, tool)))
    buckets = window.buckets_s
    telemetry_measured = buckets.get(fields.TELEMETRY, 0.0) + window.telemetry_threads_s
    runtime = buckets.get(fields.LOOP, 0.0) + buckets.get(fields.EXECUTOR_IDLE, 0.0)
    spans_metered = buckets.get(fields.SPANS_BUCKET, 0.0)
    span_attributes = orchestration + model_client + tool - children_attributed
    metered_outside_spans = buckets.get(fields.NO_SPAN, 0.0) + buckets.get(fields.LATE, 0.0)
    native = window.native_threads_s
    accounted = sum(buckets.values()) + window.telemetry_threads_s + window.children_attributed_s + native
    total = window.process_cpu_s + window.children_reaped_s
    return CpuSplit(
        orchestration,
        model_client,
        tool,
        telemetry=telemetry_measured,
        runtime=runtime,
        startup=window.startup_cpu_s,
        # spans whose figures never reached spans.jsonl, CPU outside any span, and what nothing saw
        other=max(0.0, spans_metered - span_attributes) + metered_outside_spans + native + max(0.0, total - accounted),
        native_threads=native,
        accounted=accounted,
        process_total=total,
        coverage=accounted / total if total > 0 else None,
    )
