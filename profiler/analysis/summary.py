"""The counts a run records in its manifest when it ends: agent runs by outcome, model and tool calls."""

from __future__ import annotations

from dataclasses import dataclass

from profiler.analysis.outcomes import FAILED, INCOMPLETE, OutcomeTally
from profiler.analysis.traces import run_of
from profiler.store.session import Session
from profiler.store.spans import KIND_CLIENT, KIND_SERVER


@dataclass(frozen=True)
class RunSummary:
    agent_runs: int
    errors: int  # agent runs that failed
    incomplete: int  # agent runs cut off (Ctrl-C, a crash): not failed, not completed
    llm_calls: int
    llm_errors: int
    tool_calls: int
    tool_errors: int
    server_spans: int


def summarize(session: Session) -> RunSummary:
    """Agent runs by the one rule the analysis uses (`run_of`), and model and tool calls: one pass."""
    outcomes = OutcomeTally()
    llm_calls = llm_errors = tool_calls = tool_errors = server_spans = 0
    for trace in session.traces():
        run = run_of(trace)
        if run is not None:
            outcomes.add(run)
        for span in trace:
            if span.kind == KIND_SERVER:
                server_spans += 1
            elif span.operation == "chat" and span.kind == KIND_CLIENT:
                llm_calls += 1
                llm_errors += span.is_error
            elif span.operation == "execute_tool":
                tool_calls += 1
                tool_errors += span.is_error
    return RunSummary(
        outcomes.runs,
        outcomes.counts[FAILED],
        outcomes.counts[INCOMPLETE],
        llm_calls,
        llm_errors,
        tool_calls,
        tool_errors,
        server_spans,
    )
